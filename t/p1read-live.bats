#!/usr/bin/env bats
# p1read on live inputs fed by p1sim: a socat pseudo-terminal pair,
# p1sim's own pseudo-terminal unplugged and plugged back, TCP with a
# dropped connection, faults on the line, and a 7E1 meter.  Every line
# p1read prints must equal what p1read makes of p1sim's own bytes for the
# same seed and clock (the reference), and nothing else.

load helper
bats_require_minimum_version 1.5.0

setup() {
	setup_tmp
	command -v p1read >/dev/null || skip "p1read is not built"
}
teardown() { kill_tracked; }

T1=2026-11-27T10:00:00Z
T2=2026-12-24T18:00:00Z

# reference FILE P1SIM-ARGS...: what p1read prints for p1sim's stdout.
reference() {
	local out=$1
	shift
	p1sim -f "$@" | p1read - > "$out"
}

# subset LIVE REF: every reading in LIVE has exactly the meter and values
# of some reading in REF (and LIVE is not empty).
subset() {
	jq -e -n --slurpfile live "$1" --slurpfile ref "$2" \
		'($live | length) > 0 and ([$live[] | [.meter, .values]] - [$ref[] | [.meter, .values]] | length) == 0' >/dev/null
}


# stamped_at_least FILE PREFIX N: N readings whose meter time starts so.
stamped_at_least() {
	[ "$(jq -r .values.p1_message_timestamp.value "$1" | grep -c "^$2")" -ge "$3" ]
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

@test "p1sim through a socat pseudo-terminal pair: p1read prints exactly what was sent" {
	start_pty_pair line
	p1read "$TMP/line.b" > "$TMP/out" 2> "$TMP/err" 3>&- &
	local reader=$!
	track_pid $reader
	wait_for 50 has_open $reader "$TMP/line.b"
	p1sim -o "$TMP/line.a" -n 5 -r 10 --seed 20 --start-time $T1
	wait_for 100 lines_at_least "$TMP/out" 5
	reference "$TMP/ref" -n 5 --step 0.1 --seed 20 --start-time $T1
	diff <(jq -c '[.meter, .values]' "$TMP/out") <(jq -c '[.meter, .values]' "$TMP/ref")
	# A few exact values, as p1sim wrote them.
	local kw
	kw=$(p1sim -n 1 --seed 20 --start-time $T1 | sed -n 's/^1-0:1.7.0(0*\([0-9]\)\(.*\)\*kW).*/\1\2/p')
	[ -n "$kw" ]
	run jq -r '.values.current_electricity_usage | "\(.value) \(.unit) \(.obis)"' "$TMP/out"
	[ "${lines[0]}" = "$kw kW 1-0:1.7.0" ]
	[ "$(jq -r .values.p1_message_timestamp.value "$TMP/out" | head -1)" = 2026-11-27T11:00:00+01:00 ]
	[ "$(jq -r .values.gas_provided.time "$TMP/out" | head -1)" = 2026-11-27T11:00:00+01:00 ]
	[ "$(jq -r .meter.version "$TMP/out" | sort -u)" = 50 ]
	[ ! -s "$TMP/err" ]
}

@test "p1sim's own pty, paced: readings match the reference and counters only grow" {
	p1sim -o "pty:$TMP/meter" -P 50-2mbus -r 10 --step 1 -n 250 --seed 21 --start-time $T1 > /dev/null 3>&- &
	track_pid $!
	wait_for 50 test -L "$TMP/meter"
	p1read -d house "$TMP/meter" > "$TMP/out" 2> "$TMP/err" 3>&- &
	track_pid $!
	wait_for 150 lines_at_least "$TMP/out" 8
	reference "$TMP/ref" -P 50-2mbus -n 250 --step 1 --seed 21 --start-time $T1
	subset "$TMP/out" "$TMP/ref"
	[ "$(jq -r .device "$TMP/out" | sort -u)" = house ]
	jq -s -e '[.[] | .values.electricity_used_tariff_2.value] as $e | $e == ($e | sort)' "$TMP/out" >/dev/null
	jq -s -e '[.[] | .values.p1_message_timestamp.value] as $t | $t == ($t | sort) and ($t | unique | length) == ($t | length)' "$TMP/out" >/dev/null
	# Water on channel 2 is named by its device type, not by its channel.
	[ "$(jq -r '.values | to_entries[] | select(.value.obis == "0-2:24.2.1") | .value.unit' "$TMP/out" | sort -u)" = m3 ]
}

@test "TCP: p1sim killed and restarted on the same port; p1read reconnects and goes on, one line each way" {
	local port sim reader
	port=$(free_port)
	p1sim -o "tcp:$port" -r 10 --step 1 -n 250 --seed 22 --start-time $T1 > /dev/null 3>&- &
	sim=$!
	track_pid $sim
	wait_for 50 port_listening "$port"
	p1read "tcp://127.0.0.1:$port" > "$TMP/out" 2> "$TMP/err" 3>&- &
	reader=$!
	track_pid $reader
	wait_for 100 lines_at_least "$TMP/out" 3
	kill -TERM $sim
	wait_gone $sim 50
	wait_for 50 grep -q 'lost' "$TMP/err"
	local ticks0
	ticks0=$(cpu_ticks $reader)
	sleep 1.5
	p1sim -o "tcp:$port" -r 10 --step 1 -n 250 --seed 23 --start-time $T2 > /dev/null 3>&- &
	track_pid $!
	wait_for 200 stamped_at_least "$TMP/out" 2026-12-24 3
	# Waiting for the server cost next to no CPU (50 ticks = 0.5 s).
	[ $(( $(cpu_ticks $reader) - ticks0 )) -lt 50 ]
	[ "$(grep -c 'lost' "$TMP/err")" = 1 ]
	[ "$(grep -c 'connected again' "$TMP/err")" = 1 ]
	reference "$TMP/ref1" -n 250 --step 1 --seed 22 --start-time $T1
	reference "$TMP/ref2" -n 250 --step 1 --seed 23 --start-time $T2
	cat "$TMP/ref1" "$TMP/ref2" > "$TMP/ref"
	subset "$TMP/out" "$TMP/ref"
	stamped_at_least "$TMP/out" 2026-11-27 3
}

@test "pty unplugged and plugged back: p1read logs the loss, waits without spinning, resumes" {
	local sim reader
	p1sim -o "pty:$TMP/meter" -r 10 --step 1 -n 250 --seed 24 --start-time $T1 > /dev/null 3>&- &
	sim=$!
	track_pid $sim
	wait_for 50 test -L "$TMP/meter"
	p1read "$TMP/meter" > "$TMP/out" 2> "$TMP/err" 3>&- &
	reader=$!
	track_pid $reader
	wait_for 100 lines_at_least "$TMP/out" 3
	kill -TERM $sim
	wait_gone $sim 50
	[ ! -e "$TMP/meter" ]
	wait_for 50 grep -q 'lost' "$TMP/err"
	local ticks0
	ticks0=$(cpu_ticks $reader)
	sleep 2
	kill -0 $reader
	[ $(( $(cpu_ticks $reader) - ticks0 )) -lt 50 ]
	p1sim -o "pty:$TMP/meter" -r 10 --step 1 -n 250 --seed 25 --start-time $T2 > /dev/null 3>&- &
	track_pid $!
	wait_for 250 stamped_at_least "$TMP/out" 2026-12-24 3
	[ "$(grep -c 'lost' "$TMP/err")" = 1 ]
	[ "$(grep -c 'connected again' "$TMP/err")" = 1 ]
	reference "$TMP/ref1" -n 250 --step 1 --seed 24 --start-time $T1
	reference "$TMP/ref2" -n 250 --step 1 --seed 25 --start-time $T2
	cat "$TMP/ref1" "$TMP/ref2" > "$TMP/ref"
	subset "$TMP/out" "$TMP/ref"
}

@test "faults on the line (bit flips, cuts, garbage, split writes) are dropped and counted, never printed" {
	start_pty_pair line
	p1read "$TMP/line.b" > "$TMP/out" 2> "$TMP/err" 3>&- &
	local reader=$!
	track_pid $reader
	wait_for 50 has_open $reader "$TMP/line.b"
	p1sim -o "$TMP/line.a" -n 40 -r 20 --step 1 --seed 2 --start-time $T1 -v \
		--fault bitflip=0.1,truncate=0.08,garbage=0.2,split 2> "$TMP/simlog"
	# One clean telegram more ends a cut one at the end of the run, if any.
	p1sim -o "$TMP/line.a" -n 1 --seed 2 --start-time $T2
	local summary good flips cuts
	summary=$(grep 'summary:' "$TMP/simlog")
	good=$(sed 's/.* good=\([0-9]*\).*/\1/' <<< "$summary")
	flips=$(sed 's/.* bitflip=\([0-9]*\).*/\1/' <<< "$summary")
	cuts=$(sed 's/.* truncate=\([0-9]*\).*/\1/' <<< "$summary")
	[ "$flips" -ge 1 ] && [ "$cuts" -ge 1 ] && [ $((flips + cuts)) -le 10 ] # p1read names up to 10 a minute
	wait_for 100 lines_at_least "$TMP/out" $((good + 1))
	wait_for 50 test "$(grep -c 'dropped' "$TMP/err")" = $((flips + cuts))
	sleep 0.3
	[ "$(wc -l < "$TMP/out")" = $((good + 1)) ]
	[ "$(grep -c 'dropped' "$TMP/err")" = $((flips + cuts)) ]
	[ "$(grep -c 'dropped: CRC mismatch' "$TMP/err")" -ge "$flips" ]
	# Printed plus dropped is every telegram sent, the closing one included.
	[ $(( $(wc -l < "$TMP/out") + $(grep -c 'dropped' "$TMP/err") )) = 41 ]
	reference "$TMP/ref1" -n 40 --step 1 --seed 2 --start-time $T1
	reference "$TMP/ref2" -n 1 --seed 2 --start-time $T2
	cat "$TMP/ref1" "$TMP/ref2" > "$TMP/ref"
	subset "$TMP/out" "$TMP/ref"
}

@test "a 7E1 DSMR 2.2 meter read with -s 9600:7E1 --dsmr=22, and on an 8N1 port" {
	p1sim -P 22 -s 9600:7E1 -o "pty:$TMP/meter" -r 10 --step 10 -n 250 --seed 26 --start-time $T1 > /dev/null 3>&- &
	track_pid $!
	wait_for 50 test -L "$TMP/meter"
	p1read -s 9600:7E1 --dsmr=22 "$TMP/meter" > "$TMP/out" 2> "$TMP/err" 3>&- &
	track_pid $!
	wait_for 150 lines_at_least "$TMP/out" 3
	reference "$TMP/ref" -P 22 -n 250 --step 10 --seed 26 --start-time $T1
	subset "$TMP/out" "$TMP/ref"
	# The two-line 24.3.0 record: gas with its hourly stamp.
	[ "$(jq -r .values.gas_provided.time "$TMP/out" | sort -u)" = 2026-11-27T11:00:00+01:00 ]
	[ "$(jq -r .values.gas_provided.unit "$TMP/out" | sort -u)" = m3 ]
	# The parity bits are really on the wire, and an 8N1 reader strips them.
	p1sim -P 22 -s 9600:7E1 -n 3 -f --seed 26 --start-time $T1 > "$TMP/wire"
	[ "$(LC_ALL=C grep -c $'[\x80-\xff]' "$TMP/wire")" -gt 0 ]
	p1read - < "$TMP/wire" > "$TMP/8n1"
	diff <(jq -c .values "$TMP/8n1") <(head -3 "$TMP/ref" | jq -c .values)
}

@test "TCP: a link silent longer than --silence-timeout is dead: p1read reconnects" {
	local port sim reader n0
	port=$(free_port)
	p1sim -o "tcp:$port" -r 4 --seed 24 > /dev/null 3>&- &
	sim=$!
	track_pid $sim
	wait_for 50 port_listening "$port"
	p1read --silence-timeout=1 "tcp://127.0.0.1:$port" > "$TMP/out" 2> "$TMP/err" 3>&- &
	reader=$!
	track_pid $reader
	wait_for 100 lines_at_least "$TMP/out" 2
	# A dongle that hangs: the connection stays open, nothing comes.
	kill -STOP $sim
	wait_for 100 grep -q "tcp://127.0.0.1:$port: lost: no data for 1 s; reconnecting" "$TMP/err"
	kill -CONT $sim
	n0=$(wc -l < "$TMP/out")
	wait_for 150 lines_at_least "$TMP/out" $((n0 + 3))
	grep -q 'connected again' "$TMP/err"
	kill -0 $reader
	# Every line, before and after, is a whole reading.
	jq -e '.values.current_electricity_usage.unit == "kW"' "$TMP/out" >/dev/null
}
