#!/usr/bin/env bats
# p1read with a key: DLMS/GCM frames from ../shared/corpus/dsmr_encrypted
# (a real Luxembourg Smarty capture, openHAB's re-encrypted variant,
# dsmr_parser's synthetic Austrian T210-D-r, the TINETZ Kaifa worked example
# in two M-Bus frames, Wiener Netze IM350 and AM550 in HDLC; MANIFEST.tsv
# names each source), and the faults: a byte flipped, a wrong key, a
# replayed frame, garbage, split reads, a frame cut short.

load helper
bats_require_minimum_version 1.5.0

ENC=${M2M_CORPUS_ENC:-$CORPUS/../dsmr_encrypted}

setup() {
	setup_tmp
	[ -d "$ENC" ] || skip "no ../shared/corpus/dsmr_encrypted beside the repository"
}
teardown() { kill_tracked; }

# manifest NAME COLUMN: one field of the MANIFEST row of NAME.hex.
manifest() { awk -F'\t' -v f="$1.hex" -v c="$2" '$1 == f { print $c }' "$ENC/MANIFEST.tsv"; }

# frame NAME: the frame as bytes in $TMP/NAME.bin; its keys in K and AK
# (AK empty for the encryption-only frames).
frame() {
	xxd -r -p "$ENC/$1.hex" > "$TMP/$1.bin"
	K=$(manifest "$1" 4)
	AK=$(manifest "$1" 5)
	[[ "$AK" == none* ]] && AK=
	[ -n "$K" ] || fail "$1: no key in the MANIFEST"
}

# decrypt NAME [FILE]: p1read with the frame's keys on FILE (default the frame).
decrypt() {
	local name=$1 f=${2:-$TMP/$1.bin}
	run --separate-stderr env P1_KEY="$K" ${AK:+P1_AUTH_KEY="$AK"} p1read "$f"
	R=$output
}

expect() {
	local got
	got=$(jq -c "$1" <<<"$R")
	[ "$got" = "$2" ] || fail "$1: expected $2, got $got"
}

SMARTY=go-smarty-reader__sagemcom_t210_d_lux_1
OPENHAB=openhab-addons__sagemcom_t210_d_lux_1
T210=dsmr_parser__sagemcom_t210_d_r_encrypted
KAIFA=smart-meter-tirol__kaifa_1
IM350=shrdzm__siemens_im350_1
AM550=shrdzm__iskra_am550_1
ALL="$SMARTY $OPENHAB $T210 $KAIFA $IM350 $AM550"

@test "every shared frame decrypts to exactly its plaintext (MANIFEST)" {
	local name plain want got n=0
	[ "$(awk 'NR > 1' "$ENC/MANIFEST.tsv" | wc -l)" -eq 6 ] || fail "MANIFEST rows changed"
	for name in $ALL; do
		frame "$name"
		plain=$ENC/$(manifest "$name" 6)
		case $plain in
		*.hex) want=$(tr -d ' \n' < "$plain") ;;
		*) want=$(xxd -p "$plain" | tr -d '\n') ;;
		esac
		got=$(env P1_KEY="$K" ${AK:+P1_AUTH_KEY="$AK"} "$M2M_TESTBIN/dlmscheck" plain < "$TMP/$name.bin")
		[ "$got" = "plain $want" ] || fail "$name: ${got:0:200}"
		n=$((n + 1))
	done
	[ "$n" -eq 6 ]
}

@test "Luxembourg Smarty (real capture): tag verified, telegram CRC checked, values" {
	frame $SMARTY
	decrypt $SMARTY
	[ "$status" -eq 0 ] && [ -z "$stderr" ] || fail "$status: $stderr"
	[ "${#lines[@]}" -eq 1 ]
	# The frame counter 0x0005A8E3 and the tag (security control 0x30).
	expect .security '{"frame_counter":370915,"authenticated":true}'
	# As the plaintext telegram states them (go-smarty-reader's test).
	expect .meter '{"id":"SAG1030700114004","version":"42","model":"Lux5\\253663629_D"}'
	expect .values.electricity_imported_total '{"value":6.695,"unit":"kWh","obis":"1-0:1.8.0"}'
	expect .values.electricity_exported_total.value 0.025
	expect .values.p1_message_timestamp.value '"2018-01-30T10:21:22+01:00"'
	# Decrypted or not, the same telegram reads the same.
	[ "$(p1read "$ENC/$SMARTY.plain.txt" | jq -c .values)" = "$(jq -c .values <<<"$R")" ]
}

@test "openHAB's re-encrypted Smarty frame: the tag holds, the telegram CRC does not" {
	frame $OPENHAB
	decrypt $OPENHAB
	[ "$status" -eq 0 ] && [ -z "$output" ] || fail "$status: $output"
	[[ "$stderr" == *"telegram 1 at byte 0: dropped: CRC mismatch: sent CFDE, computed 99BD"* ]] || fail "$stderr"
}

@test "Austrian T210-D-r (dsmr_parser): its own authentication key" {
	frame $T210
	decrypt $T210
	[ -z "$stderr" ] || fail "$stderr"
	expect .security '{"frame_counter":268435457,"authenticated":true}'
	expect .values.electricity_imported_total '{"value":6545766,"unit":"Wh","obis":"1-0:1.8.0"}'
	# Without it, the Smarty default does not fit: the tag fails.
	run --separate-stderr env P1_KEY="$K" p1read "$TMP/$T210.bin"
	[ -z "$output" ] || fail "$output"
	[[ "$stderr" == *"dropped: GCM tag mismatch: GCM tag does not verify (frame counter 268435457)"* ]] || fail "$stderr"
}

# The Austrian binary frames: values decoded from the DLMS structure.  The
# sources state none in text, so each was checked by hand against the
# plaintext hex: Kaifa 1-0:32.7.0 is 12 0904 with scaler 0xFF (-1) and unit
# 0x23 (V): 2308 * 10^-1 = 230.8 V; 1-0:1.8.0 is 06 00002394 scaler 0 unit
# 0x1E (Wh): 9108 Wh.  IM350 and AM550 registers are the six 06 xxxxxxxx
# in the order of the Wiener Netze interface (+A -A +R -R +P -P).
@test "Austria, Kaifa (TINETZ, two M-Bus frames): values with scaler and unit" {
	frame $KAIFA
	decrypt $KAIFA
	[ -z "$stderr" ] || fail "$stderr"
	[ "${#lines[@]}" -eq 1 ]
	expect .security '{"frame_counter":2710426,"authenticated":false}'
	expect .meter.id '"1KFM0100000035"'
	expect .values.p1_message_timestamp.value '"2021-07-19T15:46:35+02:00"'
	expect .values.instantaneous_voltage_l1 '{"value":230.8,"unit":"V","obis":"1-0:32.7.0"}'
	expect .values.instantaneous_current_l1 '{"value":0,"unit":"A","obis":"1-0:31.7.0"}'
	expect .values.electricity_imported_total '{"value":9108,"unit":"Wh","obis":"1-0:1.8.0"}'
	expect .values.electricity_reactive_imported_total '{"value":96,"unit":"varh","obis":"1-0:3.8.0"}'
	expect .values.electricity_reactive_exported_total.value 9
	[[ "$R" == *'"value":230.8,'* ]] || fail "not the exact decimal: $R"
}

@test "Austria, Siemens IM350 and Iskraemeco AM550 (Wiener Netze, HDLC)" {
	frame $IM350
	decrypt $IM350
	[ -z "$stderr" ] || fail "$stderr"
	expect .security '{"frame_counter":108841,"authenticated":false}'
	expect .meter.id '"2221202033801"'
	expect .values.p1_message_timestamp.value '"2021-03-07T14:55:33+01:00"'
	expect .values.electricity_imported_total '{"value":2946830,"unit":"Wh","obis":"1-0:1.8.0"}'
	expect .values.electricity_reactive_exported_total.value 2116972
	expect .values.current_electricity_usage '{"value":73,"unit":"W","obis":"1-0:1.7.0"}'
	frame $AM550
	decrypt $AM550
	[ -z "$stderr" ] || fail "$stderr"
	expect .security.frame_counter 1131
	expect .values.electricity_imported_total.value 9534290
	expect .values.p1_message_timestamp.value '"2021-03-25T19:01:14+01:00"'
}

@test "one byte flipped anywhere in any frame: rejected, never printed" {
	local name n=0
	for name in $ALL; do
		frame "$name"
		# Every variant in one stream: each with one byte changed.
		python3 - "$TMP/$name.bin" "$TMP/$name.flips" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as out:
    for i in range(len(b)):
        v = bytearray(b)
        v[i] ^= 0x01 if i % 2 else 0x80
        out.write(v)
print(len(b))
PY
		decrypt "$name" "$TMP/$name.flips"
		[ "$status" -eq 0 ] || fail "$name: exit $status"
		[ -z "$output" ] || fail "$name: a changed frame was printed: ${output:0:300}"
		[[ "$stderr" == *"telegrams dropped"* ]] || fail "$name: nothing counted: $stderr"
		n=$((n + $(stat -c %s "$TMP/$name.bin")))
	done
	[ "$n" -gt 2000 ] || fail "only $n variants"
}

@test "a wrong key: named on stderr, counted, a hint after the first few; no value" {
	frame $SMARTY
	for _ in 1 2 3 4; do cat "$TMP/$SMARTY.bin"; done > "$TMP/four"
	run --separate-stderr env P1_KEY=00000000000000000000000000000000 p1read "$TMP/four"
	[ "$status" -eq 0 ] && [ -z "$output" ] || fail "$status $output"
	[[ "$stderr" == *"telegram 1 at byte 0: dropped: GCM tag mismatch"* ]] || fail "$stderr"
	[ "$(grep -c 'is probably wrong' <<<"$stderr")" -eq 1 ] || fail "$stderr"
	[[ "$stderr" == *"4 of 4 telegrams dropped: 4 GCM tag mismatch"* ]] || fail "$stderr"
	# Encryption only, wrong key: the APDU does not parse.
	frame $IM350
	run --separate-stderr env P1_KEY=00000000000000000000000000000000 p1read "$TMP/$IM350.bin"
	[ -z "$output" ] || fail "$output"
	[[ "$stderr" == *"dropped: bad frame: decrypted APDU is neither a telegram nor a data-notification"* ]] ||
		fail "$stderr"
}

@test "a replayed frame is dropped and counted" {
	local name
	for name in $SMARTY $KAIFA $IM350; do
		frame $name
		cat "$TMP/$name.bin" "$TMP/$name.bin" > "$TMP/twice"
		decrypt $name "$TMP/twice"
		[ "${#lines[@]}" -eq 1 ] || fail "$name: ${#lines[@]} readings"
		[[ "$stderr" == *"dropped: replayed frame: frame counter "*", not above "* ]] || fail "$name: $stderr"
		[[ "$stderr" == *"1 replayed frame"* ]] || fail "$name: $stderr"
	done
}

@test "frames after garbage, split over reads, after a plaintext telegram, one cut short" {
	frame $SMARTY
	local plainf=$CORPUS/dsmr_parser__v5.txt
	{
		printf 'noise \xdb\x07 \x68\x05\x06 \x7e\xb0 ~h'
		cat "$plainf"
		head -c 300 "$TMP/$SMARTY.bin" # cut short: the next frame follows
		cat "$TMP/$SMARTY.bin"
	} > "$TMP/stream"
	decrypt $SMARTY "$TMP/stream"
	[ "${#lines[@]}" -eq 2 ] || fail "${#lines[@]} readings: $stderr"
	[ "$(jq -c .security <<<"${lines[0]}")" = null ]
	[ "$(jq -c .security.frame_counter <<<"${lines[1]}")" = 370915 ]
	[[ "$stderr" == *"1 GCM tag mismatch"* ]] || fail "$stderr"
	# Split reads: the same stream through a pipe, a few bytes at a time.
	frame $KAIFA
	python3 - "$TMP/$KAIFA.bin" <<'PY' | env P1_KEY="$K" p1read - > "$TMP/out" 2> "$TMP/err"
import sys, time, os
b = open(sys.argv[1], "rb").read()
for i in range(0, len(b), 37):
    os.write(1, b[i:i + 37])
    time.sleep(0.01)
PY
	[ "$(jq -c .values.instantaneous_voltage_l1.value "$TMP/out")" = 230.8 ] || fail "$(cat "$TMP/out" "$TMP/err")"
}

@test "keys: from --key-file or \$P1_KEY; a malformed one is exit 2, named, never printed" {
	frame $SMARTY
	printf '%s\n' "$K" > "$TMP/key"
	run --separate-stderr p1read --key-file "$TMP/key" "$TMP/$SMARTY.bin"
	[ "$status" -eq 0 ] && [ "${#lines[@]}" -eq 1 ] || fail "$stderr"
	printf '%s\n' "${K:0:31}" > "$TMP/short"
	run --separate-stderr p1read --key-file "$TMP/short" "$TMP/$SMARTY.bin"
	[ "$status" -eq 2 ] || fail "exit $status"
	[[ "$stderr" == *"$TMP/short: malformed key: 31 hex digits, expected 32"* ]] || fail "$stderr"
	[[ "$stderr" != *"${K:0:8}"* ]] || fail "the key was printed: $stderr"
	run --separate-stderr env P1_KEY="${K:0:30}XY" p1read "$TMP/$SMARTY.bin"
	[ "$status" -eq 2 ] || fail "exit $status"
	[[ "$stderr" == *'$P1_KEY: malformed key: character 31 is not a hex digit'* ]] || fail "$stderr"
	[[ "$stderr" != *"${K:0:8}"* ]] || fail "the key was printed: $stderr"
	run --separate-stderr env P1_AUTH_KEY=00112233445566778899AABBCCDDEEFF p1read "$TMP/$SMARTY.bin"
	[ "$status" -eq 2 ] && [[ "$stderr" == *"an authentication key without a key"* ]] || fail "$stderr"
	run --separate-stderr p1read --key-file "$TMP/nonexistent" "$TMP/$SMARTY.bin"
	[ "$status" -eq 2 ] && [[ "$stderr" == *"--key-file $TMP/nonexistent: "* ]] || fail "$stderr"
	# Without a key the frame is not looked for: nothing printed, no error.
	run --separate-stderr p1read "$TMP/$SMARTY.bin"
	[ "$status" -eq 0 ] && [ -z "$output" ] || fail "$output"
}

@test "libcrypto is loaded only with a key: a plain meter's reader never maps it" {
	mkfifo "$TMP/plain" "$TMP/enc"
	exec 8<> "$TMP/plain" 9<> "$TMP/enc"
	p1read "$TMP/plain" > /dev/null 2>&1 &
	local plain=$!
	track_pid "$plain"
	P1_KEY=00112233445566778899aabbccddeeff p1read "$TMP/enc" > /dev/null 2>&1 &
	local enc=$!
	track_pid "$enc"
	wait_for 50 grep -q 'libcrypto\.so' "/proc/$enc/maps"
	wait_for 50 grep -q '/p1read$' "/proc/$plain/maps"
	! grep -q 'libcrypto\.so' "/proc/$plain/maps" || false
	exec 8>&- 9>&-
}
