#!/usr/bin/env bats
# mqttpub writes its QoS 1 PUBLISH packets itself over plain TCP, and takes
# their acknowledgements out of what libmosquitto reads (sink/mqttwire.h):
# the broker must see the same as from the library.  Every message arrives
# across a broker killed mid-stream (MQTT 3.1.1 and 5), the status is
# online again after it, and a message over an MQTT 5 broker's maximum
# packet size is dropped and named while the rest arrive.  (t/fuzz/acks.c reads the broker's bytes
# in any pieces.)

load helper
bats_require_minimum_version 1.5.0

setup() { setup_tmp; }
teardown() { kill_tracked; }

# A QoS 1 subscriber to meters/t/d/n as client ID, into $TMP/got; waits
# until the broker has its SUBSCRIBE (log_type subscribe).
subscriber() {
	mosquitto_sub -p "$BROKER_PORT" -q 1 -i "$1" -c -t meters/t/d/n >> "$TMP/got" 2>/dev/null &
	track_pid $!
	wait_for 100 grep -q "$1 1 meters/t/d/n" "$TMP/mosquitto.log"
}

killed_mid_stream() {
	BROKER_PORT=$(free_port)
	local logs=("log_type error" "log_type warning" "log_type notice" "log_type information" "log_type subscribe")
	start_broker "${logs[@]}"
	subscriber "sub$1"
	numbered 20000 | mqttpub -p "$BROKER_PORT" -q 1 -V "$1" --no-retain --drain-timeout 60 2> "$TMP/err" &
	local pub=$!
	track_pid "$pub"
	broker_killed_mid_stream "$pub" "${logs[@]}"
	# some of the 20,000 are still to cross the outage
	[ "$(wc -l < "$TMP/got")" -lt 20000 ]
	wait_for 100 grep -q "sub$1 1 meters/t/d/n" "$TMP/mosquitto.log"
	kill -CONT "$pub"
	# the status is ours too: online again on the new broker, retained
	run mosquitto_sub -p "$BROKER_PORT" -t meters/t/d/status -C 1 -W 10
	assert_output online
	local rc=0
	wait "$pub" || rc=$?
	cat "$TMP/err" >&2
	[ "$rc" -eq 0 ]
	wait_for 300 got_at_least 20000 || fail "got $(wc -l < "$TMP/got"): $(grep -i drop "$TMP/mosquitto.log" | head -3)"
	sleep 0.5
	# at least once: each number, duplicates allowed
	numbers_are "$TMP/got" 1 20000 -u
	# and the broker saw no malformed packet from us
	run grep -ci 'malformed\|protocol error' "$TMP/mosquitto.log"
	assert_output 0
}

@test "QoS 1, MQTT 3.1.1: a broker killed mid-stream, every message still delivered, online again" {
	killed_mid_stream 311
}

@test "QoS 1, MQTT 5: a broker killed mid-stream, every message still delivered, online again" {
	killed_mid_stream 5
}

@test "MQTT 5: a message over the broker's maximum packet size is dropped and named; the rest arrive" {
	start_broker "max_packet_size 100"
	local big
	big=$(printf '%0150d' 7)
	mosquitto_sub -p "$BROKER_PORT" -V 5 -q 1 -t 'meters/t/d/#' -v -C 3 -W 20 > "$TMP/got" 2>/dev/null &
	local sub=$!
	track_pid "$sub"
	sleep 0.5
	run --separate-stderr sh -c "printf '%s\n' '{\"type\":\"t\",\"device\":\"d\",\"values\":{\"a\":{\"value\":1},\"big\":{\"value\":\"$big\"},\"z\":{\"value\":2}}}' |
		mqttpub -p $BROKER_PORT -V 5 --health-interval 0"
	# one message lost, and said so
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cannot publish to meters/t/d/big: Packet larger than supported by the server.: message dropped"* ]]
	[[ "$stderr" == *"1 messages lost: "*", 1 refused by the broker"* ]]
	wait_gone "$sub" 100
	run sort "$TMP/got"
	assert_output $'meters/t/d/a 1\nmeters/t/d/status online\nmeters/t/d/z 2'
}
