/* influxpub: subscribes to the readings on the broker and writes them to
 * InfluxDB (1.x or 2.x) as line protocol over HTTP.
 *
 * The broker is the buffer: influxpub subscribes with QoS 1 on a
 * persistent session and lets the broker learn that a reading arrived only
 * after InfluxDB accepted it (lib/sink/mqttsub.h, hold_acks).  Readings
 * are gathered into batches (by count, by age, and whenever the broker
 * pauses); a batch InfluxDB cannot take now is retried with a backoff
 * while no more readings are read, so the broker keeps them.  Turning a
 * reading into points is lib/sink/influx.c.
 *
 * libmosquitto lets a session hold back all its acknowledgements or none,
 * so one session cannot read its next batch while InfluxDB takes the last.
 * Hence lanes: --sessions persistent sessions (two by default) share one
 * subscription ($share/GROUP/PREFIX/+/+), the broker hands each message to
 * one of them (and queues it for that one while influxpub is away), and
 * each lane holds its own batch's acknowledgements.  While one lane's
 * batch is with InfluxDB (lib/sink/httppoll.h, in the same poll loop) the
 * others go on reading; a lane whose batch is out is frozen, neither read
 * nor written, until InfluxDB answered. */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/secret.h"
#include "base/util.h"
#include "sink/flatread.h"
#include "sink/httppoll.h"
#include "sink/influx.h"
#include "sink/mqttmsg.h"
#include "sink/mqttsub.h"

static const char usage_text[] =
	"usage: influxpub " MQTT_CONN_SYNOPSIS " [-t PREFIX] -w URL (-d DB | --org ORG --bucket B)\n"
	"                 [--influx-user USER] [--influx-password-file FILE] [--token-file FILE]\n"
	"                 [--measurement NAME] [--batch-size N] [--batch-time MS]\n"
	"                 [--sessions N] [--timeout SEC] [--check]\n"
	"\n"
	"Subscribes to the readings on PREFIX/TYPE/DEVICE (mqttpub --reading) and\n"
	"writes them to InfluxDB: one point per reading, one field per numeric value.\n"
	"\n"
	MQTT_CONN_USAGE
	"  -i, --client-id ID         client id of the persistent session\n"
	"                             (default m2m-influxpub-DB; the others ID.2 ...)\n"
	"                             influxpub speaks MQTT 5 unless -V 311\n"
	"\n"
	"  -t, --prefix PREFIX        the readings' first topic levels (default meters)\n"
	"  -w, --influx URL           InfluxDB's address: http://HOST:8086\n"
	"  -d, --db DB                InfluxDB 1.x: the database (/write)\n"
	"      --org ORG, --bucket B  InfluxDB 2.x: organisation and bucket (/api/v2/write)\n"
	"      --influx-user USER     1.x user; the password comes from $INFLUX_PASSWORD\n"
	"      --influx-password-file FILE  or from the first line of FILE\n"
	"      --token-file FILE      2.x token (else $INFLUX_TOKEN)\n"
	"      --measurement NAME     one measurement for all (default: the device type)\n"
	"      --batch-size N         points per write at most (default 5000)\n"
	"      --batch-time MS        longest a point waits for its batch (default 1000)\n"
	"      --sessions N           broker sessions sharing the subscription, each\n"
	"                             with a batch of its own (default 2; 1: a plain\n"
	"                             subscription, for brokers without $share)\n"
	"      --timeout SEC          HTTP timeout per write (default 10)\n"
	"      --check                check the options, connect to nothing, exit 0 or 2\n"
	"      --help                 this text (also -h alone)\n"
	"      --version              the program's version\n";

enum {
	OPT_ORG = 256,
	OPT_BUCKET,
	OPT_INFLUX_USER,
	OPT_INFLUX_PASSWORD_FILE,
	OPT_TOKEN_FILE,
	OPT_MEASUREMENT,
	OPT_BATCH_SIZE,
	OPT_BATCH_TIME,
	OPT_SESSIONS,
	OPT_TIMEOUT,
	OPT_CHECK,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_options[] = {
	MQTT_CONN_OPTIONS,
	{ "prefix", required_argument, NULL, 't' },
	{ "influx", required_argument, NULL, 'w' },
	{ "db", required_argument, NULL, 'd' },
	{ "org", required_argument, NULL, OPT_ORG },
	{ "bucket", required_argument, NULL, OPT_BUCKET },
	{ "influx-user", required_argument, NULL, OPT_INFLUX_USER },
	{ "influx-password-file", required_argument, NULL, OPT_INFLUX_PASSWORD_FILE },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "measurement", required_argument, NULL, OPT_MEASUREMENT },
	{ "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
	{ "batch-time", required_argument, NULL, OPT_BATCH_TIME },
	{ "sessions", required_argument, NULL, OPT_SESSIONS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* A batch the broker is quiet for this long goes out. */
#define QUIET_MS 20
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 10000
#define MAX_SESSIONS 8

static struct {
	struct mqtt_settings mq;
	struct mqttsub_settings mqtt;
	const char *prefix;
	const char *url, *db, *org, *bucket;
	const char *influx_user;
	char *influx_password, *token;
	struct influx_opts influx;
	long batch_size, batch_time_ms, timeout_s, sessions;
	bool check;
} opt;

/* One persistent session and the batch whose acknowledgements it holds. */
struct lane {
	int no;                 /* 1, 2, ...: for messages */
	struct buf client_id;
	struct mqttsub *sub;
	CURL *curl;
	struct buf batch;
	size_t points;
	int64_t batch_started_ms, last_message_ms;
	int64_t retry_at_ms, backoff_ms;
	int64_t write_started_ms;
	bool writing;           /* the batch is with InfluxDB: the lane is frozen */
	char response[512];
	size_t response_len;
};

static struct {
	struct httppoll *http;
	char *write_url;
	struct curl_slist *headers;
	struct lane lane[MAX_SESSIONS];
	int nlanes;
	struct buf shared_topic; /* $share/GROUP/PREFIX/+/+ */
	struct pollfd *pfd;     /* the lanes' sockets, then libcurl's */
	size_t pfd_cap;
	bool warned_down;       /* said once per outage, whichever lane saw it */
	unsigned long long written, rejected_messages, rejected_points;
	unsigned long long writes, write_ms; /* requests, and InfluxDB's time on them */
	struct flat_reading flat;
	volatile sig_atomic_t stop;
} g;

static struct ratelimit bad_message_rl = RATELIMIT_INIT(10, 20);


static void parse_options(int argc, char **argv)
{
	mqtt_settings_init(&opt.mq);
	/* MQTT 5 unless told: its receive maximum lets the broker send a
	 * whole batch before influxpub acknowledges any of it; under 3.1.1
	 * the broker's max_inflight_messages (20) caps a batch. */
	opt.mq.protocol = MQTT_V5;
	opt.mqtt = (struct mqttsub_settings){ .mq = &opt.mq, .persistent = true, .hold_acks = true };
	opt.prefix = "meters";
	opt.batch_size = 5000;
	opt.batch_time_ms = 1000;
	opt.timeout_s = 10;
	opt.sessions = 2;
	const char *influx_password_file = NULL, *token_file = NULL;
	if (argc >= 2 && strcmp(argv[argc - 1], "-h") == 0) {
		fputs(usage_text, stdout);
		exit(EXIT_OK);
	}
	int c;
	while ((c = getopt_long(argc, argv, ":" MQTT_CONN_SHORT "t:w:d:", long_options, NULL)) != -1) {
		switch (c) {
		case 't': opt.prefix = optarg; break;
		case 'w': opt.url = optarg; break;
		case 'd': opt.db = optarg; break;
		case OPT_ORG: opt.org = optarg; break;
		case OPT_BUCKET: opt.bucket = optarg; break;
		case OPT_INFLUX_USER: opt.influx_user = optarg; break;
		case OPT_INFLUX_PASSWORD_FILE: influx_password_file = optarg; break;
		case OPT_TOKEN_FILE: token_file = optarg; break;
		case OPT_MEASUREMENT: opt.influx.measurement = optarg; break;
		case OPT_BATCH_SIZE: opt.batch_size = arg_long("--batch-size", optarg, 1, 1000000, NULL); break;
		case OPT_BATCH_TIME: opt.batch_time_ms = arg_long("--batch-time", optarg, 0, 3600000, NULL); break;
		case OPT_SESSIONS: opt.sessions = arg_long("--sessions", optarg, 1, MAX_SESSIONS, NULL); break;
		case OPT_TIMEOUT: opt.timeout_s = arg_long("--timeout", optarg, 1, 3600, NULL); break;
		case OPT_CHECK: opt.check = true; break;
		case OPT_HELP: fputs(usage_text, stdout); exit_listed();
		case OPT_VERSION: print_version(argc);
		default: mqtt_settings_getopt(&opt.mq, c, usage_text, argv);
		}
	}
	if (optind < argc)
		usage_die(usage_text, "unexpected argument: %s", argv[optind]);
	const char *why;
	if (!mm_prefix_valid(opt.prefix, &why))
		usage_die(usage_text, "--prefix: %s", why);
	if (!opt.url)
		usage_die(usage_text, "no InfluxDB: give -w http://HOST:8086");
	if (strncmp(opt.url, "http://", 7) != 0 && strncmp(opt.url, "https://", 8) != 0)
		usage_die(usage_text, "--influx: not http://HOST[:PORT] or https://...: %s", opt.url);
	if (!opt.db == !opt.bucket)
		usage_die(usage_text, "give either -d DB (InfluxDB 1.x) or --org and --bucket (InfluxDB 2.x)");
	if (opt.bucket && !opt.org)
		usage_die(usage_text, "--bucket needs --org");
	if (opt.db && (opt.org || token_file))
		usage_die(usage_text, "--org and --token-file are for InfluxDB 2.x (--bucket), not -d");
	if (opt.bucket && (opt.influx_user || influx_password_file))
		usage_die(usage_text, "--influx-user is for InfluxDB 1.x (-d); 2.x takes a token");
	mqtt_settings_finish(&opt.mq, usage_text);
	opt.mqtt.receive_max = opt.batch_size < 65535 ? (int)opt.batch_size : 65535;
	opt.influx_password = secret_get("--influx-password-file", influx_password_file, "INFLUX_PASSWORD");
	if (opt.influx_password && !opt.influx_user && opt.db)
		usage_die(usage_text, "an InfluxDB password without --influx-user");
	opt.token = opt.bucket ? secret_get("--token-file", token_file, "INFLUX_TOKEN") : NULL;
	if (opt.bucket && !opt.token)
		usage_die(usage_text, "InfluxDB 2.x needs a token: $INFLUX_TOKEN or --token-file");
}

/* ---- writing to InfluxDB ---- */

static size_t keep_response(char *data, size_t size, size_t n, void *arg)
{
	struct lane *l = arg;
	size_t len = size * n;
	size_t room = sizeof l->response - 1 - l->response_len;
	size_t take = len < room ? len : room;
	memcpy(l->response + l->response_len, data, take);
	l->response_len += take;
	l->response[l->response_len] = '\0';
	return len;
}

static char *escaped(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	if (!e)
		die(EXIT_RUNTIME, "out of memory");
	return e;
}

/* The write URL and headers, the same for every lane. */
static void http_setup(void)
{
	g.http = httppoll_new();
	struct buf url;
	buf_init(&url);
	size_t n = strlen(opt.url);
	buf_add(&url, opt.url, n && opt.url[n - 1] == '/' ? n - 1 : n);
	if (opt.db) {
		char *db = escaped(opt.db);
		buf_printf(&url, "/write?db=%s&precision=ns", db);
		curl_free(db);
	} else {
		char *org = escaped(opt.org), *bucket = escaped(opt.bucket);
		buf_printf(&url, "/api/v2/write?org=%s&bucket=%s&precision=ns", org, bucket);
		curl_free(org);
		curl_free(bucket);
		struct buf auth;
		buf_init(&auth);
		buf_printf(&auth, "Authorization: Token %s", opt.token);
		if (auth.oom || !(g.headers = curl_slist_append(g.headers, auth.p)))
			die(EXIT_RUNTIME, "out of memory");
		buf_free(&auth);
	}
	if (url.oom)
		die(EXIT_RUNTIME, "out of memory");
	g.write_url = url.p;
	g.headers = curl_slist_append(g.headers, "Content-Type: text/plain; charset=utf-8");
	/* No "Expect: 100-continue" round trip before each batch. */
	g.headers = curl_slist_append(g.headers, "Expect:");
	if (!g.headers)
		die(EXIT_RUNTIME, "out of memory");
}

static void lane_http_setup(struct lane *l)
{
	CURL *c = l->curl = curl_easy_init();
	if (!c)
		die(EXIT_RUNTIME, "cannot set up libcurl");
	if (opt.db && opt.influx_user) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, opt.influx_user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, opt.influx_password ? opt.influx_password : "");
	}
	curl_easy_setopt(c, CURLOPT_URL, g.write_url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, g.headers);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, opt.timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_response);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, l);
	curl_easy_setopt(c, CURLOPT_PRIVATE, l);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
}

/* The batch is done with: InfluxDB has it (or refused it for good), so
 * the broker may now learn that its messages arrived. */
static void batch_done(struct lane *l)
{
	buf_reset(&l->batch);
	l->points = 0;
	l->backoff_ms = BACKOFF_FIRST_MS;
	mqttsub_release(l->sub);
}

static void retry_later(struct lane *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void retry_later(struct lane *l, const char *fmt, ...)
{
	char why[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (!g.warned_down)
		warnx("InfluxDB %s: %s; keeping %zu points and retrying (every %d s at most)", opt.url, why, l->points,
		      BACKOFF_MAX_MS / 1000);
	g.warned_down = true;
	l->retry_at_ms = mono_ms() + l->backoff_ms;
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

/* The first line of InfluxDB's answer, for a message. */
static const char *response_text(struct lane *l)
{
	l->response[strcspn(l->response, "\r\n")] = '\0';
	return l->response[0] ? l->response : "(no body)";
}

static void start_write(struct lane *l)
{
	l->response_len = 0;
	l->response[0] = '\0';
	curl_easy_setopt(l->curl, CURLOPT_POSTFIELDS, l->batch.p);
	curl_easy_setopt(l->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)l->batch.len);
	l->writing = true;
	l->write_started_ms = mono_ms();
	httppoll_add(g.http, l->curl);
}

static void write_done(struct lane *l, CURLcode rc)
{
	l->writing = false;
	g.writes++;
	g.write_ms += (unsigned long long)(mono_ms() - l->write_started_ms);
	if (rc != CURLE_OK) {
		retry_later(l, "%s", curl_easy_strerror(rc));
		return;
	}
	long status = 0;
	curl_easy_getinfo(l->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 401 || status == 403)
		die(EXIT_RUNTIME, "InfluxDB %s: authorization failed (HTTP %ld): %s", opt.url, status, response_text(l));
	if (status == 404)
		die(EXIT_RUNTIME, "InfluxDB %s: %s (HTTP 404): %s", opt.url, opt.db ? "no such database" : "no such bucket",
		    response_text(l));
	if (status >= 500 || status == 429 || status == 408) {
		retry_later(l, "HTTP %ld: %s", status, response_text(l));
		return;
	}
	if (status >= 400) {
		/* Points InfluxDB will never take (a field type conflict):
		 * sending them again would block everything behind them. */
		g.rejected_points += l->points;
		warn_limited(&bad_message_rl, "InfluxDB %s refused a batch of %zu points (HTTP %ld): %s", opt.url, l->points,
		             status, response_text(l));
	} else {
		g.written += l->points;
		logmsg(LOG_DEBUG, "session %d: %zu points written in %lld ms", l->no, l->points,
		       (long long)(mono_ms() - l->write_started_ms));
		if (g.warned_down)
			warnx("InfluxDB %s: writing again", opt.url);
		g.warned_down = false;
	}
	batch_done(l);
}

static void collect_writes(void)
{
	CURL *easy;
	CURLcode rc;
	while ((easy = httppoll_done(g.http, &rc))) {
		struct lane *l = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&l);
		write_done(l, rc);
	}
}

/* ---- messages from the broker ---- */

static void bad_message(const char *topic, const char *why)
{
	g.rejected_messages++;
	warn_limited(&bad_message_rl, "%s: message skipped: %s", topic, why);
}

/* The topic's two levels after the prefix must name the reading's type
 * and device: a reading under a wrong topic is not trusted. */
static bool topic_matches(const char *topic, const struct reading *r)
{
	size_t pn = strlen(opt.prefix), tn = strlen(r->type);
	return strncmp(topic, opt.prefix, pn) == 0 && topic[pn] == '/' && strncmp(topic + pn + 1, r->type, tn) == 0 &&
	       topic[pn + 1 + tn] == '/' && strcmp(topic + pn + 2 + tn, r->device) == 0;
}

static void on_message(const char *topic, const char *payload, size_t len, void *arg)
{
	struct lane *l = arg;
	int64_t now = mono_ms();
	l->last_message_ms = now;
	struct reading r;
	char why[256];
	if (len > 4 * 1024 * 1024) {
		bad_message(topic, "larger than 4 MiB");
		return;
	}
	if (reading_parse(payload, len, &r, why, sizeof why) < 0) {
		bad_message(topic, why);
		return;
	}
	if (!topic_matches(topic, &r)) {
		bad_message(topic, "its type and device are not those of the topic");
	} else if (flat_from_reading(&g.flat, &r) < 0) {
		die(EXIT_RUNTIME, "out of memory");
	} else {
		struct influx_count c = { 0 };
		if (influx_encode(&opt.influx, &g.flat, &l->batch, &c, why, sizeof why) < 0)
			bad_message(topic, why);
		if (c.points && !l->points)
			l->batch_started_ms = now;
		l->points += c.points;
	}
	reading_free(&r);
	arena_reset(); /* the reading was the arena's only tenant */
}

/* ---- the lanes ---- */

/* Session 1 is ID, as when influxpub had one; the others ID.2, ID.3...
 * The share group is ID with what a topic level cannot hold replaced. */
static void lanes_setup(const char *id, const char *topic)
{
	struct buf *shared = &g.shared_topic;
	static const char *sub_topic[1], *drop_topic[1];
	buf_init(shared);
	buf_adds(shared, "$share/");
	for (const char *p = id; *p; p++)
		buf_addc(shared, strchr("/+#", *p) ? '_' : *p);
	buf_addc(shared, '/');
	buf_adds(shared, topic);
	if (shared->oom)
		die(EXIT_RUNTIME, "out of memory");
	/* Each run drops the other kind, so that a session moved from one
	 * to the other gets each reading once. */
	sub_topic[0] = opt.sessions > 1 ? shared->p : topic;
	drop_topic[0] = opt.sessions > 1 ? topic : shared->p;
	opt.mqtt.topics = sub_topic;
	opt.mqtt.ntopics = 1;
	opt.mqtt.drop_topics = drop_topic;
	opt.mqtt.ndrop_topics = 1;
	g.nlanes = (int)opt.sessions;
	for (int i = 0; i < g.nlanes; i++) {
		struct lane *l = &g.lane[i];
		l->no = i + 1;
		buf_init(&l->client_id);
		buf_adds(&l->client_id, id);
		if (i > 0)
			buf_printf(&l->client_id, ".%d", l->no);
		if (l->client_id.oom)
			die(EXIT_RUNTIME, "out of memory");
		buf_init(&l->batch);
		l->backoff_ms = BACKOFF_FIRST_MS;
		lane_http_setup(l);
		struct mqttsub_settings s = opt.mqtt;
		s.client_id = l->client_id.p;
		l->sub = mqttsub_new(&s, on_message, l);
	}
	g.pfd_cap = (size_t)g.nlanes;
	if (!(g.pfd = calloc(g.pfd_cap, sizeof *g.pfd)))
		die(EXIT_RUNTIME, "out of memory");
}

static void lanes_free(void)
{
	for (int i = g.nlanes - 1; i >= 0; i--) {
		struct lane *l = &g.lane[i];
		mqttsub_free(l->sub);
		curl_easy_cleanup(l->curl);
		buf_free(&l->batch);
		buf_free(&l->client_id);
	}
	free(g.pfd);
	buf_free(&g.shared_topic);
}

/* A batch is due when full, old (--batch-time) or its broker paused
 * (QUIET_MS), and, once it holds its lane's share of a batch (batch size
 * / sessions), whenever no other batch is out.  That is what puts the
 * lanes out of step: one reads while InfluxDB takes another's batch, and
 * cuts its own as soon as that one is in. */
static bool batch_due(const struct lane *l, int64_t now)
{
	if (l->writing || !l->points || now < l->retry_at_ms)
		return false;
	return l->points * (size_t)g.nlanes >= (size_t)opt.batch_size || now - l->batch_started_ms >= opt.batch_time_ms ||
	       now - l->last_message_ms >= QUIET_MS;
}

static bool any_writing(void)
{
	for (int i = 0; i < g.nlanes; i++)
		if (g.lane[i].writing)
			return true;
	return false;
}

/* One batch with InfluxDB at a time, the oldest due first: InfluxDB
 * should be the limit, not a crowd of our own requests. */
static void write_next(int64_t now)
{
	if (any_writing())
		return;
	struct lane *next = NULL;
	for (int i = 0; i < g.nlanes; i++) {
		struct lane *l = &g.lane[i];
		if (batch_due(l, now) && (!next || l->batch_started_ms < next->batch_started_ms))
			next = l;
	}
	if (next)
		start_write(next);
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void lane_tick(struct lane *l, int64_t now)
{
	if (l->writing)
		return;
	mqttsub_tick(l->sub, now);
	if (!l->points && mqttsub_unreleased(l->sub))
		mqttsub_release(l->sub); /* messages that gave no point */
}

/* When the lane next wants its tick, or its batch's timers (only while no
 * batch is out: the end of that write wakes the loop anyway). */
static int64_t lane_wake(const struct lane *l, int64_t now, bool may_write)
{
	if (l->writing)
		return INT64_MAX;
	int64_t wake = mqttsub_wake(l->sub, now);
	if (l->points && may_write)
		wake = min64(wake, l->retry_at_ms > now ? l->retry_at_ms
		                                         : min64(l->batch_started_ms + opt.batch_time_ms,
		                                                 l->last_message_ms + QUIET_MS));
	return wake;
}

/* A frozen lane's socket is left out (fd -1): nothing is read into a
 * batch on its way, nothing acknowledged before InfluxDB answers.  A full
 * batch waits for InfluxDB; the broker keeps the rest. */
static void lane_pollfd(const struct lane *l, struct pollfd *p)
{
	if (l->writing)
		*p = (struct pollfd){ -1, 0, 0 };
	else
		mqttsub_pollfd(l->sub, p, !g.stop && l->points < (size_t)opt.batch_size);
}

/* One poll over the lanes' sockets and libcurl's, until wake at most. */
static void poll_once(int64_t wake, const sigset_t *mask)
{
	size_t nl = (size_t)g.nlanes, n = nl + httppoll_nfds(g.http);
	if (n > g.pfd_cap) {
		struct pollfd *p = realloc(g.pfd, n * sizeof *p);
		if (!p)
			die(EXIT_RUNTIME, "out of memory");
		g.pfd = p;
		g.pfd_cap = n;
	}
	for (size_t i = 0; i < nl; i++)
		lane_pollfd(&g.lane[i], &g.pfd[i]);
	httppoll_fill(g.http, g.pfd + nl);
	int64_t now = mono_ms();
	wake = min64(wake, httppoll_wake(g.http));
	struct timespec ts = { 0, 0 };
	if (wake > now)
		ts = (struct timespec){ (wake - now) / 1000, (wake - now) % 1000 * 1000000 };
	if (ppoll(g.pfd, n, &ts, mask) < 0 && errno != EINTR)
		die_errno(EXIT_RUNTIME, "poll");
	for (size_t i = 0; i < nl; i++)
		if (g.pfd[i].revents)
			mqttsub_io(g.lane[i].sub, g.pfd[i].revents);
	httppoll_io(g.http, g.pfd + nl, n - nl);
	collect_writes();
}

static void on_signal(int sig) { g.stop = sig; }

static void run(void)
{
	sigset_t block, orig;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	while (!g.stop) {
		int64_t now = mono_ms(), wake = now + 1000;
		for (int i = 0; i < g.nlanes; i++)
			lane_tick(&g.lane[i], now);
		write_next(now);
		bool may_write = !any_writing();
		for (int i = 0; i < g.nlanes; i++)
			wake = min64(wake, lane_wake(&g.lane[i], now, may_write));
		poll_once(wake, &orig);
	}
	/* One last try; what InfluxDB does not take now the broker still has. */
	int64_t now = mono_ms();
	for (int i = 0; i < g.nlanes; i++) {
		struct lane *l = &g.lane[i];
		if (!l->writing && l->points && now >= l->retry_at_ms)
			start_write(l);
	}
	while (any_writing())
		poll_once(mono_ms() + 1000, &orig);
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	parse_options(argc, argv);
	if (opt.check)
		return EXIT_OK;
	char id[128];
	if (!opt.mq.client_id) {
		snprintf(id, sizeof id, "m2m-influxpub-%s", opt.db ? opt.db : opt.bucket);
		opt.mq.client_id = id;
	}
	char topic[1024];
	snprintf(topic, sizeof topic, "%s/+/+", opt.prefix);
	http_setup();
	flat_init(&g.flat);
	reading_use_arena();
	lanes_setup(opt.mq.client_id, topic);
	run();
	logmsg(LOG_INFO, "%llu points written, %llu refused by InfluxDB, %llu messages skipped; %llu requests, %.1f s waiting for InfluxDB",
	       g.written, g.rejected_points, g.rejected_messages, g.writes, (double)g.write_ms / 1000);
	lanes_free();
	flat_free(&g.flat);
	arena_release();
	curl_slist_free_all(g.headers);
	httppoll_free(g.http);
	free(g.write_url);
	return EXIT_OK;
}
