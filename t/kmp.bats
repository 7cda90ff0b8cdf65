#!/usr/bin/env bats
# lib/kmp: the 18 frames of ../shared/research/kmp.md section 4 (CRC,
# stuffing, requests rebuilt byte for byte, replies decoded), and what a
# broken frame does to the receiver.

load helper

setup() { setup_tmp; K="$M2M_TESTBIN/kmpcheck"; }
teardown() { kill_tracked; }

@test "CRC-16/XMODEM: check value and the worked example (vector 8)" {
	run "$K" crc 313233343536373839;  assert_output 31C3
	run "$K" crc "3F 10 01 00 3C";     assert_output B25F
	# the receiver's check: over DST..CRC the CRC is 0 (vector 9)
	run "$K" crc "3F 10 00 3C 03 04 43 00 00 D6 DE 03 22"; assert_output 0000
}

@test "requests rebuilt byte for byte (vectors 1, 2, 4, 6, 8, 11, 13, 15, 17)" {
	run "$K" type;             assert_output "80 3F 01 05 8A 0D"
	run "$K" serial;           assert_output "80 3F 02 35 E9 0D"
	run "$K" get 0x0080;       assert_output "80 3F 10 01 00 1B 7F D4 08 0D"
	run "$K" get 1002;         assert_output "80 3F 10 01 03 EA 4C B7 0D"
	run "$K" get energy;       assert_output "80 3F 10 01 00 3C B2 5F 0D"
	run "$K" get volume;       assert_output "80 3F 10 01 00 44 4D C0 0D"
	run "$K" get 60 63 80 86 87 89 74 68
	assert_output "80 3F 10 08 00 3C 00 3F 00 50 00 56 00 57 00 59 00 4A 00 44 C1 38 0D"
	run "$K" get 0x3EB 0x3EA;  assert_output "80 3F 10 02 03 EB 03 EA 4F 48 0D"
	run "$K" get info_code;    assert_output "80 3F 10 01 00 63 19 45 0D"
}

@test "GetRegister takes 1 to 8 ids, no more" {
	run "$K" get 1 2 3 4 5 6 7 8 9
	assert_failure
	assert_output --partial "cannot build a request for 9 registers"
}

@test "every vector passes the receiver with a good CRC (vectors 1-17)" {
	local v
	for v in 803F01058A0D 803F0235E90D 403F0201234567E9560D 803F1001001B7FD4080D \
		403F10001B7F160411012AF02463030D 803F100103EA4CB70D 403F1003EA2F040000030E33B2320D \
		803F1001003CB25F0D 403F10003C0304430000D6DE03220D 403F10005625024214F569DC0D \
		803F100100444DC00D 403F1000442804420002DCA47C0A0D 403F10008A30040000035EE50A580D \
		803F1008003C003F0050005600570059004A0044C1380D \
		403F10003C0304430000000200442804420000001803EC2E040000001BE4D6005625044200004E200057250442000021CE005926044200002C52004A29040000000000005016044100000000C3E80D \
		803F100203EB03EA4F480D 403F1003EB300400000224DC03EA2F0400000054C429F30D \
		803F09000224DC00007724235D0D 803F1001006319450D; do
		run "$K" rx "$v"
		assert_success
		[[ "$output" == "frame "* ]] || fail "$v: $output"
		[ "${#lines[@]}" -eq 1 ] || fail "$v: $output"
	done
}

@test "stuffing: 06 0D 1B 40 80 escaped, others not (vector 18, doc 3.1)" {
	run "$K" stuff "04 0D 00 06";           assert_output "04 1B F2 00 1B F9"
	run "$K" unstuff "04 1B F2 00 1B F9";   assert_output "04 0D 00 06"
	run "$K" stuff "06 0D 1B 40 80 3F 7F";  assert_output "1B F9 1B F2 1B E4 1B BF 1B 7F 3F 7F"
	run "$K" unstuff "1B F9 1B F2 1B E4 1B BF 1B 7F 3F 7F"; assert_output "06 0D 1B 40 80 3F 7F"
}

@test "stuffing: a bad escape and a raw special byte are errors" {
	run "$K" unstuff "04 1B 00";  assert_output "error: escape byte 1B before a byte that needs none"
	run "$K" unstuff "04 1B";     assert_output "error: escape byte 1B at the end"
	run "$K" unstuff "04 40";     assert_output "error: a byte that must be escaped appears raw"
}

@test "the stuffed register id 0x0080 and CRC byte 0x1B are unstuffed (vector 5)" {
	run "$K" decode "40 3F 10 00 1B 7F 16 04 11 01 2A F0 24 63 03 0D"
	assert_output "128 max_power_year 1959120400000000000000000 kW"
}

@test "decode GetSerialNo (vector 3) and GetType" {
	run "$K" decode "40 3F 02 01 23 45 67 E9 56 0D"
	assert_output "serial 19088743"
	run "$K" decode "$("$K" frame 40 "3F 01 00 04 06 01")"
	assert_output "type 0x0004 revision F1"
	# [MLT] MC601 GetType reply with its lost 0x00 restored (an inference)
	run "$K" decode "40 3F 01 00 01 07 01 FE 58 0D"
	assert_output "type 0x0001 revision G1"
	run "$K" decode "$("$K" frame 40 "3F 02 01 23 45")"
	assert_output "error: reply of unexpected length"
}

@test "decode single registers (vectors 7, 9, 10, 11, 12)" {
	run "$K" decode "40 3F 10 03 EA 2F 04 00 00 03 0E 33 B2 32 0D"
	assert_output "1002 meter_time 200243 hh:mm:ss"
	run "$K" decode "40 3F 10 00 3C 03 04 43 00 00 D6 DE 03 22 0D"
	assert_output "60 energy 55.006 MWh"
	run "$K" decode "40 3F 10 00 56 25 02 42 14 F5 69 DC 0D"
	assert_output "86 flow_temperature 53.65 C"
	run "$K" decode "40 3F 10 00 44 28 04 42 00 02 DC A4 7C 0A 0D"
	assert_output "68 volume 1875.56 m3"
	run "$K" decode "40 3F 10 00 8A 30 04 00 00 03 5E E5 0A 58 0D"
	assert_output "138 max_flow_date_month 220901 yy:mm:dd"
}

@test "decode the 8-register reply (vector 14), hours stuffed as 1B E4" {
	run "$K" decode "40 3F 10 00 3C 03 04 43 00 00 00 02 00 44 28 04 42 00 00 00 18 03 EC 2E 04 00 00 00 1B E4 D6 00 56 25 04 42 00 00 4E 20 00 57 25 04 42 00 00 21 CE 00 59 26 04 42 00 00 2C 52 00 4A 29 04 00 00 00 00 00 00 50 16 04 41 00 00 00 00 C3 E8 0D"
	assert_success
	assert_equal "${#lines[@]}" 8
	assert_line --index 0 "60 energy 0.002 MWh"
	assert_line --index 1 "68 volume 0.24 m3"
	assert_line --index 2 "1004 operating_hours 7126 h"
	assert_line --index 3 "86 flow_temperature 200.00 C"
	assert_line --index 4 "87 return_temperature 86.54 C"
	assert_line --index 5 "89 temperature_difference 113.46 K"
	assert_line --index 6 "74 flow 0 l/h"
	assert_line --index 7 "80 power 0.0 kW"
}

@test "decode the two-register MC601 reply (vector 15)" {
	run "$K" decode "40 3F 10 03 EB 30 04 00 00 02 24 DC 03 EA 2F 04 00 00 00 54 C4 29 F3 0D"
	assert_line --index 0 "1003 meter_date 140508 yy:mm:dd"
	assert_line --index 1 "1002 meter_time 21700 hh:mm:ss"
}

@test "records are split by their own length, in any order" {
	# power LEN 1, energy LEN 6 with leading zeros, volume LEN 2, unknown id
	run "$K" decode "$("$K" frame 40 "3F 10 00 50 16 01 00 07 00 3C 02 06 42 00 00 00 00 18 C8 00 44 28 02 00 01 2C 12 34 00 01 00 2A")"
	assert_success
	assert_line --index 0 "80 power 7 kW"
	assert_line --index 1 "60 energy 63.44 kWh"
	assert_line --index 2 "68 volume 300 m3"
	assert_line --index 3 "4660 register_4660 42 -"
}

@test "values: doc 4.2 examples, sign, exponents up to 63" {
	run "$K" value 42 18C8;          assert_output 63.44
	run "$K" value C2 00003039;      assert_output -123.45
	run "$K" value 03 05397FB1;      assert_output 87654321000
	run "$K" value 03 FF;            assert_output 255000
	run "$K" value 43 000000FB;      assert_output 0.251
	run "$K" value 80 00000000;      assert_output 0
	run "$K" value 7F 01;            assert_output "0.$(printf '0%.0s' $(seq 62))1"
	run "$K" value 3F 01;            assert_output "1$(printf '0%.0s' $(seq 63))"
	run "$K" value 00 FFFFFFFFFFFFFFFF; assert_output 18446744073709551615
	run "$K" value 00 00FFFFFFFFFFFFFFFF; assert_output 18446744073709551615
}

@test "values that cannot be written exactly are named, not guessed" {
	run "$K" value 00 010000000000000000
	assert_output "error: mantissa of 9 significant bytes does not fit 64 bits"
	run "$K" value 00 ""
	assert_output "error: empty mantissa"
}

@test "encode: what kmpsim sends" {
	run "$K" encode 6344 -2;          assert_output "42 00 00 18 C8"
	run "$K" encode -12345 -2;        assert_output "C2 00 00 30 39"
	run "$K" encode 219889792 -3;     assert_output "43 0D 1B 40 80"
	run "$K" encode 5 3 1;            assert_output "03 05"
	run "$K" encode 4294967296 0;     assert_output "00 01 00 00 00 00"
}

@test "receiver: an echo before the reply is discarded (vector 17 + reply)" {
	run "$K" reply "80 3F 10 01 00 63 19 45 0D $("$K" frame 40 "3F 10 00 63 00 01 00 05")"
	assert_output "discarded 9
frame 40 raw 12: 3F 10 00 63 00 01 00 05 38 FE"
}

@test "receiver: bad CRC, raw 06, bad escape, short frame, a new start" {
	run "$K" rx "40 3F 10 00 56 25 02 42 14 F5 69 DD 0D"
	assert_output "error at byte 12: bad CRC"
	run "$K" rx "40 3F 10 06 0D"
	assert_output "error at byte 3: raw 06 inside a frame"
	run "$K" rx "40 3F 1B 00 0D"
	assert_output "error at byte 3: escape byte 1B before a byte that needs none"
	run "$K" rx "40 3F 10 0D"
	assert_output "error at byte 3: frame too short"
	run "$K" rx "40 3F 10 00 40 3F 10 00 3C 03 04 43 00 00 D6 DE 03 22 0D"
	assert_output "error at byte 4: cut short by a new start byte
frame 40 raw 15: 3F 10 00 3C 03 04 43 00 00 D6 DE 03 22"
	run "$K" rx "06 40 3F"
	assert_output "ack
incomplete"
}

@test "decoder: cut-short and repeated records are errors" {
	run "$K" decode "$("$K" frame 40 "3F 10 00 3C 03 04 43 00 00")"
	assert_output "error: record 1 cut short: 7 bytes left"
	run "$K" decode "$("$K" frame 40 "3F 10 00 3C 03 01 00 01 00 3C 03 01 00 02")"
	assert_output "error: register 60 answered twice"
}

@test "unit codes" {
	run "$K" unit 02; assert_output kWh
	run "$K" unit 03; assert_output MWh
	run "$K" unit 08; assert_output GJ
	run "$K" unit 16; assert_output kW
	run "$K" unit 25; assert_output C
	run "$K" unit 26; assert_output K
	run "$K" unit 28; assert_output m3
	run "$K" unit 29; assert_output l/h
	run "$K" unit 2A; assert_output m3/h
	run "$K" unit 2E; assert_output h
	run "$K" unit 00; [ "$output" = - ]
	run "$K" unit 33; [ "$output" = - ]
	run "$K" unit 41; [ "$output" = - ]
}
