# t/sinks-lib.bash: the real parts the sink tests run against, each on a
# free loopback port with its data in $TMP, tracked by pid (load after
# helper).

# wait_secs SECONDS COMMAND...: retries COMMAND until it succeeds, for at
# most SECONDS by the clock (for checks that take a while each).
wait_secs() {
	local deadline=$((SECONDS + $1))
	shift
	while ((SECONDS < deadline)); do
		"$@" 2>/dev/null && return 0
		sleep 0.2
	done
	"$@"
}

# start_influxdb [auth]: InfluxDB 1.x (Debian's influxd) with a temporary
# data directory; sets INFLUX_PORT, INFLUX_URL and INFLUX_PID.  With
# "auth", authentication is on and an admin "admin"/"s3cret" exists.
# Called again, it starts the same database on the same port.
start_influxdb() {
	INFLUX_PORT=${INFLUX_PORT:-$(free_port)}
	INFLUX_URL=http://127.0.0.1:$INFLUX_PORT
	local auth=false
	[ "${1:-}" = auth ] && auth=true
	mkdir -p "$TMP/influx"
	cat > "$TMP/influx/influxdb.conf" <<-CONF
	reporting-enabled = false
	bind-address = "127.0.0.1:$(free_port)"
	[meta]
	  dir = "$TMP/influx/meta"
	  logging-enabled = false
	[data]
	  dir = "$TMP/influx/data"
	  wal-dir = "$TMP/influx/wal"
	  query-log-enabled = false
	[monitor]
	  store-enabled = false
	[http]
	  bind-address = "127.0.0.1:$INFLUX_PORT"
	  auth-enabled = $auth
	  log-enabled = false
	  unix-socket-enabled = false
	[continuous_queries]
	  enabled = false
	[subscriber]
	  enabled = false
	CONF
	influxd run -config "$TMP/influx/influxdb.conf" >> "$TMP/influx/log" 2>&1 &
	INFLUX_PID=$!
	track_pid "$INFLUX_PID"
	wait_for 150 influx_ready || { cat "$TMP/influx/log" >&2; return 1; }
	if $auth && [ ! -e "$TMP/influx/admin" ]; then
		influx_query "CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES" > /dev/null
		: > "$TMP/influx/admin"
	fi
}

influx_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$INFLUX_URL/ping")" = 204 ]; }

stop_influxdb() {
	kill -TERM "$INFLUX_PID"
	wait_gone "$INFLUX_PID" 100
}

# influx_query QUERY [DB]: the JSON answer, times in nanoseconds.
influx_query() {
	curl -sf -u admin:s3cret -XPOST "$INFLUX_URL/query?epoch=ns${2:+&db=$2}" --data-urlencode "q=$1"
}

# start_prometheus TARGET: Prometheus 2 scraping TARGET (host:port) every
# second; sets PROM_URL.
start_prometheus() {
	local port
	port=$(free_port)
	PROM_URL=http://127.0.0.1:$port
	cat > "$TMP/prometheus.yml" <<-CONF
	global:
	  scrape_interval: 1s
	  evaluation_interval: 1s
	scrape_configs:
	  - job_name: meters
	    static_configs:
	      - targets: ['$1']
	CONF
	prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
		--web.listen-address="127.0.0.1:$port" > "$TMP/prometheus.log" 2>&1 &
	track_pid $!
	wait_for 300 curl -sf -o /dev/null "$PROM_URL/-/ready" || { tail -20 "$TMP/prometheus.log" >&2; return 1; }
}

# prom_query EXPR: the values of an instant query, one per line.
prom_query() {
	curl -sf "$PROM_URL/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[].value[1]'
}

# chromium_dom URL: the DOM headless Chromium built from URL.
chromium_dom() {
	timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$TMP/chromium" --dump-dom "$1" 2> "$TMP/chromium.log"
}

# start_exporter ARGS...: mtrexport on a free port; sets EXPORT_URL.
start_exporter() {
	local port
	port=$(free_port)
	EXPORT_ADDR=127.0.0.1:$port
	EXPORT_URL=http://$EXPORT_ADDR
	mtrexport -p "$BROKER_PORT" -l "$EXPORT_ADDR" "$@" 2> "$TMP/exporter.err" &
	EXPORTER_PID=$!
	track_pid "$EXPORTER_PID"
	wait_for 50 port_listening "$port"
}

# influx_matches LINES DB: true when InfluxDB holds exactly the points
# influxpub(1) promises for the reading lines in the file LINES (every
# numeric value at the reading's time, or at the meter's own stamp), with
# the same values, integers as integer fields; the differences on stderr.
influx_matches() {
	influx_query 'SHOW MEASUREMENTS' "$2" > "$TMP/measurements.json"
	local m
	: > "$TMP/points.json"
	for m in $(jq -r '.results[0].series[0].values[][0]' "$TMP/measurements.json" 2>/dev/null); do
		influx_query "SELECT * FROM \"$m\"" "$2" >> "$TMP/points.json"
		echo >> "$TMP/points.json"
		influx_query "SHOW FIELD KEYS FROM \"$m\"" "$2" >> "$TMP/points.json"
		echo >> "$TMP/points.json"
	done
	"$PYTHON" - "$1" "$TMP/points.json" <<-'PY'
	import json, re, sys
	from datetime import datetime
	def ns(t):
	    m = re.fullmatch(r'(.{19})(?:\.(\d+))?(Z|[+-]\d\d:\d\d)', t)
	    base = datetime.fromisoformat(m.group(1) + ('+00:00' if m.group(3) == 'Z' else m.group(3)))
	    frac = (m.group(2) or '').ljust(9, '0')
	    return int(base.timestamp()) * 10**9 + int(frac)
	want, kinds = {}, {}
	for line in open(sys.argv[1]):
	    r = json.loads(line)
	    for name, v in r.get('values', {}).items():
	        x = v.get('value')
	        if isinstance(x, bool) or not isinstance(x, (int, float)):
	            continue
	        key = (r['type'], r['device'], ns(v.get('time') or r['time']))
	        want.setdefault(key, {})[name] = x
	        kinds[(r['type'], name)] = 'integer' if isinstance(x, int) else 'float'
	got, got_kinds = {}, {}
	for text in open(sys.argv[2]).read().split('\n'):
	    if not text.strip():
	        continue
	    for s in json.loads(text)['results'][0].get('series', []):
	        cols = s['columns']
	        if cols == ['fieldKey', 'fieldType']:
	            for k, t in s['values']:
	                got_kinds[(s['name'], k)] = t
	            continue
	        for row in s['values']:
	            p = dict(zip(cols, row))
	            key = (p.pop('type'), p.pop('device'), p.pop('time'))
	            p.pop('meter_id', None)
	            got[key] = {k: v for k, v in p.items() if v is not None}
	bad = 0
	for key in sorted(set(want) | set(got)):
	    if want.get(key) != got.get(key):
	        print('point', key, 'want', want.get(key), 'got', got.get(key), file=sys.stderr)
	        bad += 1
	for key, t in kinds.items():
	    if got_kinds.get(key) != t:
	        print('field', key, 'want', t, 'got', got_kinds.get(key), file=sys.stderr)
	        bad += 1
	print(len(want), 'points expected,', len(got), 'found', file=sys.stderr)
	sys.exit(1 if bad or not want else 0)
	PY
}

# page_devices HTML-FILE: the status page's rows as JSON lines,
# {"device":..,"type":..,"state":..,"values":{name:text}}, read by an HTML
# parser (so that Chromium's DOM and our bytes read the same).
page_devices() {
	"$PYTHON" - "$1" <<-'PY'
	import json, sys
	from html.parser import HTMLParser
	class P(HTMLParser):
	    def __init__(self):
	        super().__init__(); self.rows = []; self.span = None; self.param = None
	    def handle_starttag(self, tag, attrs):
	        a = dict(attrs)
	        if tag == 'tr' and 'data-device' in a:
	            self.rows.append({'device': a['data-device'], 'type': a['data-type'], 'state': a['data-state'], 'values': {}})
	        elif tag == 'li' and 'data-parameter' in a:
	            self.param = a['data-parameter']
	            self.rows[-1]['values'][self.param] = ''
	        elif tag == 'span':
	            self.span = a.get('class')
	    def handle_endtag(self, tag):
	        if tag == 'span': self.span = None
	        if tag == 'li': self.param = None
	    def handle_data(self, d):
	        if self.span == 'value' and self.param is not None:
	            self.rows[-1]['values'][self.param] += d
	p = P(); p.feed(open(sys.argv[1]).read())
	for r in p.rows: print(json.dumps(r))
	PY
}

# row_shows ROWS DEVICE STATE LINE: the row of DEVICE (in the JSON lines
# file ROWS) has STATE and every value of the reading LINE.
row_shows() {
	"$PYTHON" - "$@" <<-'PY'
	import json, sys
	rows = [json.loads(l) for l in open(sys.argv[1])]
	row = [r for r in rows if r['device'] == sys.argv[2]]
	want = json.loads(sys.argv[4])
	if len(row) != 1: sys.exit('%d rows for %s' % (len(row), sys.argv[2]))
	row = row[0]
	if row['state'] != sys.argv[3]: sys.exit('state %s' % row['state'])
	for name, v in want['values'].items():
	    x = v.get('value')
	    if x is None or isinstance(x, (list, dict)): continue
	    got = row['values'].get(name)
	    same = got is not None and (float(got) == x if isinstance(x, (int, float)) and not isinstance(x, bool) else got == str(x))
	    if not same: sys.exit('%s: want %r, page has %r' % (name, x, got))
	PY
}
