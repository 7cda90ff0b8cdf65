#!/usr/bin/env bats
# mqttpub < DIR (fan-in): every FIFO in the directory is one reader's
# input, read line by line on its own, published over one connection to a
# real mosquitto; each device gets its own status and health.
load helper
bats_require_minimum_version 1.5.0

setup() { setup_tmp; }
teardown() { kill_tracked; }

line() { printf '{"type":"t","device":"%s","values":{"n":{"value":%s}}}' "$1" "$2"; }
# retained TOPIC N: the N retained messages under TOPIC, sorted.
retained() { mosquitto_sub -p "$BROKER_PORT" -t "$1" -v -C "$2" -W 5 | sort; }
err_says() { grep -q -- "$1" "$TMP/err"; }

# fanin_pub ARGS: mqttpub reading the FIFOs of $TMP/in (a and b made
# first, held open on fd 5 and 6 as a reader's run script does: <>).
fanin_pub() {
	mkdir "$TMP/in"
	mkfifo "$TMP/in/a" "$TMP/in/b"
	exec 5<> "$TMP/in/a" 6<> "$TMP/in/b"
	mqttpub -p "$BROKER_PORT" --type gw --device here "$@" < "$TMP/in" 2> "$TMP/err" &
	PUB=$!
	track_pid "$PUB"
	wait_for 50 err_says "fan-in: publishing the lines of 2 FIFOs"
}

@test "mqttpub < DIR: each FIFO's lines whole, never mixed; a FIFO added is read; one removed says its device offline" {
	start_broker
	fanin_pub
	# a's line in two pieces, b's whole line between them
	local la lb
	la=$(line a 1)
	lb=$(line b 2)
	printf '%s' "${la:0:20}" >&5
	sleep 0.2
	printf '%s\n' "$lb" >&6
	sleep 0.2
	printf '%s\n' "${la:20}" >&5
	mkfifo "$TMP/in/c"
	wait_for 50 has_open "$PUB" "$TMP/in/c"
	{ line c 3; echo; } > "$TMP/in/c"
	printf 'not json\n' >&6
	wait_for 50 err_says 'b, line 2: not JSON'
	run retained 'meters/t/+/n' 3
	assert_output - <<EOF
meters/t/a/n 1
meters/t/b/n 2
meters/t/c/n 3
EOF
	run retained 'meters/t/+/status' 3
	assert_output - <<EOF
meters/t/a/status online
meters/t/b/status online
meters/t/c/status online
EOF
	exec 5>&-
	rm "$TMP/in/a"
	wait_for 50 err_says 'fan-in: a removed: device a offline'
	run retained 'meters/t/a/status' 1
	assert_output "meters/t/a/status offline"
	# the publisher's own status is its will: online while it runs
	run retained 'meters/gw/here/status' 1
	assert_output "meters/gw/here/status online"
	kill -TERM "$PUB"
	wait_gone "$PUB" 50
	run retained 'meters/gw/here/status' 1
	assert_output "meters/gw/here/status offline"
	run retained 'meters/t/+/status' 3
	assert_output - <<EOF
meters/t/a/status offline
meters/t/b/status offline
meters/t/c/status offline
EOF
}

@test "mqttpub < DIR: the values of each device, and its health with its reader's report and its own count" {
	start_broker "log_type all"
	mosquitto_sub -p "$BROKER_PORT" -v -t 'meters/t/+/n' -t 'meters/t/+/health' > "$TMP/sub" &
	track_pid $!
	wait_for 50 grep -q 'meters/t/+/health' "$TMP/mosquitto.log"
	fanin_pub -q 1
	for i in 1 2 3; do
		line a "$i" >&5
		echo >&5
		line b "$((i * 10))" >&6
		echo >&6
	done
	printf '{"type":"t","device":"a","health":{"telegrams":3,"dropped":{},"link":"up"}}\n' >&5
	wait_for 50 grep -q '^meters/t/a/health ' "$TMP/sub"
	wait_for 50 grep -q '^meters/t/b/n 30$' "$TMP/sub"
	# each device's in its order (the two FIFOs are read as they come)
	run grep '/a/n ' "$TMP/sub"
	assert_output - <<'EOF'
meters/t/a/n 1
meters/t/a/n 2
meters/t/a/n 3
EOF
	run grep '/b/n ' "$TMP/sub"
	assert_output - <<'EOF'
meters/t/b/n 10
meters/t/b/n 20
meters/t/b/n 30
EOF
	local h
	h=$(sed -n 's/^meters\/t\/a\/health //p' "$TMP/sub")
	[ "$(jq -c '[.type, .device, .link, .reader.telegrams]' <<< "$h")" = '["t","a","up",3]' ]
	# a's three values and its status: taken by the broker, all of them
	# its own (b's are not counted for a)
	[ "$(jq '.publisher.published + .publisher.queued' <<< "$h")" -eq 4 ]
	kill -TERM "$PUB"
	wait_gone "$PUB" 50
}
