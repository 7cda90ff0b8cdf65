#!/usr/bin/env bats
# mqttpub's QoS against a stock mosquitto: no more in flight than the broker
# takes (20 under MQTT 3.1.1, its receive maximum under 5), every message
# exactly once at QoS 2 (also across a broker restart), refused publishes
# sent again and never counted as delivered, no empty retained message, and
# one clear error when the broker refuses the protocol version.

load helper
bats_require_minimum_version 1.5.0

setup() { setup_tmp; }
teardown() { kill_tracked; }

# A QoS 2 subscriber to meters/t/d/n, writing to $TMP/got; ARGS go to
# mosquitto_sub.  Waits until the broker has it.
subscriber() {
	mosquitto_sub -p "$BROKER_PORT" -q 2 -t meters/t/d/n "$@" >> "$TMP/got" 2>/dev/null &
	track_pid $!
	wait_for 50 grep -q "as $SUB_ID" "$TMP/mosquitto.log"
	sleep 0.3 # its SUBSCRIBE follows the CONNECT
}

# every_once N: $TMP/got holds 1..N, each exactly once.
every_once() {
	wait_for 300 got_at_least "$1"
	sleep 0.5 # a duplicate would come now
	numbers_are "$TMP/got" 1 "$1"
}

qos2_stock() {
	start_broker
	SUB_ID=sub1 subscriber -i sub1
	numbered 2000 | mqttpub -p "$BROKER_PORT" -q 2 -V "$1" --no-retain 2> "$TMP/err"
	cat "$TMP/err" >&2
	every_once 2000
}

@test "QoS 2, MQTT 3.1.1, stock mosquitto: 2,000 lines, each delivered exactly once" {
	qos2_stock 311
}

@test "QoS 2, MQTT 5, stock mosquitto: 2,000 lines, each delivered exactly once" {
	qos2_stock 5
}

qos2_restart() {
	BROKER_PORT=$(free_port)
	broker_up
	SUB_ID=sub2 subscriber -i sub2 -c
	numbered 2000 50 0.1 | mqttpub -p "$BROKER_PORT" -q 2 -V "$1" --no-retain --drain-timeout 60 2> "$TMP/err" &
	local pub=$!
	track_pid "$pub"
	wait_for 100 got_at_least 300
	broker_down
	sleep 1
	broker_up
	local rc=0
	wait "$pub" || rc=$?
	cat "$TMP/err" >&2
	[ "$rc" -eq 0 ]
	grep -q 'retrying' "$TMP/err"
}

@test "QoS 2, MQTT 3.1.1: the broker restarts mid-stream, still each exactly once" {
	qos2_restart 311
	every_once 2000
}

# MQTT 5 sessions end with their connection here (libmosquitto 2.0.11 asks
# for a session expiry only in its blocking connect): what was not
# acknowledged is sent anew, so a message may arrive twice, never lost.
@test "QoS 2, MQTT 5: the broker restarts mid-stream, every one delivered" {
	qos2_restart 5
	wait_for 300 got_at_least 2000
	sleep 0.5
	numbers_are "$TMP/got" 1 2000 -u
}

# A broker killed mid-stream comes back without the session.  mqttpub is
# stopped (SIGSTOP) first: the messages it has in flight are then all taken
# by the broker (PUBREC) and not yet released, and everything released has
# reached the subscriber before the broker is killed.  The new broker would
# answer the PUBREL libmosquitto sends again for those as if all were well.
@test "QoS 2, MQTT 3.1.1: a broker killed mid-stream forgets the session, every one still delivered" {
	BROKER_PORT=$(free_port)
	# mosquitto's usual log, and each SUBSCRIBE ("sub3 2 meters/t/d/n")
	local logs=("log_type error" "log_type warning" "log_type notice" "log_type information" "log_type subscribe")
	start_broker "${logs[@]}"
	SUB_ID=sub3 subscriber -i sub3
	numbered 20000 | mqttpub -p "$BROKER_PORT" -q 2 -V 311 --no-retain --drain-timeout 60 2> "$TMP/err" &
	local pub=$!
	track_pid "$pub"
	broker_killed_mid_stream "$pub" "${logs[@]}"
	# Resubscribed: its SUBSCRIBE, not only its CONNECT (on a loaded
	# machine the SUBSCRIBE can come later than any fixed pause).
	wait_for 100 grep -q "sub3 2 meters/t/d/n" "$TMP/mosquitto.log"
	kill -CONT "$pub"
	local rc=0
	wait "$pub" || rc=$?
	cat "$TMP/err" >&2
	[ "$rc" -eq 0 ]
	wait_for 300 got_at_least 20000
	sleep 0.5
	numbers_are "$TMP/got" 1 20000 -u
}

@test "MQTT 5: at most the broker's receive maximum in flight" {
	start_broker "max_inflight_messages 3"
	METER2MQTT_LOG_LEVEL=debug mqttpub -p "$BROKER_PORT" -q 1 -V 5 --no-retain < <(numbered 50) 2> "$TMP/err"
	grep -q 'at most 3 messages in flight' "$TMP/err"
	run --separate-stderr mqttpub -p "$BROKER_PORT" -q 1 -V 5 --max-inflight 2 --no-retain < <(numbered 5)
	[ "$status" -eq 0 ]
}

@test "a publish the broker refuses is sent again, never counted as delivered" {
	printf 'user anon\ntopic readwrite meters/t/d/status\ntopic readwrite meters/t/d/n\n' > "$TMP/acl"
	start_broker "user $(id -un)" "acl_file $TMP/acl" "log_type all"
	run --separate-stderr sh -c "printf '%s\n' '{\"type\":\"t\",\"device\":\"d\",\"values\":{\"n\":{\"value\":1},\"no\":{\"value\":2}}}' |
		mqttpub -p $BROKER_PORT -u anon -q 1 -V 5 --drain-timeout 4"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"refused a message: Not authorized; sending it again in 1 s"* ]]
	[[ "$stderr" == *"1 messages lost: 1 not delivered within --drain-timeout"* ]]
	# sent more than once
	[ "$(grep -c 'Denied PUBLISH.*meters/t/d/no' "$TMP/mosquitto.log")" -ge 2 ]
	# the allowed one arrived
	run mosquitto_sub -p "$BROKER_PORT" -u anon -t meters/t/d/n -C 1 -W 5
	assert_output 1
}

@test "an empty string value publishes an empty payload, never retained" {
	start_broker
	printf '%s\n' '{"type":"t","device":"d","values":{"m":{"value":"hello"}}}' | mqttpub -p "$BROKER_PORT"
	mosquitto_sub -p "$BROKER_PORT" -t meters/t/d/m -v -C 2 -W 10 > "$TMP/live" &
	local sub=$!
	track_pid "$sub"
	wait_for 50 test -s "$TMP/live" # the retained "hello"
	printf '%s\n' '{"type":"t","device":"d","values":{"m":{"value":""}}}' | mqttpub -p "$BROKER_PORT"
	wait_gone "$sub" 100
	run cat "$TMP/live"
	assert_output $'meters/t/d/m hello\nmeters/t/d/m (null)'
	# the retained value is still there
	run mosquitto_sub -p "$BROKER_PORT" -t meters/t/d/m -C 1 -W 5
	assert_output hello
}

# A broker that refuses every CONNECT with "unacceptable protocol version"
# (CONNACK return code 1, as an MQTT 3.1 broker answers MQTT 5): mosquitto
# cannot be told to do that.
refusing_broker() {
	BROKER_PORT=$(free_port)
	python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(5)
while True:
    c, _ = s.accept(); c.recv(4096); c.sendall(bytes([0x20, 2, 0, 1])); c.close()
' "$BROKER_PORT" &
	track_pid $!
	wait_for 50 port_listening "$BROKER_PORT"
}

@test "a broker that refuses the protocol version: one clear error naming --protocol, exit 1" {
	refusing_broker
	run --separate-stderr sh -c "echo '{\"type\":\"t\",\"device\":\"d\",\"values\":{\"n\":{\"value\":1}}}' | mqttpub -p $BROKER_PORT -V 5"
	[ "$status" -eq 1 ]
	assert_equal "$stderr" "mqttpub: broker localhost:$BROKER_PORT does not speak MQTT 5: try --protocol 311 (protocol: 311 under mqtt: in config.yaml) (1 queued messages lost)"
	run --separate-stderr sh -c "echo '{\"type\":\"t\",\"device\":\"d\",\"values\":{\"n\":{\"value\":1}}}' | mqttpub -p $BROKER_PORT -V 311 -q 0"
	[ "$status" -eq 1 ]
	assert_equal "$stderr" "mqttpub: broker localhost:$BROKER_PORT does not speak MQTT 3.1.1: try --protocol 5 (protocol: 5 under mqtt: in config.yaml) (1 queued messages lost)"
}
