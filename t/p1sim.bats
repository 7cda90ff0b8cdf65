#!/usr/bin/env bats
# p1sim, the simulated P1 meter: telegrams that verify, counters that grow
# with power x time, tariffs, M-Bus stamps and DST as real meters do them,
# reproducible output, faults at the asked rate, and its three outputs.

load helper
bats_require_minimum_version 1.5.0

setup() { setup_tmp; }
teardown() { kill_tracked; }

LIBCHECK=${M2M_TESTBIN:-$TOP/build/t}/libcheck
START=2026-11-27T10:00:00Z   # a Friday, 11:00 in Amsterdam (winter time)

# telegrams FILE: one word per telegram, in order: ok (CRC verifies, counted
# over '/'..'!' by this script's own CRC-16/ARC), bad, nocrc, cut (no '!').
telegrams() {
	perl -0777 -ne '
		sub crc { my $c = 0; for my $b (unpack "C*", $_[0]) { $c ^= $b;
			for (1..8) { $c = $c & 1 ? ($c >> 1) ^ 0xA001 : $c >> 1 } } $c }
		for my $seg (split m{(?=/)}) {
			next unless $seg =~ m{^/};
			if ($seg !~ m{^(/[^!]*!)([0-9A-F]{0,4})\r\n}s) { print "cut\n"; next }
			my ($body, $sent) = ($1, $2);
			if ($sent eq "") { print "nocrc\n"; next }
			print crc($body) == hex($sent) ? "ok\n" : "bad\n";
		}' "$1"
}

# field FILE OBIS: the first value group of every record OBIS, one a line.
field() {
	tr -d '\r' < "$1" | awk -v code="$2" 'index($0, code "(") == 1 {
		v = substr($0, length(code) + 2); sub(/\).*/, "", v); print v }'
}

@test "p1sim --list-profiles names every profile with its line settings" {
	run p1sim --list-profiles
	assert_success
	[ "$(awk '{print $1}' <<< "$output" | tr '\n' ' ')" = "22 42 50 50-nogas 50-2mbus 50-gas2 be be-2mbus lux at-t210 " ]
	assert_line --regexp '^22 +9600:7E1 +0.1/s '
	assert_line --regexp '^50 +115200:8N1 +1/s '
}

@test "every profile's telegrams verify with CRC-16/ARC over '/'..'!' (libcheck) and end lines with CRLF" {
	local p crc body
	for p in 42 50 50-nogas 50-2mbus 50-gas2 be be-2mbus; do
		p1sim -P "$p" -n 1 --seed 7 --start-time "$START" > "$TMP/$p"
		body=$(perl -0777 -ne 'print $1 if m{^(/.*!)}s' "$TMP/$p" | "$LIBCHECK" crc-arc)
		crc=$(perl -0777 -ne 'print $1 if m{!([0-9A-F]{4})\r\n\z}' "$TMP/$p")
		[ -n "$crc" ] || fail "$p: no 4-digit CRC line at the end"
		[ "$body" = "$crc" ] || fail "$p: CRC says $crc, computed $body"
		# Every LF has its CR, and no CR stands alone.
		[ "$(tr -cd '\n' < "$TMP/$p" | wc -c)" = "$(grep -c $'\r$' "$TMP/$p")" ] || fail "$p: bare LF"
		[ "$(tr -cd '\r' < "$TMP/$p" | wc -c)" = "$(tr -cd '\n' < "$TMP/$p" | wc -c)" ] || fail "$p: bare CR"
	done
	p1sim -P 22 -n 1 --seed 7 --start-time "$START" > "$TMP/22"
	run tail -c 3 "$TMP/22"
	[ "$output" = $'!\r' ] # DSMR 2.2: no CRC after '!'
}

@test "-n COUNT sends exactly COUNT telegrams; 100 fast ones all verify" {
	p1sim -f -n 7 --seed 1 > "$TMP/out"
	[ "$(grep -c '^/' "$TMP/out")" = 7 ]
	p1sim -P be -f -n 100 --seed 2 > "$TMP/out"
	run telegrams "$TMP/out"
	[ "${#lines[@]}" = 100 ]
	[ "$(sort -u <<< "$output")" = ok ]
}

@test "profiles carry their characteristic records" {
	p1sim -P 22 -n 1 --seed 3 --start-time "$START" > "$TMP/22"
	grep -q $'^0-1:24.3.0(261127110000)(00)(60)(1)(0-1:24.2.1)(m3)\r$' "$TMP/22"
	# The gas value is on the line after the 24.3.0 record, alone in brackets.
	grep -A1 '^0-1:24.3.0' "$TMP/22" | tail -1 | grep -Eq $'^\\([0-9]{5}\\.[0-9]{3}\\)\r$'
	! grep -q '^0-0:1.0.0\|^1-3:0.2.8' "$TMP/22" || false
	grep -Eq $'^1-0:1.7.0\\([0-9]{4}\\.[0-9]{2}\\*kW\\)\r$' "$TMP/22"

	p1sim -P 42 -n 1 --seed 3 --start-time "$START" > "$TMP/42"
	[ "$(field "$TMP/42" 1-3:0.2.8)" = 42 ]
	[ "$(head -1 "$TMP/42")" = $'/KFM5KAIFA-METER\r' ]
	! grep -q '^1-0:32.7.0' "$TMP/42" || false

	p1sim -P 50 -n 1 --seed 3 --start-time "$START" > "$TMP/50"
	[ "$(field "$TMP/50" 1-3:0.2.8)" = 50 ]
	[ "$(field "$TMP/50" 0-0:1.0.0)" = 261127110000W ]
	grep -Eq $'^1-0:32.7.0\\([0-9]{3}\\.[0-9]\\*V\\)\r$' "$TMP/50"
	grep -Eq $'^1-0:1.8.1\\([0-9]{6}\\.[0-9]{3}\\*kWh\\)\r$' "$TMP/50"
	grep -Eq $'^0-1:24.2.1\\(261127110000W\\)\\([0-9]{5}\\.[0-9]{3}\\*m3\\)\r$' "$TMP/50"
	grep -q '^1-0:99.97.0(2)(0-0:96.7.19)([0-9]\{12\}[SW])([0-9]\{10\}\*s)' "$TMP/50"

	p1sim -P be -n 1 --seed 3 --start-time "$START" > "$TMP/be"
	grep -Eq $'^1-0:1.4.0\\([0-9]{2}\\.[0-9]{3}\\*kW\\)\r$' "$TMP/be"
	grep -Eq $'^1-0:1.6.0\\(2611[0-9]{8}W\\)\\([0-9]{2}\\.[0-9]{3}\\*kW\\)\r$' "$TMP/be"
	# 13 months of peaks: (month end)(when)(kW) each, newest first.
	grep '^0-0:98.1.0(13)(1-0:1.6.0)(1-0:1.6.0)(261101000000W)(2610' "$TMP/be"
	[ "$(grep '^0-0:98.1.0' "$TMP/be" | grep -o '\*kW' | wc -l)" = 13 ]
	grep -q '^0-1:24.2.3(261127110000W)' "$TMP/be"
	! grep -q '^1-3:0.2.8' "$TMP/be" || false

	p1sim -P 50-2mbus -n 1 --seed 3 --start-time "$START" > "$TMP/2mbus"
	[ "$(field "$TMP/2mbus" 0-1:24.1.0)" = 003 ]
	[ "$(field "$TMP/2mbus" 0-2:24.1.0)" = 007 ]
	grep -q '^0-2:24.2.1(261127110000W)(00[0-9][0-9][0-9]\.[0-9]\{3\}\*m3)' "$TMP/2mbus"

	p1sim -P 50-gas2 -n 1 --seed 3 --start-time "$START" > "$TMP/gas2"
	grep -q $'^0-1:24.2.1(700101010000W)(00000000)\r$' "$TMP/gas2"
	grep -q '^0-2:24.2.1(261127110000W)([0-9]\{5\}\.[0-9]\{3\}\*m3)' "$TMP/gas2"

	p1sim -P 50 -n 1 --message 'Hello, meter' > "$TMP/msg"
	[ "$(field "$TMP/msg" 0-0:96.13.0)" = 48656C6C6F2C206D65746572 ]
}

@test "--seed and --start-time make the bytes reproducible; another seed differs" {
	p1sim -P be -f -n 50 --seed 42 --start-time "$START" --fault bitflip=0.2,truncate=0.1,garbage=0.2 > "$TMP/a"
	p1sim -P be -f -n 50 --seed 42 --start-time "$START" --fault bitflip=0.2,truncate=0.1,garbage=0.2 > "$TMP/b"
	cmp "$TMP/a" "$TMP/b"
	p1sim -P be -f -n 50 --seed 43 --start-time "$START" > "$TMP/c"
	! cmp -s "$TMP/a" "$TMP/c" || false
	# Faults draw from their own stream: the meter says the same with them.
	p1sim -P be -f -n 50 --seed 42 --start-time "$START" > "$TMP/clean"
	p1sim -P be -f -n 50 --seed 42 --start-time "$START" --fault garbage=0.5,split > "$TMP/junk"
	! cmp -s "$TMP/clean" "$TMP/junk" || false
	perl -0777 -pe 's{(![0-9A-F]{4}\r\n)[^/]*}{$1}g' "$TMP/junk" | cmp - "$TMP/clean"
	[ "$(field "$TMP/clean" 0-0:1.0.0 | tail -1)" = 261127110049W ]
}

# energy_check FILE STEP_S: the energy registers grew by the power shown in
# each telegram times the interval, to within the registers' truncation.
energy_check() {
	tr -d '\r' < "$1" | awk -v step="$2" '
		function num(s) { sub(/^[^(]*\(/, "", s); sub(/\*.*/, "", s); return s + 0 }
		/^\// { n++ }
		/^1-0:1\.8\.[12]\(/ { e[n] += num($0) * 1000 }     # Wh
		/^1-0:1\.7\.0\(/ { p[n] = num($0) * 1000 }        # W
		END {
			for (i = 2; i <= n; i++) { if (e[i] < e[i-1]) { print "fell at " i; exit 1 }; wh += p[i] * step / 3600 }
			d = e[n] - e[1]
			printf "grew %.0f Wh, power x time %.1f Wh\n", d, wh
			if (n < 2 || wh < 1 || d < wh - 2.5 || d > wh + 2.5) exit 1
		}'
}

@test "energy grows with power x time (1 s and 10 s steps, an appliance switching on)" {
	p1sim -P 50 -f -n 600 --seed 5 --power 800 --start-time "$START" > "$TMP/50"
	run energy_check "$TMP/50" 1
	assert_success
	# The power moves (drift, appliances) and is not a constant.
	[ "$(field "$TMP/50" 1-0:1.7.0 | sort -u | wc -l)" -gt 20 ]
	p1sim -P 42 -f -n 360 --seed 6 --power 2000 --start-time "$START" > "$TMP/42"
	run energy_check "$TMP/42" 10
	assert_success
	p1sim -P 22 -f -n 200 --seed 6 --start-time "$START" > "$TMP/22"
	run energy_check "$TMP/22" 10
	assert_success
}

@test "solar: export registers grow at noon, import stays" {
	p1sim -P 50 -f -n 120 --seed 8 --power 300 --solar 4000 --start-time 2026-06-15T10:00:00Z > "$TMP/out"
	[ "$(field "$TMP/out" 1-0:1.7.0 | sort -u)" = 00.000*kW ]
	first=$(field "$TMP/out" 1-0:2.8.2 | head -1) last=$(field "$TMP/out" 1-0:2.8.2 | tail -1)
	[ "$first" != "$last" ]
	[ "$(field "$TMP/out" 1-0:1.8.2 | sort -u | wc -l)" = 1 ]
}

@test "tariff follows the time of day: NL low to normal at 07:00, BE night to day" {
	# Friday 27 November 2026, 06:59:55 in Amsterdam (05:59:55Z).
	p1sim -P 50 -f -n 10 --seed 9 --start-time 2026-11-27T05:59:55Z > "$TMP/nl"
	[ "$(field "$TMP/nl" 0-0:96.14.0 | uniq -c | awk '{print $1 "x" $2}' | tr '\n' ' ')" = "5x0001 5x0002 " ]
	# Low-tariff energy stops growing once the normal tariff starts.
	[ "$(field "$TMP/nl" 1-0:1.8.1 | tail -6 | sort -u | wc -l)" = 1 ]
	p1sim -P be -f -n 10 --seed 9 --start-time 2026-11-27T05:59:55Z > "$TMP/be"
	[ "$(field "$TMP/be" 0-0:96.14.0 | uniq -c | awk '{print $1 "x" $2}' | tr '\n' ' ')" = "5x0002 5x0001 " ]
	# Saturday: low tariff all day.
	p1sim -P 50 -f -n 3 --seed 9 --start-time 2026-11-28T12:00:00Z > "$TMP/sat"
	[ "$(field "$TMP/sat" 0-0:96.14.0 | sort -u)" = 0001 ]
}

@test "gas is stamped on the 5-minute boundary (DSMR 5) and on the hour (4.2), and grows at its rate" {
	p1sim -P 50 -f -n 30 --step 60 --gas 600 --seed 10 --start-time 2026-11-27T10:02:00Z > "$TMP/50"
	run field "$TMP/50" 0-1:24.2.1
	[ "$(sort -u <<< "$output" | wc -l)" = 7 ] # 10:02 .. 10:31: stamps 11:00, :05, ... :30 local
	[ "${lines[0]}" = "${lines[2]}" ]
	[[ "${lines[0]}" == 261127110000W* ]]
	[[ "${lines[3]}" == 261127110500W* ]]
	# 600 l/h is exactly 0.050 m3 per 5 minutes.
	tr -d '\r' < "$TMP/50" | sed -n 's/^0-1:24.2.1(.*)(\(.*\)\*m3)$/\1/p' | uniq |
		awk 'NR > 1 { d = $1 - prev; if (d < 0.0495 || d > 0.0505) exit 1 } { prev = $1 }'
	p1sim -P 42 -f -n 20 --step 600 --gas 600 --seed 10 --start-time 2026-11-27T10:00:00Z > "$TMP/42"
	[ "$(field "$TMP/42" 0-1:24.2.1 | cut -c9-13 | sort -u | tr '\n' ' ')" = "0000W " ]
	tr -d '\r' < "$TMP/42" | sed -n 's/^0-1:24.2.1(.*)(\(.*\)\*m3)$/\1/p' | uniq |
		awk 'NR > 1 { d = $1 - prev; if (d < 0.5995 || d > 0.6005) exit 1 } { prev = $1 } END { if (NR < 3) exit 1 }'
}

@test "Belgian capacity tariff: quarter-hour demand, the month's peak, and the month change" {
	# 23:40 local on 30 November to 00:19 on 1 December, a minute a telegram.
	p1sim -P be -f -n 40 --step 60 --power 3000 --seed 30 --start-time 2026-11-30T22:40:00Z > "$TMP/be"
	run field "$TMP/be" 0-0:98.1.0
	[[ "${lines[0]}" == 13 ]]
	run grep -o '^0-0:98.1.0([0-9]*)(1-0:1.6.0)(1-0:1.6.0)([^)]*)([^)]*)([^)]*)' "$TMP/be"
	# Before midnight the newest entry is October's; after it, November's,
	# stamped at its end and holding the month's peak as 1-0:1.6.0 said.
	[[ "${lines[0]}" == *"(261101000000W)"* ]]
	[[ "${lines[39]}" == *"(261201000000W)(2611"* ]]
	# November's entry is the peak 1-0:1.6.0 showed at 23:59, or the last
	# quarter (23:45, closed at midnight) when that one was higher.
	local before entry
	before=$(tr -d '\r' < "$TMP/be" | grep '^1-0:1.6.0' | sed -n 20p | sed 's/^1-0:1.6.0//')
	entry=${lines[39]#*(261201000000W)}
	[ "$entry" = "$before" ] || {
		[[ "$entry" == "(261130234500W)("* ]] &&
		awk -v a="${entry#*)(}" -v b="${before#*)(}" 'BEGIN { exit !(a + 0 > b + 0) }'
	}
	# The new month's peak starts at its first quarter hour.
	[ "$(tr -d '\r' < "$TMP/be" | grep '^1-0:1.6.0' | tail -1 | cut -c11-23)" = 261201000000W ]
	[ "$(grep -c '^0-0:98.1.0(13)' "$TMP/be")" = 40 ]
	# 1-0:1.4.0 is the running average of the quarter: near the load.
	field "$TMP/be" 1-0:1.4.0 | awk '{ v = $1 + 0; if (v < 2.0 || v > 6.0) exit 1 }'
}

@test "meter time carries S/W and follows the EU summer-time changes" {
	p1sim -P 50 -f -n 3 --step 60 --seed 11 --start-time 2026-03-29T00:59:00Z > "$TMP/spring"
	[ "$(field "$TMP/spring" 0-0:1.0.0 | tr '\n' ' ')" = "260329015900W 260329030000S 260329030100S " ]
	p1sim -P 50 -f -n 3 --step 1800 --seed 11 --start-time 2026-10-25T00:00:00Z > "$TMP/autumn"
	[ "$(field "$TMP/autumn" 0-0:1.0.0 | tr '\n' ' ')" = "261025020000S 261025023000S 261025020000W " ]
	p1sim -P 50 -n 1 --seed 11 --start-time 2026-11-27T11:00:00+01:00 > "$TMP/offset"
	[ "$(field "$TMP/offset" 0-0:1.0.0)" = 261127110000W ]
}

@test "faults happen at the configured rate and each is what it says" {
	p1sim -P 50 -f -n 400 --seed 12 --fault bitflip=0.2,truncate=0.1,garbage=0.15 -v > "$TMP/out" 2> "$TMP/log"
	flips=$(grep -c 'flipped' "$TMP/log") cuts=$(grep -c 'cut after' "$TMP/log") junk=$(grep -c 'garbage before' "$TMP/log")
	run telegrams "$TMP/out"
	[ "${#lines[@]}" = 400 ]
	[ "$(grep -c '^bad$' <<< "$output")" = "$flips" ]
	[ "$(grep -c '^cut$' <<< "$output")" = "$cuts" ]
	[ "$(grep -c '^ok$' <<< "$output")" = $((400 - flips - cuts)) ]
	# 400 draws: the seed fixes the counts; they sit near the rates.
	[ "$flips" -ge 50 ] && [ "$flips" -le 110 ]
	[ "$cuts" -ge 20 ] && [ "$cuts" -le 60 ]
	[ "$junk" -ge 35 ] && [ "$junk" -le 90 ]
	grep -q "summary: sent=400 good=$((400 - flips - cuts)) bitflip=$flips truncate=$cuts garbage=$junk unread=0" "$TMP/log"
	# Garbage never holds a '/' that would start a telegram.
	[ "$(grep -c '^/' "$TMP/out")" -le 400 ]
	[ "$(tr -cd '/' < "$TMP/out" | wc -c)" = 400 ]
}

@test "split: each telegram goes out in many small writes" {
	command -v strace >/dev/null || skip "no strace"
	# LeakSanitizer cannot run under ptrace (the ASan build).
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	strace -f -e trace=write -o "$TMP/trace" p1sim -P 50 -f -n 3 --seed 13 --fault split > "$TMP/out"
	run telegrams "$TMP/out"
	[ "$output" = $'ok\nok\nok' ]
	[ "$(grep -c '^[0-9]* *write(1,' "$TMP/trace")" -ge 15 ]
	strace -f -e trace=write -o "$TMP/trace1" p1sim -P 50 -f -n 3 --seed 13 > /dev/null
	[ "$(grep -c '^[0-9]* *write(1,' "$TMP/trace1")" = 3 ]
}

@test "-s 9600:7E1 puts the even parity bit in bit 7; stripped, the bytes are the plain ones" {
	p1sim -P 22 -n 2 -f --seed 14 --start-time "$START" -s 9600:7E1 > "$TMP/7e1"
	p1sim -P 22 -n 2 -f --seed 14 --start-time "$START" > "$TMP/plain"
	! cmp -s "$TMP/7e1" "$TMP/plain" || false
	perl -0777 -ne 'for (unpack "C*") { my $ones = unpack "%32b*", pack "C", $_; exit 1 if $ones % 2 }' "$TMP/7e1"
	perl -0777 -pe 'tr/\x80-\xff/\x00-\x7f/' "$TMP/7e1" | cmp - "$TMP/plain"
}

@test "-r paces telegrams (sleeps between them; -r 10 -n 6 takes at least half a second)" {
	local t0 t1
	t0=$(date +%s%N)
	p1sim -r 10 -n 6 --seed 15 > "$TMP/out"
	t1=$(date +%s%N)
	[ "$(grep -c '^/' "$TMP/out")" = 6 ]
	[ $(( (t1 - t0) / 1000000 )) -ge 480 ]
	# Without --start-time the meter clock is the host's.
	[[ "$(field "$TMP/out" 0-0:1.0.0 | head -1)" == "$(TZ=Europe/Amsterdam date +%y%m%d)"* ]]
}

@test "pty output: LINK to the slave, readable, kept without a reader at low CPU, removed on exit" {
	p1sim -o "pty:$TMP/meter" -r 20 --seed 16 -v > "$TMP/path" 2> "$TMP/log" 3>&- &
	local pid=$!
	track_pid "$pid"
	wait_for 50 test -L "$TMP/meter"
	[ "$(readlink "$TMP/meter")" = "$(cat "$TMP/path")" ]
	[[ "$(cat "$TMP/path")" == /dev/pts/* ]]
	# Nobody reads for two seconds: p1sim neither blocks nor spins.
	sleep 2
	kill -0 "$pid"
	local ticks
	ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	[ "$ticks" -lt 50 ] || fail "p1sim used $ticks ticks of CPU in 2 s with no reader"
	timeout 3 cat "$TMP/meter" > "$TMP/got" || true
	run telegrams "$TMP/got"
	[ "$(grep -c '^ok$' <<< "$output")" -ge 20 ]
	kill -TERM "$pid"
	wait_gone "$pid" 50
	[ ! -e "$TMP/meter" ]
	grep -q 'nobody reads' "$TMP/log"
}

@test "pty output replaces a stale link but never a real file" {
	ln -s /dev/pts/nonexistent "$TMP/meter"
	p1sim -o "pty:$TMP/meter" -n 1 --seed 17 > /dev/null
	[ ! -e "$TMP/meter" ] && [ ! -L "$TMP/meter" ]
	echo precious > "$TMP/file"
	run p1sim -o "pty:$TMP/file" -n 1
	assert_failure 1
	assert_output --partial "exists and is not a symbolic link"
	[ "$(cat "$TMP/file")" = precious ]
}

@test "TCP output: every client gets every telegram; a client that stops reading is dropped, not waited for" {
	p1sim -o tcp:0 -r 500 --seed 18 -v > "$TMP/addr" 2> "$TMP/log" 3>&- &
	track_pid $!
	wait_for 50 test -s "$TMP/addr"
	local addr
	addr=$(cat "$TMP/addr")
	[[ "$addr" == 127.0.0.1:* ]]
	# A client that connects and never reads.
	python3 -c 'import socket,sys,time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
time.sleep(30)' "${addr#*:}" 3>&- &
	track_pid $!
	wait_for 50 grep -q 'connected' "$TMP/log"
	wait_for 100 grep -q 'gone: not reading' "$TMP/log"
	# The others go on: a reader still gets good telegrams.
	timeout 5 socat -u "tcp:$addr" - 2>/dev/null | head -c 200000 > "$TMP/got" || true
	run telegrams "$TMP/got"
	[ "$(grep -c '^ok$' <<< "$output")" -ge 50 ]
}

@test "TCP output paced: two clients see the same telegrams" {
	p1sim -o tcp:0 -r 20 --seed 19 --start-time "$START" > "$TMP/addr" 3>&- &
	track_pid $!
	wait_for 50 test -s "$TMP/addr"
	local addr
	addr=$(cat "$TMP/addr")
	local one two
	timeout 3 socat -u "tcp:$addr" - > "$TMP/one" 2>/dev/null &
	one=$!
	track_pid $one
	timeout 3 socat -u "tcp:$addr" - > "$TMP/two" 2>/dev/null &
	two=$!
	track_pid $two
	wait $one $two || true
	# Both saw a run of the same meter: the stamps they share are the same telegrams.
	comm -12 <(field "$TMP/one" 0-0:1.0.0 | sort) <(field "$TMP/two" 0-0:1.0.0 | sort) > "$TMP/both"
	[ "$(wc -l < "$TMP/both")" -ge 20 ]
}

@test "usage errors exit 2 and name the problem" {
	run --separate-stderr p1sim -P 99
	assert_failure 2
	[[ "$stderr" == *"p1sim: -P: bad value '99'"* ]]
	run --separate-stderr p1sim --fault bitflip=2
	assert_failure 2
	run --separate-stderr p1sim --fault sparks=0.1
	assert_failure 2
	[[ "$stderr" == *"sparks"* ]]
	run --separate-stderr p1sim -P 22 --fault bitflip=0.1
	assert_failure 2
	[[ "$stderr" == *"no CRC"* ]]
	run --separate-stderr p1sim -n 0
	assert_failure 2
	run --separate-stderr p1sim --start-time yesterday
	assert_failure 2
	run --separate-stderr p1sim extra
	assert_failure 2
	[[ "$stderr" == *"unexpected argument: extra"* ]]
	run --separate-stderr p1sim -o tcp:99999
	assert_failure 2
}
