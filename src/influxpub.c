/* influxpub: subscribes to the readings on the broker and writes them to
 * InfluxDB (1.x or 2.x) as line protocol over HTTP.
 *
 * The broker is the buffer: influxpub subscribes with QoS 1 on a
 * persistent session and lets the broker learn that a reading arrived only
 * after InfluxDB accepted it (lib/sink/mqttsub.h, hold_acks).  Readings
 * are gathered into batches (by count, by age, and whenever the broker
 * pauses); a batch InfluxDB cannot take now is retried with a backoff
 * while no more readings are read, so the broker keeps them.  Turning a
 * reading into points is lib/sink/influx.c. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/secret.h"
#include "base/util.h"
#include "sink/flatread.h"
#include "sink/influx.h"
#include "sink/mqttmsg.h"
#include "sink/mqttsub.h"

static const char usage_text[] =
	"usage: influxpub " MQTT_CONN_SYNOPSIS " [-t PREFIX] -w URL (-d DB | --org ORG --bucket B)\n"
	"                 [--influx-user USER] [--influx-password-file FILE] [--token-file FILE]\n"
	"                 [--measurement NAME] [--batch-size N] [--batch-time MS]\n"
	"                 [--timeout SEC] [--check]\n"
	"\n"
	"Subscribes to the readings on PREFIX/TYPE/DEVICE (mqttpub --reading) and\n"
	"writes them to InfluxDB: one point per reading, one field per numeric value.\n"
	"\n"
	MQTT_CONN_USAGE
	"  -i, --client-id ID         client id of the persistent session\n"
	"                             (default m2m-influxpub-DB)\n"
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

static struct {
	struct mqtt_settings mq;
	struct mqttsub_settings mqtt;
	const char *prefix;
	const char *url, *db, *org, *bucket;
	const char *influx_user;
	char *influx_password, *token;
	struct influx_opts influx;
	long batch_size, batch_time_ms, timeout_s;
	bool check;
} opt;

static struct {
	CURL *curl;
	char *write_url;
	struct curl_slist *headers;
	struct buf batch;
	size_t points, readings;
	int64_t batch_started_ms, last_message_ms;
	int64_t retry_at_ms, backoff_ms;
	bool warned_down;
	char response[512];
	size_t response_len;
	unsigned long long written, rejected_messages, rejected_points;
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
	(void)arg;
	size_t len = size * n;
	size_t room = sizeof g.response - 1 - g.response_len;
	size_t take = len < room ? len : room;
	memcpy(g.response + g.response_len, data, take);
	g.response_len += take;
	g.response[g.response_len] = '\0';
	return len;
}

static char *escaped(CURL *curl, const char *s)
{
	char *e = curl_easy_escape(curl, s, 0);
	if (!e)
		die(EXIT_RUNTIME, "out of memory");
	return e;
}

static void http_setup(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(g.curl = curl_easy_init()))
		die(EXIT_RUNTIME, "cannot set up libcurl");
	struct buf url;
	buf_init(&url);
	size_t n = strlen(opt.url);
	buf_add(&url, opt.url, n && opt.url[n - 1] == '/' ? n - 1 : n);
	if (opt.db) {
		char *db = escaped(g.curl, opt.db);
		buf_printf(&url, "/write?db=%s&precision=ns", db);
		curl_free(db);
		if (opt.influx_user) {
			curl_easy_setopt(g.curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(g.curl, CURLOPT_USERNAME, opt.influx_user);
			curl_easy_setopt(g.curl, CURLOPT_PASSWORD, opt.influx_password ? opt.influx_password : "");
		}
	} else {
		char *org = escaped(g.curl, opt.org), *bucket = escaped(g.curl, opt.bucket);
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
	curl_easy_setopt(g.curl, CURLOPT_URL, g.write_url);
	curl_easy_setopt(g.curl, CURLOPT_HTTPHEADER, g.headers);
	curl_easy_setopt(g.curl, CURLOPT_POST, 1L);
	curl_easy_setopt(g.curl, CURLOPT_TIMEOUT, opt.timeout_s);
	curl_easy_setopt(g.curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(g.curl, CURLOPT_WRITEFUNCTION, keep_response);
	curl_easy_setopt(g.curl, CURLOPT_PROTOCOLS_STR, "http,https");
}

/* The batch is done with: InfluxDB has it (or refused it for good), so
 * the broker may now learn that its messages arrived. */
static void batch_done(struct mqttsub *sub)
{
	buf_reset(&g.batch);
	g.points = g.readings = 0;
	g.backoff_ms = BACKOFF_FIRST_MS;
	mqttsub_release(sub);
}

static void retry_later(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void retry_later(const char *fmt, ...)
{
	char why[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (!g.warned_down)
		warnx("InfluxDB %s: %s; keeping %zu points and retrying (every %d s at most)", opt.url, why, g.points,
		      BACKOFF_MAX_MS / 1000);
	g.warned_down = true;
	g.retry_at_ms = mono_ms() + g.backoff_ms;
	g.backoff_ms = g.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : g.backoff_ms * 2;
}

/* The first line of InfluxDB's answer, for a message. */
static const char *response_text(void)
{
	g.response[strcspn(g.response, "\r\n")] = '\0';
	return g.response[0] ? g.response : "(no body)";
}

static void flush(struct mqttsub *sub)
{
	g.response_len = 0;
	g.response[0] = '\0';
	curl_easy_setopt(g.curl, CURLOPT_POSTFIELDS, g.batch.p);
	curl_easy_setopt(g.curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)g.batch.len);
	CURLcode rc = curl_easy_perform(g.curl);
	if (rc != CURLE_OK) {
		retry_later("%s", curl_easy_strerror(rc));
		return;
	}
	long status = 0;
	curl_easy_getinfo(g.curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 401 || status == 403)
		die(EXIT_RUNTIME, "InfluxDB %s: authorization failed (HTTP %ld): %s", opt.url, status, response_text());
	if (status == 404)
		die(EXIT_RUNTIME, "InfluxDB %s: %s (HTTP 404): %s", opt.url, opt.db ? "no such database" : "no such bucket",
		    response_text());
	if (status >= 500 || status == 429 || status == 408) {
		retry_later("HTTP %ld: %s", status, response_text());
		return;
	}
	if (status >= 400) {
		/* Points InfluxDB will never take (a field type conflict):
		 * sending them again would block everything behind them. */
		g.rejected_points += g.points;
		warn_limited(&bad_message_rl, "InfluxDB %s refused a batch of %zu points (HTTP %ld): %s", opt.url, g.points,
		             status, response_text());
	} else {
		g.written += g.points;
		if (g.warned_down)
			warnx("InfluxDB %s: writing again", opt.url);
		g.warned_down = false;
	}
	batch_done(sub);
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
	(void)arg;
	int64_t now = mono_ms();
	g.last_message_ms = now;
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
		if (influx_encode(&opt.influx, &g.flat, &g.batch, &c, why, sizeof why) < 0)
			bad_message(topic, why);
		if (c.points && !g.points)
			g.batch_started_ms = now;
		g.points += c.points;
		g.readings++;
	}
	reading_free(&r);
}

/* ---- the loop ---- */

static void on_signal(int sig) { g.stop = sig; }

static bool batch_due(int64_t now)
{
	if (!g.points || now < g.retry_at_ms)
		return false;
	return g.points >= (size_t)opt.batch_size || now - g.batch_started_ms >= opt.batch_time_ms ||
	       now - g.last_message_ms >= QUIET_MS;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void run(struct mqttsub *sub)
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
		int64_t now = mono_ms();
		mqttsub_tick(sub, now);
		if (batch_due(now))
			flush(sub);
		else if (!g.points && mqttsub_unreleased(sub))
			mqttsub_release(sub); /* messages that gave no point */
		now = mono_ms();
		struct pollfd p;
		/* A full batch waits for InfluxDB; the broker keeps the rest. */
		mqttsub_pollfd(sub, &p, g.points < (size_t)opt.batch_size);
		int64_t wake = mqttsub_wake(sub, now);
		if (g.points)
			wake = min64(wake, g.retry_at_ms > now ? g.retry_at_ms
			                                         : min64(g.batch_started_ms + opt.batch_time_ms,
			                                                 g.last_message_ms + QUIET_MS));
		struct timespec ts = { 0, 0 };
		if (wake > now)
			ts = (struct timespec){ (wake - now) / 1000, (wake - now) % 1000 * 1000000 };
		int n = ppoll(&p, p.fd >= 0 ? 1 : 0, &ts, &orig);
		if (n < 0 && errno != EINTR)
			die_errno(EXIT_RUNTIME, "poll");
		if (n > 0)
			mqttsub_io(sub, p.revents);
	}
	/* One last try; what InfluxDB does not take now the broker still has. */
	if (g.points && mono_ms() >= g.retry_at_ms)
		flush(sub);
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
	const char *topics[] = { topic };
	opt.mqtt.topics = topics;
	opt.mqtt.ntopics = 1;
	http_setup();
	buf_init(&g.batch);
	flat_init(&g.flat);
	g.backoff_ms = BACKOFF_FIRST_MS;
	struct mqttsub *sub = mqttsub_new(&opt.mqtt, on_message, NULL);
	run(sub);
	logmsg(LOG_INFO, "%llu points written, %llu refused by InfluxDB, %llu messages skipped", g.written,
	       g.rejected_points, g.rejected_messages);
	mqttsub_free(sub);
	flat_free(&g.flat);
	buf_free(&g.batch);
	curl_slist_free_all(g.headers);
	curl_easy_cleanup(g.curl);
	curl_global_cleanup();
	free(g.write_url);
	return EXIT_OK;
}
