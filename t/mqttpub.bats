#!/usr/bin/env bats
# mqttpub against a real mosquitto on a free loopback port: topics and
# payloads, status and will, authentication, TLS, Home Assistant discovery,
# bad input.  Values are retained, so most tests publish first and then
# read what the broker kept (no race with a subscriber starting up).

load helper
bats_require_minimum_version 1.5.0

setup() { setup_tmp; }
teardown() { kill_tracked; }

R=$BATS_TEST_DIRNAME/fixtures/readings

# retained TOPIC N: the N retained messages under TOPIC, sorted, "topic payload".
retained() {
	mosquitto_sub -p "$BROKER_PORT" -t "$1" -v -C "$2" -W 5 | sort
}

@test "values are published to prefix/type/device/param with the reader's text" {
	start_broker
	run mqttpub -p "$BROKER_PORT" < "$R/dsmr.jsonl"
	[ "$status" -eq 0 ]
	run retained 'meters/#' 8
	assert_output - <<'EOF'
meters/dsmr/dsmr_main/current_electricity_usage 1.193
meters/dsmr/dsmr_main/electricity_tariff 0002
meters/dsmr/dsmr_main/electricity_used_tariff1 123.450
meters/dsmr/dsmr_main/gas_provided 12785.123
meters/dsmr/dsmr_main/power_failure_log [{"end":"2010-12-08T15:24:15+01:00","duration":240}]
meters/dsmr/dsmr_main/power_failures 4
meters/dsmr/dsmr_main/status offline
meters/dsmr/dsmr_main/voltage_l1 230.0
EOF
}

@test "numbers keep their text from the line: every digit, no binary rounding, integers exact" {
	start_broker
	printf '%s\n' '{"type":"t","device":"d","values":{"a":{"value":2.34},"b":{"value":0.1},"c":{"value":123456789.123456},"d":{"value":-0.001},"e":{"value":9007199254740993},"f":{"value":1e-7}}}' \
		'{"type":"t","device":"d","values":{"g":{"value":0.070},"h":{"value":-0.0},"i":{"value":1e3},"j":{"value":99999999999999999999999},"k":{"value":5.000},"l":{"value":-1.5E+02}}}' |
		mqttpub -p "$BROKER_PORT" -t x/y
	run retained 'x/y/t/d/+' 13
	assert_output - <<'EOF'
x/y/t/d/a 2.34
x/y/t/d/b 0.1
x/y/t/d/c 123456789.123456
x/y/t/d/d -0.001
x/y/t/d/e 9007199254740993
x/y/t/d/f 1e-7
x/y/t/d/g 0.070
x/y/t/d/h -0.0
x/y/t/d/i 1e3
x/y/t/d/j 99999999999999999999999
x/y/t/d/k 5.000
x/y/t/d/l -1.5E+02
x/y/t/d/status offline
EOF
	# the same text inside JSON payloads
	printf '%s\n' '{"type":"t","device":"e","values":{"g":{"value":0.070,"unit":"kW"},"arr":{"value":[5.000,-0.0,1e3]}}}' |
		mqttpub -p "$BROKER_PORT" -t x --json-values
	run retained 'x/t/e/+' 3
	assert_output - <<'EOF'
x/t/e/arr {"value":[5.000,-0.0,1e3]}
x/t/e/g {"value":0.070,"unit":"kW"}
x/t/e/status offline
EOF
}

@test "integers beyond 64 bits and numbers beyond a double publish with their exact text" {
	start_broker
	printf '%s\n' '{"type":"t","device":"d","values":{"big":{"value":99999999999999999999},"neg":{"value":[-123456789012345678901, 7]},"ok":{"value":1.5}}}' \
		'{"type":"t","device":"d2","values":{"huge":{"value":1e999}}}' \
		'{"type":"t","device":"d3","values":{99999999999999999999:{"value":1}}}' > "$TMP/big"
	run --separate-stderr mqttpub -p "$BROKER_PORT" -t x < "$TMP/big"
	[ "$status" -eq 0 ]
	assert_equal "$stderr" "$(cat <<'EOF'
mqttpub: line 3: not JSON: parse error: invalid object key (must be a string) at byte 56: skipped
mqttpub: 3 lines read, 1 bad lines and 0 bad parameters skipped
EOF
)"
	run retained 'x/t/d/+' 4
	assert_output - <<'EOF'
x/t/d/big 99999999999999999999
x/t/d/neg [-123456789012345678901,7]
x/t/d/ok 1.5
x/t/d/status offline
EOF
	printf '%s\n' '{"type":"t","device":"e","values":{"big":{"value":18446744073709551616,"unit":"Wh"}}}' |
		mqttpub -p "$BROKER_PORT" -t x --json-values
	run retained 'x/t/e/big' 1
	assert_output 'x/t/e/big {"value":18446744073709551616,"unit":"Wh"}'
	# a number beyond a double's range is still a JSON number: its text goes out
	run retained 'x/t/d2/huge' 1
	assert_output 'x/t/d2/huge 1e999'
}

@test "--json publishes the reading line itself on prefix/type/device" {
	start_broker
	mqttpub -p "$BROKER_PORT" --json < "$R/dsmr.jsonl"
	run mosquitto_sub -p "$BROKER_PORT" -t meters/dsmr/dsmr_main -C 1 -W 5
	[ "$output" = "$(cat "$R/dsmr.jsonl")" ]
	# and nothing per parameter
	run --separate-stderr mosquitto_sub -p "$BROKER_PORT" -t meters/dsmr/dsmr_main/current_electricity_usage -C 1 -W 1
	[ "$output" = "" ]
}

@test "--json-values publishes value, unit and time as JSON" {
	start_broker
	mqttpub -p "$BROKER_PORT" --json-values < "$R/dsmr.jsonl"
	run mosquitto_sub -p "$BROKER_PORT" -t meters/dsmr/dsmr_main/gas_provided -C 1 -W 5
	assert_output '{"value":12785.123,"unit":"m3","time":"2010-12-09T11:25:00+01:00"}'
	run mosquitto_sub -p "$BROKER_PORT" -t meters/dsmr/dsmr_main/current_electricity_usage -C 1 -W 5
	assert_output '{"value":1.193,"unit":"kW","time":"2026-11-27T10:00:01.123Z"}'
}

@test "--no-retain and -q 0 publish without retain" {
	start_broker
	mosquitto_sub -p "$BROKER_PORT" -t 'meters/t/d/n' -C 3 -W 10 > "$TMP/live" &
	track_pid $!
	wait_for 50 grep -q 'as auto-\|New client connected' "$TMP/mosquitto.log" || true
	sleep 0.5
	for i in 1 2 3; do printf '{"type":"t","device":"d","values":{"n":{"value":%d}}}\n' "$i"; done |
		mqttpub -p "$BROKER_PORT" -q 0 --no-retain
	wait_for 50 test "$(wc -l < "$TMP/live")" -eq 3
	assert_equal "$(tr '\n' ' ' < "$TMP/live")" "1 2 3 "
	run --separate-stderr mosquitto_sub -p "$BROKER_PORT" -t 'meters/t/d/n' -C 1 -W 1
	[ "$output" = "" ]
}

@test "MQTT 5 with QoS 2" {
	start_broker
	printf '%s\n' '{"type":"t","device":"d","values":{"n":{"value":42},"s":{"value":"x y"}}}' |
		mqttpub -p "$BROKER_PORT" -V 5 -q 2 -t v5
	run retained 'v5/t/d/+' 3
	assert_output - <<'EOF'
v5/t/d/n 42
v5/t/d/s x y
v5/t/d/status offline
EOF
	grep -q 'as m2m-d-[0-9a-f]\{8\} (p5, c1, k60)' "$TMP/mosquitto.log"
}

@test "status is online while running, offline as the will after kill -9" {
	start_broker
	mqttpub_on_fifo -p "$BROKER_PORT" --type dsmr --device main
	local pid=$MQTTPUB_PID
	wait_for 50 sh -c "mosquitto_sub -p $BROKER_PORT -t meters/dsmr/main/status -C 1 -W 1 | grep -qx online"
	kill -KILL "$pid"
	exec 7>&-
	wait_for 50 sh -c "mosquitto_sub -p $BROKER_PORT -t meters/dsmr/main/status -C 1 -W 1 | grep -qx offline"
}

@test "SIGTERM publishes offline and exits 0" {
	start_broker
	mqttpub_on_fifo -p "$BROKER_PORT" --type dsmr --device main
	local pid=$MQTTPUB_PID
	echo '{"type":"dsmr","device":"main","values":{"p":{"value":7}}}' >&7
	wait_for 50 sh -c "mosquitto_sub -p $BROKER_PORT -t meters/dsmr/main/p -C 1 -W 1 | grep -qx 7"
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	exec 7>&-
	[ "$rc" -eq 0 ]
	run retained 'meters/dsmr/main/status' 1
	assert_output 'meters/dsmr/main/status offline'
	# a clean goodbye: the broker logged a disconnect, not a lost client
	grep -q 'Client m2m-main-[0-9a-f]* disconnected' "$TMP/mosquitto.log"
	run grep -c 'Client m2m-main-[0-9a-f]* closed its connection' "$TMP/mosquitto.log"
	[ "$output" -eq 0 ]
}

# A supervisor stops the reader and mqttpub with one signal (their process
# group): what the reader writes on its way out still reaches the broker.
@test "SIGTERM: what the input brings until it ends (1 s at most) is still published" {
	start_broker
	mosquitto_sub -p "$BROKER_PORT" -t meters/dsmr/main/p > "$TMP/got" &
	track_pid $!
	mqttpub_on_fifo -p "$BROKER_PORT" --type dsmr --device main
	local pid=$MQTTPUB_PID
	wait_for 50 grep -q 'as m2m-main' "$TMP/mosquitto.log"
	kill -TERM "$pid"
	echo '{"type":"dsmr","device":"main","values":{"p":{"value":8}}}' >&7
	exec 7>&-
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	wait_for 50 test -s "$TMP/got"
	run cat "$TMP/got"
	assert_output 8
}

@test "username and password from MQTT_PASSWORD and from a file; a wrong one is fatal" {
	mosquitto_passwd -c -b "$TMP/passwd" meter s3cret
	start_broker "user $(id -un)" "password_file $TMP/passwd" "allow_anonymous false"
	line='{"type":"t","device":"d","values":{"n":{"value":1}}}'
	echo "$line" | MQTT_PASSWORD=s3cret mqttpub -p "$BROKER_PORT" -u meter
	printf 's3cret\n' > "$TMP/pw"
	chmod 600 "$TMP/pw"
	echo "${line/1\}/2\}}" | mqttpub -p "$BROKER_PORT" -u meter --password-file "$TMP/pw"
	run mosquitto_sub -p "$BROKER_PORT" -u meter -P s3cret -t meters/t/d/n -C 1 -W 5
	assert_output 2
	run --separate-stderr sh -c "echo '$line' | MQTT_PASSWORD=wrong mqttpub -p $BROKER_PORT -u meter"
	[ "$status" -eq 1 ]
	assert_equal "$stderr" "mqttpub: broker localhost:$BROKER_PORT refused the connection: Connection Refused: not authorised. (1 queued messages lost)"
	# a password and no user name: said, not dropped in silence
	run --separate-stderr env MQTT_PASSWORD=s3cret mqttpub -p "$BROKER_PORT" --check
	[ "$status" -eq 2 ]
	[[ "$stderr" == *'a password ($MQTT_PASSWORD, or password: in config.yaml) needs --username'* ]] || fail "$stderr"
}

@test "a password is never an option" {
	run --separate-stderr mqttpub -L mqtt://user:secret@localhost --check
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"password does not belong on the command line"* ]]
	run --separate-stderr mqttpub --password secret --check
	[ "$status" -eq 2 ]
}

make_certs() {
	local d=$TMP/pki
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=testca -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=otherca -keyout "$d/other.key" -out "$d/other.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost\n' > "$d/ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-extfile "$d/ext" -out "$d/server.crt" 2>/dev/null
}

@test "TLS: a trusted CA works, a wrong CA fails with one clear line and exit 1" {
	make_certs
	local d=$TMP/pki
	start_broker "user $(id -un)" "cafile $d/ca.crt" "certfile $d/server.crt" "keyfile $d/server.key"
	line='{"type":"t","device":"d","values":{"n":{"value":5}}}'
	echo "$line" | mqttpub -h localhost -p "$BROKER_PORT" --cafile "$d/ca.crt"
	run mosquitto_sub -h localhost -p "$BROKER_PORT" --cafile "$d/ca.crt" -t meters/t/d/n -C 1 -W 5
	assert_output 5
	run --separate-stderr sh -c "echo '$line' | mqttpub -h localhost -p $BROKER_PORT --cafile $d/other.crt"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "mqttpub: TLS handshake with localhost:$BROKER_PORT failed: "*"certificate verify failed"* ]]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	run --separate-stderr sh -c "echo '$line' | mqttpub -L mqtts://localhost:$BROKER_PORT --insecure-skip-verify"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"WARNING: --insecure-skip-verify"* ]]
}

@test "Home Assistant discovery: config per parameter, Energy dashboard classes" {
	start_broker
	mqttpub -p "$BROKER_PORT" --homeassistant < "$R/dsmr.jsonl"
	retained 'homeassistant/#' 6 > "$TMP/ha"
	local cfg=homeassistant/sensor/meters_dsmr_dsmr_main
	payload() { sed -n "s|^$cfg/$1/config ||p" "$TMP/ha"; }
	run jq -c '[.unit_of_measurement, .device_class, .state_class, .state_topic, .availability_topic, .unique_id]' <<< "$(payload gas_provided)"
	assert_output '["m³","gas","total_increasing","meters/dsmr/dsmr_main/gas_provided","meters/dsmr/dsmr_main/status","meters_dsmr_dsmr_main_gas_provided"]'
	run jq -c '[.unit_of_measurement, .device_class, .state_class]' <<< "$(payload electricity_used_tariff1)"
	assert_output '["kWh","energy","total_increasing"]'
	run jq -c '[.unit_of_measurement, .device_class, .state_class]' <<< "$(payload current_electricity_usage)"
	assert_output '["kW","power","measurement"]'
	run jq -c '[.unit_of_measurement, .device_class, .state_class]' <<< "$(payload voltage_l1)"
	assert_output '["V","voltage","measurement"]'
	run jq -c '[.unit_of_measurement, .device_class, .state_class, .name]' <<< "$(payload electricity_tariff)"
	assert_output '[null,null,null,"Electricity tariff"]'
	run jq -c '.device' <<< "$(payload gas_provided)"
	assert_output '{"identifiers":["meter2mqtt_meters_dsmr_dsmr_main"],"name":"dsmr_main","model":"ISk5\\2MT382-1000","sw_version":"50","serial_number":"E0003000000000014"}'
	# no entity for the array, none for the null
	run grep -c 'power_failure_log\|bad_date' "$TMP/ha"
	[ "$output" -eq 0 ]
}

@test "Home Assistant discovery is sent again when homeassistant/status says online" {
	start_broker
	mqttpub_on_fifo -p "$BROKER_PORT" --homeassistant --json-values
	echo '{"type":"multical","device":"heat","meter":{"serial":"6001234"},"values":{"heat_energy":{"value":1234.5,"unit":"GJ"}}}' >&7
	local t=homeassistant/sensor/meters_multical_heat/heat_energy/config
	wait_for 50 sh -c "mosquitto_sub -p $BROKER_PORT -t $t -C 1 -W 1 | grep -q GJ"
	run sh -c "mosquitto_sub -p $BROKER_PORT -t $t -C 1 -W 1 | jq -c '[.unit_of_measurement,.device_class,.state_class,.value_template,.device.identifiers[0]]'"
	assert_output '["GJ","energy","total_increasing","{{ value_json.value }}","meter2mqtt_meters_multical_heat"]'
	# delete the retained config, then play Home Assistant starting up
	mosquitto_pub -p "$BROKER_PORT" -t "$t" -r -n
	mosquitto_pub -p "$BROKER_PORT" -t homeassistant/status -m online
	wait_for 50 sh -c "mosquitto_sub -p $BROKER_PORT -t $t -C 1 -W 1 | grep -q GJ"
	exec 7>&-
}

@test "bad lines are skipped, named by line number and reason, counted; good ones published" {
	start_broker
	run --separate-stderr mqttpub -p "$BROKER_PORT" < "$R/bad.jsonl"
	[ "$status" -eq 0 ]
	assert_equal "$stderr" "$(cat <<'EOF'
mqttpub: line 2: not JSON: lexical error: invalid string in json text at byte 1: skipped
mqttpub: line 3: no "device": skipped
mqttpub: line 4: "device" is not a valid topic level: wildcard '+' in topic level: skipped
mqttpub: line 5: "type" is not a valid topic level: wildcard '#' in topic level: skipped
mqttpub: line 6: "type" is not a valid topic level: empty topic level: skipped
mqttpub: line 7: "device" is not a valid topic level: '/' in topic level: skipped
mqttpub: line 8: "device" is not a valid topic level: NUL in topic level: skipped
mqttpub: line 9: parameter x+y: wildcard '+' in topic level: skipped
mqttpub: line 9: parameter status: named "status", which would overwrite the status topic: skipped
mqttpub: line 9: parameter novalue: no "value": skipped
mqttpub: line 10: not a JSON object: skipped
mqttpub: line 13: not JSON: lexical error: invalid bytes in UTF8 string at byte 29: skipped
mqttpub: 13 lines read, 9 bad lines and 3 bad parameters skipped
EOF
)"
	run retained 'meters/#' 4
	assert_output - <<'EOF'
meters/dsmr/good/a 1.50
meters/dsmr/good/b -0.25
meters/dsmr/good/ok 0.000
meters/dsmr/good/status offline
EOF
}

@test "a line over --line-max is skipped and the next line still read" {
	start_broker
	{
		printf '{"type":"t","device":"d","values":{"a":{"value":"%s"}}}\n' "$(head -c 5000 /dev/zero | tr '\0' x)"
		echo '{"type":"t","device":"d","values":{"b":{"value":2}}}'
	} > "$TMP/long"
	run --separate-stderr mqttpub -p "$BROKER_PORT" --line-max 1024 < "$TMP/long"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"line 1: longer than 1024 bytes: skipped"* ]]
	run retained 'meters/t/d/+' 2
	assert_output - <<'EOF'
meters/t/d/b 2
meters/t/d/status offline
EOF
}

@test "options: -h alone is help, --check validates, misuse is exit 2" {
	run mqttpub -h
	[ "$status" -eq 0 ]
	[[ "$output" == usage:\ mqttpub* ]]
	run mqttpub -h localhost -t meters --check
	[ "$status" -eq 0 ]
	run --separate-stderr mqttpub -t 'a/+/b' --check
	[ "$status" -eq 2 ]
	[[ "$stderr" == "mqttpub: --prefix a/+/b: wildcard '+' in topic level"* ]]
	run --separate-stderr mqttpub -q 3 --check
	[ "$status" -eq 2 ]
	run --separate-stderr mqttpub --json --json-values --check
	[ "$status" -eq 2 ]
	run --separate-stderr mqttpub --device x --check
	[ "$status" -eq 2 ]
	run --separate-stderr mqttpub --cafile /nonexistent --check
	[ "$status" -eq 2 ]
}

@test "p1sim-driven pipeline: p1sim | p1read | mqttpub" {
	start_broker
	p1sim -n 3 -f 2>/dev/null | p1read -d house 2>/dev/null | mqttpub -p "$BROKER_PORT" --type dsmr --device house
	run mosquitto_sub -p "$BROKER_PORT" -t meters/dsmr/house/status -C 1 -W 5
	assert_output offline
	run mosquitto_sub -p "$BROKER_PORT" -t meters/dsmr/house/electricity_used_tariff_1 -C 1 -W 5
	[[ "$output" =~ ^[0-9]+\.[0-9]+$ ]]
}

# libmosquitto alone writes each packet with its own write(2), reads a
# PUBACK in three read(2)s and writes a byte per packet into a socket pair
# nobody reads (lib/sink/sockio.h).
@test "a reading's packets leave in one send, and no write fails by design" {
	start_broker
	{
		printf '{"time":"2026-11-27T10:00:00Z","type":"t","device":"d","values":{'
		for i in $(seq 1 12); do printf '%s"v%02d":{"value":%d.5}' "$([ "$i" -gt 1 ] && echo ,)" "$i" "$i"; done
		printf '}}\n'
	} > "$TMP/reading"
	# (LeakSanitizer cannot work under ptrace: off for this run.)
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -s 65536 -e trace=read,write,sendto,socketpair,ppoll -o "$TMP/trace" \
		mqttpub -p "$BROKER_PORT" < "$TMP/reading"
	run mosquitto_sub -p "$BROKER_PORT" -t meters/t/d/v12 -C 1 -W 5
	assert_output 12.5
	# No socket pair is made, and no write fails (EAGAIN from a full
	# socket pair).  A read fails only when the acknowledgements' time
	# has come (a poll waited for it) and the broker has not sent them yet
	# (mosquitto holds them back until our TCP acknowledges its last:
	# Nagle); never a read of a socket another read has just drained.
	run grep -c 'socketpair\|write.*= -1 E\|sendto.*= -1 E' "$TMP/trace"
	assert_output 0
	run awk '/ ppoll\(/ { polled = 1; next } / read\(.*= -1 EAGAIN/ && !polled { bad++ } / read\(/ { polled = 0 }
		END { print bad + 0 }' "$TMP/trace"
	assert_output 0
	# The twelve publishes went out in one sendto.
	run grep -c 'sendto(.*meters/t/d/v01.*meters/t/d/v12' "$TMP/trace"
	assert_output 1
	run grep -c 'meters/t/d/v0[0-9]' "$TMP/trace"
	assert_output 1
}
