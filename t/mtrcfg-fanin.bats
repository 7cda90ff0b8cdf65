#!/usr/bin/env bats
# publisher: shared (fan-in): every device's reader writes into its FIFO
# in SCANDIR/meter2mqtt.pub/in, and one real mqttpub (meter2mqtt.pub)
# publishes them all over one connection to a real mosquitto, under a
# real s6-svscan and a real runsvdir.  Readings are counted by the meter's
# own clock: p1sim sends five telegrams a second, each a second later on
# the meter clock than the one before, so a gap in the seconds a device
# published is a lost reading.
load helper
load mtrcfg-lib

setup() { supervised_setup; }
teardown() { supervised_teardown; }

# The meter clock seconds (of day) device $1 published, one a line, sorted.
meter_seconds() {
	awk -v t="t$$/dsmr/$1/p1_message_timestamp" '$1 == t {
		print substr($2, 12, 2) * 3600 + substr($2, 15, 2) * 60 + substr($2, 18, 2) }' "$TMP/sub.log" | sort -nu
}
readings_of() { [ "$(meter_seconds "$1" | wc -l)" -ge "$2" ]; }
# No reading missing from device $1's first to its last.
contiguous() {
	local first last
	first=$(meter_seconds "$1" | head -1)
	last=$(meter_seconds "$1" | tail -1)
	[ "$(meter_seconds "$1" | wc -l)" -eq $((last - first + 1)) ]
}
sub_settled() {
	local n
	n=$(wc -l < "$TMP/sub.log")
	sleep 1
	[ "$(wc -l < "$TMP/sub.log")" = "$n" ]
}
# The last payload on topic $1.
last_on() { awk -v t="$1" '$1 == t { p = $0; sub(/^[^ ]* /, "", p) } END { print p }' "$TMP/sub.log"; }
says() { [ "$(last_on "$1")" = "$2" ]; }

# The pid of service directory $1 (0 or nothing when down).
svc_pid() {
	if [ "$SUP" = s6 ]; then s6-svstat -p "$1"; else cat "$1/supervise/pid" 2>/dev/null; fi
}
pid_is_not() { local p; p=$(svc_pid "$1"); [ -n "$p" ] && [ "$p" -gt 0 ] && [ "$p" != "$2" ]; }
svc_restart() { if [ "$SUP" = s6 ]; then s6-svc -r "$1"; else sv term "$1" > /dev/null; fi; }
# (the mqttpub mtrcfg found: bin/ or, in the sanitizer pass, build/asan/bin/)
publishers() { pgrep -f -- "/mqttpub .*-t t$$" | wc -l; }

DEVICES="a b c d"

# The whole story under supervisor $1 (s6 or runit).
shared_publisher() {
	SUP=$1
	start_broker
	mk_conf "mqtt: { host: 127.0.0.1, port: $BROKER_PORT, topic_prefix: t$$, username: u, password: fan-pass-31 }" \
		"publisher: shared"
	sed -i '/^mqttpub:/d' "$TMP/etc/config.yaml"
	local mport d
	mport=$(free_port)
	p1sim -r 5 --step 1 --start-time 2026-11-27T00:00:00Z -o "tcp:127.0.0.1:$mport" > /dev/null 2> "$TMP/p1sim.log" &
	local sim=$!
	track_pid "$sim"
	wait_for 50 port_listening "$mport"
	mosquitto_sub -p "$BROKER_PORT" -q 1 -v -t "t$$/dsmr/+/p1_message_timestamp" -t "t$$/+/+/status" \
		-t "t$$/dsmr/+/health" > "$TMP/sub.log" 2>&1 &
	track_pid $!
	for d in $DEVICES; do
		printf 'type: dsmr\nconnection: tcp\nhost: 127.0.0.1\nport: %s\nversion: "50"\n' "$mport" > "$TMP/etc/config.d/$d.yaml"
	done
	mtrcfg_run -o "$TMP/scan" -s "$SUP"
	assert_success
	assert_line "mtrcfg: Started service: meter2mqtt.pub (mqttpub)"
	assert_line "mtrcfg: Started device: d (dsmr)"
	local s=$TMP/scan
	# the reader alone, into its FIFO; the publisher reads them all, and
	# only it has the broker's password
	grep -qx "exec \\(chpst -e\\|s6-envdir\\) \\./env '[^']*/p1read' '--device=a' .* 1<> \\.\\./meter2mqtt.pub/in/a" "$s/a/run"
	[ ! -e "$s/a/log" ] && [ ! -e "$s/a/env/MQTT_PASSWORD" ]
	grep -qx 'exec <in' "$s/meter2mqtt.pub/run"
	grep -q "/mqttpub' .*'--spool' '$TMP/state/meter2mqtt.pub'$" "$s/meter2mqtt.pub/run"
	! grep -q -- "--device" "$s/meter2mqtt.pub/run" || false
	[ "$(cat "$s/meter2mqtt.pub/env/MQTT_PASSWORD")" = fan-pass-31 ]
	[ "$SUP" = s6 ] || start_runit
	[ "$SUP" = runit ] || start_s6
	for d in $DEVICES; do wait_for 300 readings_of "$d" 5; done
	[ "$(publishers)" -eq 1 ]
	for d in $DEVICES; do
		[ -p "$s/meter2mqtt.pub/in/$d" ]
		wait_for 50 says "t$$/dsmr/$d/status" online
	done
	# the publisher's own status (the will), and a device's health: its
	# reader's report with its own count of what the broker took
	local self
	self=$(awk '$1 ~ "^t'$$'/meter2mqtt/[^/]*/status$" { print $1; exit }' "$TMP/sub.log")
	[ -n "$self" ] && says "$self" online
	wait_for 100 sh -c "grep -q '^t$$/dsmr/b/health .*\"reader\":{.*\"publisher\":{\"published\":' '$TMP/sub.log'"

	# The publisher restarted three times: the readers write on into their
	# FIFOs meanwhile, and nothing is lost.
	local -A reader
	local pub i n
	for d in $DEVICES; do reader[$d]=$(svc_pid "$s/$d"); done
	for i in 1 2 3; do
		pub=$(svc_pid "$s/meter2mqtt.pub")
		svc_restart "$s/meter2mqtt.pub"
		wait_for 100 pid_is_not "$s/meter2mqtt.pub" "$pub"
		n=$(meter_seconds a | wc -l)
		wait_for 150 readings_of a $((n + 5))
	done
	for d in $DEVICES; do [ "$(svc_pid "$s/$d")" = "${reader[$d]}" ]; done

	# One reader restarted: no other device, nor the publisher, sees it.
	pub=$(svc_pid "$s/meter2mqtt.pub")
	svc_restart "$s/a"
	wait_for 100 pid_is_not "$s/a" "${reader[a]}"
	n=$(meter_seconds a | wc -l)
	wait_for 150 readings_of a $((n + 5))
	[ "$(svc_pid "$s/meter2mqtt.pub")" = "$pub" ]
	for d in b c d; do [ "$(svc_pid "$s/$d")" = "${reader[$d]}" ]; done

	kill -TERM "$sim"
	wait_for 150 sub_settled
	# every reading of b, c and d from their first to the meter's last
	# (a's reader missed what the meter sent while it reconnected)
	local last
	last=$(meter_seconds b | tail -1)
	for d in b c d; do
		contiguous "$d" || fail "$d: $(meter_seconds "$d" | tr '\n' ' ')"
		[ "$(meter_seconds "$d" | tail -1)" = "$last" ]
	done
	[ "$(meter_seconds a | tail -1)" = "$last" ]
	# the shared log names the publisher's restarts
	[ "$(grep -c 'mqttpub\[meter2mqtt.pub\]: .*delivering what is queued' "$TMP/log/devices/current")" -eq 3 ]

	# A device removed: its FIFO goes, the publisher says it offline.
	rm "$TMP/etc/config.d/d.yaml"
	mtrcfg_run -o "$TMP/scan" -s "$SUP"
	assert_output "mtrcfg: Stopped device: d"
	[ ! -e "$s/meter2mqtt.pub/in/d" ]
	wait_for 100 says "t$$/dsmr/d/status" offline
	says "t$$/dsmr/c/status" online
}

@test "publisher: shared, s6: four devices through one mqttpub; its restarts lose nothing; one reader's restart touches no other" {
	shared_publisher s6
}

@test "publisher: shared, runit: four devices through one mqttpub; its restarts lose nothing; one reader's restart touches no other" {
	shared_publisher runit
}

@test "mtrcfg: publisher: takes per_device or shared, and back to per_device gives each device its mqttpub again" {
	mk_conf "publisher: everyone"
	printf 'type: fake\nvalue: 2\n' > "$TMP/etc/config.d/f1.yaml"
	mtrcfg_run --check
	assert_failure 2
	assert_output --partial "'publisher' must be per_device (one mqttpub a device) or shared (one for the gateway), not 'everyone'"
	sed -i 's/^publisher: .*/publisher: shared/' "$TMP/etc/config.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	[ -x "$TMP/scan/meter2mqtt.pub/run" ] && [ ! -e "$TMP/scan/f1/log" ]
	sed -i 's/^publisher: .*/publisher: per_device/' "$TMP/etc/config.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	assert_line "mtrcfg: Reloading device f1 (config changed)"
	assert_line "mtrcfg: Stopped service: meter2mqtt.pub"
	[ ! -e "$TMP/scan/meter2mqtt.pub" ]
	grep -q "stubpub' .*'--device' 'f1'" "$TMP/scan/f1/log/run"
	! grep -q meter2mqtt.pub "$TMP/scan/f1/run" || false
}

# readers: shared under supervisor $1: the P1 meters over TCP in one
# p1read --meters, an encrypted one in a reader of its own, all into the
# one publisher; the shared reader's restart loses a meter's few seconds
# and touches neither the publisher nor the reader apart.
shared_readers() {
	SUP=$1
	start_broker
	mk_conf "mqtt: { host: 127.0.0.1, port: $BROKER_PORT, topic_prefix: t$$ }" "publisher: shared" "readers: shared"
	sed -i '/^mqttpub:/d' "$TMP/etc/config.yaml"
	local mport lport d key=0123456789ABCDEF0123456789ABCDEF
	mport=$(free_port) lport=$(free_port)
	p1sim -r 5 --step 1 --start-time 2026-11-27T00:00:00Z -o "tcp:127.0.0.1:$mport" > /dev/null 2> "$TMP/p1sim.log" &
	local sim=$!
	track_pid "$sim"
	printf '%s\n' "$key" > "$TMP/lux.key"
	p1sim -P lux --key-file "$TMP/lux.key" -r 5 --step 1 --start-time 2026-11-27T00:00:00Z \
		-o "tcp:127.0.0.1:$lport" > /dev/null 2>> "$TMP/p1sim.log" &
	local luxsim=$!
	track_pid $luxsim
	wait_for 50 port_listening "$mport"
	wait_for 50 port_listening "$lport"
	mosquitto_sub -p "$BROKER_PORT" -q 1 -v -t "t$$/dsmr/+/p1_message_timestamp" -t "t$$/+/+/status" \
		> "$TMP/sub.log" 2>&1 &
	track_pid $!
	for d in a b c; do
		printf 'type: dsmr\nconnection: tcp\nhost: 127.0.0.1\nport: %s\nversion: "50"\n' "$mport" > "$TMP/etc/config.d/$d.yaml"
	done
	printf 'type: dsmr\nport: "tcp://127.0.0.1:%s"\nversion: lu\nkey: %s\n' "$lport" "$key" > "$TMP/etc/config.d/lux.yaml"
	chmod 600 "$TMP/etc/config.d/lux.yaml"
	mtrcfg_run -o "$TMP/scan" -s "$SUP"
	assert_success
	assert_line "mtrcfg: Started service: meter2mqtt.p1read (p1read --meters)"
	assert_line "mtrcfg: Started device: lux (dsmr)"
	refute_line --partial "Started device: a"
	local s=$TMP/scan
	# One line a meter in ./meters, as each meter's own service would run it;
	# no service or FIFO of their own; the encrypted meter keeps its own,
	# its key in its env/ and in no shared file.
	[ "$(grep -c . "$s/meter2mqtt.p1read/meters")" -eq 3 ]
	grep -qx "'--device=b' '--health-interval=60' '--connection=tcp' '--host=127.0.0.1' '--port=$mport' '--dsmr=50'" "$s/meter2mqtt.p1read/meters"
	grep -qx "exec \\(chpst -e\\|s6-envdir\\) \\./env '[^']*/p1read' '--meters' 'meters' 1<> \\.\\./meter2mqtt.pub/in/meter2mqtt.p1read" "$s/meter2mqtt.p1read/run"
	for d in a b c; do [ ! -e "$s/$d" ]; done
	[ -x "$s/lux/run" ] && [ "$(cat "$s/lux/env/P1_KEY")" = "$key" ]
	! grep -rq "$key" "$s/meter2mqtt.p1read" || false
	[ "$SUP" = s6 ] || start_runit
	[ "$SUP" = runit ] || start_s6
	for d in a b c lux; do wait_for 300 readings_of "$d" 5; done
	[ -p "$s/meter2mqtt.pub/in/meter2mqtt.p1read" ] && [ -p "$s/meter2mqtt.pub/in/lux" ]
	[ ! -e "$s/meter2mqtt.pub/in/a" ]
	for d in a b c lux; do wait_for 50 says "t$$/dsmr/$d/status" online; done
	[ "$(pgrep -f -- "/p1read --meters meters" | wc -l)" -eq 1 ]

	# The shared reader restarted: its meters come back; the publisher and
	# the reader apart never notice.
	local pub lux rd n
	pub=$(svc_pid "$s/meter2mqtt.pub") lux=$(svc_pid "$s/lux") rd=$(svc_pid "$s/meter2mqtt.p1read")
	svc_restart "$s/meter2mqtt.p1read"
	wait_for 100 pid_is_not "$s/meter2mqtt.p1read" "$rd"
	n=$(meter_seconds b | wc -l)
	wait_for 150 readings_of b $((n + 5))
	[ "$(svc_pid "$s/meter2mqtt.pub")" = "$pub" ] && [ "$(svc_pid "$s/lux")" = "$lux" ]

	# A meter removed: the shared reader reloads without it.
	rm "$TMP/etc/config.d/c.yaml"
	mtrcfg_run -o "$TMP/scan" -s "$SUP"
	assert_success
	assert_line "mtrcfg: Reloading service meter2mqtt.p1read (config changed)"
	[ "$(grep -c . "$s/meter2mqtt.p1read/meters")" -eq 2 ] && ! grep -q "device=c'" "$s/meter2mqtt.p1read/meters"
	n=$(meter_seconds a | wc -l)
	wait_for 150 readings_of a $((n + 5))
	kill -TERM "$sim" "$luxsim"
	wait_for 150 sub_settled
	# Both grouped meters read on to the meter's last telegram.
	local last
	last=$(meter_seconds a | tail -1)
	[ "$(meter_seconds b | tail -1)" = "$last" ]

	# Back to a reader a device: each gets its service and FIFO again, the
	# shared one goes.
	sed -i 's/^readers: .*/readers: per_device/' "$TMP/etc/config.yaml"
	mtrcfg_run -o "$TMP/scan" -s "$SUP"
	assert_success
	assert_line "mtrcfg: Started device: a (dsmr)"
	assert_line "mtrcfg: Stopped service: meter2mqtt.p1read"
	[ ! -e "$s/meter2mqtt.p1read" ] && [ -x "$s/a/run" ]
	wait_for 50 test ! -e "$s/meter2mqtt.pub/in/meter2mqtt.p1read"
}

@test "readers: shared, s6: three TCP meters in one p1read --meters, an encrypted one apart, one publisher; reload and back" {
	shared_readers s6
}

@test "readers: shared, runit: three TCP meters in one p1read --meters, an encrypted one apart, one publisher; reload and back" {
	shared_readers runit
}

@test "mtrcfg: readers: takes per_device or shared, shared only with publisher: shared, and a refusal changes nothing" {
	mk_conf "readers: all"
	printf 'type: fake\nvalue: 2\n' > "$TMP/etc/config.d/f1.yaml"
	mtrcfg_run --check
	assert_failure 2
	assert_output --partial "config.yaml:6:10: 'readers' must be per_device (a reader a device) or shared (one p1read for the gateway's P1 meters), not 'all'"
	sed -i 's/^readers: .*/readers: shared/' "$TMP/etc/config.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_failure 2
	assert_output --partial "config.yaml:6:10: 'readers: shared' needs 'publisher: shared' (the readers write into its directory)"
	[ -z "$(ls "$TMP/scan")" ]
	# A type that is not P1 keeps its own reader under readers: shared.
	echo "publisher: shared" >> "$TMP/etc/config.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	[ -x "$TMP/scan/f1/run" ] && [ ! -e "$TMP/scan/meter2mqtt.p1read" ]
}

@test "readers: shared: each meter checked by p1read --check once; an unchanged pass checks none, a changed meter all again" {
	mk_conf "publisher: shared" "readers: shared" "types: { dsmr: $TMP/wrap/p1read }"
	sed -i '/^mqttpub:/d' "$TMP/etc/config.yaml"
	mkdir "$TMP/wrap"
	# p1read under its own name, noting every --check it is asked for
	printf '#!/bin/sh\ncase " $* " in *" --check "*) echo "$*" >> %s/checks ;; esac\nexec %s "$@"\n' \
		"$TMP" "$(command -v p1read)" > "$TMP/wrap/p1read"
	chmod +x "$TMP/wrap/p1read"
	local d
	for d in a b c; do
		printf 'type: dsmr\nport: "tcp://127.0.0.1:%s"\n' "$((40000 + ${#d}))" > "$TMP/etc/config.d/$d.yaml"
	done
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	[ "$(wc -l < "$TMP/checks")" -eq 3 ]
	grep -q -- "--device=b" "$TMP/checks"
	[ "$(grep -c . "$TMP/scan/meter2mqtt.p1read/meters")" -eq 3 ]
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	[ -z "$output" ]
	[ "$(wc -l < "$TMP/checks")" -eq 3 ]
	printf 'type: dsmr\nport: "tcp://127.0.0.1:40009"\n' > "$TMP/etc/config.d/b.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	assert_output "mtrcfg: Reloading service meter2mqtt.p1read (config changed)"
	[ "$(wc -l < "$TMP/checks")" -eq 6 ]
	grep -q -- "--port=tcp://127.0.0.1:40009" "$TMP/scan/meter2mqtt.p1read/meters"
}
