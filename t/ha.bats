#!/usr/bin/env bats
# Home Assistant discovery checked against Home Assistant's own rules
# (t/ha_check.py): every p1sim profile, kmpsim with every unit code, --json
# and --json-values, two devices on one stdin; long text; availability by
# will and by expire_after, one-shot polls.

load helper

setup() { setup_tmp; }
teardown() { kill_tracked; }

CHECK=$TOP/t/ha_check.py

# start_capture: everything the broker carries, "time topic hexpayload", in
# $TMP/cap, from before the first message on.
start_capture() {
	mosquitto_sub -p "$BROKER_PORT" -t '#' -F '%U %t %x' > "$TMP/cap" &
	track_pid $!
	wait_for 50 sh -c "mosquitto_pub -p $BROKER_PORT -t probe -m x && grep -q ' probe 78' $TMP/cap"
}

# stop_capture: after a last message, so that nothing is still on its way.
stop_capture() {
	mosquitto_pub -p "$BROKER_PORT" -t probe -m end
	wait_for 50 grep -q ' probe 656e64$' "$TMP/cap"
}

# kmp_lines CODE: kmpread's line for a MULTICAL that answers in unit CODE.
kmp_lines() {
	local regs=energy,volume,power,flow,flow_temperature,temperature_difference,operating_hours,info_code
	regs=$regs,target_date,tariff_2,tariff_limit_2,max_power_year,info_event_counter,mass
	local sets=() r
	for r in ${regs//,/ }; do sets+=(-r "$r=12.5:$1"); done
	kmpsim "${sets[@]}" "pty:$TMP/kmp$1" 2> /dev/null &
	local pid=$!
	wait_for 50 test -e "$TMP/kmp$1"
	kmpread -1 -d "unit$1" -p "$regs" "$TMP/kmp$1" 2> /dev/null
	kill "$pid"
	wait "$pid" 2> /dev/null || true
	rm -f "$TMP/kmp$1"
}

@test "every p1sim profile and every MULTICAL unit code: nothing Home Assistant or its Energy dashboard refuses" {
	start_broker
	start_capture
	local profiles
	profiles=$(p1sim --list-profiles | awk '{ print $1 }')
	[ "$(wc -w <<< "$profiles")" -ge 8 ]
	for p in $profiles; do
		p1sim -P "$p" -n 3 -f --seed 7 --message "meter $p" | p1read -d "p$p" - 2> /dev/null |
			mqttpub -p "$BROKER_PORT" --homeassistant --expire-after 30
	done
	# Every unit code 0x01..0x40 with a name (kmp_unit_name).
	# Sixteen meters at a time (each pair mostly waits for its pty), in
	# order in the file.
	local code n=0 pids=()
	for code in $(seq 1 64); do
		kmp_lines "$(printf '0x%02x' "$code")" > "$TMP/kmp.$code" &
		pids+=($!)
		if ((code % 16 == 0)); then
			wait "${pids[@]}"
			pids=()
		fi
	done
	for code in $(seq 1 64); do cat "$TMP/kmp.$code"; done > "$TMP/kmp.jsonl"
	n=$(jq -r '.values[].unit // empty' "$TMP/kmp.jsonl" | sort -u | wc -l)
	[ "$n" -ge 55 ]
	# scaled units leave in the base unit, ten times the value, exactly
	! jq -r '.values[].unit // empty' "$TMP/kmp.jsonl" | grep -q 'x10$' || false
	run jq -c 'select(.device | test("unit0x3[789]")) | [.device, .values.energy.value, .values.energy.unit]' "$TMP/kmp.jsonl"
	assert_output - <<'EOF'
["unit0x37",125,"m3"]
["unit0x38",125,"t"]
["unit0x39",125,"GJ"]
EOF
	mqttpub -p "$BROKER_PORT" -t heat --homeassistant < "$TMP/kmp.jsonl"
	stop_capture
	run python3 "$CHECK" "$TMP/cap"
	echo "$output"
	[ "$status" -eq 0 ]
	# 8 P1 devices, 64 MULTICAL ones, each its own Home Assistant device
	[[ "${lines[0]}" == *" configs, 72 devices, "* ]]
}

@test "--json and --json-values: templates render on every state, also a reading that lacks the value" {
	start_broker
	start_capture
	for mode in --json --json-values; do
		{
			p1sim -P 50-2mbus -n 2 -f --seed 7 | p1read -d p1 - 2> /dev/null
			kmp_lines 0x02
			# the same meters again, with values left unanswered or null
			p1sim -P 50 -n 1 -f --seed 7 | p1read -d p1 -p electricity_used_tariff_1 - 2> /dev/null
			echo '{"type":"multical","device":"unit0x02","values":{"flow":{"value":null,"unit":"l/h"}}}'
		} | mqttpub -p "$BROKER_PORT" -t "m$mode" "$mode" --homeassistant
	done
	stop_capture
	run python3 "$CHECK" --expect-missing 40 "$TMP/cap"
	echo "$output"
	[ "$status" -eq 0 ]
	# the --json entities of both devices are there, lacking values rendered
	[[ "${lines[0]}" == *" configs, 4 devices, "* ]]
	grep -q ' m--json/dsmr/p1 ' "$TMP/cap"
}

@test "two devices on one stdin: two Home Assistant devices, both with availability" {
	start_broker
	start_capture
	{
		p1sim -P 42 -n 1 -f --seed 7 | p1read -d first - 2> /dev/null
		p1sim -P 42 -n 1 -f --seed 7 | p1read -d second - 2> /dev/null
		kmp_lines 0x08
	} | mqttpub -p "$BROKER_PORT" --homeassistant
	stop_capture
	run python3 "$CHECK" "$TMP/cap"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *" configs, 3 devices, "* ]]
	# the same meter id read twice stays two devices, serial_number tells it
	run sh -c "grep -h 'homeassistant/sensor/meters_dsmr_.*/equipment_identifier/config' $TMP/cap | cut -d' ' -f3 | xxd -r -p | jq -c '[.device.identifiers[0], .device.serial_number, .availability_topic]' | sort -u"
	assert_output - <<'EOF'
["meter2mqtt_meters_dsmr_first","E0034600892374487","meters/dsmr/first/status"]
["meter2mqtt_meters_dsmr_second","E0034600892374487","meters/dsmr/first/status"]
EOF
}

@test "a text message of 1,024 characters: the state fits 255, the attribute holds all of it" {
	start_broker
	start_capture
	# DSMR's longest (1024 bytes), and one of 1024 characters of 3 bytes
	# each, to see the cut fall between characters
	python3 -c 'import sys; sys.stdout.write(("Storing op 3 december, " * 50)[:1024])' > "$TMP/text"
	python3 -c 'import sys; sys.stdout.write(("Störung 電 " * 110)[:1024])' > "$TMP/wide"
	[ "$(python3 -c 'import sys; print(len(open(sys.argv[1]).read()))' "$TMP/wide")" -eq 1024 ]
	for mode in "" --json --json-values; do
		{
			p1sim -P 50 -n 1 -f --message "$(cat "$TMP/text")" | p1read - 2> /dev/null
			jq -cn --rawfile t "$TMP/wide" '{type:"dsmr",device:"wide",values:{text_message_2:{value:$t}}}'
		} | mqttpub -p "$BROKER_PORT" -t "m$mode" $mode --homeassistant
	done
	stop_capture
	run python3 "$CHECK" --expect-text "text_message=$TMP/text" --expect-text "text_message_2=$TMP/wide" "$TMP/cap"
	echo "$output"
	[ "$status" -eq 0 ]
	# the reader's value itself is published whole
	run sh -c "grep -h ' m/dsmr/dsmr/text_message ' $TMP/cap | cut -d' ' -f3 | xxd -r -p"
	assert_output "$(cat "$TMP/text")"
}

@test "an empty value is published, but never retained (it would delete the retained value)" {
	start_broker
	echo '{"type":"dsmr","device":"d","values":{"text_message":{"value":"hello"}}}' | mqttpub -p "$BROKER_PORT"
	echo '{"type":"dsmr","device":"d","values":{"text_message":{"value":""}}}' | mqttpub -p "$BROKER_PORT"
	run mosquitto_sub -p "$BROKER_PORT" -t meters/dsmr/d/text_message -C 1 -W 3
	assert_output hello
}

@test "a killed pipeline: every device's entities go unavailable by the will" {
	start_broker
	start_capture
	mqttpub_on_fifo -p "$BROKER_PORT" --homeassistant --expire-after 600
	echo '{"type":"dsmr","device":"a","values":{"power":{"value":1,"unit":"kW"}}}' >&7
	echo '{"type":"multical","device":"b","values":{"power":{"value":2,"unit":"kW"}}}' >&7
	wait_for 100 grep -q ' homeassistant/sensor/meters_multical_b/power/config ' "$TMP/cap"
	run python3 "$CHECK" --available-at "$(date +%s.%N)" "$TMP/cap"
	assert_output - <<'EOF'
meters_dsmr_a_power available
meters_multical_b_power available
EOF
	kill -KILL "$MQTTPUB_PID"
	wait_for 300 grep -q ' meters/dsmr/a/status 6f66666c696e65$' "$TMP/cap"
	run python3 "$CHECK" --available-at "$(date +%s.%N)" "$TMP/cap"
	assert_output - <<'EOF'
meters_dsmr_a_power unavailable: offline
meters_multical_b_power unavailable: offline
EOF
}

# expired_after_last_state UID: true once, by the capture, Home Assistant
# shows UID expired while its status is still online.
expired_now() {
	python3 "$CHECK" --available-at "$(date +%s.%N)" "$TMP/cap" | grep -qx "$1 unavailable: expired"
}

@test "a stopped reader: the entities expire after --expire-after, the status stays online" {
	start_broker
	start_capture
	mqttpub_on_fifo -p "$BROKER_PORT" --homeassistant --expire-after 2
	echo '{"type":"dsmr","device":"a","values":{"power":{"value":1,"unit":"kW"}}}' >&7
	wait_for 100 grep -q ' meters/dsmr/a/power 31$' "$TMP/cap"
	local last
	last=$(awk '$2 == "meters/dsmr/a/power" { t = $1 } END { print t }' "$TMP/cap")
	# by the capture: available until 2 s after the last value, then expired
	run python3 "$CHECK" --available-at "$(awk -v t="$last" 'BEGIN { printf "%.3f", t + 1.5 }')" "$TMP/cap"
	assert_output "meters_dsmr_a_power available"
	wait_for 300 expired_now meters_dsmr_a_power
	run python3 "$CHECK" --available-at "$(date +%s.%N)" "$TMP/cap"
	assert_output "meters_dsmr_a_power unavailable: expired"
	grep -q ' meters/dsmr/a/status 6f6e6c696e65$' "$TMP/cap"
	! grep -q ' meters/dsmr/a/status 6f66666c696e65$' "$TMP/cap" || false
	exec 7>&-
}

@test "--one-shot for cron polls: available between polls, expired when the polls stop, offline when killed" {
	start_broker
	start_capture
	local poll='{"type":"multical","device":"heat","values":{"energy":{"value":1.5,"unit":"GJ"}}}'
	run mqttpub -p "$BROKER_PORT" --homeassistant --one-shot <<< "$poll"
	[ "$status" -eq 2 ] # without --expire-after a stopped poll would never show
	for i in 1 2; do
		mqttpub -p "$BROKER_PORT" --homeassistant --one-shot --expire-after 3 <<< "$poll"
	done
	stop_capture
	# the status never went offline: between polls the entity stays
	! grep -q ' meters/multical/heat/status 6f66666c696e65$' "$TMP/cap" || false
	run python3 "$CHECK" --available-at "$(date +%s.%N)" "$TMP/cap"
	assert_output "meters_multical_heat_energy available"
	wait_for 300 expired_now meters_multical_heat_energy
	# a poll that dies leaves the will (the status emptied first, so that
	# "online" comes from this poll's connection)
	mosquitto_pub -p "$BROKER_PORT" -t meters/multical/heat/status -r -n
	mqttpub_on_fifo -p "$BROKER_PORT" --homeassistant --one-shot --expire-after 3
	echo "$poll" >&7
	wait_for 100 sh -c "mosquitto_sub -p $BROKER_PORT -t meters/multical/heat/status -C 1 -W 1 | grep -qx online"
	kill -KILL "$MQTTPUB_PID"
	wait_for 300 sh -c "mosquitto_sub -p $BROKER_PORT -t meters/multical/heat/status -C 1 -W 1 | grep -qx offline"
}

@test "the checker refuses what Home Assistant refuses" {
	hexof() { printf '%s' "$1" | xxd -p | tr -d '\n'; }
	local dev='"device":{"identifiers":["x"]},"availability_topic":"s"'
	{
		echo "s $(hexof online)"
		echo "homeassistant/sensor/n/a/config $(hexof '{"unique_id":"a","state_topic":"t/a","device_class":"energy","unit_of_measurement":"GJx10","state_class":"measurement",'"$dev"'}')"
		echo "homeassistant/sensor/n/b/config $(hexof '{"unique_id":"b","state_topic":"t/b","state_class":"measurement",'"$dev"'}')"
		echo "homeassistant/sensor/n/c/config $(hexof '{"unique_id":"c","state_topic":"t/c","device_class":"enum","options":["1"],"state_class":"measurement",'"$dev"'}')"
		echo "homeassistant/sensor/n/d/config $(hexof '{"unique_id":"d","state_topic":"u","value_template":"{{ value_json.values.flow.value }}","unit_of_measurement":"L/h","state_class":"measurement",'"$dev"'}')"
		echo "u $(hexof '{"values":{}}')"
		echo "t/e $(hexof "$(printf '%0300d' 0)")"
		echo "homeassistant/sensor/n/e/config $(hexof '{"unique_id":"e","state_topic":"t/e","device":{"identifiers":["y"]}}')"
	} > "$TMP/bad"
	run python3 "$CHECK" "$TMP/bad"
	[ "$status" -eq 1 ]
	assert_line "a: [UNITS]: energy does not take unit 'GJx10'"
	assert_line "a: [STATE]: energy does not take state_class measurement"
	assert_line "a: [ENERGY]: energy with state_class measurement: the Energy dashboard refuses it"
	assert_line "b: counter or code: a measurement without a unit"
	assert_line "c: [SENSOR] options: not with state_class or unit_of_measurement"
	assert_line --partial "d: template: UndefinedError"
	assert_line "e: availability: none: Home Assistant would show it available forever"
	assert_line "e: [SENSOR] state too long: 300 characters"
	assert_line --partial "holds two pipelines: t and u"
}
