#!/usr/bin/env bats
# p1sim's encrypted Luxembourg Smarty profile (lux) into p1read: through a
# socat pseudo-terminal pair with the same key, with a wrong key, and the
# frame faults (forged tag, replayed frame counter) dropped and counted.

load helper
bats_require_minimum_version 1.5.0

KEY=000102030405060708090A0B0C0D0E0F
T1=2026-11-27T10:00:00Z

setup() {
	setup_tmp
	command -v p1read >/dev/null || skip "p1read is not built"
}
teardown() { kill_tracked; }


@test "lux through a socat pseudo-terminal: authenticated, counters increase, values" {
	printf '%s\n' "$KEY" > "$TMP/key"
	chmod 600 "$TMP/key"
	start_pty_pair line
	P1_KEY=$KEY p1read "$TMP/line.b" > "$TMP/out" 2> "$TMP/err" 3>&- &
	local reader=$!
	track_pid $reader
	wait_for 50 has_open $reader "$TMP/line.b"
	p1sim -P lux --key-file "$TMP/key" -o "$TMP/line.a" -n 4 -r 10 --seed 7 --start-time $T1
	wait_for 100 lines_at_least "$TMP/out" 4
	[ "$(wc -l < "$TMP/out")" -eq 4 ] || fail "$(cat "$TMP/out" "$TMP/err")"
	[ ! -s "$TMP/err" ] || fail "$(cat "$TMP/err")"
	# The counter starts at the meter clock's seconds since 2020 and grows by one.
	[ "$(jq -c .security "$TMP/out" | sort -u | wc -l)" -eq 4 ]
	[ "$(jq -s -c 'map(.security.authenticated) | unique' "$TMP/out")" = '[true]' ]
	[ "$(jq -s -c 'map(.security.frame_counter)' "$TMP/out")" = '[217936800,217936801,217936802,217936803]' ]
	# The values are those p1read makes of p1sim's stdout for this seed and clock.
	p1sim -P lux --key-file "$TMP/key" -f -n 4 --step 0.1 --seed 7 --start-time $T1 | P1_KEY=$KEY p1read - > "$TMP/ref"
	diff <(jq -c '[.meter, .values]' "$TMP/out") <(jq -c '[.meter, .values]' "$TMP/ref")
	head -1 "$TMP/ref" > "$TMP/one"
	[ "$(jq -c .meter "$TMP/one")" = "$(head -1 "$TMP/out" | jq -c .meter)" ]
	[ "$(jq -r .meter.model "$TMP/one")" = 'Lux5\253663629_D' ]
	[[ "$(jq -r .meter.id "$TMP/one")" == SAG?????????????* ]] || fail "$(jq -r .meter.id "$TMP/one")"
	[ "$(head -1 "$TMP/out" | jq -c '[.values.p1_message_timestamp.value, .values.electricity_imported_total.unit]')" = \
		'["2026-11-27T11:00:00+01:00","kWh"]' ]
	# Energy grows from one telegram to the next, never falls.
	jq -s -e 'map(.values.electricity_imported_total.value) | . == sort' "$TMP/out" >/dev/null
}

@test "lux with a wrong key: the tag failure named on stderr, nothing printed" {
	run --separate-stderr bash -c "P1_KEY=$KEY p1sim -P lux -f -n 4 --seed 7 --start-time $T1 |
		P1_KEY=FFEEDDCCBBAA99887766554433221100 p1read -"
	[ -z "$output" ] || fail "printed: $output"
	[[ "$stderr" == *"telegram 1 at byte 0: dropped: GCM tag mismatch: GCM tag does not verify (frame counter 217936800)"* ]] ||
		fail "$stderr"
	[[ "$stderr" == *"4 of 4 telegrams dropped: 4 GCM tag mismatch"* ]] || fail "$stderr"
}

@test "lux faults: forged tags and replayed counters are dropped and counted by p1read" {
	P1_KEY=$KEY p1sim -P lux -f -n 40 --seed 3 --start-time $T1 --fault forged-tag=0.25,replay=0.25 -v \
		2> "$TMP/sim" | P1_KEY=$KEY p1read - > "$TMP/out" 2> "$TMP/err"
	local forged replayed sent
	forged=$(sed -n 's/.*summary: .* forged-tag=\([0-9]*\) replay=\([0-9]*\).*/\1/p' "$TMP/sim")
	replayed=$(sed -n 's/.*summary: .* forged-tag=\([0-9]*\) replay=\([0-9]*\).*/\2/p' "$TMP/sim")
	[ "$forged" -gt 0 ] && [ "$replayed" -gt 0 ] || fail "$(cat "$TMP/sim")"
	[ "$(wc -l < "$TMP/out")" -eq $((40 - forged - replayed)) ] || fail "$(cat "$TMP/err")"
	[[ "$(cat "$TMP/err")" == *"$((forged + replayed)) of 40 telegrams dropped: $forged GCM tag mismatch, $replayed replayed frame"* ]] ||
		fail "$(cat "$TMP/err")"
	grep -q 'dropped: replayed frame: frame counter ' "$TMP/err"
	# What is printed is authenticated and strictly increasing.
	jq -s -e 'map(.security.frame_counter) as $c | $c == ($c | unique) and all(.[]; .security.authenticated)' \
		"$TMP/out" >/dev/null
}

@test "lux keys: none, malformed (exit 2, never printed), and only lux takes one" {
	run --separate-stderr env -u P1_KEY p1sim -P lux -n 1
	[ "$status" -eq 2 ] && [[ "$stderr" == *"profile lux: no key (--key-file or \$P1_KEY)"* ]] || fail "$stderr"
	run --separate-stderr env P1_KEY=0001020304050607XY p1sim -P lux -n 1
	[ "$status" -eq 2 ] && [ -z "$output" ] || fail "$status $output"
	[[ "$stderr" == *'$P1_KEY: malformed key'* ]] || fail "$stderr"
	[[ "$stderr" != *0001020304* ]] || fail "the key was printed: $stderr"
	printf '%s\n' "${KEY:0:31}" > "$TMP/short"
	run --separate-stderr p1sim -P lux --key-file "$TMP/short" -n 1
	[ "$status" -eq 2 ] && [[ "$stderr" == *"$TMP/short: malformed key: 31 hex digits, expected 32"* ]] || fail "$stderr"
	[[ "$stderr" != *"${KEY:0:8}"* ]] || fail "the key was printed: $stderr"
	run --separate-stderr env P1_KEY=$KEY p1sim -P 50 --key-file "$TMP/short" -n 1
	[ "$status" -eq 2 ] && [[ "$stderr" == *"profile 50 is not encrypted"* ]] || fail "$stderr"
}

@test "at-t210: the Austrian T210-D-r in Wh, under its own authentication key" {
	local AK=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
	printf '%s\n' "$AK" > "$TMP/ak"
	P1_KEY=$KEY p1sim -P at-t210 --auth-key-file "$TMP/ak" -f -n 3 --seed 7 --start-time $T1 > "$TMP/frames"
	run --separate-stderr env P1_KEY=$KEY P1_AUTH_KEY=$AK p1read "$TMP/frames"
	[ "$status" -eq 0 ] && [ -z "$stderr" ] && [ "${#lines[@]}" -eq 3 ] || fail "$status: $stderr"
	[ "$(jq -s -c 'map(.security)' <<<"$output")" = \
		'[{"frame_counter":217936800,"authenticated":true},{"frame_counter":217936801,"authenticated":true},{"frame_counter":217936802,"authenticated":true}]' ]
	[ "$(jq -r .meter.model <<<"${lines[0]}")" = 'EST5\253710000_A' ]
	# Integer Wh; the total is tariff 1 plus tariff 2 (truncated each, so within 1 Wh).
	jq -e '[.values[] | select(.obis == "1-0:1.8.0" or .obis == "1-0:1.8.1" or .obis == "1-0:1.8.2")] |
		length == 3 and all(.[]; .unit == "Wh") and (.[0].value - .[1].value - .[2].value | . >= 0 and . <= 1)' \
		<<<"${lines[0]}" >/dev/null || fail "${lines[0]}"
	# Without its authentication key (p1read's default is Smarty's): every tag fails.
	run --separate-stderr env P1_KEY=$KEY p1read "$TMP/frames"
	[ -z "$output" ] && [[ "$stderr" == *"3 of 3 telegrams dropped: 3 GCM tag mismatch"* ]] || fail "$stderr"
}

@test "lux with every fault at once: p1read prints exactly the frames p1sim sent whole" {
	P1_KEY=$KEY p1sim -P lux -f -n 300 --seed 5 -v \
		--fault bitflip=0.1,truncate=0.1,garbage=0.2,split=0.3,forged-tag=0.1,replay=0.1 \
		2> "$TMP/sim" | P1_KEY=$KEY p1read - > "$TMP/out" 2> "$TMP/err"
	local good
	good=$(sed -n 's/.*summary: sent=300 good=\([0-9]*\) .*/\1/p' "$TMP/sim")
	[ -n "$good" ] && [ "$good" -lt 300 ] || fail "$(cat "$TMP/sim")"
	[ "$(wc -l < "$TMP/out")" -eq "$good" ] || fail "$(wc -l < "$TMP/out") of $good: $(tail -3 "$TMP/err")"
	jq -s -e 'map(.security.frame_counter) as $c | $c == ($c | unique)' "$TMP/out" >/dev/null
}
