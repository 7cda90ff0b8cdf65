#!/usr/bin/env bats
# A hot reload by mtrcfg during a broker outage loses no reading: a real
# s6-svscan, a real mqttpub with its spool under state_dir, a real
# mosquitto stopped while readings flow, the device's file and config.yaml's
# mqtt: section changed (mtrcfg restarts its reader and its mqttpub) while
# the broker is away, the broker started again on the same port.
#
# What is counted: the device's reader ("counter", below) numbers its
# readings 1, 2, 3... across restarts and appends each number to
# out/produced.<id> once its line has been written into the pipe to mqttpub
# (printf returned).  SIGTERM is caught and acted on only between readings,
# so a line written is always counted and a line counted was always
# written; a reader killed mid-reading has not written it (SIGPIPE or not
# yet started) and it is not counted.  That is the line between what the
# pipeline owes and what it cannot know: a reading still inside a reader
# when it is stopped (a telegram half received) is not in the pipe and is
# gone with the reader (man mqttpub, Spool).  The reader writes one last
# reading when told to stop, as a reader flushing what it holds would: that
# line reaches the supervisor's pipe, where the next mqttpub finds it (or,
# when the device is removed, the mqttpub stopped with it: it reads on
# until its input ends, 1 s at most).
#
# Asserted, once the device file is removed and both programs of its
# pipeline have ended: every number from 1 to the last one produced
# arrived at a QoS 1 subscriber with a persistent session, and nothing
# else; duplicates are allowed (at least once), a gap is not.
load helper
load mtrcfg-lib

setup() { supervised_setup; }
teardown() {
	# an mqttpub of a stopped pipeline, still draining on its own
	local p
	for p in $(pgrep -f -- "--spool $TMP/state/" || true); do
		kill -TERM "$p" 2>/dev/null
		wait_gone "$p" 50 || kill -KILL "$p" 2>/dev/null
	done
	supervised_teardown
}

# config.yaml for the real mqttpub on $BROKER_PORT, and the counter type.
mk_counter_conf() {
	mk_conf "mqtt: { host: 127.0.0.1, port: $BROKER_PORT, retain: false }"
	sed -i '/^mqttpub:/d' "$TMP/etc/config.yaml"
	cat > "$TMP/etc/types/counter" <<'SH'
#!/bin/sh
# A reader of the "counter" type: a reading every --interval seconds, its
# value one more than the last this device wrote.
dev=counter interval=0.1
for a; do
	case $a in
	--check) check=1 ;;
	--list-options) printf 'device\ninterval\nlabel\n'; exit 0 ;;
	--device=*) dev=${a#*=} ;;
	--interval=*) interval=${a#*=} ;;
	--label=*) ;;
	*) echo "counter: $a: unknown option" >&2; exit 2 ;;
	esac
done
[ -n "$check" ] && exit 0
log=$(dirname "$0")/../../out/produced.$dev
n=$(tail -n 1 "$log" 2>/dev/null)
n=${n:-0}
stop=
trap 'stop=1' TERM INT HUP
reading() {
	n=$((n + 1))
	printf '{"time":"2026-12-03T22:00:00.000Z","type":"counter","device":"%s","values":{"n":{"value":%d}}}\n' \
		"$dev" "$n" || exit 1
	echo "$n" >> "$log"
}
while [ -z "$stop" ]; do
	reading
	sleep "$interval"
done
reading
SH
	chmod +x "$TMP/etc/types/counter"
}

produced() { tail -n 1 "$TMP/out/produced.cnt" 2>/dev/null || echo 0; }
produced_at_least() { [ "$(produced)" -ge "$1" ]; }
counter_pid() { pgrep -f -- "$TMP/etc/types/counter --device=cnt( |\$)" | head -1; }
counter_running() { [ -n "$(counter_pid)" ]; }
counter_gone() { [ -z "$(counter_pid)" ]; }
publisher_gone() { ! pgrep -f -- "--spool $TMP/state/" > /dev/null; }

# The numbers from 1 to $1 that the subscriber has not received.
missing() {
	seq 1 "$1" | awk -v f="$TMP/got" 'BEGIN { while ((getline n < f) > 0) got[n] = 1 } !($1 in got)'
}
none_missing() { [ -z "$(missing "$1")" ]; }

# A persistent QoS 1 subscriber (its session kept by the broker across
# the outage), appending what it gets to $TMP/got; sets SUB_PID.
start_subscriber() {
	mosquitto_sub -p "$BROKER_PORT" -i sub-reload -c -q 1 -t meters/counter/cnt/n >> "$TMP/got" 2>/dev/null &
	SUB_PID=$!
	track_pid "$SUB_PID"
}

log_says() { grep -q -- "mqttpub\[cnt\]: .*$1" "$TMP/log/devices/current"; }

@test "mtrcfg, s6: a hot reload during a broker outage loses no reading" {
	BROKER_PORT=$(free_port)
	broker_up
	mk_counter_conf
	start_s6
	start_subscriber
	wait_for 50 grep -q 'as sub-reload' "$TMP/mosquitto.log"
	printf 'type: counter\nlabel: first\n' > "$TMP/etc/config.d/cnt.yaml"
	mtrcfg_run -o "$TMP/scan"
	assert_output "mtrcfg: Started device: cnt (counter)"
	wait_for 150 lines_at_least "$TMP/got" 10 # readings flow
	local pid1
	pid1=$(counter_pid)

	broker_down
	# The subscriber's persistent session holds what comes meanwhile: it
	# is started again after the broker, not left to reconnect on its own.
	kill "$SUB_PID"
	wait_gone "$SUB_PID" 50
	local at_outage
	at_outage=$(produced)
	wait_for 100 produced_at_least $((at_outage + 30)) # 3 s of readings queue

	printf 'type: counter\nlabel: second\n' > "$TMP/etc/config.d/cnt.yaml"
	sed -i 's/retain: false }/retain: false, keepalive: 30 }/' "$TMP/etc/config.yaml"
	mtrcfg_run -o "$TMP/scan"
	assert_output "mtrcfg: Reloading device cnt (config changed)"
	wait_gone "$pid1" 100
	wait_for 100 counter_running
	local at_reload
	at_reload=$(produced)
	# The stopped mqttpub leaves what it holds in the spool (at once, the
	# broker being away) and the new one takes it up.
	wait_for 200 log_says 'messages kept in the spool'
	wait_for 50 log_says 'messages from an earlier run, sent first'
	wait_for 100 produced_at_least $((at_reload + 20)) # the new pipeline queues too

	broker_up
	start_subscriber
	local at_return
	at_return=$(produced)
	wait_for 100 produced_at_least $((at_return + 10))
	# The device removed: its last reading, written as it stops, is the
	# last number; once both programs have ended the count is complete.
	rm "$TMP/etc/config.d/cnt.yaml"
	mtrcfg_run -o "$TMP/scan"
	assert_output "mtrcfg: Stopped device: cnt"
	wait_for 100 counter_gone
	wait_for 150 publisher_gone
	local last
	last=$(produced)
	[ "$last" -gt "$at_return" ]
	wait_for 100 none_missing "$last" || true # the assertion below names what is missing
	run missing "$last"
	assert_output ""
	# and nothing arrived that was never produced
	run awk -v last="$last" '$1 < 1 || $1 > last' "$TMP/got"
	assert_output ""
}
