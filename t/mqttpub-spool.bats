#!/usr/bin/env bats
# mqttpub --spool: the queue on disk.  Nothing queued during an outage is
# lost by kill -9 or a restart; a torn last record is skipped and counted;
# a full spool drops the oldest and says how many; an unwritable spool is an
# error at start.

load helper
bats_require_minimum_version 1.5.0

setup() { setup_tmp; }
teardown() { kill_tracked; }

# A QoS 1 subscriber to meters/t/d/n writing to $TMP/got.
subscriber() {
	: > "$TMP/got"
	mosquitto_sub -p "$BROKER_PORT" -q 1 -t meters/t/d/n >> "$TMP/got" 2>/dev/null &
	track_pid $!
	wait_for 50 grep -q 'New client connected' "$TMP/mosquitto.log"
	sleep 0.3
}

# A reader's health line: mqttpub publishes its health message at once.
health_line() { echo '{"type":"t","device":"d","health":{"link":"up"}}'; }

# The health message at the broker (retained, or the next one published).
health_message() { mosquitto_sub -p "$BROKER_PORT" -t meters/t/d/health -C 1 -W 10; }

seg_size_is() { [ "$(stat -c %s "$1" 2>/dev/null)" = "$2" ]; }

spool_files() { ls "$TMP/spool"/*.seg 2>/dev/null | wc -l; }

@test "1,000 messages spooled during an outage survive kill -9: a new mqttpub sends them all" {
	BROKER_PORT=$(free_port)
	mqttpub_on_fifo -p "$BROKER_PORT" --no-retain --spool "$TMP/spool"
	numbered 1000 >&7
	# 31,893 bytes: 1,000 records of 30 to 33 bytes
	wait_for 100 seg_size_is "$TMP/spool/0000000000000001.seg" 31893
	kill -KILL "$MQTTPUB_PID"
	exec 7>&-
	start_broker
	subscriber
	run --separate-stderr mqttpub -p "$BROKER_PORT" --no-retain --spool "$TMP/spool" < /dev/null
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"spool $TMP/spool: 1000 messages from an earlier run, sent first"* ]]
	wait_for 100 got_at_least 1000
	numbers_are "$TMP/got" 1 1000
	# all delivered: the spool is empty
	[ "$(spool_files)" -eq 0 ]
}

@test "a torn last record (a power cut mid-write) is skipped and counted; the rest is sent" {
	BROKER_PORT=$(free_port)
	numbered 10 | mqttpub -p "$BROKER_PORT" --no-retain --spool "$TMP/spool" --drain-timeout 0 2> "$TMP/err" || true
	local seg=$TMP/spool/0000000000000001.seg
	truncate -s -3 "$seg"
	start_broker
	subscriber
	health_line > "$TMP/health"
	run --separate-stderr mqttpub -p "$BROKER_PORT" --no-retain --spool "$TMP/spool" < "$TMP/health"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"the last record at byte "*": cut short: "*" bytes skipped"* ]]
	[[ "$stderr" == *"9 messages from an earlier run, sent first"* ]]
	wait_for 100 got_at_least 9
	numbers_are "$TMP/got" 1 9
	# The health line came first, before anything was delivered: 9
	# replayed and queued, 9 records of 30 bytes on disk, 1 torn.
	run health_message
	[ "$status" -eq 0 ]
	run jq -c .publisher <<<"$output"
	assert_output '{"published":0,"queued":9,"dropped":0,"reconnects":0,"bad_lines":0,"spool":{"bytes":270,"replayed":9,"dropped":0,"torn":1}}'
}

@test "a full spool drops the oldest and says how many" {
	BROKER_PORT=$(free_port)
	# 1 MiB: 8 segments of 128 KiB, about 3,900 records each; 40,000
	# records take 1.4 MB; then a health line, whose message is spooled
	# last and tells the counters at the end of the input
	{ numbered 40000; health_line; } > "$TMP/lines"
	run --separate-stderr mqttpub -p "$BROKER_PORT" --no-retain --spool "$TMP/spool" --spool-max 1M --drain-timeout 0 < "$TMP/lines"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"spool $TMP/spool full (--spool-max 1048576): dropped the oldest, "*" dropped so far"* ]]
	local dropped kept spooled
	dropped=$(grep -o 'dropped the oldest, [0-9]* dropped' <<<"$stderr" | tail -1 | grep -o '[0-9]*')
	kept=$(grep -o '[0-9]* messages kept in the spool' <<<"$stderr" | grep -o '^[0-9]*')
	[ "$((dropped + kept))" -eq 40001 ]
	spooled=$(cat "$TMP/spool"/*.seg | wc -c)
	[[ "$stderr" == *"$dropped messages lost: 0 not delivered within --drain-timeout, $dropped dropped from a full spool, 0 refused by the broker"* ]]
	[ "$(du -sk "$TMP/spool" | cut -f1)" -le 1100 ]
	# what is kept is the newest, and arrives
	start_broker
	subscriber
	mqttpub -p "$BROKER_PORT" --no-retain --spool "$TMP/spool" < /dev/null 2>/dev/null
	wait_for 100 got_at_least "$((kept - 1))"
	numbers_are "$TMP/got" $((dropped + 1)) 40000
	# The health message: what the first run dropped, and the spool's
	# bytes before its own record (header 12, flags and length 5, the
	# topic's 17, the payload) was added.
	local health
	health=$(health_message)
	run jq -c .publisher <<<"$health"
	assert_output "{\"published\":0,\"queued\":$((kept - 1)),\"dropped\":$dropped,\"reconnects\":0,\"bad_lines\":0,\"spool\":{\"bytes\":$((spooled - 12 - 5 - 17 - ${#health})),\"replayed\":0,\"dropped\":$dropped,\"torn\":0}}"
}

@test "a spool directory that cannot be written is an error at start, exit 1" {
	mkdir "$TMP/ro"
	chmod 0500 "$TMP/ro"
	run --separate-stderr mqttpub -p 1 --spool "$TMP/ro/spool" < /dev/null
	if [ "$(id -u)" -eq 0 ]; then
		# root writes anywhere: a file in the way instead
		touch "$TMP/file"
		run --separate-stderr mqttpub -p 1 --spool "$TMP/file" < /dev/null
		[ "$status" -eq 1 ]
		assert_equal "$stderr" "mqttpub: --spool $TMP/file: Not a directory"
	else
		[ "$status" -eq 1 ]
		assert_equal "$stderr" "mqttpub: --spool $TMP/ro/spool: Permission denied"
	fi
}
