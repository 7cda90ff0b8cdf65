#!/usr/bin/env bats
# kmpread against kmpsim through socat pseudo-terminals (and once over TCP):
# exact values and units, stuffing, negative values, echo, bad CRCs, a
# silent meter, once mode; and the reader command-line contract.

load helper
bats_require_minimum_version 1.5.0

setup() { setup_tmp; }
teardown() { kill_tracked; }

# start_sim KMPSIM-OPTIONS...: kmpsim on one end of a socat pair; the
# other end is $PORT.  kmpsim logs every request to $TMP/sim.log.
start_sim() {
	start_pty_pair kmp
	kmpsim -v "$@" "$TMP/kmp.a" 2> "$TMP/sim.log" &
	SIM_PID=$!
	track_pid "$SIM_PID"
	PORT=$TMP/kmp.b
	wait_for 50 sim_has_tty
}

sim_has_tty() {
	local pts
	pts=$(readlink "$TMP/kmp.a")
	ls -l "/proc/$SIM_PID/fd" 2>/dev/null | grep -q -- "-> $pts\$"
}

# start_reader KMPREAD-OPTIONS...: kmpread in the background, lines to
# $TMP/out, messages to $TMP/err.
start_reader() {
	kmpread "$@" > "$TMP/out" 2> "$TMP/err" &
	READER_PID=$!
	track_pid "$READER_PID"
}

lines_at_least() { [ "$(grep -c . "$TMP/out")" -ge "$1" ]; }
err_has() { grep -q -- "$1" "$TMP/err"; }

@test "--list prints id, name and meaning, tab-separated, energy and power among them" {
	run kmpread --list
	assert_success
	assert_line "$(printf '60\tenergy\tE1 heat energy')"
	assert_line "$(printf '80\tpower\tactual power')"
	assert_line "$(printf '1004\toperating_hours\toperating-hour counter')"
	run sh -c "kmpread --list | awk -F'\t' 'NF != 3' | wc -l"
	assert_output 0
}

@test "--list-options names the contract's long options" {
	run kmpread --list-options
	assert_success
	for o in device port connection host parameters poll-interval serial baudrate check list list-ports \
		list-options timeout byte-timeout once help version; do
		assert_line "$o"
	done
}

@test "--check: good options exit 0 and touch no port" {
	run kmpread --check /dev/ttyNOSUCH0
	assert_success
	assert_output ""
	run kmpread --check --device=kitchen --connection=serial_port --port=/dev/ttyUSB0 \
		--parameters=energy,power,0x56,1004 --poll-interval=900 --serial=2400 --timeout=2000
	assert_success
	run kmpread --check --connection=tcp --host=127.0.0.1 --port=2001
	assert_success
	run kmpread --check tcp://192.0.2.1:4001
	assert_success
}

@test "--check and misuse: bad options exit 2 with the reason named" {
	run --separate-stderr kmpread --check -p energy,nosuch /dev/ttyUSB0
	assert_failure 2
	[[ "$stderr" == "kmpread: --parameters: unknown register: nosuch"* ]] || fail "$stderr"
	run --separate-stderr kmpread --check
	assert_failure 2
	[[ "$stderr" == *"no port given"* ]] || fail "$stderr"
	run --separate-stderr kmpread --check -i 0 /dev/ttyUSB0
	assert_failure 2
	[[ "$stderr" == *"--poll-interval: '0': expected a whole number from 1"* ]] || fail "$stderr"
	run --separate-stderr kmpread --check -s 1234:8N2 /dev/ttyUSB0
	assert_failure 2
	[[ "$stderr" == *"--serial 1234:8N2"* ]] || fail "$stderr"
	run --separate-stderr kmpread --check --connection=stdin /dev/ttyUSB0
	assert_failure 2
	[[ "$stderr" == *"--connection stdin: kmpread must talk to the meter"* ]] || fail "$stderr"
	run --separate-stderr kmpread --check -d 'bad id' /dev/ttyUSB0
	assert_failure 2
	[[ "$stderr" == *"--device bad id"* ]] || fail "$stderr"
	run --separate-stderr kmpread --check --timeout=soon /dev/ttyUSB0
	assert_failure 2
	run --separate-stderr kmpread --check tcp://host-without-port /dev/ttyUSB0
	assert_failure 2
	run --separate-stderr kmpread --check --connection=tcp --port=2001
	assert_failure 2
	[[ "$stderr" == *"--connection=tcp needs --host"* ]] || fail "$stderr"
	run --separate-stderr kmpread --bogus /dev/ttyUSB0
	assert_failure 2
	[[ "$stderr" == *bogus* ]] || fail "$stderr"
}

@test "the default set: all 9 registers with exact values, units and ids, in 2 requests" {
	start_sim
	run --separate-stderr kmpread -1 -d kitchen "$PORT"
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	run jq -c -S '{type, device, meter, values}' <<< "$output"
	assert_output '{"device":"kitchen","meter":{"serial":"19088743","type":"0x0004","version":"F1"},"type":"multical","values":{"energy":{"register":60,"unit":"MWh","value":55.006},"flow":{"register":74,"unit":"l/h","value":312},"flow_temperature":{"register":86,"unit":"C","value":53.65},"info_code":{"register":99,"value":0},"operating_hours":{"register":1004,"unit":"h","value":7126},"power":{"register":80,"unit":"kW","value":12.3},"return_temperature":{"register":87,"unit":"C","value":45.78},"temperature_difference":{"register":89,"unit":"K","value":7.87},"volume":{"register":68,"unit":"m3","value":1875.56}}}'
	run grep -c 'GetRegister' "$TMP/sim.log"
	assert_output 2
	run grep -c 'request' "$TMP/sim.log"
	assert_output 4  # and GetSerialNo, GetType: once per connection
}

@test "exact digits: trailing zeros kept, large exponent written in full" {
	start_sim --register volume_2=0.00:m3 --register max_power_year=19591204e17:kW
	run kmpread -1 -p volume_2,max_power_year,energy "$PORT"
	assert_success
	assert_output --partial '"volume_2":{"value":0.00,"unit":"m3","register":69}'
	assert_output --partial '"max_power_year":{"value":1959120400000000000000000,"unit":"kW","register":128}'
	assert_output --partial '"energy":{"value":55.006,"unit":"MWh","register":60}'
}

@test "values, ids and CRCs whose bytes need stuffing" {
	# mantissas 0x0D1B4080 and 0x80061B0D; ids 0x0040, 0x0080 and 0x1B06
	start_sim --register energy=219889792e-3:kWh --register tariff_2=2147883789:0 \
		--register 0x80=64:kW --register 0x1B06=6.5:C --serial-number 218972288
	run kmpread -1 -p energy,tariff_2,max_power_year,0x1B06 "$PORT"
	assert_success
	assert_output --partial '"meter":{"serial":"218972288",'
	assert_output --partial '"energy":{"value":219889.792,"unit":"kWh","register":60}'
	assert_output --partial '"tariff_2":{"value":2147883789,"register":64}'
	assert_output --partial '"max_power_year":{"value":64,"unit":"kW","register":128}'
	assert_output --partial '"register_6918":{"value":6.5,"unit":"C","register":6918}'
}

@test "negative values and negative exponents" {
	start_sim --register flow_temperature=-12.5:C --register temperature_difference=-0.07:K \
		--register power=-3e2:kW
	run kmpread -1 -p flow_temperature,temperature_difference,power "$PORT"
	assert_success
	assert_output --partial '"flow_temperature":{"value":-12.5,"unit":"C","register":86}'
	assert_output --partial '"temperature_difference":{"value":-0.07,"unit":"K","register":89}'
	assert_output --partial '"power":{"value":-300,"unit":"kW","register":80}'
}

@test "the unit comes from the reply: GJ and kWh meters" {
	start_sim --register energy=1234.5:GJ --register volume=7:m3/h
	run kmpread -1 -p energy,volume "$PORT"
	assert_success
	assert_output --partial '"energy":{"value":1234.5,"unit":"GJ","register":60}'
	assert_output --partial '"volume":{"value":7,"unit":"m3/h","register":68}'
}

@test "an IR head echoing the request: the echo is discarded" {
	start_sim --echo
	run --separate-stderr kmpread -1 -p energy,power "$PORT"
	assert_success
	assert_output --partial '"energy":{"value":55.006,"unit":"MWh","register":60},"power":{"value":12.3,"unit":"kW","register":80}'
	[ -z "$stderr" ] || fail "stderr: $stderr"
}

@test "a corrupted reply is retried, then the reading is printed" {
	start_sim --corrupt 2
	run --separate-stderr kmpread -1 -p energy "$PORT"
	assert_success
	assert_output --partial '"energy":{"value":55.006,"unit":"MWh","register":60}'
	[[ "$stderr" == *"register request 1 of 1: broken reply: bad CRC (attempt 1 of 3); retrying"* ]] || fail "$stderr"
	[[ "$stderr" == *"(attempt 2 of 3); retrying"* ]] || fail "$stderr"
	[[ "$stderr" == *"register request 1 of 1: answered on attempt 3 of 3"* ]] || fail "$stderr"
}

@test "three bad replies: the poll fails, nothing printed, -1 exits 1" {
	start_sim --corrupt 3
	run --separate-stderr kmpread -1 -p energy "$PORT"
	assert_failure 1
	assert_output ""
	[[ "$stderr" == *"poll failed: register request 1 of 1: broken reply: bad CRC (3 attempts)"* ]] || fail "$stderr"
	run grep -c GetRegister "$TMP/sim.log"
	assert_output 3
}

@test "a silent meter: polls fail, kmpread lives on and recovers when it answers" {
	start_sim --silent
	start_reader -i 1 --timeout 150 -p energy "$PORT"
	wait_for 100 err_has "poll failed: register request 1 of 1: no reply within 150 ms (3 attempts)"
	kill -0 "$READER_PID"
	[ ! -s "$TMP/out" ]
	kill -USR1 "$SIM_PID"
	wait_for 100 lines_at_least 1
	kill -0 "$READER_PID"
	run jq -c .values "$TMP/out"
	assert_line '{"energy":{"value":55.006,"unit":"MWh","register":60}}'
}

@test "a meter that falls asleep: kmpread keeps polling, one message per failed poll" {
	start_sim --sleep-after 4
	start_reader -i 1 --timeout 100 -p energy "$PORT"
	wait_for 100 lines_at_least 2
	wait_for 100 err_has "poll failed"
	kill -0 "$READER_PID"
	kill -USR1 "$SIM_PID"
	wait_for 100 lines_at_least 3
	run jq -r .values.energy.value "$TMP/out"
	assert_line --index 2 55.006
}

@test "a register the meter does not answer is reported once and left out" {
	start_sim --drop power
	start_reader -i 1 -p energy,power "$PORT"
	wait_for 100 lines_at_least 2
	run jq -c .values "$TMP/out"
	assert_line --index 0 '{"energy":{"value":55.006,"unit":"MWh","register":60}}'
	assert_line --index 1 '{"energy":{"value":55.006,"unit":"MWh","register":60}}'
	run grep -c "register 80 (power): not answered by the meter; left out" "$TMP/err"
	assert_output 1
}

@test "more than 8 registers take more requests, 8 at most each" {
	start_sim
	run kmpread -1 -p 60,80,68,74,86,87,89,1004,99,63,69,1001,1002,1003,266,113,65 "$PORT"
	assert_success
	run grep -c 'GetRegister' "$TMP/sim.log"
	assert_output 3
	run grep -o 'GetRegister [0-9,]*' "$TMP/sim.log"
	assert_line --index 0 "GetRegister 60,80,68,74,86,87,89,1004"
	assert_line --index 1 "GetRegister 99,63,69,1001,1002,1003,266,113"
	assert_line --index 2 "GetRegister 65"
}

@test "-1 once mode: one line, exit 0; with no meter, exit 1 and nothing printed" {
	start_sim
	run kmpread -1 -p energy "$PORT"
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	kill "$SIM_PID"
	wait_gone "$SIM_PID" 50
	run --separate-stderr kmpread -1 --timeout 100 -p energy "$PORT"
	assert_failure 1
	assert_output ""
	run --separate-stderr kmpread -1 "$TMP/no-such-tty"
	assert_failure 1
	[[ "$stderr" == *"poll failed: cannot open $TMP/no-such-tty"* ]] || fail "$stderr"
}

@test "kmpsim on its own pseudo-terminal (pty:LINK)" {
	kmpsim pty:"$TMP/meter" 2> "$TMP/sim.log" &
	track_pid $!
	wait_for 50 test -L "$TMP/meter"
	run kmpread -1 -p energy "$TMP/meter"
	assert_success
	assert_output --partial '"energy":{"value":55.006,"unit":"MWh","register":60}'
}

@test "over TCP (ser2net style): tcp://host:port and --connection=tcp --host" {
	local port
	port=$(free_port)
	kmpsim "tcp:127.0.0.1:$port" 2> "$TMP/sim.log" &
	track_pid $!
	wait_for 50 port_listening "$port"
	run kmpread -1 -p power "tcp://127.0.0.1:$port"
	assert_success
	assert_output --partial '"power":{"value":12.3,"unit":"kW","register":80}'
	run kmpread -1 --connection=tcp --host=127.0.0.1 --port="$port" --parameters=power --device=heat
	assert_success
	assert_output --partial '"device":"heat"'
}

@test "kmpsim: bad options exit 2" {
	run --separate-stderr kmpsim --register energy=abc pty:"$TMP/x"
	assert_failure 2
	[[ "$stderr" == *"not a value: abc"* ]] || fail "$stderr"
	run --separate-stderr kmpsim --register nosuch=1 pty:"$TMP/x"
	assert_failure 2
	run --separate-stderr kmpsim --register energy=1:furlong pty:"$TMP/x"
	assert_failure 2
	[[ "$stderr" == *"unknown unit: furlong"* ]] || fail "$stderr"
	run --separate-stderr kmpsim
	assert_failure 2
}

@test "a lost TCP link: the poll fails, kmpread reconnects and reads again" {
	local port
	port=$(free_port)
	kmpsim "tcp:127.0.0.1:$port" 2> "$TMP/sim.log" &
	local sim=$!
	track_pid "$sim"
	wait_for 50 port_listening "$port"
	start_reader -i 1 --timeout 200 -p energy "tcp://127.0.0.1:$port"
	wait_for 100 lines_at_least 1
	kill "$sim"
	wait_gone "$sim" 50
	wait_for 100 err_has "poll failed"
	kill -0 "$READER_PID"
	kmpsim "tcp:127.0.0.1:$port" 2> "$TMP/sim2.log" &
	track_pid $!
	local before
	before=$(grep -c . "$TMP/out")
	wait_for 100 lines_at_least $((before + 1))
	run jq -r .values.energy.value "$TMP/out"
	assert_line --index "$before" 55.006
	run cat "$TMP/err"
	# closed by peer, reset by peer or a broken pipe, by the timing
	assert_line --regexp "^kmpread: poll failed: register request 1 of 1: (cannot send: )?[A-Za-z ]+$"
	assert_line "kmpread: tcp://127.0.0.1:$port: connected again"
}
