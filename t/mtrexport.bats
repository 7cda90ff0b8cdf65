#!/usr/bin/env bats
# mtrexport against a real mosquitto, Prometheus 2 and headless Chromium on
# loopback: values, health and state in /metrics (promtool-clean, scraped
# and queried back), /api/devices and the status page; a stopped reader
# shown stale; hostile messages counted and harmless.

load helper
load sinks-lib

setup() {
	setup_tmp
	start_broker
}
teardown() {
	[ -n "${STOPPED_PID:-}" ] && kill -CONT "$STOPPED_PID" 2>/dev/null
	kill_tracked
}

# meter DEVICE SEED: p1sim (two telegrams a second) | p1read | mqttpub,
# each its own process, the reading lines also in $TMP/DEVICE.jsonl;
# sets SIM_PID.
meter() {
	mkfifo "$TMP/$1.p1" "$TMP/$1.lines"
	mqttpub -p "$BROKER_PORT" --reading --type dsmr --device "$1" < "$TMP/$1.lines" 2>> "$TMP/mqttpub.err" &
	track_pid $!
	p1read -d "$1" < "$TMP/$1.p1" 2>/dev/null | tee "$TMP/$1.jsonl" > "$TMP/$1.lines" &
	track_pid $!
	p1sim -r 2 --seed "$2" > "$TMP/$1.p1" 2>/dev/null &
	SIM_PID=$!
	track_pid "$SIM_PID"
}

# metric_is SERIES VALUE...: the series has one of the values.
metric_is() {
	local v
	v=$(curl -sf "$EXPORT_URL/metrics" | grep -F "$1 " | sed 's/.* //')
	shift
	for want; do [ "$v" = "$want" ] && return 0; done
	return 1
}
prom_says() { [ "$(prom_query "$1")" = "$2" ]; }
lines_in() { [ "$(grep -c . "$1")" -ge "$2" ]; }
page_has() { curl -sf "$EXPORT_URL/" | grep -qF -- "$1"; }

@test "readings, health and status in /metrics: promtool-clean, scraped by Prometheus and queried back" {
	start_exporter
	printf '%s\n' '{"time":"2026-11-27T10:00:01.123Z","type":"multical","device":"heat","meter":{"serial":"19088743"},"values":{"energy":{"value":63.44,"unit":"GJ"},"volume":{"value":1234.560,"unit":"m3"},"hours":{"value":7126,"unit":"h"},"info":{"value":"ok"}}}' \
		| mosquitto_pub -p "$BROKER_PORT" -t meters/multical/heat -l
	mosquitto_pub -p "$BROKER_PORT" -r -t meters/multical/heat/health \
		-m '{"time":"2026-11-27T10:00:02Z","link":"up","reader":{"telegrams":41,"dropped":{"crc":2,"timeout":1},"last_error":"no answer"},"publisher":{"published":80,"queued":0,"dropped":0,"reconnects":1}}'
	wait_for 50 page_has 'data-device="heat"'
	curl -sf "$EXPORT_URL/metrics" > "$TMP/metrics"
	run promtool check metrics < "$TMP/metrics"
	assert_success
	run grep -F 'device="heat"' "$TMP/metrics"
	assert_line 'meter2mqtt_value{type="multical",device="heat",parameter="energy",unit="GJ"} 63.44'
	assert_line 'meter2mqtt_value{type="multical",device="heat",parameter="hours",unit="h"} 7126'
	assert_line 'meter2mqtt_up{type="multical",device="heat"} 1'
	assert_line 'meter2mqtt_reader_telegrams_total{type="multical",device="heat"} 41'
	assert_line 'meter2mqtt_reader_dropped_total{type="multical",device="heat",reason="crc"} 2'
	assert_line 'meter2mqtt_link_up{type="multical",device="heat"} 1'
	assert_line 'meter2mqtt_publisher_reconnects_total{type="multical",device="heat"} 1'
	run grep -c 'meter2mqtt_spool' "$TMP/metrics"
	assert_output 8 # HELP and TYPE of four families; no series: heat's mqttpub has no spool
	run grep -c 'parameter="info"' "$TMP/metrics"
	[ "$output" -eq 0 ] # a string is no gauge
	start_prometheus "$EXPORT_ADDR"
	wait_secs 30 prom_says 'meter2mqtt_value{device="heat",parameter="volume"}' 1234.56
	run prom_query 'meter2mqtt_reader_dropped_total{device="heat"}'
	assert_output "2
1"
}

@test "the status page in headless Chromium: every device, its state and values; a stopped reader turns stale" {
	start_exporter
	meter house 1
	meter garage 2
	STOPPED_PID=$SIM_PID
	wait_secs 20 page_has 'data-state="online" data-type="dsmr" data-device="garage"'
	wait_secs 20 page_has 'data-state="online" data-type="dsmr" data-device="house"'
	# Two readings give the interval (half a second): stale 2 s after the last.
	wait_for 50 lines_in "$TMP/garage.jsonl" 3
	kill -STOP "$STOPPED_PID"
	wait_secs 10 page_has 'data-state="stale" data-type="dsmr" data-device="garage"'
	chromium_dom "$EXPORT_URL/" > "$TMP/dom.html"
	page_devices "$TMP/dom.html" > "$TMP/rows"
	run grep -c . "$TMP/rows"
	[ "$output" -eq 2 ]
	# The stopped meter shows its last reading exactly; the live one is
	# online and shows every value it sends.
	row_shows "$TMP/rows" garage stale "$(tail -1 "$TMP/garage.jsonl")"
	run jq -r '.values | keys[]' <<< "$(jq -c 'select(.device == "house")' "$TMP/rows")"
	local shown=$output
	run jq -r '.values | to_entries[] | select(.value.value | type == "number" or type == "string") | .key' <<< "$(tail -1 "$TMP/house.jsonl")"
	[ "$(sort <<< "$shown")" = "$(sort <<< "$output")" ]
	grep -q '"state": "online"' <<< "$(grep '"house"' "$TMP/rows")"
	# Nothing from elsewhere: no script, no absolute URL.
	run grep -cE '<script|src=|https?://' "$TMP/dom.html"
	[ "$output" -eq 0 ]
	# And /api/devices says the same.
	run curl -sf "$EXPORT_URL/api/devices"
	[ "$(jq -r '.devices[] | select(.device == "garage") | .state' <<< "$output")" = stale ]
	[ "$(jq -r '.devices[] | select(.device == "house") | .status' <<< "$output")" = online ]
}

@test "hostile messages never break the exposition format or the page, never crash the exporter; each is counted" {
	start_exporter
	local p="mosquitto_pub -p $BROKER_PORT -t"
	$p meters/dsmr/x -m 'not json'
	$p meters/dsmr/x -m '[1,2,3]'
	head -c 2000000 /dev/zero | tr '\0' '{' | $p meters/dsmr/x -s
	$p meters/dsmr/x -m '{"type":"dsmr","device":"y","values":{}}'
	$p meters/dsmr/x/health -m 'sick'
	$p meters/dsmr/x/status -m 'maybe'
	$p 'meters/dsmr/<script>alert(1)<' -m '{"type":"dsmr","device":"<script>alert(1)<","values":{"a\"b\nc\\d":{"value":1.5,"unit":"\"}\n# evil 1"},"<img src=x>":{"value":"<b>bold</b> & \"q\""}}}'
	$p 'meters/dsmr/<script>alert(1)</health' -m '{"reader":{"telegrams":1,"dropped":{"a\"}\nb":3},"last_error":"</td><script>x</script>"}}'
	$p meters/dsmr/ok -m '{"type":"dsmr","device":"ok","values":{"v":{"value":2}}}'
	wait_for 50 page_has 'data-device="ok"'
	kill -0 "$EXPORTER_PID"
	curl -sf "$EXPORT_URL/metrics" > "$TMP/metrics"
	run promtool check metrics < "$TMP/metrics"
	assert_success
	run grep -F 'meter2mqtt_exporter_rejected_total' "$TMP/metrics"
	assert_line 'meter2mqtt_exporter_rejected_total{reason="not_a_reading"} 2'
	assert_line 'meter2mqtt_exporter_rejected_total{reason="too_large"} 1'
	assert_line 'meter2mqtt_exporter_rejected_total{reason="topic_mismatch"} 1'
	assert_line 'meter2mqtt_exporter_rejected_total{reason="bad_health"} 1'
	assert_line 'meter2mqtt_exporter_rejected_total{reason="bad_status"} 1'
	run grep -F 'parameter="a' "$TMP/metrics"
	assert_output 'meter2mqtt_value{type="dsmr",device="<script>alert(1)<",parameter="a\"b\nc\\d",unit="\"}\n# evil 1"} 1.5'
	curl -sf "$EXPORT_URL/" > "$TMP/page.html"
	run grep -cE '<script|<img|<b>|</td><script' "$TMP/page.html"
	[ "$output" -eq 0 ]
	page_devices "$TMP/page.html" > "$TMP/rows"
	run jq -r '.device' "$TMP/rows"
	assert_output "<script>alert(1)<
ok"
	run jq -r 'select(.device == "<script>alert(1)<") | .values["<img src=x>"]' "$TMP/rows"
	assert_output '<b>bold</b> & "q"'
	curl -sf "$EXPORT_URL/api/devices" | jq -e '.devices | length == 2' > /dev/null
}

@test "mtrexport: options are checked; only GET; unknown paths are 404" {
	run mtrexport --listen nowhere
	[ "$status" -eq 2 ]
	run mtrexport --stale 0
	[ "$status" -eq 2 ]
	run mtrexport --check -l 127.0.0.1:9999
	[ "$status" -eq 0 ]
	start_exporter
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$EXPORT_URL/nope")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$EXPORT_URL/metrics")" = 405 ]
	run curl -sf -D - -o /dev/null "$EXPORT_URL/metrics"
	assert_output --partial 'text/plain; version=0.0.4'
}

@test "health: a reader's health line through mqttpub, merged with mqttpub's counters, in /metrics and /api/devices" {
	start_exporter
	mkfifo "$TMP/in"
	mqttpub -p "$BROKER_PORT" --reading --health-interval 1 < "$TMP/in" 2> "$TMP/mqttpub.err" &
	track_pid $!
	exec 7> "$TMP/in"
	echo '{"time":"2026-11-27T10:00:01.123Z","type":"dsmr","device":"h","values":{"p":{"value":0.070,"unit":"kW"}}}' >&7
	echo '{"time":"2026-11-27T10:00:01.500Z","type":"dsmr","device":"h","health":{"telegrams":12,"dropped":{"crc":3,"too_long":1},"last_error":"telegram 13: CRC mismatch","link":"up"}}' >&7
	wait_for 50 page_has 'data-dropped="4"'
	# Within a second more, mqttpub's own counters say the reading is out.
	wait_for 50 metric_is 'meter2mqtt_publisher_published_total{type="dsmr",device="h"}' 1 2 3 4
	curl -sf "$EXPORT_URL/metrics" > "$TMP/metrics"
	run grep -F 'device="h"' "$TMP/metrics"
	assert_line 'meter2mqtt_value{type="dsmr",device="h",parameter="p",unit="kW"} 0.070'
	assert_line 'meter2mqtt_reader_telegrams_total{type="dsmr",device="h"} 12'
	assert_line 'meter2mqtt_reader_dropped_total{type="dsmr",device="h",reason="too_long"} 1'
	assert_line 'meter2mqtt_link_up{type="dsmr",device="h"} 1'
	run curl -sf "$EXPORT_URL/api/devices"
	[ "$(jq -r '.devices[0].health.reader.last_error' <<< "$output")" = "telegram 13: CRC mismatch" ]
	# The link goes down: a health message at once, not a minute later.
	echo '{"time":"2026-11-27T10:00:02Z","type":"dsmr","device":"h","health":{"telegrams":12,"dropped":{"crc":3,"too_long":1},"link":"down","last_error":"no data for 10 s"}}' >&7
	wait_for 50 metric_is 'meter2mqtt_link_up{type="dsmr",device="h"}' 0
	exec 7>&-
}

@test "mqttpub's spool counters from its health: in /metrics and /api/devices" {
	start_exporter
	mosquitto_pub -p "$BROKER_PORT" -r -t meters/dsmr/house/health \
		-m '{"time":"2026-11-27T10:00:02Z","link":"up","publisher":{"published":80,"queued":3,"dropped":0,"reconnects":2,"spool":{"bytes":955740,"replayed":17,"dropped":11890,"torn":1}}}'
	wait_for 50 page_has 'data-device="house"'
	curl -sf "$EXPORT_URL/metrics" > "$TMP/metrics"
	run promtool check metrics < "$TMP/metrics"
	assert_success
	run grep '^meter2mqtt_spool' "$TMP/metrics"
	assert_output - <<'EOF'
meter2mqtt_spool_bytes{type="dsmr",device="house"} 955740
meter2mqtt_spool_replayed_total{type="dsmr",device="house"} 17
meter2mqtt_spool_dropped_total{type="dsmr",device="house"} 11890
meter2mqtt_spool_torn_total{type="dsmr",device="house"} 1
EOF
	run sh -c "curl -sf '$EXPORT_URL/api/devices' | jq -c '.devices[] | select(.device == \"house\") | .health.publisher.spool'"
	assert_output '{"bytes":955740,"replayed":17,"dropped":11890,"torn":1}'
}

@test "the gateway's shared publisher: up while its status is online, a row of its own, not counted as a meter" {
	start_exporter
	local host
	host=$(uname -n | tr -c 'A-Za-z0-9-\n' '_')
	mkdir "$TMP/in"
	mkfifo "$TMP/in/a"
	exec 5<> "$TMP/in/a"
	# fan-in, no --type/--device: the publisher is meters/meter2mqtt/HOST
	mqttpub -p "$BROKER_PORT" --reading --health-interval 1 < "$TMP/in" 2> "$TMP/pub.err" &
	local pub=$!
	track_pid $pub
	printf '%s\n' '{"time":"2026-11-27T10:00:01Z","type":"dsmr","device":"house","values":{"power":{"value":0.070,"unit":"kW"}}}' >&5
	wait_for 50 page_has 'data-device="house"'
	wait_for 50 metric_is "meter2mqtt_up{type=\"meter2mqtt\",device=\"$host\"}" 1
	wait_for 50 metric_is "meter2mqtt_publisher_published_total{type=\"meter2mqtt\",device=\"$host\"}" 1 2 3 4
	run sh -c "curl -sf '$EXPORT_URL/api/devices' | jq -c '.devices[] | [.type, .device, .state, .publisher]'"
	assert_output - <<OUT
["dsmr","house","online",null]
["meter2mqtt","$host","online",true]
OUT
	curl -sf "$EXPORT_URL/" > "$TMP/page.html"
	grep -q '<p class="summary">1 devices: 1 online' "$TMP/page.html" || fail "$(grep summary "$TMP/page.html")"
	grep -q "<tr class=\"publisher online\" data-state=\"online\" data-type=\"meter2mqtt\" data-device=\"$host\">" "$TMP/page.html"
	# stopped cleanly, it says offline: so does the exporter
	kill -TERM $pub
	wait_gone $pub 100
	wait_for 50 metric_is "meter2mqtt_up{type=\"meter2mqtt\",device=\"$host\"}" 0
	run sh -c "curl -sf '$EXPORT_URL/api/devices' | jq -r '.devices[] | select(.publisher) | .state'"
	assert_output offline
	exec 5>&-
}
