#!/usr/bin/env bats
# smlread on the corpus of real SML files (../shared/corpus/sml, sources in
# its MANIFEST.tsv), on corrupted variants of them, and its options.  Live
# input (smlsim through a pty into mqttpub, unplugging) is in
# smlread-live.bats.

load helper
bats_require_minimum_version 1.5.0

SML=${M2M_SML_CORPUS:-$TOP/../shared/corpus/sml}

setup() {
	setup_tmp
	[ -d "$SML" ] || skip "no ../shared/corpus/sml beside the repository"
}
teardown() { kill_tracked; }

# reading FILE [OPTIONS...]: smlread on one corpus file; exactly one line.
reading() {
	local f=$1
	shift
	run --separate-stderr smlread "$@" "$SML/$f"
	[ "$status" -eq 0 ] || fail "$f: exit $status: $stderr"
	[ "${#lines[@]}" -eq 1 ] || fail "$f: ${#lines[@]} lines: $output $stderr"
	R=$output
}

# expect JQ JSON: the value at JQ (compact) is exactly JSON.
expect() {
	local got
	got=$(jq -c "$1" <<<"$R")
	[ "$got" = "$2" ] || fail "$1: expected $2, got $got"
}

# has TEXT: the line holds TEXT literally (jq would write 13609890.0 as
# 13609890: the digits the meter's scaler gives must be kept).
has() {
	[[ "$R" == *"$1"* ]] || fail "the line lacks $1: $R"
}

@test "every corpus file: one reading, every number as SmlLib decodes it, digit for digit" {
	local f
	for f in "$SML"/*.sml; do
		smlread "$f" > "$TMP/$(basename "$f").json" 2> "$TMP/err" || fail "$f: $(cat "$TMP/err")"
		[ "$(wc -l < "$TMP/$(basename "$f").json")" = 1 ] || fail "$f: not one line"
	done
	# t/fixtures/sml/expected.tsv: SmlLib's values (make-expected there).
	# The DZG DVS-7412's power is the one place we differ on purpose:
	# libsml-testing's FILES gives its true value, 356.24 W, not -299.12.
	python3 - "$TMP" "$FIXTURES/sml/expected.tsv" <<'PY'
import json, sys
tmp, expected = sys.argv[1], sys.argv[2]
units = {"30": "Wh", "27": "W", "35": "V", "33": "A", "8": "deg", "44": "Hz", "": None}
fixes = {("dzg_dvs7412_bug.sml", "0100100700ff"): "356.24"}
checked, bad = 0, []
for row in open(expected):
    if row.startswith("#"):
        continue
    name, obis, value, unit = row.rstrip("\n").split("\t")
    value = fixes.get((name, obis), value)
    line = json.loads(open(f"{tmp}/{name}.json").read(), parse_float=str, parse_int=str)
    b = bytes.fromhex(obis)
    code = f"{b[0]}-{b[1]}:{b[2]}.{b[3]}.{b[4]}" + ("" if b[5] == 255 else f"*{b[5]}")
    got = [v for v in line["values"].values() if v["obis"] == code]
    if len(got) != 1 or got[0]["value"] != value or got[0].get("unit") != units[unit]:
        bad.append(f"{name} {code}: want {value} {units[unit]}, got {got}")
    checked += 1
if bad or checked != 135:
    sys.exit("\n".join(bad) + f"\n{checked} values checked")
PY
}

@test "values the sources state themselves: vzlogger, smartmeter-obis, libsml-testing's FILES" {
	# volkszaehler/vzlogger tests/MeterSML.cpp EMH_basic.
	reading emh_ehz_vzlogger.sml
	expect .values.electricity_used_tariff_1 '{"value":14796777.1,"unit":"Wh","obis":"1-0:1.8.1"}'
	expect .values.electricity_used_tariff_2 '{"value":2012.4,"unit":"Wh","obis":"1-0:1.8.2"}'
	expect .values.current_electricity_usage '{"value":11.2,"unit":"W","obis":"1-0:1.7.0"}'
	# Apollon77/smartmeter-obis test/testLocalFileSml.js: 15338.5557 kWh.
	reading emh_smartmeter_obis.sml
	has '"electricity_used_tariff_1":{"value":15338555.7,"unit":"Wh"'
	# libsml-testing FILES: the DVS-7412 sends 0x8b28 meaning 356.24 W ...
	reading dzg_dvs7412_bug.sml
	has '"instantaneous_active_power":{"value":356.24,"unit":"W","obis":"1-0:16.7.0"}'
	# ... and the DVS-7420 (serial 60694611, outside the ranges) really
	# delivers 105.50 W: its sign is kept.
	reading dzg_dvs7420_neg.sml
	has '"instantaneous_active_power":{"value":-105.50,"unit":"W","obis":"1-0:16.7.0"}'
	expect .meter.id '"0a01445a4700039e2053"'
}

@test "the corpus oddities: KERMIT CRC, message CRCs, padding 4, 2-byte list length, times as lists, scalers, 8-byte ints" {
	# Holley: the file CRC is CRC-16/KERMIT; historic values keep *96..*100.
	reading hly_kermit.sml
	has '"1-0:1.8.0*96":{"value":4100,"unit":"Wh","obis":"1-0:1.8.0*96"}'
	has '"1-0:2.8.0*100":{"value":13609800,"unit":"Wh","obis":"1-0:2.8.0*100"}'
	has '"electricity_exported_total":{"value":13609890.0,"unit":"Wh"'
	has '"instantaneous_current_l1":{"value":0.69,"unit":"A"'
	has '"frequency":{"value":50.0,"unit":"Hz"'
	[ -z "$stderr" ]
	# eBZ: the Open and GetList messages' own CRCs are wrong, the file CRC
	# is right: kept, and counted; scaler -5 on a 9-byte unsigned.
	reading ebz_msgcrc.sml
	has '"electricity_imported_total":{"value":450091.89911,"unit":"Wh"'
	has '"electricity_used_tariff_2":{"value":1017.00000,"unit":"Wh"'
	expect .meter.id '"00000000000000000000"'
	[[ "$stderr" == *"2 message CRCs wrong under a good file CRC: kept"* ]] || fail "$stderr"
	# DZG: padding count 4 in the trailer, scaler +3 (whole kWh).
	reading dzg_scaler_plus3.sml
	has '"electricity_imported_total":{"value":13391000,"unit":"Wh"'
	# Holley: the value list's length in two bytes (f1 04: 20 entries).
	reading hly_longlist.sml
	[ "$(jq '.values | length' <<<"$R")" = 20 ]
	# EMH: times as lists (local time with offsets; a seconds index in a
	# list in a list), a 50-byte signature value.
	reading emh_issue26.sml
	expect '.values."1-0:1.17.0"' '{"value":4050.8,"unit":"Wh","obis":"1-0:1.17.0","time":"2024-10-25T11:21:39+02:00"}'
	expect '.values."129-0:96.8.0*1".value' 1982288
	expect .meter.seconds_index '"1982333"'
	# Dr. Neuhaus: 8-byte signed values; Hager: a negative value with
	# scaler -4, an ASCII server id.
	reading dnt_smarty_ix130.sml
	has '"electricity_exported_total":{"value":4373.0,"unit":"Wh"'
	reading hager_ehz361.sml
	has '"1-0:1.7.1":{"value":-5632.1916,"unit":"W"'
	expect .meter.id '"1001185"'
	# Names from the protocol-neutral table, as p1read's; the identity codes.
	reading emh_mme40.sml
	expect '.values | keys_unsorted' '["manufacturer","server_id","electricity_imported_total","instantaneous_active_power_l1","instantaneous_active_power_l2","instantaneous_active_power_l3","instantaneous_active_power"]'
	expect '[.values.manufacturer.value, .values.server_id.value, .meter.id]' '["EMH","0a01454d480000a1bd34","0a01454d480000a1bd34"]'
	# ISKRA without PIN: the reduced data set, whole kWh, no power.
	reading iskra_mt631_nopin.sml
	has '"electricity_used_tariff_1":{"value":4000,"unit":"Wh"'
	expect '.values | has("instantaneous_active_power")' false
}

@test "a stream joined mid-file, files back to back, garbage between: all good files, the rest skipped and counted" {
	local f n=0
	: > "$TMP/stream"
	tail -c 77 "$SML/emh_mme40.sml" >> "$TMP/stream"
	for f in "$SML"/*.sml; do
		[ "$(basename "$f")" = hly_kermit.sml ] && continue # another CRC: its own stream
		cat "$f" >> "$TMP/stream"
		head -c 33 /dev/urandom | tr -d '\033' >> "$TMP/stream"
		n=$((n + 1))
	done
	run --separate-stderr smlread "$TMP/stream"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq "$n" ]
	[[ "$stderr" == *"bytes outside SML files skipped"* ]] || fail "$stderr"
	[[ "$stderr" != *dropped* ]] || fail "$stderr"
	# The first reading is the first whole file's.
	[ "$(jq -r .meter.id <<<"${lines[0]}")" = 0901444e540100002030 ]
}

# flipped_stream FILE OUT: FILE, then for every bit of FILE a copy with that
# bit flipped followed by FILE itself.
flipped_stream() {
	python3 - "$1" "$2" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as out:
    out.write(d)
    for bit in range(len(d) * 8):
        c = bytearray(d)
        c[bit // 8] ^= 1 << bit % 8
        out.write(bytes(c) + d)
PY
}

@test "every single bit flip of every corpus file is dropped and counted; the good copies all read the same" {
	local f name bits
	for f in "$SML"/*.sml; do
		name=$(basename "$f")
		flipped_stream "$f" "$TMP/flipped"
		smlread "$TMP/flipped" > "$TMP/out" 2> "$TMP/err" || fail "$name: $(tail -3 "$TMP/err")"
		smlread "$f" > "$TMP/one" 2> /dev/null
		bits=$(( $(stat -c %s "$f") * 8 ))
		# Exactly the unflipped copies are printed, each as the file alone.
		[ "$(wc -l < "$TMP/out")" = $((bits + 1)) ] || fail "$name: $(wc -l < "$TMP/out") lines for $bits flips"
		[ "$(jq -c '[.meter, .values]' "$TMP/out" | sort -u | wc -l)" = 1 ]
		diff <(jq -c '[.meter, .values]' "$TMP/out" | head -1) <(jq -c '[.meter, .values]' "$TMP/one")
		# A flip in the start sequence (64 bits) makes that copy garbage,
		# skipped; every other flip is a drop, named.
		grep -q "SML files dropped" "$TMP/err" || fail "$name: no summary"
		local dropped
		dropped=$(sed -n 's/.*: \([0-9]*\) of [0-9]* SML files dropped.*/\1/p' "$TMP/err")
		[ "$dropped" -ge $((bits - 64)) ] && [ "$dropped" -le "$bits" ] || fail "$name: $dropped dropped of $bits"
		grep -q "bytes outside SML files skipped" "$TMP/err"
	done
}

@test "every truncation of a file is dropped as cut short; EOF inside a file is named" {
	python3 - "$SML/iskra_mt175.sml" "$TMP/cut" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as out:
    for k in range(8, len(d)):
        out.write(d[:k])
    out.write(d)
PY
	run --separate-stderr smlread "$TMP/cut"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$stderr" == *"452 of 453 SML files dropped: "* ]] || fail "$stderr"
	[[ "$stderr" != *"bytes outside"* ]] || fail "$stderr"
	head -c 300 "$SML/iskra_mt175.sml" > "$TMP/half"
	run --separate-stderr smlread "$TMP/half"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[[ "$stderr" == *"SML file 1 at byte 0: dropped: input ended inside the file"* ]] || fail "$stderr"
}

@test "a wrong escape, a padding count past the file, messages that are not SML: dropped and named" {
	python3 - "$SML/emh_mme40.sml" "$TMP" <<'PY'
import sys, struct
d = open(sys.argv[1], "rb").read()
def crc_x25(b):
    crc = 0xffff
    for x in b:
        crc ^= x
        for _ in range(8):
            crc = crc >> 1 ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xffff
def sealed(body):  # body up to and including 1a NN; a correct X.25 after it
    return body + struct.pack("<H", crc_x25(body))
tmp = sys.argv[2]
# An escape 1b1b1b1b 02020202 inside the messages.
open(tmp + "/esc", "wb").write(sealed(d[:16] + b"\x1b" * 4 + b"\x02" * 4 + d[16:-2]))
# Padding count 200 in a good CRC.
open(tmp + "/pad", "wb").write(sealed(d[:-3] + b"\xc8"))
# The messages replaced by zeros and a list that never ends, CRC good.
open(tmp + "/notsml", "wb").write(sealed(d[:8] + b"\x76\x05\x00\x00" + b"\x00" * 4 + b"\x1b" * 4 + b"\x1a\x00"))
PY
	run --separate-stderr smlread "$TMP/esc"
	[[ "$stderr" == *"dropped: bad escape sequence: escape 1b1b1b1b 02020202 at byte 16"* ]] || fail "$stderr"
	run --separate-stderr smlread "$TMP/pad"
	[[ "$stderr" == *"dropped: bad escape sequence: padding 200 over more than the zeros at the end"* ]] || fail "$stderr"
	run --separate-stderr smlread "$TMP/notsml"
	[[ "$stderr" == *"dropped: not well-formed SML: byte "* ]] || fail "$stderr"
	[ -z "$output" ]
}

@test "-p picks values by name or OBIS code; -d names the device; --list names what -p takes" {
	reading easymeter_q3a.sml -d keller -p electricity_imported_total,1-0:32.7.0,instantaneous_active_power
	expect '.values | keys' '["electricity_imported_total","instantaneous_active_power","instantaneous_voltage_l1"]'
	expect '[.type, .device]' '["sml","keller"]'
	run smlread --list
	[ "$status" -eq 0 ]
	[[ "$output" == *$'electricity_imported_total\t1-0:1.8.0\t'* ]]
	[[ "$output" == *$'instantaneous_active_power\t1-0:16.7.0\t'* ]]
	run --separate-stderr smlread -p no_such_thing "$SML/iskra_mt691.sml"
	[ "$status" -eq 2 ]
	[ "$stderr" = "smlread: --parameters: unknown parameter 'no_such_thing' (see --list)" ]
}

@test "options: --check opens nothing, usage errors exit 2, --list-options, --version, -h" {
	run smlread --check /dev/does-not-exist
	[ "$status" -eq 0 ]
	run --separate-stderr smlread --check --device 'a b' /dev/ttyUSB0
	[ "$status" -eq 2 ]
	[[ "$stderr" == "smlread: --device: 'a b': expected"* ]]
	run --separate-stderr smlread --check -s 9600:9X1 /dev/ttyUSB0
	[ "$status" -eq 2 ]
	run --separate-stderr smlread --check --connection tcp --host meter.local --port 8888
	[ "$status" -eq 0 ]
	run --separate-stderr smlread --bogus
	[ "$status" -eq 2 ]
	[[ "$stderr" == "smlread: unknown option: --bogus"* ]]
	run smlread --list-options
	[[ "$output" == *silence-timeout* ]]
	run smlread --version
	[[ "$output" == "smlread "* ]]
	run smlread -h
	[ "$status" -eq 0 ]
	[[ "$output" == usage:* ]]
	run --separate-stderr smlread /no/such/file
	[ "$status" -eq 1 ]
}
