#!/usr/bin/env bats
# The cross build (t/cross/build ARCH) under qemu-user against this
# machine's build: every output byte for byte, and the values that do not
# fit 32 bits.  Run by t/cross/check (make cross ARCH=armhf), which sets
# M2M_CROSS_BIN / M2M_CROSS_REPLAY (wrappers that run the ARCH programs
# under qemu) and M2M_NATIVE_BIN / M2M_NATIVE_REPLAY.

load ../helper

setup() {
	setup_tmp
	[ -n "${M2M_CROSS_BIN:-}" ] || skip "run by t/cross/check ARCH (make cross)"
	X=$M2M_CROSS_BIN N=$M2M_NATIVE_BIN
}
teardown() { kill_tracked; }

# untimed: a reading line without its first member, the host's clock.
untimed() { sed 's/^{"time":"[^"]*",/{/'; }

# same_output DESCRIPTION COMMAND...: COMMAND (a program name and its
# arguments) run from $X and from $N gives the same stdout, stderr and exit
# status; reading lines are compared without their host time.
same_output() {
	local what=$1 prog=$2
	shift 2
	local xs=0 ns=0
	"$X/$prog" "$@" > "$TMP/x.out" 2> "$TMP/x.err" || xs=$?
	"$N/$prog" "$@" > "$TMP/n.out" 2> "$TMP/n.err" || ns=$?
	[ "$xs" -eq "$ns" ] || fail "$what: exit $xs on $M2M_CROSS_ARCH, $ns here"
	cmp -s <(untimed < "$TMP/x.out") <(untimed < "$TMP/n.out") ||
		fail "$what: stdout differs: $(diff <(untimed < "$TMP/n.out") <(untimed < "$TMP/x.out") | head -5)"
	cmp -s "$TMP/x.err" "$TMP/n.err" || fail "$what: stderr differs: $(diff "$TMP/n.err" "$TMP/x.err" | head -5)"
}

# with_crc SOURCE EDITS: the first telegram of SOURCE with EDITS
# ("old=>new;old=>new") applied and its CRC-16/ARC recomputed.
with_crc() {
	python3 - "$1" "$2" <<'PY'
import sys
src = open(sys.argv[1], "rb").read()
body = src[:src.index(b"!") + 1]
for edit in sys.argv[2].split(";"):
    old, new = edit.split("=>")
    assert old.encode() in body, old
    body = body.replace(old.encode(), new.encode())
crc = 0
for x in body:
    crc ^= x
    for _ in range(8):
        crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
sys.stdout.buffer.write(body + b"%04X\r\n" % crc)
PY
}

@test "the programs under test are the $M2M_CROSS_ARCH build, run by qemu-user" {
	run file -L "$(awk 'NR == 2 { print $3 }' "$X/p1read")"
	assert_success
	case $M2M_CROSS_ARCH in
	armhf) assert_output --partial "ELF 32-bit LSB pie executable, ARM, EABI5" ;;
	arm64) assert_output --partial "ELF 64-bit LSB pie executable, ARM aarch64" ;;
	esac
}

@test "p1read: every corpus telegram gives the same lines and messages" {
	require_corpus
	local f n=0 lines=0
	for f in "$CORPUS"/*.txt; do
		same_output "$(basename "$f")" p1read "$f"
		n=$((n + 1))
		lines=$((lines + $(wc -l < "$TMP/x.out")))
	done
	[ "$n" -ge 32 ] || fail "only $n corpus files"
	[ "$lines" -ge 60 ] || fail "$lines readings from $n files"
	# and all in one stream: the CRC policy, telegrams cut short, drop counts
	cat "$CORPUS"/*.txt > "$TMP/all"
	same_output "the whole corpus in one stream" p1read "$TMP/all"
	grep -q 'dropped' "$TMP/x.err" || fail "nothing dropped from the stream: $(cat "$TMP/x.err")"
}

@test "p1sim: every profile writes the same telegrams, meter ids and CRCs" {
	local p s plain=0
	for p in $("$N/p1sim" --list-profiles | awk '{ print $1 }'); do
		for s in 1 2; do
			same_output "profile $p seed $s" p1sim -P "$p" -n 3 -f --seed "$s" --start-time 2026-11-27T10:00:00Z
		done
		# the encrypted profiles write binary frames: no text to see
		grep -aq '^0-0:96.1.1(' "$TMP/x.out" && plain=$((plain + 1))
	done
	[ "$plain" -ge 5 ] || fail "only $plain profiles wrote telegrams with an equipment id"
}

@test "p1sim with faults: the same bit flips, cuts and garbage from the same seed" {
	same_output "faults" p1sim -n 40 -f --seed 7 --start-time 2026-11-27T10:00:00Z \
		--fault bitflip=0.2,truncate=0.1,garbage=0.2
	"$X/p1sim" -n 40 -f --seed 7 --start-time 2026-11-27T10:00:00Z --fault bitflip=0.2,truncate=0.1,garbage=0.2 \
		> "$TMP/faulty"
	same_output "p1read on the faulty stream" p1read "$TMP/faulty"
	grep -q 'dropped' "$TMP/x.err" || fail "no telegram dropped: $(cat "$TMP/x.err")"
}

@test "kmpsim through kmpread over TCP: the same readings, wide registers included" {
	local port regs="energy=123456789012.345:GJ:8 volume=4294967296.5:m3:8 power=-12.5:kW operating_hours=70000:h"
	local r args=()
	for r in $regs; do args+=(-r "$r"); done
	for side in x n; do
		local bin=$X
		[ $side = n ] && bin=$N
		port=$(free_port)
		"$bin/kmpsim" "${args[@]}" "tcp:127.0.0.1:$port" 2> "$TMP/$side.sim" &
		track_pid $!
		wait_for 100 port_listening "$port"
		"$bin/kmpread" -1 -p energy,volume,power,operating_hours --device=heat "tcp://127.0.0.1:$port" \
			> "$TMP/$side.read" 2> "$TMP/$side.readerr" || fail "$side: kmpread: $(cat "$TMP/$side.readerr")"
	done
	cmp <(untimed < "$TMP/x.read") <(untimed < "$TMP/n.read")
	grep -qF '"energy":{"value":123456789012.345,"unit":"GJ"' "$TMP/x.read" || fail "$(cat "$TMP/x.read")"
}

@test "fuzz seeds: every harness replays its seeds, and p1read reads the DSMR seeds the same" {
	local h n=0
	for h in "$M2M_NATIVE_REPLAY"/*; do
		h=$(basename "$h")
		run "$M2M_CROSS_REPLAY/$h" "$TOP/t/fuzz/seeds/$h"/*
		assert_success
		[ "$output" = "$("$M2M_NATIVE_REPLAY/$h" "$TOP/t/fuzz/seeds/$h"/*)" ] || fail "$h: $output"
		n=$((n + ${#lines[@]}))
	done
	[ "$n" -eq "$(find "$TOP/t/fuzz/seeds" -type f | wc -l)" ] || fail "$n seeds replayed"
	for f in "$TOP"/t/fuzz/seeds/dsmr/*; do
		same_output "seed $(basename "$f")" p1read "$f"
	done
}

# ---- values wider than 32 bits, each on its own ----

@test "wide: a P1 energy register past 2^32 kWh keeps every digit" {
	require_corpus
	with_crc "$CORPUS/dsmr_parser__v5.txt" '1-0:1.8.1(000004.426*kWh)=>1-0:1.8.1(4294967296.001*kWh)' > "$TMP/t"
	same_output "energy" p1read "$TMP/t"
	grep -qF '"electricity_used_tariff_1":{"value":4294967296.001,"unit":"kWh"' "$TMP/x.out" || fail "$(cat "$TMP/x.out")"
}

@test "wide: an M-Bus gas counter past 2^32 m3 keeps every digit" {
	require_corpus
	with_crc "$CORPUS/dsmr_parser__v5.txt" '(00000.107*m3)=>(4294967297.123*m3)' > "$TMP/t"
	same_output "M-Bus" p1read "$TMP/t"
	grep -qF '"gas_provided":{"value":4294967297.123,"unit":"m3"' "$TMP/x.out" || fail "$(cat "$TMP/x.out")"
}

@test "wide: KMP mantissas of 5 to 8 bytes are scaled exactly" {
	run "$M2M_CROSS_BIN/../t/libcheck" scaled 18446744073709551615 -3
	assert_success
	assert_output 18446744073709551.615
	run "$M2M_CROSS_BIN/../t/libcheck" scaled 4294967297 2
	assert_output 429496729700
}

@test "wide: p1sim's meter counters (energy in mWs, M-Bus volume) after a year at 60 kW" {
	same_output "a year" p1sim -P 50-2mbus -n 367 -f --seed 5 --step 86400 --power 60000 --water 100000 \
		--start-time 2026-01-01T00:00:00Z
	# 525,600 kWh in a year: the counter passed 2^32 Wh-ms many times over
	"$X/p1sim" -P 50-2mbus -n 367 -f --seed 5 --step 86400 --power 60000 --water 100000 \
		--start-time 2026-01-01T00:00:00Z | "$X/p1read" | tail -1 > "$TMP/last"
	jq -e '.values.electricity_used_tariff_1.value + .values.electricity_used_tariff_2.value > 500000' "$TMP/last" \
		> /dev/null || fail "$(cat "$TMP/last")"
}

@test "wide: 2038: a meter clock in 2040, as a date and as epoch seconds" {
	same_output "date" p1sim -n 1 -f --seed 1 --start-time 2040-07-01T12:00:00Z
	grep -qF '0-0:1.0.0(400701140000S)' "$TMP/x.out" || fail "$(grep 0-0:1.0.0 "$TMP/x.out")"
	same_output "epoch" p1sim -n 1 -f --seed 1 --start-time 2224497600
	grep -qF '0-0:1.0.0(400628140000S)' "$TMP/x.out" || fail "$(grep 0-0:1.0.0 "$TMP/x.out")"
	"$X/p1sim" -n 1 -f --seed 1 --start-time 2040-07-01T12:00:00Z | "$X/p1read" > "$TMP/r"
	grep -qF '"p1_message_timestamp":{"value":"2040-07-01T14:00:00+02:00"' "$TMP/r" || fail "$(cat "$TMP/r")"
	# out of range is refused, never silently today
	run "$X/p1sim" -n 1 -f --start-time 2100-01-01T00:00:00Z
	assert_failure 2
}

@test "wide: mqttpub --queue-bytes takes what a long holds" {
	run "$X/mqttpub" --queue-bytes 1G --check
	assert_success
	run "$N/mqttpub" --queue-bytes 1024G --check
	assert_success
	case $M2M_CROSS_ARCH in
	armhf)
		run --separate-stderr "$X/mqttpub" --queue-bytes 1024G --check
		assert_failure 2
		[[ "$stderr" == *"--queue-bytes"* ]] || fail "$stderr" ;;
	arm64)
		run "$X/mqttpub" --queue-bytes 1024G --check
		assert_success ;;
	esac
}
