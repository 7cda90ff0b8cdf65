#!/usr/bin/env bats
# smlread on live input fed by smlsim: a socat pseudo-terminal pair on to
# mqttpub and a real mosquitto, the pair unplugged and plugged back, and
# faults on the line.  Every line smlread prints must equal what smlread
# makes of smlsim's own bytes for the same seed (the reference).

load helper
bats_require_minimum_version 1.5.0

setup() {
	setup_tmp
	command -v smlread >/dev/null || skip "smlread is not built"
}
teardown() { kill_tracked; }

# reference FILE SMLSIM-ARGS...: what smlread prints for smlsim's stdout.
reference() {
	local out=$1
	shift
	smlsim -f "$@" | smlread - > "$out"
}

# subset LIVE REF: every reading in LIVE has exactly the meter and values of
# some reading in REF (and LIVE is not empty).
subset() {
	jq -e -n --slurpfile live "$1" --slurpfile ref "$2" \
		'($live | length) > 0 and ([$live[] | [.meter, .values]] - [$ref[] | [.meter, .values]] | length) == 0' >/dev/null
}

# same_number A B: two decimal texts of the same value (12.50 and 12.5).
same_number() {
	python3 -c 'import sys, decimal; sys.exit(decimal.Decimal(sys.argv[1]) != decimal.Decimal(sys.argv[2]))' "$1" "$2"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

@test "smlsim through a socat pty into smlread, on through mqttpub to mosquitto: the meter's exact values" {
	start_broker
	start_pty_pair line
	mqttpub_on_fifo -p "$BROKER_PORT" -t meters
	# smlread and tee each tracked by pid: in "smlread | tee &", $! is tee's.
	mkfifo "$TMP/sml"
	tee "$TMP/out" < "$TMP/sml" >&7 3>&- &
	track_pid $!
	smlread -d keller "$TMP/line.b" > "$TMP/sml" 2> "$TMP/rerr" 3>&- &
	local reader=$!
	track_pid $reader
	wait_for 50 has_open $reader "$TMP/line.b"
	smlsim -P q3a -o "$TMP/line.a" -n 5 -r 10 --seed 40 --solar 600
	wait_for 100 lines_at_least "$TMP/out" 5
	reference "$TMP/ref" -P q3a -n 5 --step 0.1 --seed 40 --solar 600
	diff <(jq -c '[.meter, .values]' "$TMP/out") <(jq -c '[.meter, .values]' "$TMP/ref")
	# The broker holds the last reading's values, exactly (mqttpub writes
	# the shortest decimal of the same value: 12716868.0000 as 12716868.0).
	local want got
	want=$(tail -1 "$TMP/ref" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read(), parse_float=str)["values"]["electricity_imported_total"]["value"])')
	[[ "$want" == *.???? ]] # the Q3A's scaler -4: smlread keeps four decimals
	got=$(mosquitto_sub -p "$BROKER_PORT" -t meters/sml/keller/electricity_imported_total -C 1 -W 5)
	same_number "$got" "$want" || fail "broker has $got, smlread said $want"
	got=$(mosquitto_sub -p "$BROKER_PORT" -t meters/sml/keller/instantaneous_active_power -C 1 -W 5)
	same_number "$got" "$(tail -1 "$TMP/ref" | jq -r .values.instantaneous_active_power.value)"
	[ "${got#-}" != "$got" ] # solar above the load: delivered, negative
	[ ! -s "$TMP/rerr" ]
}

@test "the Holley profile's KERMIT CRC, and counters that only grow" {
	start_pty_pair line
	smlread "$TMP/line.b" > "$TMP/out" 2> "$TMP/err" 3>&- &
	local reader=$!
	track_pid $reader
	wait_for 50 has_open $reader "$TMP/line.b"
	smlsim -P dtz541 -o "$TMP/line.a" -n 20 -r 20 --step 60 --seed 41 --power 3000
	wait_for 100 lines_at_least "$TMP/out" 20
	reference "$TMP/ref" -P dtz541 -n 20 --step 60 --seed 41 --power 3000
	diff <(jq -c '[.meter, .values]' "$TMP/out") <(jq -c '[.meter, .values]' "$TMP/ref")
	jq -s -e '[.[] | .values.electricity_imported_total.value] as $e | $e == ($e | sort) and ($e | unique | length) == 20' "$TMP/out" >/dev/null
	[ "$(jq -r .values.frequency.unit "$TMP/out" | sort -u)" = Hz ]
	[ ! -s "$TMP/err" ]
}

@test "pty unplugged and plugged back: smlread logs the loss, waits without spinning, resumes" {
	local reader sim
	start_pty_pair line
	smlsim -o "$TMP/line.a" -r 10 --step 1 -n 250 --seed 42 3>&- &
	sim=$!
	track_pid $sim
	smlread "$TMP/line.b" > "$TMP/out" 2> "$TMP/err" 3>&- &
	reader=$!
	track_pid $reader
	wait_for 100 lines_at_least "$TMP/out" 3
	kill -TERM "$PTY_PID" $sim
	wait_gone "$PTY_PID" 50
	wait_gone $sim 50
	wait_for 50 grep -q 'lost' "$TMP/err"
	local ticks0
	ticks0=$(cpu_ticks $reader)
	sleep 2
	kill -0 $reader
	[ $(( $(cpu_ticks $reader) - ticks0 )) -lt 50 ]
	start_pty_pair line
	smlsim -o "$TMP/line.a" -r 10 --step 1 -n 250 --seed 43 3>&- &
	track_pid $!
	local first
	first=$(wc -l < "$TMP/out")
	wait_for 250 lines_at_least "$TMP/out" $((first + 3))
	[ "$(grep -c 'lost' "$TMP/err")" = 1 ]
	[ "$(grep -c 'connected again' "$TMP/err")" = 1 ]
	reference "$TMP/ref1" -n 250 --step 1 --seed 42
	reference "$TMP/ref2" -n 250 --step 1 --seed 43
	cat "$TMP/ref1" "$TMP/ref2" > "$TMP/ref"
	subset "$TMP/out" "$TMP/ref"
	# Readings of the second meter arrived (another server id).
	[ "$(jq -r .meter.id "$TMP/out" | sort -u | wc -l)" = 2 ]
}

@test "faults on the line (bit flips, cut files, garbage) are dropped and counted, never printed" {
	start_pty_pair line
	smlread "$TMP/line.b" > "$TMP/out" 2> "$TMP/err" 3>&- &
	local reader=$!
	track_pid $reader
	wait_for 50 has_open $reader "$TMP/line.b"
	smlsim -o "$TMP/line.a" -n 40 -r 20 --step 1 --seed 2 -v \
		--fault bitflip=0.1,truncate=0.08,garbage=0.2 2> "$TMP/simlog"
	# One clean file more ends a cut one at the end of the run, if any.
	smlsim -o "$TMP/line.a" -n 1 --seed 3
	local summary good flips cuts
	summary=$(grep 'summary:' "$TMP/simlog")
	good=$(sed 's/.* good=\([0-9]*\).*/\1/' <<< "$summary")
	flips=$(sed 's/.* bitflip=\([0-9]*\).*/\1/' <<< "$summary")
	cuts=$(sed 's/.* truncate=\([0-9]*\).*/\1/' <<< "$summary")
	[ "$flips" -ge 1 ] && [ "$cuts" -ge 1 ] && [ $((flips + cuts)) -le 10 ] # smlread names up to 10 a minute
	wait_for 100 lines_at_least "$TMP/out" $((good + 1))
	wait_for 50 test "$(grep -c 'dropped' "$TMP/err")" = $((flips + cuts))
	sleep 0.3
	[ "$(wc -l < "$TMP/out")" = $((good + 1)) ]
	[ "$(grep -c 'dropped: CRC mismatch' "$TMP/err")" -ge "$flips" ]
	reference "$TMP/ref1" -n 40 --step 1 --seed 2
	reference "$TMP/ref2" -n 1 --seed 3
	cat "$TMP/ref1" "$TMP/ref2" > "$TMP/ref"
	subset "$TMP/out" "$TMP/ref"
}

@test "smlsim: profiles, options, usage errors" {
	run smlsim --list-profiles
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[2]}" == dtz541$'\t'* ]]
	run --separate-stderr smlsim -P nosuch
	[ "$status" -eq 2 ]
	[[ "$stderr" == "smlsim: --profile: bad value 'nosuch'"* ]]
	run --separate-stderr smlsim --fault bitflip=2
	[ "$status" -eq 2 ]
	run smlsim --version
	[[ "$output" == "smlsim "* ]]
	# The same seed, the same bytes.
	cmp <(smlsim -f -n 3 --seed 7) <(smlsim -f -n 3 --seed 7)
}
