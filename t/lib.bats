#!/usr/bin/env bats
# lib/: the JSON line writer's escaping, exact decimals, CRCs, ports.

load helper

setup() { setup_tmp; LC="$M2M_TESTBIN/libcheck"; }
teardown() { kill_tracked; }

@test "escape: quotes, backslash and every control byte are escaped" {
	run sh -c "printf 'a\"b\\\\c\\001\\037\\177\\b\\f\\n\\r\\t' | '$LC' escape"
	assert_success
	assert_output '"a\"b\\c\u0001\u001f\u007f\b\f\n\r\t"'
}

@test "escape: every byte 0x00-0x1f round-trips through jq" {
	for i in $(seq 0 31); do printf "\\$(printf %03o "$i")"; done > "$TMP/ctl"
	run sh -c "'$LC' escape < '$TMP/ctl' | jq -j . | od -An -tx1 | tr -d ' \n'"
	assert_success
	assert_output "$(od -An -tx1 < "$TMP/ctl" | tr -d ' \n')"
}

@test "escape: valid UTF-8 passes unchanged, U+2028/2029 are escaped" {
	run sh -c "printf 'm\\303\\263 \\342\\202\\254 \\360\\237\\230\\200 \\342\\200\\250\\342\\200\\251' | '$LC' escape"
	assert_success
	assert_output "\"mó € 😀 \\u2028\\u2029\""
}

@test "escape: invalid UTF-8 becomes U+FFFD, byte by byte" {
	# lone continuation, truncated sequence, overlong '/', surrogate, > U+10FFFF
	run sh -c "printf '\\200|\\303|\\300\\257|\\355\\240\\200|\\364\\220\\200\\200|\\377' | '$LC' escape"
	assert_success
	assert_output '"\ufffd|\ufffd|\ufffd\ufffd|\ufffd\ufffd\ufffd|\ufffd\ufffd\ufffd\ufffd|\ufffd"'
	echo "$output" | jq -e . >/dev/null
}

@test "num_to_json keeps the meter's digits and strips leading zeros" {
	run "$LC" num 000123.456;  assert_output 123.456
	run "$LC" num 00000.000;   assert_output 0.000
	run "$LC" num 01.193;      assert_output 1.193
	run "$LC" num +5;          assert_output 5
	run "$LC" num -0012;       assert_output -12
	run "$LC" num .5;          assert_output 0.5
	run "$LC" num 2.3400;      assert_output 2.3400
	run "$LC" num 12345678901234567890.123456789; assert_output 12345678901234567890.123456789
}

@test "num_to_json refuses what is not a plain decimal" {
	for bad in "" "12." "1e5" "0x10" "1.2.3" "--1" "12a" " 1" "-" "."; do
		run "$LC" num "$bad"
		assert_failure
	done
}

@test "decimal_from_scaled is exact for KMP mantissa/exponent pairs" {
	run "$LC" scaled 6344 -2;   assert_output 63.44
	run "$LC" scaled 5 3;       assert_output 5000
	run "$LC" scaled -217 -1;   assert_output -21.7
	run "$LC" scaled 7 -3;      assert_output 0.007
	run "$LC" scaled 0 -2;      assert_output 0.00
	run "$LC" scaled 0 4;       assert_output 0
	run "$LC" scaled 18446744073709551615 -10; assert_output 1844674407.3709551615
	run "$LC" scaled 1 -20;     assert_output 0.00000000000000000001
}

@test "CRC-16/ARC and CRC-16/XMODEM match the catalogue check values" {
	run sh -c "printf 123456789 | '$LC' crc-arc"
	assert_output BB3D
	run sh -c "printf 123456789 | '$LC' crc-xmodem"
	assert_output 31C3
}

@test "CRC-16/ARC reproduces a real telegram's CRC" {
	require_corpus
	f=$CORPUS/dsmr_parser__v5.txt
	# The CRC covers '/' through '!' inclusive.
	body=$(head -c "$(grep -abo '!' "$f" | head -1 | cut -d: -f1)" "$f"; printf '!')
	run sh -c "printf '%s' \"\$1\" | '$LC' crc-arc" _ "$body"
	assert_output 6EEE
}

@test "device ids: [A-Za-z0-9_-]{1,64} only" {
	run "$LC" devid dsmr_main;         assert_success
	run "$LC" devid Kitchen-2;         assert_success
	run "$LC" devid "$(printf 'a%.0s' $(seq 64))"; assert_success
	run "$LC" devid "$(printf 'a%.0s' $(seq 65))"; assert_failure
	for bad in "" "a b" "a/b" "a+b" "a#" "ä" "a.b" '$(x)'; do
		run "$LC" devid "$bad"
		assert_failure
	done
}

@test "serial settings parse and default to 8N1" {
	run "$LC" serial 115200;     assert_output 115200:8N1
	run "$LC" serial 9600:7E1;   assert_output 9600:7E1
	run "$LC" serial 1200:8n2;   assert_output 1200:8N2
	for bad in 9600:9N1 9600:8X1 9600:8N3 abc 0 9600:8N1x; do
		run "$LC" serial "$bad"
		assert_failure 2
	done
}

@test "port specs: tcp URLs, stdin, files and ttys are told apart" {
	run "$LC" port tcp://127.0.0.1:2001;  assert_output "tcp 127.0.0.1 2001"
	run "$LC" port "tcp://[::1]:23";      assert_output "tcp ::1 23"
	run "$LC" port -;                     assert_output stdin
	run "$LC" port "$BATS_TEST_FILENAME"; assert_output file
	run "$LC" port /dev/ttyUSB9;          assert_output serial
	start_pty_pair p
	run "$LC" port "$TMP/p.a";            assert_output serial
	for bad in tcp://host tcp://host:0 tcp://host:70000 tcp://:80 "tcp://[::1]"; do
		run "$LC" port "$bad"
		assert_failure 2
	done
}

@test "one rule turns --port, --connection and --host into a port" {
	run "$LC" portspec /dev/ttyUSB0 serial_port "";  assert_output "[/dev/ttyUSB0]"
	run "$LC" portspec 2001 tcp 192.168.1.50;         assert_output "[tcp://192.168.1.50:2001]"
	run "$LC" portspec 2001 "" 10.0.0.2;              assert_output "[tcp://10.0.0.2:2001]"
	run "$LC" portspec tcp://h:1 tcp "";              assert_output "[tcp://h:1]"
	run "$LC" portspec "" stdin "";                   assert_output "[-]"
	run "$LC" portspec "" "" "";                      assert_output "[]"
	run --separate-stderr "$LC" portspec 2001 tcp ""
	assert_failure 2
	[[ "$stderr" == *"--connection=tcp needs --host"* ]]
	run --separate-stderr "$LC" portspec /dev/x bluetooth ""
	[[ "$stderr" == *"--connection: 'bluetooth': expected serial_port, tcp, file or stdin"* ]]
	run --separate-stderr "$LC" portspec /dev/x serial_port h
	[[ "$stderr" == *"--host goes with --connection=tcp"* ]]
	run --separate-stderr "$LC" portspec "" serial_port ""
	[[ "$stderr" == *"--connection=serial_port: no --port given"* ]]
}

@test "host time is RFC 3339 UTC with milliseconds" {
	run "$LC" now
	assert_output --regexp '^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z$'
}

@test "a reading line has the contract's frame" {
	run "$LC" reading dsmr dsmr_main
	assert_success
	echo "$output" | jq -e '.type == "dsmr" and .device == "dsmr_main" and (.time|test("Z$"))
		and .values.x.value == 1.50 and .values.x.unit == "kWh"'
	assert_output --partial '"value":1.50,'
}
