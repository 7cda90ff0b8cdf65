#!/usr/bin/env bats
# mtrcfg without a supervisor: loading, errors with positions, --check,
# --list-types, what the service directories hold, quoting, secrets.
load helper
load mtrcfg-lib

setup() { setup_tmp; mk_conf; }
teardown() { kill_tracked; }

seed_serial() {
	cat > "$TMP/etc/config.d/dsmr_main.yaml" <<'Y'
type: "dsmr"
connection: "serial_port"
port: "/dev/ttyUSB0"
version: "50"
parameters: ["current_electricity_usage", "gas_provided"]
poll_interval: 10
Y
}

@test "mtrcfg: --help, --version, misuse" {
	run mtrcfg --help
	assert_success
	assert_output --partial "usage: mtrcfg"
	run mtrcfg --version
	assert_success
	assert_output --regexp '^mtrcfg [0-9]'
	run mtrcfg --bogus
	assert_failure 2
	run mtrcfg -c x.yaml
	assert_failure 2
	assert_output --partial "nothing to do"
}

@test "mtrcfg: the seed's serial and TCP examples pass --check, which writes nothing" {
	seed_serial
	printf 'type: "dsmr"\nconnection: "tcp"\nhost: "192.0.2.7"\nport: 2001\n' > "$TMP/etc/config.d/dsmr_tcp.yaml"
	printf 'type: multical\nport: /dev/ttyUSB1\n' > "$TMP/etc/config.d/heat.yaml"
	before=$(find "$TMP" | sort)
	mtrcfg_run --check
	assert_success
	assert_output ""
	[ "$(find "$TMP" | sort)" = "$before" ]
}

@test "mtrcfg: errors name file:line:column and what is wrong, with did-you-mean" {
	d=$TMP/etc/config.d
	printf 'type: dsmr\nport: /dev/ttyUSB0\npoll_intervall: 10\n' > "$d/typo.yaml"
	printf 'type: dsrm\nport: /dev/ttyUSB0\n' > "$d/badtype.yaml"
	printf 'type: dsmr\nconnection: serial_port\n' > "$d/noport.yaml"
	printf 'type: dsmr\nport:\n  path: /dev/ttyUSB0\n' > "$d/maptype.yaml"
	printf 'type: dsmr\nport: /dev/ttyUSB0\n' > "$d/bad.id.yaml"
	printf 'type: dsmr\nport: "/dev/ttyUSB0\nversion: 50\n' > "$d/broken.yaml"
	printf 'type: dsmr\nport: /dev/ttyUSB0\nversion: "99"\n' > "$d/badversion.yaml"
	printf 'type: fake\nvalue: 1\nlable: x\n' > "$d/faketypo.yaml"
	mtrcfg_run --check
	assert_failure 2
	assert_line "mtrcfg: $d/typo.yaml:3:1: unknown key 'poll_intervall' (did you mean 'poll_interval'?)"
	assert_line "mtrcfg: $d/badtype.yaml:1:7: unknown device type 'dsrm' (did you mean 'dsmr'?)"
	assert_line --partial "$d/noport.yaml:1:1: missing key 'port'"
	assert_line --partial "$d/maptype.yaml:3:3: wrong type: 'port' is a mapping"
	assert_line --partial "$d/bad.id.yaml:1:1: bad device id 'bad.id'"
	assert_line --regexp "$d/broken.yaml:[34]:[0-9]+: YAML syntax error"
	assert_line --partial "$d/badversion.yaml:3:1: p1read --check rejects the device (exit 2): p1read: --dsmr"
	assert_line "mtrcfg: $d/faketypo.yaml:3:1: unknown key 'lable' (did you mean 'label'?)"
	[ "${#lines[@]}" -eq 8 ]
}

@test "mtrcfg: config.yaml errors: unknown key, wrong type, out of range" {
	cat > "$TMP/etc/config.yaml" <<'Y'
mqtt:
  hots: broker
  port: 99999
  retain: maybe
  tls:
    ca_fil: /etc/ca.pem
homeassistant: yes
Y
	mtrcfg_run --check
	assert_failure 2
	c=$TMP/etc/config.yaml
	assert_line "mtrcfg: $c:2:3: unknown key 'hots' in 'mqtt' (did you mean 'host'?)"
	assert_line "mtrcfg: $c:3:9: 'port' must be a whole number from 1 to 65535, not '99999'"
	assert_line "mtrcfg: $c:4:11: 'retain' must be true or false, not 'maybe'"
	assert_line "mtrcfg: $c:6:5: unknown key 'ca_fil' in 'mqtt: tls' (did you mean 'ca_file'?)"
	assert_line "mtrcfg: $c:7:16: 'homeassistant' must be a mapping (key: value lines), not a scalar"
}

@test "mtrcfg: paths from METER2MQTT_CONFIG and METER2MQTT_CONFIG_DIR" {
	mkdir "$TMP/other.d"
	printf 'type: nosuch\n' > "$TMP/other.d/x.yaml"
	METER2MQTT_CONFIG=$TMP/etc/config.yaml METER2MQTT_CONFIG_DIR=$TMP/other.d run mtrcfg --check
	assert_failure 2
	assert_output "mtrcfg: $TMP/other.d/x.yaml:1:7: unknown device type 'nosuch'"
}

@test "mtrcfg: --list-types shows built-in, types_dir and types: entries" {
	printf '#!/bin/sh\nexit 0\n' > "$TMP/thermo"
	chmod +x "$TMP/thermo"
	echo "types: { thermo: $TMP/thermo }" >> "$TMP/etc/config.yaml"
	mtrcfg_run --list-types
	assert_success
	assert_line --regexp "^dsmr	/.*/p1read$"
	assert_line --regexp "^multical	/.*/kmpread$"
	assert_line "fake	$TMP/etc/types/fake"
	assert_line "thermo	$TMP/thermo"
}

@test "mtrcfg: -o writes run, log/run, env/ and the marker; a rerun touches nothing" {
	printf 'type: fake\nvalue: 5\npoll_interval: 2\n' > "$TMP/etc/config.d/f1.yaml"
	echo "mqtt: { host: broker.example, port: 1884, topic_prefix: home, qos: 2, retain: false, client_id: gw, max_inflight: 100 }" >> "$TMP/etc/config.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	assert_output "mtrcfg: Started device: f1 (fake)"
	s=$TMP/scan/f1
	# run execs the reader, log/run execs the publisher: the supervisor's
	# pipe joins them, and no shell stays behind.
	grep -qx "exec chpst -e ./env '$TMP/etc/types/fake' '--device=f1' '--value=5' '--poll-interval=2'" "$s/run"
	grep -qx "exec chpst -e ../env '$TMP/etc/stubpub' '-h' 'broker.example' '-p' '1884' '-i' 'gw-f1' '-q' '2' '--no-retain' '--max-inflight' '100' '-t' 'home' '--type' 'fake' '--device' 'f1' '--spool' '$TMP/state/f1'" "$s/log/run"
	grep -qx "exec 2<> ../meter2mqtt.log/fifo" "$s/run"
	grep -qx "exec 2<> ../../meter2mqtt.log/fifo" "$s/log/run"
	[ "$(cat "$s/env/METER2MQTT_LOG_TAG")" = f1 ]
	# the device's spool directory, made by mtrcfg
	[ -d "$TMP/state/f1" ]
	[ "$(stat -c %a "$TMP/state/f1")" = 700 ]
	# one shared log for every device, in logging.dir/devices
	l=$TMP/scan/meter2mqtt.log
	grep -qx "exec svlogd -tt '$TMP/log/devices' <> fifo" "$l/run"
	grep -qx "mkdir -p -m 0750 '$TMP/log/devices' || exit 1" "$l/run"
	[ ! -e "$l/log" ] && [ ! -e "$l/env" ]
	sh -n "$s/log/run"
	sh -n "$l/run"
	grep -q '^checksum [0-9a-f]\{16\}$' "$s/.m2m-generated"
	sh -n "$s/run"
	before=$(stat -c '%i %Y' "$s/run" "$s/.m2m-generated")
	sleep 1.1
	touch "$TMP/etc/config.d/f1.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	assert_output ""
	[ "$(stat -c '%i %Y' "$s/run" "$s/.m2m-generated")" = "$before" ]
}

@test "mtrcfg: Home Assistant's expire_after is three of the device's intervals, a minute at least" {
	echo "homeassistant: { enabled: true }" >> "$TMP/etc/config.yaml"
	printf 'type: fake\nvalue: 5\npoll_interval: 2\n' > "$TMP/etc/config.d/f1.yaml"
	printf 'type: fake\nvalue: 5\npoll_interval: 600\n' > "$TMP/etc/config.d/f2.yaml"
	printf 'type: fake\nvalue: 5\n' > "$TMP/etc/config.d/f3.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	grep -q "'--homeassistant' '--expire-after' '60'$" "$TMP/scan/f1/log/run"
	grep -q "'--homeassistant' '--expire-after' '1800'$" "$TMP/scan/f2/log/run"
	# no interval known: no expiry
	grep -q "'--homeassistant'$" "$TMP/scan/f3/log/run"
}

@test "mtrcfg: the password lives in env/ (0700, file 0600), never in run" {
	printf 'type: fake\nvalue: 1\n' > "$TMP/etc/config.d/f1.yaml"
	printf 'mqtt:\n  username: meter\n  password: "pa ss$(x)\x27w"\n' >> "$TMP/etc/config.yaml"
	mtrcfg_run -o "$TMP/scan" -s s6
	assert_success
	s=$TMP/scan/f1
	[ "$(stat -c %a "$s/env")" = 700 ]
	[ "$(stat -c %a "$s/env/MQTT_PASSWORD")" = 600 ]
	[ "$(cat "$s/env/MQTT_PASSWORD")" = "pa ss\$(x)'w" ]
	! grep -q 'pa ss' "$s/run" "$s/log/run" "$s/.m2m-generated" || false
	grep -q "'-u' 'meter'" "$s/log/run"
	grep -q "^exec s6-envdir ./env '$TMP/etc/types/fake' " "$s/run"
	grep -q "^exec s6-envdir ../env '$TMP/etc/stubpub' " "$s/log/run"
	grep -q "^exec s6-log -b n10 s1000000 T '$TMP/log/devices' <> fifo$" "$TMP/scan/meter2mqtt.log/run"
}

@test "mtrcfg: a directory mtrcfg did not make is never touched" {
	mkdir -p "$TMP/scan/f1" "$TMP/scan/mine"
	echo '#!/bin/sh' > "$TMP/scan/f1/run"
	echo '#!/bin/sh' > "$TMP/scan/mine/run"
	printf 'type: fake\nvalue: 1\n' > "$TMP/etc/config.d/f1.yaml"
	mtrcfg_run -o "$TMP/scan"
	assert_failure 1
	assert_output --partial "$TMP/scan/f1 exists and was not made by mtrcfg"
	[ "$(cat "$TMP/scan/f1/run")" = '#!/bin/sh' ]
	[ -f "$TMP/scan/mine/run" ]
}

@test "mtrcfg: an invalid device file keeps its last good service; others are reconciled" {
	printf 'type: fake\nvalue: 1\n' > "$TMP/etc/config.d/f1.yaml"
	mtrcfg_run -o "$TMP/scan"
	assert_success
	run1=$(cat "$TMP/scan/f1/run")
	printf 'type: fake\nvalue: [1\n' > "$TMP/etc/config.d/f1.yaml"
	printf 'type: fake\nvalue: 2\n' > "$TMP/etc/config.d/f2.yaml"
	mtrcfg_run -o "$TMP/scan"
	assert_failure 2
	assert_line --regexp "$TMP/etc/config.d/f1.yaml:[23]:[0-9]+: YAML syntax error"
	assert_line "mtrcfg: Started device: f2 (fake)"
	[ "$(cat "$TMP/scan/f1/run")" = "$run1" ]
	printf 'type: fake\nvalue: abc\n' > "$TMP/etc/config.d/f1.yaml"
	mtrcfg_run -o "$TMP/scan"
	assert_failure 2
	assert_output "mtrcfg: $TMP/etc/config.d/f1.yaml:2:1: fake --check rejects the device (exit 2): fake: --value: 'abc' is not a number"
	[ "$(cat "$TMP/scan/f1/run")" = "$run1" ]
}

@test "mtrcfg: the shipped examples (etc/) pass --check, the custom type included" {
	for f in "$TOP"/etc/config.d/*.yaml.example; do
		b=${f##*/}
		cp "$f" "$TMP/etc/config.d/${b%.example}"
	done
	printf 'types_dir: %s\nmqttpub: ./stubpub\n' "$TOP/etc/types" > "$TMP/etc/config.yaml"
	# the Smarty example reads its key from smarty.key, as its comment tells the user
	(umask 077 && echo 000102030405060708090A0B0C0D0E0F > "$TMP/etc/smarty.key")
	mtrcfg_run --check
	assert_success
	run mtrcfg -c "$TOP/etc/config.yaml" -d "$TMP/etc/config.d" --list-types
	assert_success
	assert_line --regexp '^dsmr	'
	assert_line --regexp '^sml	.*smlread'
	# sml, like dsmr, needs a port: said with the file and line.
	printf 'type: sml\nparameters: [instantaneous_active_power]\n' > "$TMP/etc/config.d/strom.yaml"
	mtrcfg_run --check
	assert_failure 2
	assert_output --partial "strom.yaml:1:1: missing key 'port'"
	run "$TOP/etc/types/thermo" --check --device=t --zone=x
	assert_failure 2
	assert_output "thermo: --zone: 'x' is not a number"
}

@test "mtrcfg: a broken config.yaml leaves every service as it is" {
	printf 'type: fake\nvalue: 1\n' > "$TMP/etc/config.d/f1.yaml"
	mtrcfg_run -o "$TMP/scan"
	assert_success
	sum=$(cat "$TMP/scan/f1/run" "$TMP/scan/f1/.m2m-generated" | md5sum)
	printf 'mqtt: {host: [\n' >> "$TMP/etc/config.yaml"
	rm "$TMP/etc/config.d/f1.yaml"
	printf 'type: fake\nvalue: 2\n' > "$TMP/etc/config.d/f2.yaml"
	mtrcfg_run -o "$TMP/scan"
	assert_failure 2
	assert_line --regexp "^mtrcfg: $TMP/etc/config.yaml:[0-9]+:[0-9]+: YAML syntax error"
	assert_line "mtrcfg: $TMP/etc/config.yaml is invalid: every service is left as it is"
	[ "$(cat "$TMP/scan/f1/run" "$TMP/scan/f1/.m2m-generated" | md5sum)" = "$sum" ]
	[ ! -e "$TMP/scan/f2" ]
}

@test "mtrcfg: a password without a user name is a config error, and nothing is written" {
	printf 'type: fake\nvalue: 1\n' > "$TMP/etc/config.d/f1.yaml"
	cp "$TMP/etc/config.yaml" "$TMP/base.yaml"
	printf 'mqtt:\n  password: "s3cret"\n' >> "$TMP/etc/config.yaml"
	mtrcfg_run -o "$TMP/scan"
	assert_failure 2
	assert_line --partial "mtrcfg: $TMP/etc/config.yaml:1:1: 'mqtt': a password (\$MQTT_PASSWORD, or password: in config.yaml) needs --username (username:)"
	[ ! -e "$TMP/scan/f1" ]
	{ cat "$TMP/base.yaml"; printf 'influxdb:\n  url: http://127.0.0.1:8086\n  database: m\n  password: "s3cret"\n'; } > "$TMP/etc/config.yaml"
	mtrcfg_run --check
	assert_failure 2
	assert_output --partial "'influxdb': influxpub --check rejects it: influxpub: an InfluxDB password without --influx-user"
	{ cat "$TMP/base.yaml"; printf 'mqtt:\n  username: meter\n  password: "s3cret"\n'; } > "$TMP/etc/config.yaml"
	mtrcfg_run --check
	assert_success
}

# One device file through mtrcfg --check, and the options it stands for
# through p1read --check: the two must agree (the port rule and the DSMR
# version are the reader's, called by mtrcfg, never restated).
@test "mtrcfg --check and p1read --check give one verdict on each device file" {
	local rows=(
		# verdict | device file (after type: dsmr) | the same as p1read options
		'ok|connection: tcp\nport: "tcp://127.0.0.1:2001"|--connection=tcp --port=tcp://127.0.0.1:2001'
		'ok|connection: "tcp"\nhost: "192.0.2.7"\nport: 2001|--connection=tcp --host=192.0.2.7 --port=2001'
		'ok|host: "192.0.2.7"\nport: 2001|--host=192.0.2.7 --port=2001'
		'ok|port: "tcp://[::1]:2001"|--port=tcp://[::1]:2001'
		'ok|connection: stdin|--connection=stdin'
		'ok|connection: file\nport: "/tmp/telegrams.txt"|--connection=file --port=/tmp/telegrams.txt'
		'ok|port: /dev/ttyUSB0\nversion: "50"|--port=/dev/ttyUSB0 --dsmr=50'
		'ok|port: /dev/ttyUSB0\nversion: 22|--port=/dev/ttyUSB0 --dsmr=22'
		'no|connection: tcp\nport: 2001|--connection=tcp --port=2001'
		'no|connection: serial_port\nhost: "192.0.2.7"\nport: /dev/ttyUSB0|--connection=serial_port --host=192.0.2.7 --port=/dev/ttyUSB0'
		'no|connection: bluetooth\nport: /dev/ttyUSB0|--connection=bluetooth --port=/dev/ttyUSB0'
		'no|port: "tcp://nohostport"|--port=tcp://nohostport'
		'no|port: "tcp://host:99999"|--port=tcp://host:99999'
		'no|connection: serial_port|--connection=serial_port'
		'no|connection: tcp\nhost: "192.0.2.7"|--connection=tcp --host=192.0.2.7'
		'no|port: /dev/ttyUSB0\nversion: yes|--port=/dev/ttyUSB0 --dsmr'
		'no|port: /dev/ttyUSB0\nversion: "99"|--port=/dev/ttyUSB0 --dsmr=99'
	)
	local row want yaml opts cfg rdr
	for row in "${rows[@]}"; do
		IFS='|' read -r want yaml opts <<<"$row"
		rm -f "$TMP/etc/config.d/"*.yaml
		printf 'type: dsmr\n%b\n' "$yaml" > "$TMP/etc/config.d/meter.yaml"
		mtrcfg_run --check
		cfg=$([ "$status" -eq 0 ] && echo ok || echo no)
		# shellcheck disable=SC2086 # opts are words
		run p1read --check --device=meter $opts </dev/null
		rdr=$([ "$status" -eq 0 ] && echo ok || echo no)
		[ "$cfg" = "$rdr" ] || fail "$yaml: mtrcfg says $cfg, p1read says $rdr"
		[ "$cfg" = "$want" ] || fail "$yaml: both say $cfg, expected $want"
	done
}

# config.yaml's mqtt: section through mtrcfg --check, and the same
# settings as options through mqttpub --check: one parser and one check
# (lib/sink/mqttset.c) behind both, so one verdict.  @PW@ is a readable
# password file, @CA@ a CA file, @NONE@ a file that does not exist (marked
# so that no temporary directory's name can hold one).
@test "mtrcfg --check and mqttpub --check give one verdict on each mqtt: section" {
	local rows=(
		# verdict | mqtt: mapping | the same as mqttpub options
		'ok|port: 1884|-p 1884'
		'no|port: 99999|-p 99999'
		'no|port: 0|-p 0'
		'no|port: "18x3"|-p 18x3'
		'ok|qos: 2|-q 2'
		'no|qos: 3|-q 3'
		'ok|protocol: 5|-V 5'
		'no|protocol: 4|-V 4'
		'ok|keepalive: 30|-k 30'
		'no|keepalive: 2|-k 2'
		'ok|max_inflight: 100|--max-inflight 100'
		'no|max_inflight: 0|--max-inflight 0'
		'no|host: ""|--host='
		'ok|host: broker.example, retain: false|-h broker.example --no-retain'
		'ok|username: u, password_file: @PW@|-u u --password-file=@PW@'
		'no|password_file: @PW@|--password-file=@PW@'
		'no|username: u, password_file: @NONE@|-u u --password-file=@NONE@'
		'ok|tls: true|--tls'
		'ok|tls: { ca_file: @CA@ }|--cafile=@CA@'
		'no|tls: { ca_file: @NONE@ }|--cafile=@NONE@'
		'no|tls: { cert_file: @CA@ }|--cert=@CA@'
		'no|tls: { cert_file: @CA@, key_file: @CA@ }|--cert=@CA@ --key=@CA@'
		'ok|tls: { ca_file: @CA@, cert_file: @CA@, key_file: @CA@ }|--cafile=@CA@ --cert=@CA@ --key=@CA@'
		'ok|tls: { version: tlsv1.2 }|--tls-version=tlsv1.2'
		'no|tls: { version: tlsv1.0 }|--tls-version=tlsv1.0'
	)
	printf 'secret\n' > "$TMP/pw" && chmod 600 "$TMP/pw"
	printf 'not checked here\n' > "$TMP/ca.pem"
	printf 'type: fake\nvalue: 5\n' > "$TMP/etc/config.d/f1.yaml"
	cp "$TMP/etc/config.yaml" "$TMP/base.yaml"
	local row want yaml opts cfg pub
	for row in "${rows[@]}"; do
		IFS='|' read -r want yaml opts <<<"$row"
		yaml=${yaml//@PW@/$TMP/pw} yaml=${yaml//@NONE@/$TMP/none} yaml=${yaml//@CA@/$TMP/ca.pem}
		opts=${opts//@PW@/$TMP/pw} opts=${opts//@NONE@/$TMP/none} opts=${opts//@CA@/$TMP/ca.pem}
		{ cat "$TMP/base.yaml"; echo "mqtt: { $yaml }"; } > "$TMP/etc/config.yaml"
		mtrcfg_run --check
		cfg=$([ "$status" -eq 0 ] && echo ok || echo no)
		# shellcheck disable=SC2086 # opts are words
		run mqttpub --check $opts </dev/null
		pub=$([ "$status" -eq 0 ] && echo ok || echo no)
		[ "$cfg" = "$pub" ] || fail "mqtt: { $yaml }: mtrcfg says $cfg, mqttpub says $pub: $output"
		[ "$cfg" = "$want" ] || fail "mqtt: { $yaml }: both say $cfg, expected $want"
	done
}

@test "mtrcfg: type meter2mqtt is the gateway publisher's, refused for a device" {
	printf 'type: meter2mqtt\nport: "/dev/ttyUSB0"\n' > "$TMP/etc/config.d/gw.yaml"
	mtrcfg_run --check
	assert_failure 2
	assert_output --partial "gw.yaml:1:7: 'type' cannot be 'meter2mqtt': the gateway's publisher reports under it"
}

@test "mtrcfg: version: yes in a DSMR device file fails --check" {
	printf 'type: "dsmr"\nport: "/dev/ttyUSB0"\nversion: yes\n' > "$TMP/etc/config.d/meter.yaml"
	mtrcfg_run --check
	assert_failure 2
	assert_output --partial "meter.yaml:3:1: p1read --check rejects the device (exit 2): p1read: option needs a value: --dsmr"
}

@test "mtrcfg: the design's base config and device file, verbatim, pass --check" {
	cat > "$TMP/etc/config.yaml" <<'Y'
mqtt:
  host: "localhost"
  port: 1883
  topic_prefix: "meter2mqtt"
  qos: 1
  retain: true
logging:
  level: "INFO"
homeassistant:
  enabled: true
  discovery_prefix: "homeassistant"
Y
	seed_serial
	mtrcfg_run --check
	assert_success
	assert_output ""
	# and the service it makes runs p1read with --dsmr=50 and passes the level on
	# (its spool under the test's directory, not the machine's /var/lib)
	echo "state_dir: $TMP/state" >> "$TMP/etc/config.yaml"
	mtrcfg_run -o "$TMP/scan"
	assert_success
	grep -q -- "--dsmr=50" "$TMP/scan/dsmr_main/run" || fail "$(cat "$TMP/scan/dsmr_main/run")"
	[ "$(cat "$TMP/scan/dsmr_main/env/METER2MQTT_LOG_LEVEL")" = INFO ]
}

@test "mtrcfg: logging level takes the usual names in any case" {
	local l
	for l in DEBUG debug Info WARNING warn ERROR CRITICAL critical; do
		mk_conf logging_level_is_below
		sed -i '/logging_level_is_below/d; s/^logging:$/logging:\n  level: "'"$l"'"/' "$TMP/etc/config.yaml"
		mtrcfg_run --check
		assert_success
	done
	sed -i 's/^  level: .*/  level: "loud"/' "$TMP/etc/config.yaml"
	mtrcfg_run --check
	assert_failure 2
	assert_output --partial "'level' must be debug, info, warning, error or critical (any case), not 'loud'"
}

@test "mtrcfg: the built-in readers run with --health-interval=60; a device's own value wins; other readers get none" {
	seed_serial
	printf 'type: sml\nport: /dev/ttyUSB3\nhealth_interval: 0\n' > "$TMP/etc/config.d/strom.yaml"
	printf 'type: fake\nvalue: 5\n' > "$TMP/etc/config.d/f1.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	grep -q "/p1read' '--device=dsmr_main' '--health-interval=60' '--connection=serial_port' " "$TMP/scan/dsmr_main/run"
	grep -q "/smlread' '--device=strom' '--health-interval=60' '--port=/dev/ttyUSB3' '--health-interval=0'$" "$TMP/scan/strom/run"
	grep -qx "exec chpst -e ./env '$TMP/etc/types/fake' '--device=f1' '--value=5'" "$TMP/scan/f1/run"
}
