#!/usr/bin/env bats
# mqttpub through a broker outage: nothing accepted is lost while the queue
# holds it; a full queue drops the oldest and says how many.

load helper
bats_require_minimum_version 1.5.0

setup() { setup_tmp; }
teardown() { kill_tracked; }

@test "broker stopped for 10 s at 20 lines/s: every message arrives" {
	BROKER_PORT=$(free_port)
	broker_up
	mosquitto_sub -p "$BROKER_PORT" -i subid -c -q 1 -t meters/t/d/n > "$TMP/got" 2>/dev/null &
	track_pid $!
	wait_for 50 grep -q 'as subid' "$TMP/mosquitto.log"

	numbered 400 1 0.05 | mqttpub -p "$BROKER_PORT" --no-retain --drain-timeout 30 2> "$TMP/err" &
	local pub=$!
	track_pid "$pub"
	wait_for 100 test -s "$TMP/got"
	sleep 2
	broker_down
	sleep 10
	broker_up
	local rc=0
	wait "$pub" || rc=$?
	cat "$TMP/err" >&2
	[ "$rc" -eq 0 ]
	# the subscriber reconnects on its own and gets its queued messages
	wait_for 300 test "$(sort -un "$TMP/got" | wc -l)" -eq 400
	run sh -c "sort -un '$TMP/got' | head -1; sort -un '$TMP/got' | tail -1"
	assert_output $'1\n400'
	grep -q 'retrying' "$TMP/err"
	grep -q 'connected' "$TMP/err"
}

@test "a full queue drops the oldest, says how many, and delivers the rest" {
	BROKER_PORT=$(free_port)
	mqttpub_on_fifo -p "$BROKER_PORT" --queue-max 20 --drain-timeout 30
	local pub=$MQTTPUB_PID
	# 100 lines while no broker is there; each its own retained topic
	for ((i = 1; i <= 100; i++)); do
		printf '{"type":"t","device":"d","values":{"n%d":{"value":%d}}}\n' "$i" "$i" >&7
	done
	wait_for 100 grep -q 'dropped so far' "$TMP/err"
	exec 7>&- # before the broker starts, or it would hold the pipe open
	start_broker
	local rc=0
	wait "$pub" || rc=$?
	cat "$TMP/err" >&2
	[ "$rc" -eq 1 ]
	grep -q 'queue full (--queue-max 20, --queue-bytes 16777216): dropped the oldest, 80 dropped so far' "$TMP/err"
	grep -q '80 messages lost: 0 not delivered within --drain-timeout, 80 dropped from a full queue, 0 refused by the broker' "$TMP/err"
	# the newest 20 arrived
	run sh -c "mosquitto_sub -p $BROKER_PORT -t 'meters/t/d/+' -v -C 21 -W 5 | grep -v /status | cut -d' ' -f2 | sort -n | tr '\n' ' '"
	assert_output "81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96 97 98 99 100 "
}

@test "at end of input with no broker: exit 1 within --drain-timeout, naming the loss" {
	BROKER_PORT=$(free_port)
	run --separate-stderr sh -c "printf '%s\n' '{\"type\":\"t\",\"device\":\"d\",\"values\":{\"a\":{\"value\":1},\"b\":{\"value\":2}}}' | mqttpub -p $BROKER_PORT --drain-timeout 1"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"2 messages lost: 2 not delivered within --drain-timeout, 0 dropped from a full queue, 0 refused by the broker"* ]]
}
