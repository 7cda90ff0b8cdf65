#!/usr/bin/env bats
# influxpub against a real InfluxDB 1.6 and a real mosquitto on loopback:
# readings from p1sim and kmpsim through the whole pipeline land as the
# points influxpub(1) promises, exactly; an InfluxDB outage (and influxpub
# killed during it) loses nothing; a wrong password is one clear error;
# the 2.x API is checked against a stand-in; bad messages are skipped.

load helper
load sinks-lib

setup() {
	setup_tmp
	start_broker "log_type error" "log_type warning" "log_type notice" "log_type information" "log_type subscribe" "log_type unsubscribe"
}
teardown() { kill_tracked; }

# start_influxpub ARGS...: influxpub against the test broker, messages in
# $TMP/influxpub.err; sets INFLUXPUB_PID.
start_influxpub() {
	influxpub -p "$BROKER_PORT" -w "$INFLUX_URL" "$@" 2>> "$TMP/influxpub.err" &
	INFLUXPUB_PID=$!
	track_pid "$INFLUXPUB_PID"
	# Subscribed: the broker says so for both sessions (from the first
	# start on, the persistent sessions keep the subscription).
	wait_for 50 subscribed 2
}

# subscribed N: N sessions of influxpub have subscribed to the readings
# through the shared subscription.
subscribed() {
	[ "$(grep -o 'm2m-influxpub-[^ ]* 1 \$share/m2m-influxpub-[^/]*/meters/+/+' "$TMP/mosquitto.log" | sort -u | grep -c .)" -ge "$1" ]
}

# publish FILE: each reading line of FILE through mqttpub as one message.
publish() {
	local type device
	type=$(head -1 "$1" | jq -r .type)
	device=$(head -1 "$1" | jq -r .device)
	mqttpub -p "$BROKER_PORT" --reading --type "$type" --device "$device" < "$1"
}

points_in() { [ "$(influx_query "SELECT count(*) FROM /.*/" "$1" | jq '[.results[0].series[]?.values[0][1:][]] | max // 0')" -ge "$2" ]; }

@test "p1sim and kmpsim readings land in InfluxDB 1.6 with their exact values and times" {
	start_influxdb
	influx_query 'CREATE DATABASE meters' > /dev/null
	start_influxpub -d meters
	p1sim -n 3 -r 4 --seed 7 -P 50 2>/dev/null | p1read -d house > "$TMP/p1.jsonl"
	[ "$(jq -r .time "$TMP/p1.jsonl" | sort -u | grep -c .)" -eq 3 ] # three points, not one
	local port
	port=$(free_port)
	kmpsim "tcp:127.0.0.1:$port" -r energy=6344e-2:GJ -r volume=123456e-2:m3 -r power=5e0:kW 2>/dev/null &
	track_pid $!
	wait_for 50 port_listening "$port"
	kmpread -1 -d heat "tcp://127.0.0.1:$port" > "$TMP/kmp.jsonl"
	publish "$TMP/p1.jsonl"
	publish "$TMP/kmp.jsonl"
	cat "$TMP/p1.jsonl" "$TMP/kmp.jsonl" > "$TMP/all.jsonl"
	wait_secs 20 influx_matches "$TMP/all.jsonl" meters
	# A few values by name, as a reader of the database sees them.
	run influx_query "SELECT energy, volume, power FROM multical WHERE device='heat'" meters
	assert_output --partial '63.44,1234.56,5]'
	run influx_query "SHOW TAG VALUES FROM dsmr WITH KEY = meter_id" meters
	assert_output --partial "$(head -1 "$TMP/p1.jsonl" | jq -r .meter.id)"
}

# outage ARGS...: InfluxDB stopped for 20 s, influxpub (with ARGS) killed
# meanwhile and started again: every reading lands.
outage() {
	start_influxdb
	influx_query 'CREATE DATABASE meters' > /dev/null
	start_influxpub -d meters "$@"
	# Readings of their own, a second apart (p1read stamps by the host's
	# clock: a fast p1sim gives several the same millisecond).
	local i
	for ((i = 0; i < 40; i++)); do
		printf '{"time":"2026-11-27T10:%02d:%02d.250Z","type":"dsmr","device":"house","values":{"energy":{"value":%d.%03d,"unit":"kWh"},"count":{"value":%d}}}\n' \
			$((i / 60)) $((i % 60)) $((1000 + i)) $((i * 7)) "$i"
	done > "$TMP/p1.jsonl"
	head -10 "$TMP/p1.jsonl" > "$TMP/before.jsonl"
	tail -n +11 "$TMP/p1.jsonl" > "$TMP/during.jsonl"
	publish "$TMP/before.jsonl"
	wait_secs 20 influx_matches "$TMP/before.jsonl" meters
	stop_influxdb
	publish "$TMP/during.jsonl"
	# influxpub has the readings and cannot write them; it must not have
	# told the broker they arrived: kill it the hard way and start again.
	wait_for 100 grep -q "keeping .* points and retrying" "$TMP/influxpub.err"
	kill -KILL "$INFLUXPUB_PID"
	wait_gone "$INFLUXPUB_PID" 50
	start_influxpub -d meters "$@"
	sleep 20
	start_influxdb
	wait_secs 30 influx_matches "$TMP/p1.jsonl" meters
	run grep -c "retrying" "$TMP/influxpub.err"
	[ "$output" -le 2 ] # once per influxpub, not once per attempt
}

# MQTT 5 (the default): the session is kept by its expiry interval.
@test "InfluxDB stopped for 20 s, and influxpub killed meanwhile: nothing is lost (MQTT 5)" {
	outage
	grep -q "m2m-influxpub-meters (p5, c0, k60)" "$TMP/mosquitto.log"
}

@test "InfluxDB stopped for 20 s, and influxpub killed meanwhile: nothing is lost (MQTT 3.1.1)" {
	outage -V 311
	grep -q "m2m-influxpub-meters (p2, c0, k60)" "$TMP/mosquitto.log"
}

# start_flaky_influx: an HTTP stand-in in front of InfluxDB that passes
# each write on and keeps what InfluxDB accepted ($TMP/accepted, every
# request's status and lines in $TMP/requests); after 5 accepted writes
# it answers 503 for 3 s (InfluxDB unavailable in the middle of a drain).
# Sets FLAKY_URL.
start_flaky_influx() {
	local port
	port=$(free_port)
	FLAKY_URL=http://127.0.0.1:$port
	"$PYTHON" - "$port" "$INFLUX_URL" "$TMP/accepted" "$TMP/requests" <<-'PY' 2> "$TMP/flaky.err" &
	import sys, threading, time, urllib.request, urllib.error
	from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
	port, upstream, accepted, requests = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
	lock = threading.Lock()
	state = {'accepted': 0, 'down_until': None}
	class H(BaseHTTPRequestHandler):
	    protocol_version = 'HTTP/1.1'
	    def do_POST(self):
	        body = self.rfile.read(int(self.headers['Content-Length']))
	        with lock:
	            now = time.monotonic()
	            if state['accepted'] >= 5 and state['down_until'] is None:
	                state['down_until'] = now + 3
	            down = state['down_until'] is not None and now < state['down_until']
	            if down:
	                code, answer = 503, b'{"error":"unavailable for the test"}'
	            else:
	                req = urllib.request.Request(upstream + self.path, data=body, method='POST',
	                                             headers={'Content-Type': self.headers['Content-Type']})
	                try:
	                    with urllib.request.urlopen(req) as r:
	                        code, answer = r.status, r.read()
	                except urllib.error.HTTPError as e:
	                    code, answer = e.code, e.read()
	                if code == 204:
	                    state['accepted'] += 1
	                    with open(accepted, 'ab') as f:
	                        f.write(body)
	            with open(requests, 'a') as f:
	                f.write('%d %d\n' % (code, body.count(b'\n')))
	        self.send_response(code)
	        self.send_header('Content-Length', str(len(answer)))
	        self.end_headers()
	        self.wfile.write(answer)
	    def log_message(self, *a): pass
	ThreadingHTTPServer(('127.0.0.1', port), H).serve_forever()
	PY
	track_pid $!
	wait_for 50 port_listening "$port"
}

# drain ARGS...: 1,600 readings queued at the broker for influxpub's two
# sessions while it is away, then drained in batches of 100 with InfluxDB
# unavailable for 3 s in the middle: every reading is written once, by one
# of the sessions, and lands with its exact values.
drain() {
	start_influxdb
	influx_query 'CREATE DATABASE meters' > /dev/null
	start_flaky_influx
	INFLUX_URL=$FLAKY_URL start_influxpub -d meters --batch-size 100 "$@"
	kill -TERM "$INFLUXPUB_PID"
	wait_gone "$INFLUXPUB_PID" 50
	# 160 readings of each of ten meters, a second apart (mosquitto
	# queues 1,000 messages per session by default: 800 each).
	"$PYTHON" - > "$TMP/readings.jsonl" <<-'PY'
	for i in range(1600):
	    d, s = i % 10, i // 10
	    print('{"time":"2026-11-27T10:%02d:%02d.500Z","type":"dsmr","device":"m%d","values":'
	          '{"energy":{"value":%d.%03d,"unit":"kWh"},"count":{"value":%d}}}' % (s // 60, s % 60, d, 1000 + i, i % 997, i))
	PY
	local d
	for d in 0 1 2 3 4 5 6 7 8 9; do
		grep "\"device\":\"m$d\"" "$TMP/readings.jsonl" | mosquitto_pub -p "$BROKER_PORT" -q 1 -t "meters/dsmr/m$d" -l
	done
	: > "$TMP/influxpub.err"
	METER2MQTT_LOG_LEVEL=debug INFLUX_URL=$FLAKY_URL start_influxpub -d meters --batch-size 100 "$@"
	wait_secs 60 influx_matches "$TMP/readings.jsonl" meters
	kill -TERM "$INFLUXPUB_PID"
	wait_gone "$INFLUXPUB_PID" 100
	# InfluxDB was unavailable in the middle, and influxpub said so once.
	grep -q '^503 ' "$TMP/requests"
	run grep -c "keeping .* points and retrying" "$TMP/influxpub.err"
	[ "$output" -eq 1 ]
	# Each reading was written once: 1,600 lines accepted, none twice.
	run grep -c . "$TMP/accepted"
	[ "$output" -eq 1600 ]
	run bash -c "sort '$TMP/accepted' | uniq -d"
	assert_output ""
	grep -q "influxpub: 1600 points written, 0 refused by InfluxDB, 0 messages skipped" "$TMP/influxpub.err"
	# Both sessions took part.
	grep -q "session 1: [0-9]* points written" "$TMP/influxpub.err"
	grep -q "session 2: [0-9]* points written" "$TMP/influxpub.err"
}

@test "a drain shared by two sessions, InfluxDB unavailable midway: each reading written once (MQTT 5)" {
	drain
}

@test "a drain shared by two sessions, InfluxDB unavailable midway: each reading written once (MQTT 3.1.1)" {
	drain -V 311
}

@test "from one session to two: the readings the old session kept land, then each reading once" {
	start_influxdb
	influx_query 'CREATE DATABASE meters' > /dev/null
	# What an influxpub of one session left: its plain subscription, with
	# readings queued.
	influxpub -p "$BROKER_PORT" -w "$INFLUX_URL" -d meters --sessions 1 2>> "$TMP/influxpub.err" &
	INFLUXPUB_PID=$!
	track_pid "$INFLUXPUB_PID"
	wait_for 50 grep -q "m2m-influxpub-meters 1 meters/+/+" "$TMP/mosquitto.log"
	kill -TERM "$INFLUXPUB_PID"
	wait_gone "$INFLUXPUB_PID" 50
	local i
	for ((i = 0; i < 20; i++)); do
		printf '{"time":"2026-11-27T10:00:%02d.000Z","type":"dsmr","device":"house","values":{"count":{"value":%d}}}\n' "$i" "$i"
	done > "$TMP/all.jsonl"
	head -10 "$TMP/all.jsonl" > "$TMP/queued.jsonl"
	tail -10 "$TMP/all.jsonl" > "$TMP/later.jsonl"
	# Not retained: a retained reading comes again with every new
	# subscription, and would be counted twice.
	mosquitto_pub -p "$BROKER_PORT" -q 1 -t meters/dsmr/house -l < "$TMP/queued.jsonl"
	: > "$TMP/influxpub.err"
	start_influxpub -d meters
	wait_secs 20 influx_matches "$TMP/queued.jsonl" meters
	# The plain subscription is gone: a new reading comes once, through
	# the shared one.
	wait_for 50 grep -q "m2m-influxpub-meters meters/+/+" "$TMP/mosquitto.log"
	mosquitto_pub -p "$BROKER_PORT" -q 1 -t meters/dsmr/house -l < "$TMP/later.jsonl"
	wait_secs 20 influx_matches "$TMP/all.jsonl" meters
	kill -TERM "$INFLUXPUB_PID"
	wait_gone "$INFLUXPUB_PID" 50
	run cat "$TMP/influxpub.err"
	assert_output --regexp "^influxpub: 20 points written, 0 refused by InfluxDB, 0 messages skipped; [0-9]+ requests, [0-9.]+ s waiting for InfluxDB$"
}

# refusing_broker PORT LEVEL CODE: a stand-in broker (MQTT protocol LEVEL:
# 4 for 3.1.1, 5) that accepts the connection and answers every
# SUBSCRIBE with CODE, as a broker without shared subscriptions does.
refusing_broker() {
	"$PYTHON" - "$@" <<-'PY' &
	import socket, sys
	port, level, code = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3], 16)
	props = b'\0' if level == 5 else b''
	srv = socket.socket()
	srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	srv.bind(('127.0.0.1', port))
	srv.listen(5)
	def packet(f):
	    head = f.read(1)
	    if not head:
	        return None, None
	    n, shift = 0, 0
	    while True:
	        b = f.read(1)[0]
	        n |= (b & 0x7f) << shift
	        shift += 7
	        if b < 0x80:
	            break
	    return head[0], f.read(n)
	while True:
	    c, _ = srv.accept()
	    f = c.makefile('rb')
	    while True:
	        kind, body = packet(f)
	        if kind is None:
	            break
	        if kind >> 4 == 1:   # CONNECT: accepted, no session
	            c.sendall(bytes([0x20, 2 + len(props), 0, 0]) + props)
	        elif kind >> 4 == 8: # SUBSCRIBE: refused
	            c.sendall(bytes([0x90, 3 + len(props)]) + body[:2] + props + bytes([code]))
	    c.close()
	PY
	track_pid $!
	wait_for 50 port_listening "$1"
}

@test "a broker that refuses the shared subscription is one clear error, exit 1" {
	local port
	port=$(free_port)
	refusing_broker "$port" 5 0x9e
	run --separate-stderr influxpub -p "$port" -w http://127.0.0.1:1 -d meters
	[ "$status" -eq 1 ]
	assert_equal "$stderr" "influxpub: broker localhost:$port refused the subscription to \$share/m2m-influxpub-meters/meters/+/+: Shared Subscriptions not supported"
	port=$(free_port)
	refusing_broker "$port" 4 0x80
	run --separate-stderr influxpub -p "$port" -V 311 -w http://127.0.0.1:1 -d meters
	[ "$status" -eq 1 ]
	assert_equal "$stderr" "influxpub: broker localhost:$port refused the subscription to \$share/m2m-influxpub-meters/meters/+/+: failure (SUBACK 0x80)"
}

@test "a wrong InfluxDB password is one clear error, exit 1; the right one writes" {
	start_influxdb auth
	influx_query 'CREATE DATABASE meters' > /dev/null
	p1sim -n 1 -f --seed 1 2>/dev/null | p1read -d house > "$TMP/p1.jsonl"
	echo wrong > "$TMP/pw"
	chmod 600 "$TMP/pw"
	start_influxpub -d meters --influx-user admin --influx-password-file "$TMP/pw"
	publish "$TMP/p1.jsonl"
	wait_gone "$INFLUXPUB_PID" 100
	run wait "$INFLUXPUB_PID"
	[ "$status" -eq 1 ]
	run cat "$TMP/influxpub.err"
	[ "${#lines[@]}" -eq 1 ]
	assert_output --regexp "^influxpub: InfluxDB $INFLUX_URL: authorization failed \(HTTP 401\)"
	# The reading is still the broker's: with the right password it lands.
	: > "$TMP/influxpub.err"
	INFLUX_PASSWORD=s3cret start_influxpub -d meters --influx-user admin
	wait_secs 20 influx_matches "$TMP/p1.jsonl" meters
}

@test "InfluxDB 2.x: the write request is the one InfluxDB 2 documents" {
	local port
	port=$(free_port)
	"$PYTHON" - "$port" "$TMP/requests" <<-'PY' 2> "$TMP/standin.err" &
	# A stand-in for InfluxDB 2's POST /api/v2/write, checking the request
	# as docs.influxdata.com/influxdb/v2/api/#operation/PostWrite has it.
	import sys
	from http.server import BaseHTTPRequestHandler, HTTPServer
	from urllib.parse import urlsplit, parse_qs
	class H(BaseHTTPRequestHandler):
	    def do_POST(self):
	        u = urlsplit(self.path)
	        q = parse_qs(u.query)
	        problems = []
	        if u.path != '/api/v2/write': problems.append('path ' + u.path)
	        if q.get('org') != ['my org'] or q.get('bucket') != ['meters/raw']: problems.append('org/bucket %r' % q)
	        if q.get('precision', ['ns']) != ['ns']: problems.append('precision %r' % q.get('precision'))
	        if self.headers.get('Authorization') != 'Token t0ken==': problems.append('auth')
	        if not (self.headers.get('Content-Type') or '').startswith('text/plain'): problems.append('content type')
	        body = self.rfile.read(int(self.headers['Content-Length'])).decode()
	        with open(sys.argv[2], 'a') as f:
	            f.write('%s\n%s' % (' '.join(problems) or 'ok', body))
	        self.send_response(400 if problems else 204)
	        self.end_headers()
	        if problems:
	            self.wfile.write(('{"code":"invalid","message":"%s"}' % problems).encode())
	    def log_message(self, *a): pass
	HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
	PY
	track_pid $!
	wait_for 50 port_listening "$port"
	printf 't0ken==\n' > "$TMP/token"
	INFLUX_URL=http://127.0.0.1:$port start_influxpub --org 'my org' --bucket meters/raw --token-file "$TMP/token"
	printf '%s\n' '{"time":"2026-11-27T10:00:01.123Z","type":"dsmr","device":"house","values":{"power":{"value":1.193,"unit":"kW"},"count":{"value":4}}}' > "$TMP/r.jsonl"
	publish "$TMP/r.jsonl"
	wait_for 100 test -s "$TMP/requests"
	run cat "$TMP/requests"
	assert_output "ok
dsmr,device=house,type=dsmr power=1.193,count=4i 1795773601123000000"
}

@test "bad messages are skipped and named; influxpub goes on" {
	start_influxdb
	influx_query 'CREATE DATABASE meters' > /dev/null
	start_influxpub -d meters
	mosquitto_pub -p "$BROKER_PORT" -q 1 -t meters/dsmr/house -m 'not json'
	mosquitto_pub -p "$BROKER_PORT" -q 1 -t meters/dsmr/house -m '{"type":"dsmr","device":"other","time":"2026-11-27T10:00:00Z","values":{"a":{"value":1}}}'
	mosquitto_pub -p "$BROKER_PORT" -q 1 -t meters/dsmr/house -m '{"type":"dsmr","device":"house","time":"yesterday","values":{"a":{"value":1}}}'
	head -c 5000000 /dev/zero | tr '\0' x | mosquitto_pub -p "$BROKER_PORT" -q 1 -t meters/dsmr/house -s
	printf '%s\n' '{"time":"2026-11-27T10:00:01.123Z","type":"dsmr","device":"house","values":{"a\\\\b":{"value":2},"t,x=y z":{"value":3},"ok":{"value":1.50}}}' > "$TMP/r.jsonl"
	publish "$TMP/r.jsonl"
	wait_for 100 points_in meters 1
	run influx_query 'SELECT * FROM dsmr' meters
	assert_output --partial '"columns":["time","device","ok","t,x=y z","type"],"values":[[1795773601123000000,"house",1.5,3,"dsmr"]]'
	run cat "$TMP/influxpub.err"
	assert_output --partial "meters/dsmr/house: message skipped: not JSON"
	assert_output --partial "not those of the topic"
	assert_output --partial "not an RFC 3339 time"
	assert_output --partial "larger than 4 MiB"
	kill -0 "$INFLUXPUB_PID"
}

@test "influxpub: options are checked" {
	run influxpub -w http://x -d db --bucket b
	[ "$status" -eq 2 ]
	run --separate-stderr influxpub -w http://x --org o --bucket b
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"needs a token"* ]]
	run --separate-stderr influxpub -d db
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no InfluxDB"* ]]
	INFLUX_TOKEN=x run influxpub --check -w http://x --org o --bucket b
	[ "$status" -eq 0 ]
}
