#!/usr/bin/env bats
# The readers' health lines (meter2mqtt(7), HEALTH): p1read, smlread and
# kmpread count what they read well and what they drop, by reason, keep
# their last complaint and say how their link is, with --health-interval;
# never without it.  Fed from corpus files made corrupt here (DSMR from
# ../shared/corpus/dsmr, SML from ../shared/corpus/sml: sources in their
# MANIFEST.tsv), from p1sim, smlsim and kmpsim on ptys and TCP, and once
# through mqttpub into mosquitto.

load helper
bats_require_minimum_version 1.5.0

SML=${M2M_SML_CORPUS:-$TOP/../shared/corpus/sml}
T1=2026-11-27T10:00:00Z

setup() { setup_tmp; }
teardown() { kill_tracked; }

# health FILE: the health lines of FILE, one compact JSON each.
health() { jq -c 'select(has("health"))' "$1"; }
# health_at_least FILE N: FILE holds N health lines or more.
health_at_least() { [ "$(health "$1" | wc -l)" -ge "$2" ]; }
# health_where FILE JQ: a health line for which JQ (over .health) holds.
health_where() { health "$1" | jq -e "select(.health | $2)" >/dev/null; }
# down_since FILE N: the first health line after the first N that says the
# link is down (and false when there is none).
down_since() { health "$1" | tail -n +$(($2 + 1)) | jq -c 'select(.health.link == "down")' | head -1 | grep .; }

# dsmr_stream OUT: good telegrams and corrupted ones, in this order:
#   good, CRC broken, good, 20000 bytes long, a garbage line under a good
#   CRC, CRC broken, good, and the first 300 bytes of a good one (the input
#   ends inside it).
# 3 good; dropped: crc 2, too_long 1, bad_line 1, end_of_input 1.
dsmr_stream() {
	local good=$CORPUS/dsmr_parser__v5.txt i
	sed '0,/1-0:1\.8\.1(0/s//1-0:1.8.1(1/' "$good" > "$TMP/broken"
	if cmp -s "$good" "$TMP/broken"; then fail "no 1-0:1.8.1 to break"; fi
	{
		printf '/ISK5\\2M550T-1012\r\n\r\n'
		for ((i = 0; i < 800; i++)); do printf '1-0:1.8.1(%06d.000*kWh)\r\n' $i; done
		printf '!'
	} > "$TMP/long"
	add_crc "$TMP/long"
	printf '/KFM5KAIFA-METER\r\n\r\n1-0:1.7.0(00.318*kW)\r\nhello\r\n!' > "$TMP/garbage"
	add_crc "$TMP/garbage"
	head -c 300 "$good" > "$TMP/cut"
	cat "$good" "$TMP/broken" "$good" "$TMP/long" "$TMP/garbage" "$TMP/broken" "$good" "$TMP/cut" > "$1"
}

@test "p1read: a file of good and corrupted telegrams: link up at once, the last line counts every one" {
	require_corpus
	dsmr_stream "$TMP/t"
	run --separate-stderr p1read --health-interval 1 -d house "$TMP/t"
	assert_success
	[ "$(jq -c 'select(has("values"))' <<<"$output" | wc -l)" = 3 ]
	# The first line: the link came up with the first bytes, nothing read yet.
	[ "$(jq -c 'del(.time)' <<<"${lines[0]}")" = '{"type":"dsmr","device":"house","health":{"telegrams":0,"dropped":{},"link":"up"}}' ]
	# The last, at the end of the input: every telegram counted, by reason.
	local last=${lines[${#lines[@]} - 1]}
	[ "$(jq -c .health.dropped <<<"$last")" = '{"crc":2,"too_long":1,"bad_line":1,"end_of_input":1}' ] || fail "$last"
	[ "$(jq .health.telegrams <<<"$last")" = 3 ]
	[ "$(jq -r .health.link <<<"$last")" = down ]
	# last_error is the last complaint on stderr, word for word.
	local said
	said=$(grep 'dropped: ' <<<"$stderr" | grep -v 'telegrams dropped' | tail -1)
	[ "p1read: $(jq -r .health.last_error <<<"$last")" = "$said" ] || fail "$said / $last"
	[[ "$said" == *"telegram 8 at byte "*": dropped: cut short by the end of the input" ]] || fail "$said"
	[[ "$stderr" == *"5 of 8 telegrams dropped"* ]] || fail "$stderr"
	# Time, type and device as in the reading lines.
	jq -e -s '[.[] | select(has("health"))] | all(.type == "dsmr" and .device == "house" and
		(.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$")))' <<<"$output" >/dev/null
}

@test "without --health-interval (or with 0) no health line: p1read FILE | jq sees readings only" {
	require_corpus
	dsmr_stream "$TMP/t"
	local opts
	for opts in "" "--health-interval 0" "--health-interval=0"; do
		# shellcheck disable=SC2086
		run --separate-stderr p1read $opts "$TMP/t"
		assert_success
		[ "${#lines[@]}" = 3 ] || fail "$opts: ${#lines[@]} lines"
		[ "$(jq -c 'select(has("values") | not)' <<<"$output")" = "" ] || fail "$opts: $output"
	done
	run --separate-stderr smlread "$SML/emh_mme40.sml"
	[ "$(jq -c 'has("health")' <<<"$output")" = false ]
}

@test "--health-interval: bad values are usage errors (exit 2) in every reader; good ones pass --check" {
	local p v
	for p in p1read smlread kmpread; do
		for v in -1 abc 86401 1.5 ""; do
			run --separate-stderr "$p" --check --health-interval "$v" /dev/ttyUSB0
			[ "$status" -eq 2 ] || fail "$p --health-interval '$v': exit $status"
			[[ "$stderr" == "$p: --health-interval: '$v': expected seconds, 0 (never) to 86400"* ]] || fail "$stderr"
		done
		run "$p" --check --health-interval 60 /dev/ttyUSB0
		assert_success
		run "$p" --check --health-interval=0 /dev/ttyUSB0
		assert_success
		run "$p" --list-options
		assert_line health-interval
	done
}

@test "p1read on a pty: periodic lines while telegrams come; the meter's pty vanishes: link down at once, lines go on" {
	p1sim -o "pty:$TMP/meter" -r 10 --step 1 -n 10000 --seed 24 --start-time $T1 > /dev/null 3>&- &
	local sim=$!
	track_pid $sim
	wait_for 50 test -L "$TMP/meter"
	p1read --health-interval 1 "$TMP/meter" > "$TMP/out" 2> "$TMP/err" 3>&- &
	local reader=$!
	track_pid $reader
	wait_for 100 health_where "$TMP/out" '.link == "up" and .telegrams >= 10'
	# Periodic: the counts grow from line to line; no drop on a clean line.
	health "$TMP/out" | jq -s -e 'map(.health.telegrams) as $t | $t == ($t | sort)' >/dev/null
	health "$TMP/out" | jq -s -e 'all(.health.dropped == {})' >/dev/null
	local before
	before=$(health "$TMP/out" | wc -l)
	kill -TERM $sim
	wait_gone $sim 50
	wait_for 50 down_since "$TMP/out" "$before"
	local down
	down=$(down_since "$TMP/out" "$before")
	[[ "$(jq -r .health.last_error <<<"$down")" == "$TMP/meter: lost: "* ]] || fail "$down"
	# Waiting for the port to come back, p1read still reports every second.
	local n
	n=$(health "$TMP/out" | wc -l)
	wait_for 50 health_at_least "$TMP/out" $((n + 2))
	[ "$(health "$TMP/out" | tail -1 | jq -r .health.link)" = down ]
	kill -0 $reader
	# The meter is back: the link is up again, at once.
	p1sim -o "pty:$TMP/meter" -r 10 --step 1 -n 10000 --seed 25 --start-time $T1 > /dev/null 3>&- &
	track_pid $!
	wait_for 150 sh -c "jq -c 'select(has(\"health\"))' '$TMP/out' | tail -1 | jq -e '.health.link == \"up\"'"
}

@test "p1read over TCP: a silent link is down after --silence-timeout, up when data comes again" {
	require_corpus
	local port
	port=$(free_port)
	# A server that sends one telegram to each connection, then stays silent.
	python3 - "$port" "$CORPUS/dsmr_parser__v5.txt" 3>&- <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
telegram = open(sys.argv[2], "rb").read()
held = []
while True:
    c, _ = s.accept()
    c.sendall(telegram)
    held.append(c)
PY
	track_pid $!
	wait_for 50 port_listening "$port"
	p1read --health-interval 60 --silence-timeout 1 "tcp://127.0.0.1:$port" > "$TMP/out" 2> "$TMP/err" 3>&- &
	track_pid $!
	wait_for 100 health_at_least "$TMP/out" 3
	# With an interval of 60 s, only the changes were written: up, down, up.
	run health "$TMP/out"
	[ "$(jq -c '.health | del(.last_error)' <<<"${lines[0]}")" = '{"telegrams":0,"dropped":{},"link":"up"}' ]
	[ "$(jq -c .health <<<"${lines[1]}")" = '{"telegrams":1,"dropped":{},"last_error":"tcp://127.0.0.1:'"$port"': lost: no data for 1 s","link":"down"}' ]
	[ "$(jq -c '.health | del(.last_error)' <<<"${lines[2]}")" = '{"telegrams":1,"dropped":{},"link":"up"}' ]
	[ "$(grep -c 'lost: no data for 1 s; reconnecting' "$TMP/err")" -ge 1 ]
}

# ---- smlread ----

@test "smlread: a file of good, bit-flipped, cut and truncated SML files: counted by reason" {
	[ -d "$SML" ] || skip "no ../shared/corpus/sml beside the repository"
	python3 - "$SML/emh_mme40.sml" "$TMP/t" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
flip = bytearray(d)
flip[len(d) // 2] ^= 0x10                   # inside the messages: the CRC breaks
# good, CRC broken, the first 100 bytes then a whole file (cut short by its
# start), good, and the input ends inside a file.
open(sys.argv[2], "wb").write(d + bytes(flip) + d[:100] + d + d + d[:50])
PY
	run --separate-stderr smlread --health-interval 5 -d cellar "$TMP/t"
	assert_success
	[ "$(jq -c 'select(has("values"))' <<<"$output" | wc -l)" = 3 ]
	[ "$(jq -c 'del(.time)' <<<"${lines[0]}")" = '{"type":"sml","device":"cellar","health":{"telegrams":0,"dropped":{},"link":"up"}}' ]
	local last=${lines[${#lines[@]} - 1]}
	[ "$(jq -c 'del(.time)' <<<"$last")" = '{"type":"sml","device":"cellar","health":{"telegrams":3,"dropped":{"crc":1,"cut_short":1,"end_of_input":1},"last_error":"SML file 6 at byte '$(( $(stat -c %s "$SML/emh_mme40.sml") * 4 + 100 ))': dropped: input ended inside the file","link":"down"}}' ] || fail "$last"
	[[ "$stderr" == *"3 of 6 SML files dropped"* ]] || fail "$stderr"
}

@test "smlread on a pty: the pty vanishes, the link is down at once; back, up again" {
	start_pty_pair line
	smlsim -o "$TMP/line.a" -r 10 --step 1 -n 1000 --seed 42 3>&- &
	local sim=$!
	track_pid $sim
	smlread --health-interval 1 "$TMP/line.b" > "$TMP/out" 2> "$TMP/err" 3>&- &
	local reader=$!
	track_pid $reader
	wait_for 100 health_where "$TMP/out" '.link == "up" and .telegrams >= 3'
	local before
	before=$(health "$TMP/out" | wc -l)
	kill -TERM "$PTY_PID" $sim
	wait_gone "$PTY_PID" 50
	wait_gone $sim 50
	wait_for 50 down_since "$TMP/out" "$before"
	local down
	down=$(down_since "$TMP/out" "$before" | jq -r .health.last_error)
	[[ "$down" == "$TMP/line.b: lost: "* ]] || fail "$down: $(health "$TMP/out") $(cat "$TMP/err")"
	kill -0 $reader
	start_pty_pair line
	smlsim -o "$TMP/line.a" -r 10 --step 1 -n 1000 --seed 43 3>&- &
	track_pid $!
	wait_for 250 sh -c "jq -c 'select(has(\"health\"))' '$TMP/out' | tail -1 | jq -e '.health.link == \"up\"'"
}

# ---- kmpread ----

start_kmpsim() {
	start_pty_pair kmp
	kmpsim "$@" "$TMP/kmp.a" 2> "$TMP/sim.log" &
	SIM_PID=$!
	track_pid "$SIM_PID"
	wait_for 50 sim_has_tty
}
sim_has_tty() {
	ls -l "/proc/$SIM_PID/fd" 2>/dev/null | grep -q -- "-> $(readlink "$TMP/kmp.a")\$"
}

@test "kmpread: a bad reply, a good poll, a meter asleep, awake again: counted, and the link follows" {
	# Three corrupt replies fail the first poll; the second poll (register,
	# serial number, type) uses up --sleep-after 6; then no reply at all.
	start_kmpsim --corrupt 3 --sleep-after 6
	# An interval of 60 s: only the changes of the link write a line.
	kmpread -i 1 --timeout 100 --health-interval 60 -p energy "$TMP/kmp.b" > "$TMP/out" 2> "$TMP/err" &
	local reader=$!
	track_pid $reader
	wait_for 100 health_at_least "$TMP/out" 2
	run health "$TMP/out"
	[ "$(jq -c 'del(.time)' <<<"${lines[0]}")" = '{"type":"multical","device":"multical","health":{"telegrams":0,"dropped":{"crc":1},"last_error":"poll failed: register request 1 of 1: broken reply: bad CRC (3 attempts)","link":"up"}}' ] || fail "${lines[0]}"
	[ "$(jq -c 'del(.time)' <<<"${lines[1]}")" = '{"type":"multical","device":"multical","health":{"telegrams":1,"dropped":{"crc":1,"timeout":1},"last_error":"poll failed: register request 1 of 1: no reply within 100 ms (3 attempts)","link":"down"}}' ] || fail "${lines[1]}"
	[ "$(jq -c 'select(has("values"))' "$TMP/out" | wc -l)" = 1 ]
	kill -USR1 "$SIM_PID"
	wait_for 100 health_at_least "$TMP/out" 3
	local up
	up=$(health "$TMP/out" | sed -n 3p)
	jq -e '.health | .link == "up" and .telegrams == 2 and .dropped.crc == 1 and .dropped.timeout >= 1' <<<"$up" >/dev/null || fail "$up"
	# Every failed poll said on stderr is counted: no more, no less.
	[ "$(grep -c 'poll failed' "$TMP/err")" = "$(jq '.health.dropped | add' <<<"$up")" ]
}

@test "kmpread: periodic lines between polls, and no port at all: cannot_open, link down" {
	start_kmpsim
	kmpread -i 300 --health-interval 1 -p energy "$TMP/kmp.b" > "$TMP/out" 2> "$TMP/err" &
	track_pid $!
	# One poll in 300 s, yet a line every second.
	wait_for 50 health_at_least "$TMP/out" 3
	[ "$(jq -c 'select(has("values"))' "$TMP/out" | wc -l)" = 1 ]
	health "$TMP/out" | jq -s -e 'all(.health | .telegrams == 1 and .dropped == {} and .link == "up")' >/dev/null
	run --separate-stderr kmpread -1 --health-interval 60 "$TMP/no-such-tty"
	assert_failure 1
	[ "${#lines[@]}" = 1 ]
	[ "$(jq -c '.health | del(.last_error)' <<<"$output")" = '{"telegrams":0,"dropped":{"cannot_open":1},"link":"down"}' ]
	[[ "$(jq -r .health.last_error <<<"$output")" == "poll failed: cannot open $TMP/no-such-tty: "* ]] || fail "$output"
	[[ "$stderr" == "kmpread: $(jq -r .health.last_error <<<"$output")" ]] || fail "$stderr"
}

# ---- end to end ----

@test "p1read --health-interval 1 | mqttpub: the retained health message holds the reader's counts" {
	require_corpus
	dsmr_stream "$TMP/t"
	start_broker
	p1read --health-interval 1 -d house "$TMP/t" 2> "$TMP/p1read.err" |
		mqttpub -p "$BROKER_PORT" 2> "$TMP/mqttpub.err"
	run mosquitto_sub -p "$BROKER_PORT" -t meters/dsmr/house/health -C 1 -W 5
	assert_success
	[ "$(jq -c .reader.dropped <<<"$output")" = '{"crc":2,"too_long":1,"bad_line":1,"end_of_input":1}' ] || fail "$output"
	[ "$(jq .reader.telegrams <<<"$output")" = 3 ]
	[ "$(jq -r .link <<<"$output")" = down ]
	[[ "$(jq -r .reader.last_error <<<"$output")" == *": dropped: cut short by the end of the input" ]]
	[ "$(jq -c '[.type, .device]' <<<"$output")" = '["dsmr","house"]' ]
	[ "$(jq .publisher.bad_lines <<<"$output")" = 0 ]
}
