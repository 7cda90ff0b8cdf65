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
	start_broker "log_type error" "log_type warning" "log_type notice" "log_type information" "log_type subscribe"
}
teardown() { kill_tracked; }

# start_influxpub ARGS...: influxpub against the test broker, messages in
# $TMP/influxpub.err; sets INFLUXPUB_PID.
start_influxpub() {
	influxpub -p "$BROKER_PORT" -w "$INFLUX_URL" "$@" 2>> "$TMP/influxpub.err" &
	INFLUXPUB_PID=$!
	track_pid "$INFLUXPUB_PID"
	# Subscribed: the broker says so (from the first start on, the
	# persistent session keeps the subscription).
	wait_for 50 grep -q "m2m-influxpub-.* meters/+/+" "$TMP/mosquitto.log"
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
