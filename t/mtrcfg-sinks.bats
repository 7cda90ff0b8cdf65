#!/usr/bin/env bats
# mtrcfg and the sinks: config.yaml's influxdb: and http: sections become
# one gateway-wide service each (sink.influxdb running influxpub,
# sink.http running mtrexport), supervised like the devices, secrets in
# env/; the sinks check their own options; the devices' publishers then
# publish the whole reading (--reading).  End to end with a real
# s6-svscan, mosquitto, mtrexport and InfluxDB on loopback.

load helper
load mtrcfg-lib
load sinks-lib

setup() { setup_tmp; }
teardown() { kill_tracked; }

@test "mtrcfg --check: influxdb: and http: are checked by influxpub and mtrexport themselves" {
	local rows=(
		# verdict | config.yaml line | what the refusal says
		'ok|influxdb: { url: "http://127.0.0.1:8086", database: meters }|'
		'ok|influxdb: { org: home, bucket: meters, token: "t0k" }|'
		'ok|http: { listen: "127.0.0.1:9999", stale: 30, refresh: 2 }|'
		'ok|http:|'
		'no|influxdb: { url: "ftp://db", database: meters }|'"'influxdb': influxpub --check rejects it: influxpub: --influx: not http://HOST[:PORT] or https://...: ftp://db"
		'no|influxdb: { org: home, bucket: meters }|'"'influxdb': influxpub --check rejects it: influxpub: InfluxDB 2.x needs a token"
		'no|influxdb: { database: meters, bucket: b }|'"'influxdb': influxpub --check rejects it: influxpub: give either -d DB"
		'no|influxdb: { database: meters, token: a, token_file: b }|'"'influxdb' has both 'token' and 'token_file'"
		'no|influxdb: { database: meters, batch_size: 0 }|'"'batch_size' must be a whole number from 1 to 1000000"
		'ok|influxdb: { database: meters, sessions: 1 }|'
		'no|influxdb: { database: meters, sessions: 9 }|'"'sessions' must be a whole number from 1 to 8"
		'no|influxdb: { databse: meters }|'"unknown key 'databse' in 'influxdb' (did you mean 'database'?)"
		'no|http: { listen: "nowhere" }|'"'http': mtrexport --check rejects it: mtrexport: --listen: not ADDRESS:PORT: nowhere"
	)
	local row want line says
	mk_conf
	cp "$TMP/etc/config.yaml" "$TMP/base.yaml"
	for row in "${rows[@]}"; do
		IFS='|' read -r want line says <<<"$row"
		{ cat "$TMP/base.yaml"; echo "$line"; } > "$TMP/etc/config.yaml"
		mtrcfg_run --check
		if [ "$want" = ok ]; then
			[ "$status" -eq 0 ] || fail "$line: refused: $output"
		else
			[ "$status" -eq 2 ] || fail "$line: exit $status, not 2: $output"
			[[ "$output" == *"$says"* ]] || fail "$line: says $output, not $says"
		fi
	done
}

@test "mtrcfg -o: one service per sink, secrets in env/, the devices publish whole readings; a removed section stops its sink" {
	mk_conf 'influxdb: { url: "http://127.0.0.1:8086", database: meters, username: gw, password: "in flux$(x)", sessions: 1 }' \
		'http: { listen: "127.0.0.1:9644", stale: 30 }' \
		'mqtt: { host: 127.0.0.1, port: 1884, client_id: gw, qos: 2, username: gw, password: "mq-secret" }'
	printf 'type: fake\nvalue: 5\n' > "$TMP/etc/config.d/f1.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	assert_line "mtrcfg: Started device: f1 (fake)"
	assert_line "mtrcfg: Started service: sink.influxdb (influxpub)"
	assert_line "mtrcfg: Started service: sink.http (mtrexport)"
	local i=$TMP/scan/sink.influxdb h=$TMP/scan/sink.http
	grep -qx "exec chpst -e ./env '[^']*/influxpub' '-h' '127.0.0.1' '-p' '1884' '-i' 'gw-influxdb' '-u' 'gw' '-w' 'http://127.0.0.1:8086' '-d' 'meters' '--influx-user' 'gw' '--sessions' '1'" "$i/run"
	grep -qx "exec chpst -e ./env '[^']*/mtrexport' '-h' '127.0.0.1' '-p' '1884' '-i' 'gw-http' '-u' 'gw' '-l' '127.0.0.1:9644' '--stale' '30'" "$h/run"
	[ "$(stat -c %a "$i/env/INFLUX_PASSWORD")" = 600 ]
	[ "$(cat "$i/env/INFLUX_PASSWORD")" = 'in flux$(x)' ]
	[ "$(cat "$i/env/MQTT_PASSWORD")" = mq-secret ]
	[ "$(cat "$h/env/MQTT_PASSWORD")" = mq-secret ]
	[ ! -e "$h/env/INFLUX_PASSWORD" ]
	! grep -q 'in flux\|mq-secret' "$i/run" "$h/run" "$TMP/scan/f1/run" "$TMP/scan/f1/log/run" || false
	# no logger of its own: its messages go to the shared log, named
	grep -qx "exec 2<> ../meter2mqtt.log/fifo" "$i/run"
	[ "$(cat "$i/env/METER2MQTT_LOG_TAG")" = sink.influxdb ]
	[ ! -e "$i/log" ]
	# the device's publisher: QoS and the whole reading for the sinks
	grep -q "'-q' '2' .*'--reading'" "$TMP/scan/f1/log/run"

	# unchanged: nothing to do; the http: section gone: its service stops
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	assert_output ""
	sed -i '/^http:/d' "$TMP/etc/config.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	assert_line "mtrcfg: Stopped service: sink.http"
	[ ! -e "$h" ]
	[ -e "$i/run" ]
	# a device file gone stops the device, never a sink
	rm "$TMP/etc/config.d/f1.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_output "mtrcfg: Stopped device: f1"
	[ -e "$i/run" ]
}

@test "mtrcfg -o: a sink its program refuses changes nothing on disk" {
	mk_conf 'http: { listen: "127.0.0.1:9644" }'
	printf 'type: fake\nvalue: 5\n' > "$TMP/etc/config.d/f1.yaml"
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_success
	local before
	before=$(cd "$TMP/scan" && find . -type f -exec md5sum {} + | sort)
	mk_conf 'http: { listen: "127.0.0.1:9644" }' 'influxdb: { url: "ftp://x", database: m }'
	mtrcfg_run -o "$TMP/scan" -s runit
	assert_failure 2
	assert_line --partial "is invalid: every service is left as it is"
	[ "$(cd "$TMP/scan" && find . -type f -exec md5sum {} + | sort)" = "$before" ]
	[ ! -e "$TMP/scan/sink.influxdb" ]
}

# The whole way: a device's readings, through its mqttpub and the broker,
# reach the exporter and InfluxDB that mtrcfg started under s6.
@test "mtrcfg, s6: the sinks it starts show a device's readings on /api/devices, /metrics and in InfluxDB" {
	start_broker
	start_influxdb
	influx_query 'CREATE DATABASE meters' > /dev/null
	local port
	port=$(free_port)
	mk_conf "mqtt: { host: 127.0.0.1, port: $BROKER_PORT, topic_prefix: s$$ }" \
		"http: { listen: \"127.0.0.1:$port\" }" \
		"influxdb: { url: \"$INFLUX_URL\", database: meters }"
	sed -i '/^mqttpub:/d' "$TMP/etc/config.yaml"
	printf 'type: fake\nvalue: 42\n' > "$TMP/etc/config.d/boiler.yaml"
	start_s6
	mtrcfg_run -o "$TMP/scan"
	assert_success
	wait_for 150 port_listening "$port"
	wait_secs 30 sh -c "curl -sf http://127.0.0.1:$port/api/devices | jq -e '.devices[] | select(.device == \"boiler\") | .values.v.value == 42'"
	run curl -sf "http://127.0.0.1:$port/metrics"
	assert_line --regexp '^meter2mqtt_value\{type="fake",device="boiler",parameter="v"(,unit="")?\} 42$'
	wait_secs 30 sh -c "[ \"\$(curl -sf -G '$INFLUX_URL/query' --data-urlencode db=meters --data-urlencode 'q=SELECT last(v) FROM fake WHERE device='\\''boiler'\\''' | jq '.results[0].series[0].values[0][1]')\" = 42 ]"
}
