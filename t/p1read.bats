#!/usr/bin/env bats
# p1read on the corpus of real telegrams (../shared/corpus/dsmr), on
# corrupted variants of them, and its options.  Live input (ptys, TCP,
# unplugging) is in p1read-live.bats.

load helper
bats_require_minimum_version 1.5.0

setup() { setup_tmp; }
teardown() { kill_tracked; }

# reading FILE [OPTIONS...]: p1read on one corpus file; exactly one line.
reading() {
	local f=$1
	shift
	run --separate-stderr p1read "$@" "$CORPUS/$f"
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

# has TEXT: the reading line holds TEXT literally (numbers as the meter
# sent them: jq would normalise 230.0 to 230).
has() {
	[[ "$R" == *"$1"* ]] || fail "the line lacks $1: $R"
}

# line FILE TEXT: the corpus file has a line starting with TEXT.
line() {
	grep -qF -- "$2" "$CORPUS/$1" || fail "$1 has no $2"
}

# crc_files: the corpus files with a CRC line that verifies (MANIFEST).
crc_files() { awk -F'\t' 'NR > 1 && $5 == "yes" && $6 == "yes" { print $1 }' "$CORPUS/MANIFEST.tsv"; }
bad_crc_files() { awk -F'\t' 'NR > 1 && $6 == "NO" { print $1 }' "$CORPUS/MANIFEST.tsv"; }

# corpus_count: how many telegrams the MANIFEST lists.
corpus_count() { awk -F'\t' 'NR > 1 { n++ } END { print n }' "$CORPUS/MANIFEST.tsv"; }

@test "corpus: every telegram gives one reading, those with bad CRCs (MANIFEST) none" {
	require_corpus
	local f n=0 bad
	bad=" $(bad_crc_files | tr '\n' ' ')"
	[ "$(corpus_count)" -eq "$(ls "$CORPUS"/*.txt | wc -l)" ] || fail "MANIFEST and the files disagree"
	for f in "$CORPUS"/*.txt; do
		n=$((n + 1))
		run --separate-stderr p1read "$f"
		[ "$status" -eq 0 ] || fail "$f: exit $status"
		if [[ "$bad" == *" $(basename "$f") "* ]]; then
			[ -z "$output" ] || fail "$f: printed $output"
			[[ "$stderr" == *"telegram 1 at byte 0: dropped: CRC mismatch: sent "* ]] || fail "$f: $stderr"
			[[ "$stderr" == *"1 of 1 telegrams dropped: 1 CRC mismatch"* ]] || fail "$f: $stderr"
		else
			[ -z "$stderr" ] || fail "$f: $stderr"
			[ "${#lines[@]}" -eq 1 ] || fail "$f: ${#lines[@]} lines"
			jq -e '.type == "dsmr" and .device == "dsmr" and (.values | length > 0)' <<<"$output" >/dev/null ||
				fail "$f: $output"
		fi
	done
	[ "$n" -eq "$(corpus_count)" ] || fail "expected $(corpus_count) corpus files, found $n"
	[ "$(bad_crc_files | wc -l)" -ge 9 ] || fail "MANIFEST lists only $(bad_crc_files | wc -l) bad CRCs"
}

@test "Belgium: an identification byte 0xAB inside the CRC is kept as received" {
	require_corpus
	local f
	for f in dsmr_reader__test_fluvius_multiple_gas_devices.txt dsmr_reader__test_fluvius_with_peak_data.txt \
		dsmr_reader__test_fluvius_without_gas.txt; do
		LC_ALL=C grep -q $'^/FLU5\xab' "$CORPUS/$f" || fail "$f: no 0xAB in the header"
		METER2MQTT_LOG_LEVEL=debug reading "$f"
		[[ "$stderr" == *"telegram 1 at byte 0: 8-bit bytes kept as received (the CRC holds over them)"* ]] ||
			fail "$f: $stderr"
		# Not valid UTF-8 on its own: the line says so with U+FFFD.
		has '"model":"FLU5\ufffd769484_A"'
	done
	expect .values.electricity_used_tariff_1.value 172.987
}

@test "DSMR 2.2: no CRC, the two-line 24.3.0 gas reading" {
	require_corpus
	reading dsmr_parser__v2_2.txt
	line dsmr_parser__v2_2.txt '1-0:1.7.0(0001.01*kW)'
	has '"current_electricity_usage":{"value":1.01,"unit":"kW","obis":"1-0:1.7.0"}'
	line dsmr_parser__v2_2.txt '0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)'
	line dsmr_parser__v2_2.txt '(00001.001)'
	has '"gas_provided":{"value":1.001,"unit":"m3","obis":"0-1:24.3.0","time":"2016-11-07T19:00:00+01:00"}'
	expect '.meter' '{"id":"00000000000000","model":"ISk5\\2MT382-1004"}'
	expect '.values.electricity_used_tariff_1' '{"value":1.001,"unit":"kWh","obis":"1-0:1.8.1"}'
	has '"actual_threshold_electricity":{"value":999.00,"unit":"kW"'
}

@test "DSMR 3: hex text messages decoded, gas reading, threshold in A" {
	require_corpus
	reading dsmr_parser__v3.txt
	line dsmr_parser__v3.txt '0-0:96.13.1(303132333435363738)'
	expect '.values.text_message_code.value' '"012345678"'
	expect '.values.text_message.value' '"0123456789:;<=>?0123456789:;<=>?0123456789:;<=>?0123456789:;<=>?0123456789:;<=>?"'
	has '"gas_provided":{"value":1.001,"unit":"m3","obis":"0-1:24.3.0","time":"2009-02-12T16:00:00+01:00"}'
	has '"actual_threshold_electricity":{"value":16,"unit":"A","obis":"0-0:17.0.0"}'
	expect '.meter.id' '"K8EG004046395507"'
	has '"current_electricity_usage":{"value":1.19,"unit":"kW"'
}

@test "DSMR 4.0: version, power failure log with the 'no time' entry, gas" {
	require_corpus
	reading arduino_dsmr__parse.txt
	expect '.meter.version' '"40"'
	line arduino_dsmr__parse.txt '1-0:99.97.0(1)(0-0:96.7.19)(000101000001W)(2147483647*s)'
	# 2000-01-01 is the meters' "no time": neither the time nor the duration is real
	expect '.values.power_failure_log' '{"value":[{"end":null,"duration":null}],"unit":"s","obis":"1-0:99.97.0"}'
	has '"electricity_used_tariff_1":{"value":671.578,"unit":"kWh","obis":"1-0:1.8.1"}'
	has '"gas_provided":{"value":473.789,"unit":"m3","obis":"0-1:24.2.1","time":"2015-01-17T18:00:00+01:00"}'
	has '"p1_message_timestamp":{"value":"2015-01-17T18:59:16+01:00","obis":"0-0:1.0.0"}'
}

@test "DSMR 4.2: timestamp, three power failures, gas" {
	require_corpus
	reading dsmr_parser__v4_2.txt
	# not printable when decoded from hex: kept as sent
	expect '.meter' '{"id":"3960221976967177082151037881335713","version":"42","model":"KFM5KAIFA-METER"}'
	expect '.values.p1_message_timestamp.value' '"2016-11-13T20:57:57+01:00"'
	expect '.values.power_failure_log.value | length' '3'
	expect '.values.power_failure_log.value[0]' '{"end":"2000-01-04T18:03:20+01:00","duration":237126}'
	has '"current_electricity_usage":{"value":2.027,"unit":"kW","obis":"1-0:1.7.0"}'
	has '"gas_provided":{"value":981.443,"unit":"m3","obis":"0-1:24.2.1","time":"2016-11-29T20:00:00+01:00"}'
	has '"instantaneous_current_l2":{"value":6,"unit":"A","obis":"1-0:51.7.0"}'
}

@test "DSMR 5.0: exact digits, voltages, empty failure log" {
	require_corpus
	reading dsmr_parser__v5.txt
	line dsmr_parser__v5.txt '1-0:32.7.0(0230.0*V)'
	has '"instantaneous_voltage_l1":{"value":230.0,"unit":"V","obis":"1-0:32.7.0"}'
	has '"instantaneous_current_l1":{"value":0.48,"unit":"A","obis":"1-0:31.7.0"}'
	has '"current_electricity_usage":{"value":0.244,"unit":"kW","obis":"1-0:1.7.0"}'
	expect '.values.power_failure_log' '{"value":[],"obis":"1-0:99.97.0"}'
	expect '.meter' '{"id":"K8EG004046395507","version":"50","model":"ISk5\\2MT382-1000"}'
	has '"gas_provided":{"value":0.107,"unit":"m3","obis":"0-1:24.2.1","time":"2017-01-02T16:10:05+01:00"}'
	# channel 2 says it is a gas meter but has no reading: no value for it
	expect '.values | has("gas_provided_2")' 'false'
	expect '.values.gas_equipment_identifier_2' '{"value":"","obis":"0-2:96.1.0"}'
}

@test "two M-Bus devices: the real gas meter on channel 2, a dead channel 1" {
	require_corpus
	reading dsmr_parser__v5_two_mbus.txt
	line dsmr_parser__v5_two_mbus.txt '0-1:24.2.1(700101010000W)(00000000)'
	line dsmr_parser__v5_two_mbus.txt '0-2:24.2.1(200426223001S)(00246.138*m3)'
	has '"gas_provided":{"value":246.138,"unit":"m3","obis":"0-2:24.2.1","time":"2020-04-26T22:30:01+02:00"}'
	expect '.values.gas_equipment_identifier.value' '"G0039001936990619"'
	expect '.values.gas_provided_2' '{"value":null,"obis":"0-1:24.2.1","time":null}'
}

@test "Belgium (Fluvius): 1.4.0, 1.6.0 with its time, the 98.1.0 peaks, gas and water" {
	require_corpus
	reading dsmr_parser__fluvius_v171.txt
	line dsmr_parser__fluvius_v171.txt '1-0:1.6.0(200509134558S)(02.589*kW)'
	has '"maximum_demand_month":{"value":2.589,"unit":"kW","obis":"1-0:1.6.0","time":"2020-05-09T13:45:58+02:00"}'
	has '"current_average_demand":{"value":2.351,"unit":"kW","obis":"1-0:1.4.0"}'
	expect '.values.maximum_demand_13_months.value | length' '3'
	expect '.values.maximum_demand_13_months.value[0]' '{"month":"2020-05-01T00:00:00+02:00","time":"2020-04-23T19:25:38+02:00","value":3.695}'
	# the meter flags 1 March as summer time (S): its flag is followed
	line dsmr_parser__fluvius_v171.txt '(200301000000S)(200210035421W)(04.318*kW)'
	expect '.values.maximum_demand_13_months.value[2]' '{"month":"2020-03-01T00:00:00+02:00","time":"2020-02-10T03:54:21+01:00","value":4.318}'
	expect '.values.maximum_demand_13_months.unit' '"kW"'
	has '"gas_provided":{"value":112.384,"unit":"m3","obis":"0-1:24.2.3","time":"2020-05-12T13:45:58+02:00"}'
	has '"water_provided":{"value":872.234,"unit":"m3","obis":"0-2:24.2.1","time":"2020-05-12T13:45:58+02:00"}'
	expect '.values.water_equipment_identifier.value' '"8SAG1234567890"'
	expect '.meter' '{"id":"1SAG3101021605","version":"50217","model":"FLU5\\253769484_A"}'
}

@test "Belgium: a peak with an impossible time has no value" {
	require_corpus
	reading dsmr_parser__fluvius_v171_alt.txt
	line dsmr_parser__fluvius_v171_alt.txt '(230801000000S)(632525252525W)(00.000*kW)'
	expect '.values.maximum_demand_13_months.value[0]' '{"month":"2023-08-01T00:00:00+02:00","time":null,"value":null}'
	expect '.values.maximum_demand_13_months.value[3]' '{"month":"2023-11-01T00:00:00+01:00","time":"2023-10-16T13:00:00+02:00","value":4.927}'
}

@test "Belgium: values without '*' before the unit" {
	require_corpus
	reading openhab__flu5.txt
	line openhab__flu5.txt '1-0:1.8.1(000123.456kWh)'
	has '"electricity_used_tariff_1":{"value":123.456,"unit":"kWh","obis":"1-0:1.8.1"}'
	has '"instantaneous_voltage_l1":{"value":234.5,"unit":"V","obis":"1-0:32.7.0"}'
	has '"instantaneous_current_l1":{"value":5,"unit":"A","obis":"1-0:31.7.0"}'
	has '"actual_threshold_electricity":{"value":999.9,"unit":"kW","obis":"0-0:17.0.0"}'
	has '"gas_provided":{"value":99.999,"unit":"m3","obis":"0-1:24.2.3","time":"2019-11-28T00:00:00+01:00"}'
}

@test "Belgium: the gas reading with an impossible time is null, never 0" {
	require_corpus
	reading openhab__flu5_invalid_gasmeter.txt
	line openhab__flu5_invalid_gasmeter.txt '0-1:24.2.3(632525252525W)(00000.000)'
	expect '.values.gas_provided' '{"value":null,"obis":"0-1:24.2.3","time":null}'
	expect '.values.gas_valve_position.value' '0'
}

@test "an M-Bus device without a reading gives no reading" {
	require_corpus
	reading openhab__unregistered_meter.txt
	expect '.values | has("gas_provided")' 'false'
	expect '[.values | keys[] | select(test("provided"))]' '[]'
	expect '.values.gas_device_type' '{"value":3,"obis":"0-1:24.1.0"}'
	has '"current_electricity_usage":{"value":2.778,"unit":"kW","obis":"1-0:1.7.0"}'
}

@test "Luxembourg (Smarty): logical device name, values without units" {
	require_corpus
	reading openhab__smarty.txt
	expect '.meter' '{"id":"SAG1030700114004","version":"42","model":"Lux5\\253663629_D"}'
	line openhab__smarty.txt '1-0:4.7.0(00.007)'
	has '"current_reactive_exported":{"value":0.007,"obis":"1-0:4.7.0"}'
	has '"actual_threshold_electricity":{"value":77.376,"obis":"0-0:17.0.0"}'
	has '"electricity_imported_total":{"value":6.695,"unit":"kWh","obis":"1-0:1.8.0"}'
	expect '.values.text_message_5' '{"value":"","obis":"0-0:96.13.5"}'
	reading openhab__smarty_with_units.txt
	has '"actual_threshold_electricity":{"value":12.300,"unit":"kVA","obis":"0-0:17.0.0"}'
	has '"gas_provided":{"value":1234.567,"unit":"m3","obis":"0-1:24.2.1","time":"2020-06-06T20:15:30+02:00"}'
}

@test "Austria: Wh, W, varh as the meter states them" {
	require_corpus
	reading openhab__dsmr_50_austria.txt
	line openhab__dsmr_50_austria.txt '1-0:1.8.0(000326641*Wh)'
	has '"electricity_imported_total":{"value":326641,"unit":"Wh","obis":"1-0:1.8.0"}'
	has '"current_electricity_usage":{"value":621,"unit":"W","obis":"1-0:1.7.0"}'
	has '"current_reactive_exported":{"value":510,"unit":"var","obis":"1-0:4.7.0"}'
	has '"p1_message_timestamp":{"value":"2021-09-02T21:57:13+02:00"'
	reading dsmr_parser__sagemcom_t210_d_r.txt
	has '"electricity_used_tariff_1":{"value":5017120,"unit":"Wh","obis":"1-0:1.8.1"}'
}

@test "Hungary: frequency, power factors, and its 98.1.0 kept raw by OBIS code" {
	require_corpus
	reading dsmr_parser__v5_eon_hu.txt
	has '"frequency":{"value":50.00,"unit":"Hz","obis":"1-0:14.7.0"}'
	has '"electricity_used_tariff_3":{"value":0.000,"unit":"kWh","obis":"1-0:1.8.3"}'
	has '"electricity_reactive_total_q3":{"value":160.487,"unit":"kvarh","obis":"1-0:7.8.0"}'
	expect '.values | has("maximum_demand_13_months")' 'false'
	expect '.values["0-0:98.1.0"].value | length' '20'
	expect '.values["0-0:98.1.0"].value[0:2]' '["230701000000S","000040.777*kWh"]'
	expect '.meter.id' '"890082200002160"'
}

@test "Iskra IE: a control byte in the identification line, an empty M-Bus id" {
	require_corpus
	reading dsmr_parser__iskra_ie.txt
	expect '.meter.model' '"ISk5\u0002MIE5T-200"'
	has '"current_electricity_delivery":{"value":0.270,"unit":"kW","obis":"1-0:2.7.0"}'
	expect '.values.mbus_equipment_identifier' '{"value":"","obis":"0-1:96.1.1"}'
	expect '.values.p1_message_timestamp.value' '"2023-02-02T13:27:47+02:00"'
}

@test "heat meter with a 3-digit CRC" {
	require_corpus
	grep -q '^!B9F' "$CORPUS/dsmr_parser__unpadded_crc.txt"
	reading dsmr_parser__unpadded_crc.txt
	has '"heat_provided":{"value":240.860,"unit":"GJ","obis":"0-1:24.2.1","time":"2026-02-15T20:05:23+01:00"}'
	expect '.values.heat_device_type.value' '4'
	expect '.values.heat_equipment_identifier.value' '"621848012D2C0B0C"'
}

@test "a text message broken over two lines is joined and decoded" {
	require_corpus
	local f
	for f in openhab__dsmr_40.txt openhab__dsmr_42.txt openhab__dsmr_50.txt; do
		reading "$f"
		expect '.values.text_message.value' '"0123456789:;<=>?0123456789:;<=>?0123456789:;<=>?0123456789:;<=>?0123456789:;<=>?"'
		has '"current_electricity_usage":{"value":1.193,"unit":"kW","obis":"1-0:1.7.0"}'
		has '"gas_provided":{"value":12785.123,"unit":"m3","obis":"0-1:24.2.1"'
	done
	# 1-0:31.7.0.255: the F group 255 is the same code
	has '"instantaneous_current_l3":{"value":3,"unit":"A","obis":"1-0:71.7.0"}'
}

@test "EasyMeter Q3D: *255 codes, W units, the gateway's lines after '!'" {
	require_corpus
	reading dsmr_parser__esy5q3db1024_v304.txt
	has '"electricity_imported_total":{"value":52185.7825309,"unit":"kWh","obis":"1-0:1.8.0"}'
	has '"current_electricity_usage":{"value":2124.86,"unit":"W","obis":"1-0:1.7.0"}'
	expect '.meter.id' '"1ESY1313002565"'
	# the gateway's garbage (with 0xFF bytes) must not spoil the next one
	cat "$CORPUS/dsmr_parser__esy5q3db1024_v304.txt" "$CORPUS/dsmr_parser__esy5q3da1004_v304.txt" \
		"$CORPUS/dsmr_parser__v5.txt" >"$TMP/three"
	run --separate-stderr p1read "$TMP/three"
	assert_success
	[ "${#lines[@]}" -eq 3 ] || fail "${#lines[@]} lines"
	[ -z "$stderr" ] || fail "$stderr"
	[ "$(jq -c .values.current_electricity_usage.unit <<<"${lines[2]}")" = '"kW"' ]
}

@test "unknown codes are kept by OBIS code; a repeated code gets _2, _3" {
	require_corpus
	reading openhab__ace4000.txt
	has '"1-0:15.7.0":{"value":123,"unit":"W","obis":"1-0:15.7.0"}'
	expect '.values["7-0:23.1.0"]' '{"value":["01238.740*m3","19-01-01 00:00:00"],"obis":"7-0:23.1.0"}'
	expect '.values["7-0:23.1.0_24"].value' '["01238.700*m3","18-12-31 23:00:00"]'
	expect '[.values | keys[] | select(startswith("7-0:23.1.0"))] | length' '24'
}

# ---- corrupted telegrams ----

# all_dropped PATTERN... < VARIANTS: p1read prints nothing for each file
# named on stdin, exits 0, and says every PATTERN on stderr.  Counts the
# variants in N.  With some 900 variants, their cost was most of the
# suite's: p1read runs directly, not under bats' `run`, and in the
# sanitizer pass every variant is checked for memory errors but only
# every eighth for leaks (LeakSanitizer's scan at exit costs ~45 ms a
# process; the dsmr fuzzer checks the parser's leaks on far more inputs).
all_dropped() {
	local v pat st asan err
	N=0
	while IFS= read -r v; do
		N=$((N + 1))
		st=0
		asan=${ASAN_OPTIONS:-}
		[ $((N % 8)) -eq 1 ] || asan=${asan:+$asan:}detect_leaks=0
		ASAN_OPTIONS=$asan p1read "$v" > "$TMP/v.out" 2> "$TMP/v.err" || st=$?
		err=
		IFS= read -r -d '' err < "$TMP/v.err" || true # no fork: 900 times
		[ "$st" -eq 0 ] || fail "$v: exit $st: $err"
		[ ! -s "$TMP/v.out" ] || fail "$v was printed: $(cat "$TMP/v.out")"
		for pat in "$@"; do
			[[ "$err" == *"$pat"* ]] || fail "$v: no '$pat' in: $err"
		done
	done
}

# variants KIND FILE...: writes KIND's corrupted variants of each corpus
# FILE into $TMP/var (one python run for all of them) and lists them.
variants() {
	local kind=$1
	shift
	mkdir -p "$TMP/var"
	python3 - "$kind" "$TMP/var" "$@" <<'PY'
import os, re, sys
kind, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]
def put(src, name, data):
    path = os.path.join(out, os.path.basename(src) + "." + name)
    open(path, "wb").write(data)
    print(path)
for src in files:
    b = open(src, "rb").read()
    bang = b.rindex(b"!")
    if kind == "flip":
        for k in range(1, 9):
            pos = bang * k // 9          # spread over '/' .. '!'
            bit = (k * 3) % 7            # bits 0-6: bit 7 is the 7E1 parity bit
            v = bytearray(b)
            v[pos] ^= 1 << bit
            put(src, "flip%d" % k, v)
        v = bytearray(b); v[bang] ^= 0x40    # the '!' itself
        put(src, "flip9", v)
    elif kind == "flip0":
        v = bytearray(b); v[0] ^= 1          # the '/' itself
        put(src, "flip0", v)
    elif kind == "cut":
        cuts = [bang * k // 5 for k in range(1, 5)] + [bang, bang + 1]
        if b[bang + 1:bang + 2] not in (b"\r", b"\n"):
            cuts.append(bang + 3)        # inside the CRC digits
        for i, c in enumerate(cuts):
            put(src, "cut%d" % i, b[:c])
    elif kind == "slash":
        # a '/' inside numbers: right after '(' when a digit follows
        spots = [m.start() + 1 for m in re.finditer(rb"\([0-9]", b[:bang])]
        for i, s in enumerate(spots[:: max(1, len(spots) // 3)][:3]):
            put(src, "slash%d" % i, b[:s] + b"/" + b[s:])
PY
}

# Bit flips are tried on the telegrams that carry a CRC: in a DSMR 2.2/3
# telegram a flipped digit is still a digit, and nothing can tell (on a
# real 7E1 line the UART's parity check does).  Truncation and a doubled
# '/' are tried on every corpus telegram.

@test "single bit flips inside the CRC-covered area are all rejected" {
	require_corpus
	local files n
	files=$(crc_files | sed "s|^|$CORPUS/|")
	# shellcheck disable=SC2086 # a list of paths without spaces
	variants flip $files > "$TMP/list"
	all_dropped "telegrams dropped" < "$TMP/list"
	n=$N
	# A flipped '/' leaves no telegram at all: nothing to count.
	# shellcheck disable=SC2086
	variants flip0 $files > "$TMP/list"
	all_dropped < "$TMP/list"
	n=$((n + N))
	[ "$n" -ge 200 ] || fail "only $n variants"
}

@test "truncated telegrams are rejected and counted" {
	require_corpus
	variants cut "$CORPUS"/*.txt > "$TMP/list"
	all_dropped "dropped: cut short by the end of the input" < "$TMP/list"
	[ "$N" -ge 190 ] || fail "only $N variants"
}

@test "a '/' doubled inside a telegram: both pieces rejected" {
	require_corpus
	variants slash "$CORPUS"/*.txt > "$TMP/list"
	all_dropped "telegram 1 at byte 0: dropped: cut short by a new '/'" "2 of 2 telegrams dropped" < "$TMP/list"
	[ "$N" -ge 90 ] || fail "only $N variants"
}

@test "'//' at the start: the empty piece is counted, the telegram is good" {
	require_corpus
	{ printf '/'; cat "$CORPUS/dsmr_parser__v5.txt"; } >"$TMP/t"
	run --separate-stderr p1read "$TMP/t"
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	[[ "$stderr" == *"telegram 1 at byte 0: dropped: cut short by a new '/'"* ]] || fail "$stderr"
}

@test "a telegram longer than 16 KiB is dropped, the next one parses; 16000 bytes pass" {
	require_corpus
	python3 - "$TMP/long" 20000 >/dev/null <<'PY'
import sys
n = int(sys.argv[2])
body = b"/ISK5\\2M550T-1012\r\n\r\n"
i = 0
while len(body) < n:
    body += b"1-0:1.8.1(%06d.000*kWh)\r\n" % i
    i += 1
open(sys.argv[1], "wb").write(body + b"!")
PY
	add_crc "$TMP/long"
	cat "$TMP/long" "$CORPUS/dsmr_parser__v5.txt" >"$TMP/t"
	run --separate-stderr p1read "$TMP/t"
	assert_success
	[ "${#lines[@]}" -eq 1 ] || fail "${#lines[@]} lines"
	[[ "$stderr" == *"telegram 1 at byte 0: dropped: longer than 16384 bytes"* ]] || fail "$stderr"
	[[ "$stderr" == *"1 of 2 telegrams dropped: 1 longer than 16384 bytes"* ]] || fail "$stderr"
	python3 - "$TMP/ok" 16000 >/dev/null <<'PY'
import sys
n = int(sys.argv[2])
body = b"/ISK5\\2M550T-1012\r\n\r\n1-0:1.7.0(00.111*kW)\r\n"
i = 0
while len(body) < n:
    body += b"0-0:96.13.0(%0140X)\r\n" % i
    i += 1
open(sys.argv[1], "wb").write(body + b"!")
PY
	add_crc "$TMP/ok"
	run --separate-stderr p1read "$TMP/ok"
	assert_success
	[ -z "$stderr" ] || fail "$stderr"
	R=$output
	has '"current_electricity_usage":{"value":0.111,"unit":"kW"'
}

@test "garbage inside a telegram with a good CRC is rejected, naming the line" {
	printf '/KFM5KAIFA-METER\r\n\r\n1-0:1.7.0(00.318*kW)\r\nhello\r\n!' >"$TMP/g1"
	add_crc "$TMP/g1"
	printf '/KFM5KAIFA-METER\r\n\r\n1-0:1.7.0(00.3\00118*kW)\r\n!' >"$TMP/g2"
	add_crc "$TMP/g2"
	printf '/KFM5KAIFA-METER\r\n\r\n1-0:1.7.0(00.318*kW)\r\n' >"$TMP/good"
	printf '!' >>"$TMP/good"
	add_crc "$TMP/good"
	cat "$TMP/g1" "$TMP/g2" "$TMP/good" >"$TMP/t"
	run --separate-stderr p1read "$TMP/t"
	assert_success
	[ "${#lines[@]}" -eq 1 ] || fail "$output"
	R=$output
	has '"current_electricity_usage":{"value":0.318,"unit":"kW","obis":"1-0:1.7.0"}'
	[[ "$stderr" == *"telegram 1 at byte 0: dropped: garbage: line 4: not an OBIS record"* ]] || fail "$stderr"
	[[ "$stderr" == *"telegram 2 at byte $(stat -c %s "$TMP/g1"): dropped: garbage: line 3: control byte 0x01 in a value"* ]] ||
		fail "$stderr"
	[[ "$stderr" == *"2 of 3 telegrams dropped: 2 garbage"* ]] || fail "$stderr"
}

@test "a good telegram after a bad CRC and junk still parses" {
	require_corpus
	{ cat "$CORPUS/openhab__smarty_long.txt"; printf 'junk\r\n\001\002 more junk!!\r\n'; cat "$CORPUS/openhab__smarty.txt"; } >"$TMP/t"
	run --separate-stderr p1read "$TMP/t"
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	[[ "$stderr" == *"telegram 1 at byte 0: dropped: CRC mismatch: sent CFDE, computed 99BD"* ]] || fail "$stderr"
}

@test "7E1 bytes read as 8 bits (parity in bit 7) parse the same; the debug log says why" {
	require_corpus
	local f
	for f in dsmr_parser__v5.txt dsmr_parser__v2_2.txt; do
		python3 - "$CORPUS/$f" "$TMP/$f.7e1" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
out = bytes(x | 0x80 if bin(x).count("1") % 2 else x for x in b)
assert out != b
open(sys.argv[2], "wb").write(out)
PY
		[ "$(p1read "$TMP/$f.7e1" | jq -c .values)" = "$(p1read "$CORPUS/$f" | jq -c .values)" ] || fail "$f"
		[ -n "$(p1read "$TMP/$f.7e1" | jq -c .values.current_electricity_usage.value)" ]
		# Set to 7E1, the port strips bit 7 whatever the CRC says.
		[ "$(p1read -s 9600:7E1 "$TMP/$f.7e1" | jq -c .values)" = "$(p1read "$CORPUS/$f" | jq -c .values)" ] ||
			fail "$f with -s 9600:7E1"
	done
	run --separate-stderr env METER2MQTT_LOG_LEVEL=debug p1read "$TMP/dsmr_parser__v5.txt.7e1"
	[[ "$stderr" == *"bit 7 stripped (a 7E1 line: every byte has even parity, the CRC holds only without bit 7)"* ]] ||
		fail "$stderr"
	run --separate-stderr env METER2MQTT_LOG_LEVEL=debug p1read "$TMP/dsmr_parser__v2_2.txt.7e1"
	[[ "$stderr" == *"bit 7 stripped (a 7E1 line: no CRC, every byte has even parity)"* ]] || fail "$stderr"
	run --separate-stderr env METER2MQTT_LOG_LEVEL=debug p1read -s 9600:7E1 "$TMP/dsmr_parser__v5.txt.7e1"
	[[ "$stderr" == *"bit 7 stripped (the port is set to 7 data bits)"* ]] || fail "$stderr"
}

@test "8-bit identification byte with its CRC passes; bit 7 flipped in an ASCII telegram does not" {
	require_corpus
	# An 8-bit byte in the header and the CRC computed over it, as a
	# DSMR 5 meter on 8N1 sends it.
	sed '1s/^\/ISk5\\2MT382-1000/\/ISk5\xe92MT382-1000/' "$CORPUS/dsmr_parser__v5.txt" | head -c -6 > "$TMP/8bit"
	LC_ALL=C grep -q $'\xe9' "$TMP/8bit" || fail "no 0xE9 put in"
	add_crc "$TMP/8bit"
	run --separate-stderr env METER2MQTT_LOG_LEVEL=debug p1read "$TMP/8bit"
	[ "$status" -eq 0 ] || fail "$stderr"
	[[ "$stderr" == *"8-bit bytes kept as received"* ]] || fail "$stderr"
	R=$output
	has '"model":"ISk5\ufffd2MT382-1000"'
	expect .values.current_electricity_usage.value 0.244
	# The same byte stripped to 0x69 ('i') does not match that CRC.
	LC_ALL=C sed '1s/\xe9/i/' "$TMP/8bit" > "$TMP/7bit"
	all_dropped "CRC mismatch" <<< "$TMP/7bit"
	# One bit 7 set in an ASCII telegram is no parity bit: a CRC error.
	python3 - "$CORPUS/dsmr_parser__v5.txt" "$TMP/flip7" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[100] |= 0x80
open(sys.argv[2], "wb").write(b)
PY
	all_dropped "CRC mismatch" <<< "$TMP/flip7"
}

@test "CRC policy: --dsmr=50 requires a CRC, 22 and auto accept none; auto learns" {
	require_corpus
	run --separate-stderr p1read --dsmr=50 "$CORPUS/dsmr_parser__v2_2.txt"
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"dropped: no CRC (this meter sends one)"* ]] || fail "$stderr"
	run --separate-stderr p1read --dsmr=22 "$CORPUS/dsmr_parser__v2_2.txt"
	[ "${#lines[@]}" -eq 1 ]
	# auto: once a meter has sent a good CRC, a telegram without one is refused
	cat "$CORPUS/dsmr_parser__v2_2.txt" "$CORPUS/dsmr_parser__v5.txt" "$CORPUS/dsmr_parser__v2_2.txt" >"$TMP/t"
	run --separate-stderr p1read "$TMP/t"
	[ "${#lines[@]}" -eq 2 ] || fail "$output"
	[[ "$stderr" == *"telegram 3 at byte 1303: dropped: no CRC"* ]] || fail "$stderr"
	# a CRC that is there must verify, even with --dsmr=22
	run --separate-stderr p1read --dsmr=22 "$CORPUS/openhab__smarty_long.txt"
	[ -z "$output" ]
	[[ "$stderr" == *"CRC mismatch"* ]]
}

@test "meter timestamps: S/W flags, no flag by the EU rule, impossible ones null" {
	printf '/ISk5\\2MT382-1000\r\n\r\n0-0:1.0.0(%s)\r\n1-0:1.6.0(08.796*kW)(%s)\r\n!\r\n' \
		260102010000 260102010000 \
		260715120000W 260715120000 \
		261025023000 261025023000 \
		261325010000W 260329023000 \
		260230120000S 260329033000 >"$TMP/t"
	run --separate-stderr p1read --dsmr=22 "$TMP/t"
	assert_success
	[ "${#lines[@]}" -eq 5 ] || fail "$output $stderr"
	R=${lines[0]}
	has '"p1_message_timestamp":{"value":"2026-01-02T01:00:00+01:00"'
	has '"maximum_demand_month":{"value":8.796,"unit":"kW","obis":"1-0:1.6.0","time":"2026-01-02T01:00:00+01:00"}'
	R=${lines[1]}
	has '"p1_message_timestamp":{"value":"2026-07-15T12:00:00+01:00"'
	has '"time":"2026-07-15T12:00:00+02:00"'
	R=${lines[2]} # the hour that happens twice on 25 October 2026
	has '"p1_message_timestamp":{"value":null'
	has '"maximum_demand_month":{"value":null,"unit":"kW","obis":"1-0:1.6.0","time":null}'
	R=${lines[3]} # month 13; the hour skipped on 29 March 2026
	has '"p1_message_timestamp":{"value":null'
	has '"time":null}'
	R=${lines[4]} # 30 February
	has '"p1_message_timestamp":{"value":null'
	has '"time":"2026-03-29T03:30:00+02:00"'
}

# ---- options ----

@test "-p: names and OBIS codes select values; an unknown name is a usage error" {
	require_corpus
	reading dsmr_parser__v5_two_mbus.txt -p current_electricity_usage,gas_provided
	expect '.values | keys' '["current_electricity_usage","gas_provided"]'
	reading dsmr_parser__v5_two_mbus.txt --parameters=1-0:1.8.1,0-1:24.2.1
	expect '.values | keys' '["electricity_used_tariff_1","gas_provided_2"]'
	expect '.meter.version' '"50"'
	run --separate-stderr p1read -p current_electricity_usage,no_such_thing "$CORPUS/dsmr_parser__v5.txt"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"p1read: --parameters: unknown parameter 'no_such_thing'"* ]] || fail "$stderr"
	run --separate-stderr p1read -p 'a,,b' --check -
	[ "$status" -eq 2 ]
}

@test "-i: at most one reading per interval" {
	require_corpus
	local i
	for i in 1 2 3 4 5; do cat "$CORPUS/dsmr_parser__v5.txt"; done >"$TMP/five"
	run --separate-stderr p1read -i 3600 "$TMP/five"
	assert_success
	[ "${#lines[@]}" -eq 1 ] || fail "${#lines[@]} lines"
	[ -z "$stderr" ]
	run --separate-stderr p1read --poll-interval=0 "$TMP/five"
	[ "${#lines[@]}" -eq 5 ]
	run --separate-stderr p1read -i soon "$TMP/five"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--poll-interval: 'soon'"* ]]
}

@test "--list: tab-separated name, OBIS, unit, meaning with the seed names" {
	run p1read --list
	assert_success
	[[ "$output" == *$'current_electricity_usage\t1-0:1.7.0\tkW\t'* ]] || fail "no current_electricity_usage"
	[[ "$output" == *$'gas_provided\t0-n:24.2.1\tm3\t'* ]] || fail "no gas_provided"
	[[ "$output" == *$'water_provided\t'* ]]
	[ "$(awk -F'\t' 'NF != 4' <<<"$output" | wc -l)" -eq 0 ] || fail "a line without 4 fields"
	# every name is snake_case and appears once
	[ "$(cut -f1 <<<"$output" | grep -cv '^[a-z0-9_]*$')" -eq 0 ]
	[ "$(cut -f1 <<<"$output" | sort | uniq -d | wc -l)" -eq 0 ]
}

@test "--check: exit 0 for good options, 2 naming the bad one, opens nothing" {
	run --separate-stderr p1read --check /dev/ttyNOSUCH -d dsmr_main --dsmr=50 -s 115200:8N1 -p gas_provided
	assert_success
	[ -z "$output$stderr" ]
	run --separate-stderr p1read --check --connection=tcp --host=127.0.0.1 --port=2001
	assert_success
	run --separate-stderr p1read --check -s 115200:9Z1 /dev/ttyUSB0
	[ "$status" -eq 2 ]
	[[ "$stderr" == "p1read: --serial: '115200:9Z1'"* ]] || fail "$stderr"
	run --separate-stderr p1read --check --dsmr=99 /dev/ttyUSB0
	[ "$status" -eq 2 ]
	[[ "$stderr" == "p1read: --dsmr: '99'"* ]] || fail "$stderr"
	run --separate-stderr p1read --check -d 'bad id' /dev/ttyUSB0
	[ "$status" -eq 2 ]
	[[ "$stderr" == "p1read: --device: 'bad id'"* ]] || fail "$stderr"
	run --separate-stderr p1read --check tcp://nohostport
	[ "$status" -eq 2 ]
	[[ "$stderr" == "p1read: tcp://nohostport: expected tcp://host:port"* ]] || fail "$stderr"
	run --separate-stderr p1read --check --connection=bluetooth /dev/ttyUSB0
	[ "$status" -eq 2 ]
	run --separate-stderr p1read --check --connection=serial_port
	[ "$status" -eq 2 ]
	[[ "$stderr" == "p1read: --connection=serial_port: no --port given"* ]] || fail "$stderr"
	run --separate-stderr p1read --check --baudrate=9600 --serial=9600:7E1 --silence-timeout=30 /dev/ttyUSB0
	assert_success
}

@test "bad options: exit 2 with a message and the usage" {
	run --separate-stderr p1read --bogus
	[ "$status" -eq 2 ]
	[[ "$stderr" == "p1read: unknown option: --bogus"*usage:* ]] || fail "$stderr"
	run --separate-stderr p1read -d
	[ "$status" -eq 2 ]
	[[ "$stderr" == "p1read: option needs a value: -d"* ]] || fail "$stderr"
	run --separate-stderr p1read a b
	[ "$status" -eq 2 ]
	run --separate-stderr p1read --baudrate=fast -
	[ "$status" -eq 2 ]
	run p1read --help
	assert_success
	[[ "$output" == usage:\ p1read* ]]
	run p1read --version
	assert_success
	[[ "$output" == "p1read "[0-9]* ]]
}

@test "a usage error is one usage line and a hint to -h, not the whole help" {
	run --separate-stderr p1read --bogus
	[ "$status" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 3 ] || fail "$stderr"
	[ "${stderr_lines[0]}" = "p1read: unknown option: --bogus" ]
	[[ "${stderr_lines[1]}" == "usage: p1read [-d ID] "*"[PORT]" ]] || fail "${stderr_lines[1]}"
	[ "${stderr_lines[2]}" = "try 'p1read -h'" ]
}

@test "--dsmr=V is the DSMR version; --version only prints the program's, alone" {
	run --separate-stderr p1read --check --dsmr=50 /dev/ttyUSB0
	assert_success
	# --version with anything else is refused: a service run as
	# "p1read --version ..." must fail its check, not exit 0 forever.
	run --separate-stderr p1read --check --version /dev/ttyUSB0
	[ "$status" -eq 2 ] || fail "exit $status: $output"
	[[ "$stderr" == "p1read: --version goes alone"* ]] || fail "$stderr"
	run --separate-stderr p1read --version -d x
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	# the old spelling names the new one
	run --separate-stderr p1read --check --version=50 /dev/ttyUSB0
	[ "$status" -eq 2 ]
	[[ "$stderr" == "p1read: --version=50: the DSMR version is --dsmr=50"* ]] || fail "$stderr"
}

@test "listing modes report a failed write: exit 1 on a full disk" {
	local mode
	for mode in --list --list-options -h --version; do
		run --separate-stderr p1read "$mode"
		assert_success
		run --separate-stderr sh -c "p1read $mode > /dev/full"
		[ "$status" -eq 1 ] || fail "p1read $mode > /dev/full: exit $status"
		[[ "$stderr" == "p1read: writing stdout: No space left on device" ]] || fail "$stderr"
	done
}

@test "--list-options: every long option, for mtrcfg" {
	run p1read --list-options
	assert_success
	local o
	for o in device port connection host parameters poll-interval serial baudrate check list list-ports list-options dsmr version help silence-timeout; do
		grep -qx -- "$o" <<<"$output" || fail "no $o"
	done
	# and each one is accepted
	run p1read --check --device=x --port=- --connection=stdin --parameters=gas_provided --poll-interval=5 \
		--serial=9600:7E1 --baudrate=9600 --dsmr=30 --silence-timeout=10
	assert_success
}

@test "stdin: '-', --connection=stdin, or no port when stdin is not a terminal" {
	require_corpus
	run --separate-stderr sh -c "p1read - < '$CORPUS/dsmr_parser__v5.txt'"
	[ "${#lines[@]}" -eq 1 ]
	run --separate-stderr sh -c "p1read --connection=stdin < '$CORPUS/dsmr_parser__v5.txt'"
	[ "${#lines[@]}" -eq 1 ]
	run --separate-stderr sh -c "cat '$CORPUS/dsmr_parser__v5.txt' | p1read -d kitchen"
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -r .device <<<"$output")" = kitchen ]
}

@test "runtime failures: a missing file exits 1; a closed stdout exits 1 quietly" {
	require_corpus
	run --separate-stderr p1read "$TMP/nothing-here"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "p1read: $TMP/nothing-here: No such file or directory"* ]] || fail "$stderr"
	local i
	for i in $(seq 300); do cat "$CORPUS/dsmr_parser__v5.txt"; done >"$TMP/many"
	run bash -c "p1read '$TMP/many' 2>'$TMP/err' | head -1 >/dev/null; echo \${PIPESTATUS[0]}"
	[ "$output" = 1 ] || fail "exit $output"
	[ ! -s "$TMP/err" ] || fail "$(cat "$TMP/err")"
}

@test "a telegram cut short by the end of the input is counted after the good ones" {
	require_corpus
	{ cat "$CORPUS/dsmr_parser__v5.txt"; head -c 300 "$CORPUS/dsmr_parser__v5.txt"; } >"$TMP/t"
	run --separate-stderr p1read "$TMP/t"
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	[[ "$stderr" == *"telegram 2 at byte 890: dropped: cut short by the end of the input"* ]] || fail "$stderr"
	[[ "$stderr" == *"p1read: 1 of 2 telegrams dropped: 1 cut short by the end of the input"* ]] || fail "$stderr"
}

@test "drop warnings are rate-limited, the summary counts them all" {
	require_corpus
	local i
	for i in $(seq 50); do cat "$CORPUS/openhab__smarty_long.txt"; done >"$TMP/bad"
	run --separate-stderr p1read "$TMP/bad"
	assert_success
	[ "$(grep -c 'dropped: CRC mismatch' <<<"$stderr")" -le 11 ] || fail "$stderr"
	[[ "$stderr" == *"50 of 50 telegrams dropped: 50 CRC mismatch"* ]] || fail "$stderr"
}

@test "a long hex text message broken over lines decodes whole" {
	python3 - "$TMP/t" "$TMP/expect" <<'PY'
import sys
text = "".join(chr(0x21 + i % 90) for i in range(6000))
hexed = text.encode().hex().upper()
body = "/ISK5\\2M550T-1012\r\n\r\n1-0:1.7.0(00.111*kW)\r\n0-0:96.13.0(" + hexed[:7001] + "\r\n" + hexed[7001:] + ")\r\n!"
open(sys.argv[1], "wb").write(body.encode())
open(sys.argv[2], "w").write(text)
PY
	add_crc "$TMP/t"
	run --separate-stderr p1read "$TMP/t"
	assert_success
	[ -z "$stderr" ] || fail "$stderr"
	[ "$(jq -j .values.text_message.value <<<"$output")" = "$(cat "$TMP/expect")" ] || fail "text differs"
}

@test "stopped by SIGTERM, p1read still says what it dropped" {
	require_corpus
	mkfifo "$TMP/fifo"
	p1read "$TMP/fifo" >"$TMP/out" 2>"$TMP/err" &
	local pid=$!
	track_pid "$pid"
	sh -c 'cat "$1" "$2"; exec sleep 30' sh "$CORPUS/openhab__smarty_long.txt" "$CORPUS/dsmr_parser__v5.txt" >"$TMP/fifo" &
	track_pid $!
	wait_for 100 grep -q "dropped: CRC mismatch" "$TMP/err"
	wait_for 100 test -s "$TMP/out"
	kill -TERM "$pid"
	wait_gone "$pid" 50
	grep -q "^p1read: 1 telegrams dropped: 1 CRC mismatch$" "$TMP/err" || fail "$(cat "$TMP/err")"
	[ "$(wc -l <"$TMP/out")" -eq 1 ]
}

@test "Belgium: a 98.1.0 without peaks yet is an empty array" {
	# as an Ores Siconia S211 sends it
	printf '/FLU5\\253769484_A\r\n\r\n1-0:1.6.0(230318200000W)(04.470*kW)\r\n0-0:98.1.0(0)(1-0:1.6.0)(1-0:1.6.0)()\r\n1-0:1.7.0(02.959*kW)\r\n!' >"$TMP/t"
	add_crc "$TMP/t"
	run --separate-stderr p1read --dsmr=be "$TMP/t"
	assert_success
	R=$output
	expect '.values.maximum_demand_13_months' '{"value":[],"obis":"0-0:98.1.0"}'
	has '"maximum_demand_month":{"value":4.470,"unit":"kW","obis":"1-0:1.6.0","time":"2023-03-18T20:00:00+01:00"}'
}

@test "M-Bus naming: by device type, never by channel; by unit without a type" {
	{
		printf '/ISK5\\2M550T-1012\r\n\r\n'
		printf '%s\r\n' '0-1:24.1.0(007)' '0-1:24.2.1(200426223001S)(00011.111*m3)' \
			'0-2:24.1.0(003)' '0-2:24.2.1(200426223001S)(00222.222*m3)' \
			'0-3:24.1.0(007)' '0-3:24.2.1(200426223001S)(00033.333*m3)' \
			'0-4:24.2.1(200426223001S)(00004.444*GJ)'
		printf '!'
	} >"$TMP/t"
	add_crc "$TMP/t"
	run --separate-stderr p1read "$TMP/t"
	assert_success
	[ -z "$stderr" ] || fail "$stderr"
	R=$output
	has '"water_provided":{"value":11.111,"unit":"m3","obis":"0-1:24.2.1","time":"2020-04-26T22:30:01+02:00"}'
	has '"gas_provided":{"value":222.222,"unit":"m3","obis":"0-2:24.2.1"'
	has '"water_provided_2":{"value":33.333,"unit":"m3","obis":"0-3:24.2.1"'
	has '"heat_provided":{"value":4.444,"unit":"GJ","obis":"0-4:24.2.1"'
	expect '.values.water_device_type_2.obis' '"0-3:24.1.0"'
	# without a type record, m3 means gas
	printf '/ISK5\\2M550T-1012\r\n\r\n0-2:24.2.1(200426223001S)(00222.222*m3)\r\n!' >"$TMP/u"
	add_crc "$TMP/u"
	run --separate-stderr p1read "$TMP/u"
	R=$output
	has '"gas_provided":{"value":222.222,"unit":"m3","obis":"0-2:24.2.1"'
}
