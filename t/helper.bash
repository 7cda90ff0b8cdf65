# t/helper.bash: shared by every bats file (load helper).
#
# Everything a test starts is recorded by pid with track_pid and killed in
# teardown by kill_tracked; tests never reach beyond loopback.

bats_require_minimum_version 1.5.0 # run --separate-stderr
bats_load_library bats-support
bats_load_library bats-assert

TOP=${M2M_TOP:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
CORPUS=${M2M_CORPUS:-$TOP/../shared/corpus/dsmr}
FIXTURES=$TOP/t/fixtures

# Debian's python3 for the tests' small scripts: a python3 earlier on PATH
# may be a version manager's shim (pyenv's costs 0.3 s a start, and the
# suite starts python several hundred times).  Put first on PATH from a
# directory of its own (nothing else of /usr/bin may shadow the tree's
# programs), not wrapped in a shell function: in the background a
# function's $! is its subshell's, and killing that leaves python running.
if [ -x /usr/bin/python3 ]; then
	[ -e "$BATS_RUN_TMPDIR/python/python3" ] ||
		{ mkdir -p "$BATS_RUN_TMPDIR/python" && ln -s /usr/bin/python3 "$BATS_RUN_TMPDIR/python/python3"; } 2>/dev/null
	PATH="$BATS_RUN_TMPDIR/python:$PATH"
fi
PYTHON=python3

# A private directory per test; bats removes BATS_TEST_TMPDIR itself.
setup_tmp() {
	TMP=$BATS_TEST_TMPDIR
	: > "$TMP/pids"
}

track_pid() { echo "$1" >> "$TMP/pids"; }

kill_tracked() {
	[ -f "$TMP/pids" ] || return 0
	local pid
	# Newest first: a pipeline's consumer before its producer.
	for pid in $(tac "$TMP/pids"); do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $(tac "$TMP/pids"); do
		wait_gone "$pid" 30 || kill -KILL "$pid" 2>/dev/null || true
	done
	: > "$TMP/pids"
}

# wait_gone PID TENTHS: true once PID has exited.
wait_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

# wait_for TENTHS COMMAND...: retries COMMAND until it succeeds.
wait_for() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	"$@"
}

# numbered N [EVERY PAUSE]: N reading lines of device t/d whose value n is
# 1..N, flushed and followed by PAUSE seconds after every EVERY lines.
# (awk: a bash loop under bats' debug trap took 15 s for 40,000 lines.)
numbered() {
	awk -v n="$1" -v every="${2:-0}" -v pause="${3:-0}" 'BEGIN {
		for (i = 1; i <= n; i++) {
			printf "{\"type\":\"t\",\"device\":\"d\",\"values\":{\"n\":{\"value\":%d}}}\n", i
			if (every && i % every == 0) { fflush(); system("sleep " pause) }
		}
	}'
}

# What a test's subscriber wrote to $TMP/got: at least N lines; and
# nothing more for a second and a half (half a second was once too short
# in CI: a starved broker still held released messages when killed).
got_at_least() { [ "$(wc -l < "$TMP/got")" -ge "$1" ]; }
got_settled() {
	local n
	n=$(wc -l < "$TMP/got")
	sleep 1.5
	[ "$(wc -l < "$TMP/got")" -eq "$n" ]
}

# broker_killed_mid_stream PID [CONF_LINES]: once $TMP/got has 2,000
# lines, stops the publisher PID, waits until nothing more arrives, kills
# the broker (-9: it keeps no session) and starts a new one on the same
# port (its log anew); the publisher is left stopped.
broker_killed_mid_stream() {
	local pub=$1
	shift
	wait_for 100 got_at_least 2000
	kill -STOP "$pub"
	wait_for 50 got_settled
	kill -KILL "$BROKER_PID"
	wait_gone "$BROKER_PID" 50
	start_broker "$@"
}

# numbers_are FILE FIRST LAST [-u]: the numbers in FILE, sorted (with -u,
# each once), are exactly FIRST..LAST; else the start of the difference.
# (diff, not bats' run and assert_output: `run` splits 40,000 lines into
# an array, which took bash 15 s.)
numbers_are() {
	sort -n ${4:+"$4"} "$1" > "$1.sorted"
	seq "$2" "$3" | diff - "$1.sorted" > "$1.diff" || fail "$1 is not $2..$3: $(head -20 "$1.diff")"
}

# A free TCP port on 127.0.0.1 (the kernel picks it; race-free enough for
# tests that bind it right away).
free_port() {
	python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# start_broker [EXTRA_CONF_LINES]: a mosquitto on a free loopback port,
# keeping every message for slow subscribers;
# sets BROKER_PORT and BROKER_PID.
start_broker() {
	BROKER_PORT=${BROKER_PORT:-$(free_port)}
	{
		echo "listener $BROKER_PORT 127.0.0.1"
		echo "allow_anonymous true"
		echo "persistence false"
		# A subscriber that falls behind (the test's, on a loaded
		# machine) gets every message, late: by default mosquitto drops
		# what is beyond 1,000 queued for it, which a test would count
		# as lost by the publisher.
		echo "max_queued_messages 0"
		[ $# -gt 0 ] && printf '%s\n' "$@"
	} > "$TMP/mosquitto.conf"
	mosquitto -c "$TMP/mosquitto.conf" > "$TMP/mosquitto.log" 2>&1 &
	BROKER_PID=$!
	track_pid "$BROKER_PID"
	wait_for 50 port_listening "$BROKER_PORT"
}

port_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# broker_up: a mosquitto on $BROKER_PORT that keeps its sessions on disk in
# $TMP, so that a persistent subscriber (-c) and what is queued for it
# survive broker_down and a new broker_up on the same port; its log goes on
# in $TMP/mosquitto.log.  Sets BROKER_PID.
broker_up() {
	{
		echo "listener $BROKER_PORT 127.0.0.1"
		echo "allow_anonymous true"
		echo "persistence true"
		echo "persistence_location $TMP/"
		echo "user $(id -un)"
		echo "max_queued_messages 100000"
	} > "$TMP/persist.conf"
	mosquitto -c "$TMP/persist.conf" >> "$TMP/mosquitto.log" 2>&1 &
	BROKER_PID=$!
	track_pid "$BROKER_PID"
	wait_for 50 port_listening "$BROKER_PORT"
}

broker_down() {
	kill -TERM "$BROKER_PID"
	wait_gone "$BROKER_PID" 50
}

# start_pty_pair NAME: two linked pseudo-terminals $TMP/NAME.a and
# $TMP/NAME.b (a socat process, tracked); sets PTY_PID.
start_pty_pair() {
	socat -d -d "pty,raw,echo=0,link=$TMP/$1.a" "pty,raw,echo=0,link=$TMP/$1.b" 2> "$TMP/$1.socat.log" &
	PTY_PID=$!
	track_pid "$PTY_PID"
	wait_for 50 test -e "$TMP/$1.a" -a -e "$TMP/$1.b"
}

# mqttpub_on_fifo ARGS...: mqttpub reading the fifo $TMP/in, its stderr in
# $TMP/err; fd 7 holds the fifo open for writing (bats keeps fd 3 for
# itself).  Sets MQTTPUB_PID.  "exec 7>&-" is its end of input.
mqttpub_on_fifo() {
	mkfifo "$TMP/in"
	mqttpub "$@" < "$TMP/in" 2> "$TMP/err" &
	MQTTPUB_PID=$!
	track_pid "$MQTTPUB_PID"
	exec 7> "$TMP/in"
}

# The repository's corpus of real telegrams, when ../shared is present.
require_corpus() {
	[ -d "$CORPUS" ] || skip "no ../shared/corpus/dsmr beside the repository"
}

# has_open PID PATH: the process holds PATH (resolved) open.
has_open() {
	local target fd
	target=$(readlink -f "$2")
	for fd in /proc/"$1"/fd/*; do
		[ "$(readlink "$fd")" = "$target" ] && return 0
	done
	return 1
}
# lines_at_least FILE N: FILE has N lines or more.
lines_at_least() { [ "$(wc -l < "$1")" -ge "$2" ]; }

# add_crc FILE: appends the CRC-16/ARC of everything in FILE through its '!'
# (a telegram built by a test) and CR LF.
add_crc() {
	python3 - "$1" <<'PY'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
crc = 0
for x in b:
    crc ^= x
    for _ in range(8):
        crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
open(p, "ab").write(b"%04X\r\n" % crc)
PY
}
