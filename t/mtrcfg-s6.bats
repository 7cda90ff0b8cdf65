#!/usr/bin/env bats
# mtrcfg --watch with a real s6-svscan: a device file becomes a running,
# supervised reader; edits restart it, touches do not, deletes stop it.
load helper
load mtrcfg-lib

setup() { supervised_setup; }
teardown() { supervised_teardown; }

start_watch() {
	mtrcfg -c "$TMP/etc/config.yaml" -o "$TMP/scan" -s s6 -w --debounce 200 > "$TMP/watch.log" 2>&1 &
	WATCH_PID=$!
	track_pid "$WATCH_PID"
	wait_for 50 grep -q Watching "$TMP/watch.log"
}

@test "mtrcfg -w, s6: create, edit, touch, break, delete a device file" {
	mk_conf 'mqtt: { username: gw, password: "hunter2-secret" }'
	start_s6
	start_watch
	printf 'type: fake\nvalue: 5\n' > "$TMP/etc/config.d/meter_a.yaml"
	wait_for 100 value_is meter_a 5
	grep -q "Config file created: config.d/meter_a.yaml" "$TMP/watch.log"
	grep -q "Started device: meter_a (fake)" "$TMP/watch.log"
	pid1=$(reader_pid meter_a)
	# the secret reached mqttpub's environment, and no command line
	[ "$(cat "$TMP"/out/password.*)" = hunter2-secret ]
	! ps -eo args | grep -v grep | grep -q hunter2 || false

	printf 'type: fake\nvalue: 7\n' > "$TMP/etc/config.d/meter_a.yaml"
	wait_for 100 value_is meter_a 7
	grep -q "Reloading device meter_a (config changed)" "$TMP/watch.log"
	pid2=$(reader_pid meter_a)
	[ -n "$pid2" ] && [ "$pid2" != "$pid1" ]

	touch "$TMP/etc/config.d/meter_a.yaml"
	sleep 1
	[ "$(reader_pid meter_a)" = "$pid2" ]

	printf 'type: fake\nvalue: [7\n' > "$TMP/etc/config.d/meter_a.yaml"
	wait_for 50 grep -q "meter_a.yaml:[23]:[0-9]*: YAML syntax error" "$TMP/watch.log"
	[ "$(reader_pid meter_a)" = "$pid2" ]

	rm "$TMP/etc/config.d/meter_a.yaml"
	wait_for 100 reader_gone meter_a
	# the log line may follow the reader's end by a moment
	wait_for 50 grep -q "Stopped device: meter_a" "$TMP/watch.log"
	[ ! -e "$TMP/scan/meter_a" ]
	kill -TERM "$WATCH_PID"
	wait "$WATCH_PID" # SIGTERM ends the watch cleanly
}

@test "mtrcfg, s6: no config value runs a command; the reader gets it verbatim" {
	mk_conf
	cat > "$TMP/etc/config.d/inj.yaml" <<Y
type: fake
value: 3
label: "a b 'q' \"dq\" \$(touch $TMP/pwned) \`touch $TMP/pwned\` ; touch $TMP/pwned\nline2"
Y
	run mtrcfg -c "$TMP/etc/config.yaml" -o "$TMP/scan" -s s6
	assert_success
	start_s6
	wait_for 100 value_is inj 3
	[ ! -e "$TMP/pwned" ]
	args=$(cat "$TMP"/out/args.inj.*)
	want="[--device=inj]
[--value=3]
[--label=a b 'q' \"dq\" \$(touch $TMP/pwned) \`touch $TMP/pwned\` ; touch $TMP/pwned
line2]"
	[ "$args" = "$want" ]
}

mqttpub_e2e() {
	start_broker
	mk_conf "mqtt: { host: 127.0.0.1, port: $BROKER_PORT, topic_prefix: t$$, username: u, password: e2e-pass-77 }"
	sed -i '/^mqttpub:/d' "$TMP/etc/config.yaml"
}

@test "mtrcfg, s6, mqttpub: a device's readings reach the broker, an edit changes them" {
	mqttpub_e2e
	start_s6
	mosquitto_sub -p "$BROKER_PORT" -t "t$$/#" -v > "$TMP/sub.log" 2>&1 &
	track_pid $!
	printf 'type: fake\nvalue: 11\n' > "$TMP/etc/config.d/e2e.yaml"
	run mtrcfg -c "$TMP/etc/config.yaml" -o "$TMP/scan"
	assert_success
	wait_for 150 grep -q "^t$$/fake/e2e/v 11$" "$TMP/sub.log"
	! ps -eo args | grep -v grep | grep -q e2e-pass-77 || false
	printf 'type: fake\nvalue: 12\n' > "$TMP/etc/config.d/e2e.yaml"
	run mtrcfg -c "$TMP/etc/config.yaml" -o "$TMP/scan"
	assert_output "mtrcfg: Reloading device e2e (config changed)"
	wait_for 150 grep -q "^t$$/fake/e2e/v 12$" "$TMP/sub.log"
}

@test "mtrcfg, s6, p1read, mqttpub: p1sim on a pty to the broker" {
	mqttpub_e2e
	command -v p1sim >/dev/null || skip "no p1sim"
	p1sim -o "pty:$TMP/meter" > "$TMP/p1sim.log" 2>&1 &
	track_pid $!
	wait_for 50 test -e "$TMP/meter"
	start_s6
	mosquitto_sub -p "$BROKER_PORT" -t "t$$/dsmr/house/current_electricity_usage" -v > "$TMP/sub.log" 2>&1 &
	track_pid $!
	printf 'type: "dsmr"\nconnection: "serial_port"\nport: "%s"\nversion: "50"\n' "$TMP/meter" > "$TMP/etc/config.d/house.yaml"
	run mtrcfg -c "$TMP/etc/config.yaml" -o "$TMP/scan"
	assert_success
	wait_for 150 grep -Eq "^t$$/dsmr/house/current_electricity_usage [0-9]+\.[0-9]+$" "$TMP/sub.log"
}

@test "the shipped s6 service of the watcher (runit/meter2mqtt-s6) runs mtrcfg -w" {
	mk_conf
	mkdir -p "$TMP/scan/meter2mqtt/log"
	sed -e "s|/etc/meter2mqtt/config.yaml|$TMP/etc/config.yaml|" -e "s|^SCANDIR=.*|SCANDIR=$TMP/scan|" \
		"$TOP/runit/meter2mqtt-s6/run" > "$TMP/scan/meter2mqtt/run"
	sed -e "s|/var/log/meter2mqtt/mtrcfg|$TMP/log/mtrcfg|g" \
		"$TOP/runit/meter2mqtt-s6/log/run" > "$TMP/scan/meter2mqtt/log/run"
	chmod +x "$TMP/scan/meter2mqtt/run" "$TMP/scan/meter2mqtt/log/run"
	start_s6
	wait_for 50 grep -q Watching "$TMP/log/mtrcfg/current"
	printf 'type: fake\nvalue: 4\n' > "$TMP/etc/config.d/svc_a.yaml"
	wait_for 100 value_is svc_a 4
	grep -q "Started device: svc_a (fake)" "$TMP/log/mtrcfg/current"
	[ ! -e "$TMP/scan/meter2mqtt/.m2m-generated" ]
}

# The meter clock seconds (of day) device $1 published, one a line, sorted.
meter_seconds() {
	awk -v t="t$$/dsmr/$1/p1_message_timestamp" '$1 == t {
		print substr($2, 12, 2) * 3600 + substr($2, 15, 2) * 60 + substr($2, 18, 2) }' "$TMP/sub.log" | sort -nu
}
readings_of() { [ "$(meter_seconds "$1" | wc -l)" -ge "$2" ]; }
svc_pid() { s6-svstat -p "$1"; }
pid_is_not() { local p; p=$(svc_pid "$1"); [ "$p" -gt 0 ] && [ "$p" != "$2" ]; }
sub_settled() {
	local n
	n=$(wc -l < "$TMP/sub.log")
	sleep 1
	[ "$(wc -l < "$TMP/sub.log")" = "$n" ]
}

@test "mtrcfg, s6: restarting one device's mqttpub loses none of its readings and touches no other device" {
	mqttpub_e2e
	mport=$(free_port)
	# Five telegrams a second, the meter clock a second apart in each.
	p1sim -r 5 --step 1 --start-time 2026-11-27T00:00:00Z -o "tcp:127.0.0.1:$mport" > /dev/null 2> "$TMP/p1sim.log" &
	sim=$!
	track_pid "$sim"
	wait_for 50 port_listening "$mport"
	start_s6
	mosquitto_sub -p "$BROKER_PORT" -q 1 -t "t$$/dsmr/+/p1_message_timestamp" -v > "$TMP/sub.log" 2>&1 &
	track_pid $!
	for d in a b; do
		printf 'type: dsmr\nconnection: tcp\nhost: 127.0.0.1\nport: %s\nversion: "50"\n' "$mport" > "$TMP/etc/config.d/$d.yaml"
	done
	run mtrcfg -c "$TMP/etc/config.yaml" -o "$TMP/scan"
	assert_success
	wait_for 150 readings_of a 5
	wait_for 150 readings_of b 5
	reader_a=$(svc_pid "$TMP/scan/a")
	reader_b=$(svc_pid "$TMP/scan/b")
	pub_b=$(svc_pid "$TMP/scan/b/log")
	for i in 1 2 3; do
		pub_a=$(svc_pid "$TMP/scan/a/log")
		s6-svc -r "$TMP/scan/a/log"
		wait_for 100 pid_is_not "$TMP/scan/a/log" "$pub_a"
		n=$(meter_seconds a | wc -l)
		wait_for 100 readings_of a $((n + 5))
	done
	kill -TERM "$sim"
	wait_for 100 sub_settled

	# a's reader wrote on into the pipe meanwhile: no reading is missing
	# from a's first to its last, and the last is the meter's last.
	first=$(meter_seconds a | head -1)
	last=$(meter_seconds a | tail -1)
	[ "$(meter_seconds a | wc -l)" -eq $((last - first + 1)) ]
	[ "$last" = "$(meter_seconds b | tail -1)" ]
	[ "$(svc_pid "$TMP/scan/a")" = "$reader_a" ]
	# b saw nothing of it
	[ "$(svc_pid "$TMP/scan/b")" = "$reader_b" ]
	[ "$(svc_pid "$TMP/scan/b/log")" = "$pub_b" ]
	# the shared log names who restarted
	[ "$(grep -c 'mqttpub\[a\]: .*exiting' "$TMP/log/devices/current")" -eq 3 ]
	! grep -q 'mqttpub\[b\]: .*exiting' "$TMP/log/devices/current" || false
}
