#!/usr/bin/env bats
# p1read --meters: many meters in one process (a gateway of many meters,
# README).  Each meter's lines are the lines p1read would print for it
# alone (compared with p1read on p1sim's own bytes for the same seed and
# clock), under its own device id; a meter lost, silent or never there is
# retried on its own while the others go on; a mistake in the meters file
# names its line and reads nothing.

load helper
bats_require_minimum_version 1.5.0

setup() { setup_tmp; }
teardown() { kill_tracked; }

T1=2026-11-27T10:00:00Z T2=2026-12-24T18:00:00Z

# sim PORT ARGS...: p1sim on tcp PORT, tracked; waits until it listens.
sim() {
	local port=$1
	shift
	p1sim -o "tcp:$port" "$@" > /dev/null 3>&- &
	SIM=$!
	track_pid $SIM
	wait_for 50 port_listening "$port"
}

# many FILE ARGS...: p1read --meters FILE in the background, tracked.
many() {
	local file=$1
	shift
	p1read --meters "$file" "$@" > "$TMP/out" 2> "$TMP/err" 3>&- &
	READER=$!
	track_pid $READER
}

# of DEVICE: the reading lines of DEVICE in $TMP/out.
of() { jq -c --arg d "$1" 'select(.device == $d and .values)' "$TMP/out"; }
count_of() { [ "$(of "$1" | wc -l)" -ge "$2" ]; }

# same_as DEVICE REF: DEVICE's readings are readings of REF, in REF's
# order, and there is at least one.
same_as() {
	of "$1" > "$TMP/$1.live"
	jq -e -n --slurpfile live "$TMP/$1.live" --slurpfile ref "$2" '
		($live | length) > 0 and
		([$live[] | [.meter, .values]] as $l | [$ref[] | [.meter, .values]] as $r |
		 ($r | index($l[0:1])) as $at | $at != null and $r[$at:$at + ($l | length)] == $l)' >/dev/null
}

@test "three TCP meters and a serial one in one p1read: each device's lines are its meter's, in order" {
	local a b c
	a=$(free_port) b=$(free_port) c=$(free_port)
	sim "$a" -r 5 --step 1 -n 200 --seed 31 --start-time $T1
	sim "$b" -P be -r 5 --step 1 -n 200 --seed 32 --start-time $T1
	sim "$c" -r 5 --step 1 -n 200 --seed 33 --start-time $T2
	start_pty_pair line
	cat > "$TMP/meters" <<-EOF
		# one meter a line: its options and its port
		-d north tcp://127.0.0.1:$a
		-d south --dsmr be tcp://127.0.0.1:$b

		--device=east --port tcp://127.0.0.1:$c
		-d west $TMP/line.b
	EOF
	many "$TMP/meters"
	wait_for 50 has_open $READER "$TMP/line.b"
	p1sim -o "$TMP/line.a" -n 5 -r 10 --step 1 --seed 34 --start-time $T2
	wait_for 100 count_of west 5
	wait_for 100 count_of north 5
	wait_for 100 count_of south 5
	wait_for 100 count_of east 5
	p1sim -f -n 200 --step 1 --seed 31 --start-time $T1 | p1read - > "$TMP/ref.north"
	p1sim -f -P be -n 200 --step 1 --seed 32 --start-time $T1 | p1read --dsmr be - > "$TMP/ref.south"
	p1sim -f -n 200 --step 1 --seed 33 --start-time $T2 | p1read - > "$TMP/ref.east"
	p1sim -f -n 5 --step 1 --seed 34 --start-time $T2 | p1read - > "$TMP/ref.west"
	same_as north "$TMP/ref.north"
	same_as south "$TMP/ref.south"
	same_as east "$TMP/ref.east"
	[ "$(of west | jq -c '[.meter, .values]')" = "$(jq -c '[.meter, .values]' "$TMP/ref.west")" ]
	[ "$(jq -r .meter.version "$TMP/ref.south" | sort -u)" != "$(jq -r .meter.version "$TMP/ref.north" | sort -u)" ]
	# Nothing but whole reading lines of these four, and nothing said.
	[ "$(jq -r .device "$TMP/out" | sort -u | tr '\n' ' ')" = "east north south west " ]
	[ ! -s "$TMP/err" ]
}

@test "options before --meters apply to every meter; a meter's own line adds to them" {
	local a b
	a=$(free_port) b=$(free_port)
	sim "$a" -r 5 --seed 35
	sim "$b" -r 5 --seed 36
	printf -- '-d a tcp://127.0.0.1:%s\n-d b -p electricity_used_tariff_1 tcp://127.0.0.1:%s\n' "$a" "$b" > "$TMP/meters"
	many "$TMP/meters" -p current_electricity_usage --gather 10
	wait_for 100 count_of a 2
	wait_for 100 count_of b 2
	[ "$(of a | jq -c '.values | keys' | sort -u)" = '["current_electricity_usage"]' ]
	[ "$(of b | jq -c '.values | keys' | sort -u)" = '["current_electricity_usage","electricity_used_tariff_1"]' ]
}

@test "one meter's dongle killed and back: it reconnects on its own, the other never stops" {
	local a b n
	a=$(free_port) b=$(free_port)
	sim "$a" -r 10 --step 1 -n 1000 --seed 37 --start-time $T1
	sim "$b" -r 10 --step 1 -n 1000 --seed 38 --start-time $T1
	local bsim=$SIM
	printf -- '-d a tcp://127.0.0.1:%s\n-d b tcp://127.0.0.1:%s\n' "$a" "$b" > "$TMP/meters"
	many "$TMP/meters" --gather 20
	wait_for 100 count_of b 3
	kill -TERM $bsim
	wait_gone $bsim 50
	wait_for 50 grep -q "p1read: b: tcp://127.0.0.1:$b: lost: connection closed by peer; reconnecting" "$TMP/err"
	# While b is away, a goes on.
	n=$(of a | wc -l)
	wait_for 100 count_of a $((n + 5))
	sim "$b" -r 10 --step 1 -n 1000 --seed 39 --start-time $T2
	wait_for 200 eval '[ "$(of b | grep -c 2026-12-24)" -ge 3 ]'
	grep -q "p1read: b: tcp://127.0.0.1:$b: connected again" "$TMP/err"
	[ "$(grep -c lost "$TMP/err")" = 1 ]
	! grep -q "p1read: a:" "$TMP/err" || false
	p1sim -f -n 1000 --step 1 --seed 37 --start-time $T1 | p1read - > "$TMP/ref.a"
	same_as a "$TMP/ref.a"
}

@test "a meter never there and one gone silent: health lines say so for that device alone" {
	local a b dead
	a=$(free_port) b=$(free_port) dead=$(free_port)
	sim "$a" -r 4 --seed 40
	sim "$b" -r 4 --seed 41
	local bsim=$SIM
	printf -- '-d a tcp://127.0.0.1:%s\n-d b --silence-timeout 1 tcp://127.0.0.1:%s\n-d gone tcp://127.0.0.1:%s\n' \
		"$a" "$b" "$dead" > "$TMP/meters"
	many "$TMP/meters" --health-interval 1
	wait_for 100 count_of b 2
	kill -STOP $bsim
	wait_for 100 grep -q "p1read: b: tcp://127.0.0.1:$b: lost: no data for 1 s; reconnecting" "$TMP/err"
	kill -CONT $bsim
	wait_for 100 eval '[ "$(jq -c "select(.device == \"gone\" and .health)" "$TMP/out" | wc -l)" -ge 2 ]'
	grep -q "p1read: gone: tcp://127.0.0.1:$dead: cannot open: Connection refused; retrying every 30 s at most" "$TMP/err"
	[ "$(grep -c 'gone: .*cannot open' "$TMP/err")" = 1 ]
	jq -e -s '[.[] | select(.device == "gone" and .health)] | length >= 2 and all(.health.link == "down"
		and .health.telegrams == 0 and (.health.last_error | test("cannot open: Connection refused")))' "$TMP/out" >/dev/null
	jq -e -s '[.[] | select(.device == "b" and .health)] | any(.health.link == "down"
		and (.health.last_error | test("lost: no data for 1 s")))' "$TMP/out" >/dev/null
	jq -e -s '[.[] | select(.device == "a" and .health)] | length >= 1 and all(.health.link == "up")' "$TMP/out" >/dev/null
	n=$(of b | wc -l)
	wait_for 100 count_of b $((n + 2))
}

@test "a dongle that never answers the connection holds no other meter up; it is given up after 5 s and retried" {
	local a stuck
	a=$(free_port) stuck=$(free_port)
	sim "$a" -r 10 --seed 46
	# A listener whose queue is full: the kernel drops further SYNs, so a
	# connect to it neither succeeds nor fails (a dongle that hangs).
	cat > "$TMP/hang.py" <<-'PY'
		import socket, sys, time
		s = socket.socket()
		s.bind(("127.0.0.1", int(sys.argv[1])))
		s.listen(0)
		fill = []
		for i in range(3):
		    c = socket.socket()
		    c.setblocking(False)
		    try:
		        c.connect(("127.0.0.1", int(sys.argv[1])))
		    except BlockingIOError:
		        pass
		    fill.append(c)
		open(sys.argv[2], "w").write("ready")
		time.sleep(3600)
	PY
	python3 "$TMP/hang.py" "$stuck" "$TMP/hang.ready" &
	track_pid $!
	wait_for 50 test -s "$TMP/hang.ready"
	printf -- '-d stuck tcp://127.0.0.1:%s\n-d a tcp://127.0.0.1:%s\n' "$stuck" "$a" > "$TMP/meters"
	many "$TMP/meters" --health-interval 1
	# a's readings come while stuck's connection is still pending...
	wait_for 100 count_of a 3
	! grep -q 'stuck:' "$TMP/err" || false
	# ...which is given up after 5 s, said once, and retried.
	wait_for 150 grep -q "p1read: stuck: tcp://127.0.0.1:$stuck: cannot open: Connection timed out; retrying every 30 s at most" "$TMP/err"
	wait_for 50 eval 'jq -e -s "[.[] | select(.device == \"stuck\" and .health)] | any(.health.link == \"down\")" "$TMP/out" >/dev/null'
	n=$(of a | wc -l)
	wait_for 100 count_of a $((n + 5))
	[ "$(grep -c 'stuck:' "$TMP/err")" = 1 ]
}

@test "faults on one meter are dropped and counted for it, named with its device; the other reads clean" {
	local a b
	a=$(free_port) b=$(free_port)
	sim "$a" -r 20 --step 1 -n 400 --seed 42 --start-time $T1 --fault bitflip=0.2,garbage=0.2,split
	sim "$b" -r 20 --step 1 -n 400 --seed 43 --start-time $T1
	printf -- '-d bad tcp://127.0.0.1:%s\n-d good tcp://127.0.0.1:%s\n' "$a" "$b" > "$TMP/meters"
	many "$TMP/meters" --health-interval 1
	wait_for 100 count_of good 30
	wait_for 100 grep -q 'p1read: bad: telegram [0-9]* at byte [0-9]*: dropped: CRC mismatch' "$TMP/err"
	wait_for 50 eval 'jq -e -s "[.[] | select(.device == \"bad\" and .health)] | last | .health.dropped.crc >= 1" "$TMP/out" >/dev/null'
	kill -TERM $READER
	wait_gone $READER 50
	! grep -q 'p1read: good:' "$TMP/err" || false
	p1sim -f -n 400 --step 1 --seed 43 --start-time $T1 | p1read - > "$TMP/ref.good"
	same_as good "$TMP/ref.good"
	jq -e -s '[.[] | select(.device == "good" and .health)] | length >= 1 and all(.health.dropped == {})' "$TMP/out" >/dev/null
	# What the bad meter printed is its meter's, and less than good's by its drops.
	p1sim -f -n 400 --step 1 --seed 42 --start-time $T1 | p1read - > "$TMP/ref.bad"
	of bad > "$TMP/bad.live"
	[ -s "$TMP/bad.live" ]
	jq -e -n --slurpfile live "$TMP/bad.live" --slurpfile ref "$TMP/ref.bad" \
		'([$live[] | [.meter, .values]] - [$ref[] | [.meter, .values]]) == []' >/dev/null
	[ "$(wc -l < "$TMP/bad.live")" -lt "$(of good | wc -l)" ]
	# The summary at the stop counts the drops.
	grep -q '^p1read: [0-9]* telegrams dropped: .*CRC mismatch' "$TMP/err"
}

@test "per-meter keys: an encrypted meter, its key file under a quoted path, beside a plaintext one" {
	local a b k=0123456789ABCDEF0123456789ABCDEF
	a=$(free_port) b=$(free_port)
	mkdir "$TMP/the keys"
	printf '%s\n' "$k" > "$TMP/the keys/lux"
	chmod 600 "$TMP/the keys/lux"
	sim "$a" -P lux --key-file "$TMP/the keys/lux" -r 5 --step 1 -n 100 --seed 44 --start-time $T1
	sim "$b" -r 5 --seed 45
	printf -- "-d lux --key-file '%s' tcp://127.0.0.1:%s\n-d plain tcp://127.0.0.1:%s\n" \
		"$TMP/the keys/lux" "$a" "$b" > "$TMP/meters"
	many "$TMP/meters"
	wait_for 100 count_of lux 3
	wait_for 100 count_of plain 3
	of lux | jq -e '.security.authenticated == true and .security.frame_counter > 0' >/dev/null
	! of plain | jq -e 'has("security")' >/dev/null || false
	p1sim -f -P lux --key-file "$TMP/the keys/lux" -n 100 --step 1 --seed 44 --start-time $T1 |
		p1read --key-file "$TMP/the keys/lux" - > "$TMP/ref.lux"
	same_as lux "$TMP/ref.lux"
	[ ! -s "$TMP/err" ]
}

@test "a mistake in the meters file: exit 2, its file and line named, no meter read" {
	local port
	port=$(free_port)
	bad() {
		printf -- "$1" > "$TMP/m"
		run --separate-stderr p1read --meters "$TMP/m"
		[ "$status" -eq 2 ] || fail "status $status for: $1"
		[[ "$stderr" == "p1read: $TMP/m:$2: $3"* ]] || fail "for: $1: $stderr"
		[ -z "$output" ]
	}
	bad "-d a tcp://127.0.0.1:$port\n-d b --frob tcp://127.0.0.1:$port\n" 2 "unknown option: --frob"
	bad "-d a tcp://127.0.0.1:$port\n# a comment\n-d a tcp://127.0.0.1:$port\n" 3 "device 'a' again (line 1 has it already)"
	bad "-d a $TMP/capture\n" 1 "$TMP/capture: not a serial port or tcp://"
	bad "-d a\n" 1 "no port: each meter needs its serial port or tcp://host:port"
	bad "-d a --meters x tcp://127.0.0.1:$port\n" 1 "--meters: not in a meters file"
	bad "-d a --list tcp://127.0.0.1:$port\n" 1 "--list: not in a meters file"
	bad "-d 'a tcp://127.0.0.1:$port\n" 1 "an unclosed quote"
	bad "-d a/b tcp://127.0.0.1:$port\n" 1 "--device: 'a/b': expected"
	bad "-d a tcp://127.0.0.1:$port tcp://127.0.0.1:$port\n" 1 "more than one port"
	printf '# nothing\n\n' > "$TMP/m"
	run --separate-stderr p1read --meters "$TMP/m"
	[ "$status" -eq 2 ] && [ "$stderr" = "p1read: $TMP/m: no meters in it" ]
	run --separate-stderr p1read --meters "$TMP/none"
	[ "$status" -eq 2 ] && [[ "$stderr" == "p1read: $TMP/none: No such file"* ]]
	run --separate-stderr p1read --gather 5 "tcp://127.0.0.1:$port"
	[ "$status" -eq 2 ] && [[ "$stderr" == "p1read: --gather: only with --meters"* ]]
	printf -- '-d a tcp://127.0.0.1:%s\n' "$port" > "$TMP/m"
	run --separate-stderr p1read --meters "$TMP/m" "tcp://127.0.0.1:$port"
	[ "$status" -eq 2 ] && [[ "$stderr" == "p1read: a port and --meters: the ports are in the meters file"* ]]
	run --separate-stderr p1read --meters "$TMP/m" --gather 1001
	[ "$status" -eq 2 ] && [[ "$stderr" == "p1read: --gather: '1001': expected milliseconds, 0 to 1000"* ]]
	# --check reads the whole file and opens nothing.
	run --separate-stderr p1read --check --meters "$TMP/m"
	[ "$status" -eq 0 ] && [ -z "$stderr" ] && [ -z "$output" ]
	printf -- '-d a tcp://127.0.0.1:%s\n-d b --bogus\n' "$port" > "$TMP/m"
	run --separate-stderr p1read --check --meters "$TMP/m"
	[ "$status" -eq 2 ] && [[ "$stderr" == "p1read: $TMP/m:2: unknown option: --bogus"* ]]
}
