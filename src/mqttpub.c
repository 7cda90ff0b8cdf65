/* mqttpub: reads reading lines on stdin and publishes them to MQTT.
 *
 * One poll loop over stdin (line/linein) and the broker's socket
 * (sink/mqttconn, which drives libmosquitto without a thread).  Each line
 * is parsed (line/reading), turned into messages (sink/mqttmsg, sink/ha)
 * and queued (sink/queue); a message leaves the queue only when the broker
 * has acknowledged it, so a broker outage loses nothing that fits in the
 * queue. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/text.h"
#include "base/util.h"
#include "line/jsonw.h"
#include "line/linein.h"
#include "line/reading.h"
#include "sink/ha.h"
#include "sink/mqttconn.h"
#include "sink/mqttmsg.h"
#include "sink/queue.h"
#include "sink/spool.h"

#ifndef M2M_VERSION
#define M2M_VERSION "unknown"
#endif

static const char usage_text[] =
	"usage: mqttpub " MQTT_CONN_SYNOPSIS " [-t PREFIX] [-q 0|1|2] [--no-retain] [--max-inflight N]\n"
	"               [--json | --json-values] [--reading] [--health-interval SEC]\n"
	"               [--homeassistant] [--ha-prefix P] [--expire-after SEC] [--one-shot]\n"
	"               [--type TYPE --device ID]\n"
	"               [--queue-max N] [--queue-bytes N] [--drain-timeout SEC]\n"
	"               [--spool DIR [--spool-max N] [--spool-sync SEC]]\n"
	"               [--line-max N] [--check]\n"
	"\n"
	"Reads reading lines on stdin and publishes every value to\n"
	"PREFIX/TYPE/DEVICE/PARAMETER, with a retained PREFIX/TYPE/DEVICE/status\n"
	"(online, or offline as the will and on exit).\n"
	"\n"
	MQTT_CONN_USAGE
	"  -i, --client-id ID         client id (default m2m-DEVICE-HASH, unique per host\n"
	"                             and device)\n"
	"\n"
	"  -t, --prefix PREFIX        first topic levels (default meters)\n"
	"  -q, --qos 0|1|2            quality of service (default 1)\n"
	"      --no-retain            do not retain the values\n"
	"      --max-inflight N       QoS 1/2 messages unacknowledged at most (MQTT 3.1.1: 20;\n"
	"                             MQTT 5: what the broker says it takes)\n"
	"      --json                 the whole reading as one message on PREFIX/TYPE/DEVICE\n"
	"      --json-values          per parameter {\"value\":..,\"unit\":..,\"time\":..}\n"
	"      --reading              also the whole reading as one message on PREFIX/TYPE/DEVICE\n"
	"                             (for influxpub and mtrexport)\n"
	"      --health-interval SEC  health on PREFIX/TYPE/DEVICE/health this often (60; 0: never)\n"
	"      --homeassistant        Home Assistant MQTT discovery\n"
	"      --ha-prefix P          discovery prefix (default homeassistant)\n"
	"      --expire-after SEC     Home Assistant shows an entity unavailable after SEC\n"
	"                             seconds without a value (default 0: never)\n"
	"      --one-shot             at the end of input leave the status online (for a\n"
	"                             poll from cron; needs --expire-after)\n"
	"      --type TYPE, --device ID  the device, to connect before the first line\n"
	"      --queue-max N          messages held while the broker is away (100000)\n"
	"      --queue-bytes N        bytes held (default 16M; k, M, G allowed)\n"
	"      --spool DIR            keep the queue on disk in DIR: nothing queued is lost\n"
	"                             by a crash, a restart or a power cut\n"
	"      --spool-max N          bytes the spool holds at most (default 64M)\n"
	"      --spool-sync SEC       sync the spool at most this often (default 1; 0: always)\n"
	"      --drain-timeout SEC    at end of input, wait this long to deliver (10)\n"
	"      --line-max N           longest input line (default 1M)\n"
	"      --check                check the options, connect to nothing, exit 0 or 2\n"
	"      --help                 this text (also -h alone)\n"
	"      --version              the program's version\n";

enum {
	OPT_JSON = 256,
	OPT_JSON_VALUES,
	OPT_READING,
	OPT_HEALTH_INTERVAL,
	OPT_HA,
	OPT_HA_PREFIX,
	OPT_EXPIRE_AFTER,
	OPT_ONE_SHOT,
	OPT_QUEUE_MAX,
	OPT_QUEUE_BYTES,
	OPT_DRAIN_TIMEOUT,
	OPT_SPOOL,
	OPT_SPOOL_MAX,
	OPT_SPOOL_SYNC,
	OPT_LINE_MAX,
	OPT_CHECK,
	OPT_TYPE,
	OPT_DEVICE,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_options[] = {
	MQTT_CONN_OPTIONS,
	MQTT_PUB_OPTIONS,
	{ "prefix", required_argument, NULL, 't' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "json-values", no_argument, NULL, OPT_JSON_VALUES },
	{ "reading", no_argument, NULL, OPT_READING },
	{ "health-interval", required_argument, NULL, OPT_HEALTH_INTERVAL },
	{ "homeassistant", no_argument, NULL, OPT_HA },
	{ "ha-prefix", required_argument, NULL, OPT_HA_PREFIX },
	{ "expire-after", required_argument, NULL, OPT_EXPIRE_AFTER },
	{ "one-shot", no_argument, NULL, OPT_ONE_SHOT },
	{ "queue-max", required_argument, NULL, OPT_QUEUE_MAX },
	{ "queue-bytes", required_argument, NULL, OPT_QUEUE_BYTES },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "spool-max", required_argument, NULL, OPT_SPOOL_MAX },
	{ "spool-sync", required_argument, NULL, OPT_SPOOL_SYNC },
	{ "line-max", required_argument, NULL, OPT_LINE_MAX },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* The most --queue-bytes may be: what memory can hold, 1 TiB at most. */
#define QUEUE_BYTES_MAX ((int64_t)(SIZE_MAX / 2 < (1ULL << 40) ? SIZE_MAX / 2 : (1ULL << 40)))

struct options {
	struct mqtt_settings mq;
	const char *prefix;
	struct mm_opts mm;
	bool homeassistant, one_shot;
	long expire_after_s;
	bool whole_reading;      /* --reading */
	long health_interval_s;
	long queue_max, drain_timeout_s;
	int64_t queue_bytes, line_max;
	const char *spool;
	int64_t spool_max;
	int spool_sync_ms;
	const char *type, *device;
	bool check;
};

static struct options opt;

static struct {
	struct mqttconn conn;
	struct queue q;
	struct spool spool;
	bool spooling, spool_failed;
	struct linein in;
	char *type, *device, *status_topic, *client_id, *ha_status;
	struct mm_list msgs; /* one line's messages; kept, so that it is not grown anew for each */
	struct ha_registry ha;
	struct ha_settings ha_set;
	/* Health: the reader's last report (its "health" object as JSON),
	 * its link state, and when ours is due next. */
	char *health_topic, *reader_health;
	char reader_link[16];
	int64_t health_due_ms;
	unsigned long connects;

	unsigned long bad_lines, bad_params;
	unsigned long dropped_reported;
	int64_t dropped_warned_ms;
	volatile sig_atomic_t signals, last_signal;
} g;

static struct ratelimit bad_line_rl = RATELIMIT_INIT(10, 20);


/* ---- options ---- */

/* 16M, 512k, 1G, or plain bytes: 64 bits, also on a 32-bit system. */
static int64_t size_arg(const char *name, const char *s, int64_t min, int64_t max)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	int64_t mult = 1;
	if (end != s && end[0] && !end[1])
		mult = *end == 'k' || *end == 'K' ? 1024 : *end == 'M' ? 1024 * 1024 : *end == 'G' ? 1024 * 1024 * 1024 : 0;
	else if (end == s || *end)
		mult = 0;
	if (mult == 0 || errno || v < 0 || v > max / mult || v * mult < min)
		usage_die(usage_text, "%s: not a size from %lld to %lld bytes (k, M, G allowed): %s", name, (long long)min,
		            (long long)max, s);
	return v * mult;
}

static void parse_options(int argc, char **argv)
{
	opt.prefix = "meters";
	mqtt_settings_init(&opt.mq);
	opt.mm.mode = MM_RAW;
	opt.mm.ha_prefix = "homeassistant";
	opt.queue_max = 100000;
	opt.queue_bytes = 16L * 1024 * 1024;
	opt.line_max = 1024L * 1024;
	opt.drain_timeout_s = 10;
	opt.spool_max = SPOOL_MAX_DEFAULT;
	opt.spool_sync_ms = 1000;
	opt.health_interval_s = 60;

	/* -h means the host, as in mosquitto_pub; alone it asks for help. */
	if (argc >= 2 && strcmp(argv[argc - 1], "-h") == 0) {
		fputs(usage_text, stdout);
		exit_listed();
	}
	bool json = false, json_values = false;
	int c;
	while ((c = getopt_long(argc, argv, ":" MQTT_CONN_SHORT MQTT_PUB_SHORT "t:", long_options, NULL)) != -1) {
		switch (c) {
		case 't':
			opt.prefix = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_JSON_VALUES:
			json_values = true;
			break;
		case OPT_READING:
			opt.whole_reading = true;
			break;
		case OPT_HEALTH_INTERVAL:
			opt.health_interval_s = arg_long("--health-interval", optarg, 0, 86400, NULL);
			break;
		case OPT_HA:
			opt.homeassistant = true;
			break;
		case OPT_HA_PREFIX:
			opt.mm.ha_prefix = optarg;
			break;
		case OPT_EXPIRE_AFTER:
			opt.expire_after_s = arg_long("--expire-after", optarg, 0, 31 * 86400, NULL);
			break;
		case OPT_ONE_SHOT:
			opt.one_shot = true;
			break;
		case OPT_QUEUE_MAX:
			opt.queue_max = arg_long("--queue-max", optarg, 1, 100000000, NULL);
			break;
		case OPT_QUEUE_BYTES:
			opt.queue_bytes = size_arg("--queue-bytes", optarg, 4096, QUEUE_BYTES_MAX);
			break;
		case OPT_SPOOL:
			if (!*optarg)
				usage_die(usage_text, "--spool: an empty directory name");
			opt.spool = optarg;
			break;
		case OPT_SPOOL_MAX:
			opt.spool_max = size_arg("--spool-max", optarg, 1024 * 1024, (int64_t)1 << 40);
			break;
		case OPT_SPOOL_SYNC:
			opt.spool_sync_ms = (int)(arg_double("--spool-sync", optarg, 0, 3600, "seconds from 0 to 3600") * 1000);
			break;
		case OPT_DRAIN_TIMEOUT:
			opt.drain_timeout_s = arg_long("--drain-timeout", optarg, 0, 86400, NULL);
			break;
		case OPT_LINE_MAX:
			opt.line_max = size_arg("--line-max", optarg, 1024, 256L * 1024 * 1024);
			break;
		case OPT_CHECK:
			opt.check = true;
			break;
		case OPT_TYPE:
			opt.type = optarg;
			break;
		case OPT_DEVICE:
			opt.device = optarg;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			exit_listed();
		case OPT_VERSION:
			print_version(argc);
		default:
			mqtt_settings_getopt(&opt.mq, c, usage_text, argv);
		}
	}
	if (optind < argc)
		usage_die(usage_text, "unexpected argument %s (mqttpub reads stdin)", argv[optind]);

	const char *why;
	if (!mm_prefix_valid(opt.prefix, &why))
		usage_die(usage_text, "--prefix %s: %s", opt.prefix, why);
	if (!mm_prefix_valid(opt.mm.ha_prefix, &why))
		usage_die(usage_text, "--ha-prefix %s: %s", opt.mm.ha_prefix, why);
	opt.mm.prefix = opt.prefix;
	if (json && json_values)
		usage_die(usage_text, "--json and --json-values exclude each other");
	opt.mm.mode = json ? MM_JSON_READING : json_values ? MM_JSON_VALUES : MM_RAW;
	if (!opt.type != !opt.device)
		usage_die(usage_text, "--type and --device go together");
	if (opt.one_shot && opt.expire_after_s == 0)
		usage_die(usage_text, "--one-shot needs --expire-after: without it a meter that stops being polled stays "
		            "available forever");
	if (opt.device && !device_id_valid(opt.device))
		usage_die(usage_text, "--device %s: not [A-Za-z0-9_-]{1,64}", opt.device);
	if (opt.type && !topic_level_valid(opt.type, strlen(opt.type), &why))
		usage_die(usage_text, "--type %s: %s", opt.type, why);
	mqtt_settings_finish(&opt.mq, usage_text);
}

/* ---- the device and its client id ---- */

/* m2m-<device>-<hash of host, prefix, type, device>: two gateways (or two
 * devices on one gateway) never share an id and kick each other off, and
 * the id stays within the 23 characters MQTT 3.1.1 brokers must accept. */
static char *default_client_id(const char *type, const char *device)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	uint32_t h = FNV1A32_INIT;
	const char *parts[] = { host, opt.prefix, type, device };
	for (size_t i = 0; i < 4; i++)
		h = fnv1a32(h, parts[i], strlen(parts[i]) + 1);
	char id[32];
	snprintf(id, sizeof id, "m2m-%.10s-%08x", device, (unsigned)h);
	return strdup(id);
}

static void set_device(const char *type, const char *device)
{
	g.type = strdup(type);
	g.device = strdup(device);
	g.status_topic = mm_topic(opt.prefix, type, device, "status");
	g.health_topic = mm_topic(opt.prefix, type, device, "health");
	g.client_id = opt.mq.client_id ? strdup(opt.mq.client_id) : default_client_id(type, device);
	if (!g.type || !g.device || !g.status_topic || !g.health_topic || !g.client_id)
		die(EXIT_RUNTIME, "out of memory");
	/* Every device on this stdin shares the connection, and so its will:
	 * all their entities go unavailable when the pipeline dies. */
	g.ha_set = (struct ha_settings){ g.status_topic, opt.expire_after_s, M2M_VERSION };
	mc_start(&g.conn, g.client_id, g.status_topic);
	g.health_due_ms = mono_ms() + opt.health_interval_s * 1000;
}

/* ---- the queue ---- */

static void enqueue(const char *topic, const char *payload, size_t len, bool retain)
{
	if (g.spooling) {
		if (spool_push(&g.spool, topic, strlen(topic), payload, len, retain) < 0)
			warnx("cannot spool a message for %s: %s", topic,
			      len > (size_t)opt.spool_max / 2 ? "larger than --spool-max" : "out of memory");
		return;
	}
	if (queue_push(&g.q, topic, strlen(topic), payload, len, retain) < 0)
		warnx("cannot queue a message for %s: %s", topic,
		      queue_msg_size(strlen(topic), len) > g.q.max_bytes ? "larger than --queue-bytes" : "out of memory");
}

static void report_drops(bool now_or_never)
{
	if (g.q.dropped == g.dropped_reported)
		return;
	int64_t t = mono_ms();
	if (!now_or_never && t - g.dropped_warned_ms < 10000)
		return;
	if (g.spooling)
		warnx("spool %s full (--spool-max %lld): dropped the oldest, %lu dropped so far", opt.spool,
		      (long long)opt.spool_max, g.q.dropped);
	else
		warnx("queue full (--queue-max %zu, --queue-bytes %zu): dropped the oldest, %lu dropped so far",
	      g.q.max_count, g.q.max_bytes, g.q.dropped);
	g.dropped_reported = g.q.dropped;
	g.dropped_warned_ms = t;
}

/* ---- Home Assistant discovery ---- */

static void ha_emit(const struct mm_msg *config, void *arg)
{
	(void)arg;
	enqueue(config->topic, config->payload, config->payload_len, true);
}

/* Retained configs may be gone (a broker without persistence), and Home
 * Assistant asks for them again when it restarts. */
static void ha_again(void *arg)
{
	(void)arg;
	ha_resend_all(&g.ha, ha_emit, NULL);
}

/* ---- the whole reading, and health ---- */

/* The line itself, byte for byte, on PREFIX/TYPE/DEVICE: the sinks read
 * the reading with the reader's digits. */
static void enqueue_reading(const struct reading *r, const char *line, size_t len)
{
	char *topic = mm_topic(opt.prefix, r->type, r->device, NULL);
	if (!topic) {
		warnx("out of memory: the whole reading not published");
		return;
	}
	enqueue(topic, line, len, opt.mq.retain);
	free(topic);
}

/* Retained on PREFIX/TYPE/DEVICE/health: the reader's last report as it
 * gave it, and our own counters (meter2mqtt(7), HEALTH). */
static void publish_health(void)
{
	char now[32];
	struct jw w;
	jw_init(&w);
	time_now_rfc3339(now);
	jw_object_begin(&w);
	jw_key(&w, "time");
	jw_string(&w, now);
	jw_key(&w, "type");
	jw_string(&w, g.type);
	jw_key(&w, "device");
	jw_string(&w, g.device);
	if (g.reader_link[0]) {
		jw_key(&w, "link");
		jw_string(&w, g.reader_link);
	}
	if (g.reader_health) {
		jw_key(&w, "reader");
		jw_raw_value(&w, g.reader_health, strlen(g.reader_health));
	}
	jw_key(&w, "publisher");
	jw_object_begin(&w);
	jw_key(&w, "published");
	jw_int(&w, (long long)(g.q.pushed - g.q.dropped - g.q.count));
	jw_key(&w, "queued");
	jw_int(&w, (long long)g.q.count);
	jw_key(&w, "dropped");
	jw_int(&w, (long long)g.q.dropped);
	jw_key(&w, "reconnects");
	jw_int(&w, g.connects ? (long long)g.connects - 1 : 0);
	jw_key(&w, "bad_lines");
	jw_int(&w, (long long)g.bad_lines);
	jw_object_end(&w);
	jw_object_end(&w);
	if (!w.oom)
		enqueue(g.health_topic, w.buf, w.len, true);
	jw_free(&w);
	g.health_due_ms = mono_ms() + opt.health_interval_s * 1000;
}

/* A reader's health line: kept for the next health message, which goes
 * out at once when the link state changed (or on the first report). */
static void take_reader_health(const struct jv *health)
{
	size_t len;
	const char *why;
	char *json = mm_value_payload(health, &len, &why);
	if (!json) {
		warn_limited(&bad_line_rl, "health: %s: skipped", why);
		return;
	}
	const char *link = reading_string(health, "link");
	bool first = !g.reader_health;
	bool changed = strcmp(link ? link : "", g.reader_link) != 0;
	free(g.reader_health);
	g.reader_health = json;
	snprintf(g.reader_link, sizeof g.reader_link, "%s", link ? link : "");
	if ((first || changed) && opt.health_interval_s)
		publish_health();
}

static void count_connect(void *arg)
{
	g.connects++;
	if (opt.homeassistant)
		ha_again(arg);
}

/* ---- input ---- */

static void handle_line(const char *line, size_t len, unsigned long lineno, void *arg)
{
	(void)arg;
	if (!line) {
		g.bad_lines++;
		warn_limited(&bad_line_rl, "line %lu: longer than %lld bytes: skipped", lineno, (long long)opt.line_max);
		return;
	}
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	size_t lead = 0;
	while (lead < len && (line[lead] == ' ' || line[lead] == '\t'))
		lead++;
	if (lead == len)
		return; /* a blank line says nothing */

	struct reading r;
	char why[256];
	int rc = reading_parse(line, len, &r, why, sizeof why);
	if (rc < 0) {
		arena_reset();
		g.bad_lines++;
		warn_limited(&bad_line_rl, "line %lu: %s: skipped", lineno, why);
		return;
	}
	if (g.conn.state == MC_IDLE)
		set_device(r.type, r.device);
	const struct jv *health = jv_get(&r.root, "health");
	if (health && health->type == JV_OBJECT) {
		take_reader_health(health);
		reading_free(&r);
		arena_reset();
		return;
	}
	if (opt.homeassistant)
		ha_announce(&g.ha, &opt.mm, &g.ha_set, &r, ha_emit, NULL);

	struct mm_result res;
	if (mm_build(&opt.mm, &r, line, len, opt.mq.retain, &g.msgs, &res) < 0)
		warnx("line %lu: out of memory: skipped", lineno);
	for (size_t i = 0; i < g.msgs.n; i++)
		enqueue(g.msgs.v[i].topic, g.msgs.v[i].payload, g.msgs.v[i].payload_len, g.msgs.v[i].retain);
	if (opt.whole_reading && opt.mm.mode != MM_JSON_READING)
		enqueue_reading(&r, line + lead, len - lead);
	for (int i = 0; i < res.nproblems; i++)
		warn_limited(&bad_line_rl, "line %lu: parameter %s: %s: skipped", lineno, res.problems[i].param,
		             res.problems[i].why);
	g.bad_params += (unsigned long)res.skipped;
	mm_list_clear(&g.msgs);
	reading_free(&r);
	arena_reset();
	report_drops(false);
}

/* ---- the loop ---- */

static void on_signal(int sig)
{
	g.signals++;
	g.last_signal = sig;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* After a stop signal, how long the input is still read. */
#define STOP_READ_MS 1000

static unsigned long lost_now(void) { return g.q.count + g.q.dropped + g.conn.rejected; }

/* A message is in the spool before it goes to the broker. */
static void pump(int64_t now)
{
	if (g.spooling && spool_flush(&g.spool, now) < 0 && !g.spool_failed) {
		warn_errno("spool %s: cannot write (messages stay in memory only)", opt.spool);
		g.spool_failed = true;
	}
	mc_pump(&g.conn);
}

static int finish(bool interrupted)
{
	report_drops(true);
	unsigned long undelivered = g.q.count, lost = lost_now();
	/* A poll from cron ends here every time: the status stays online and
	 * the entities expire (--expire-after) only when the polls stop. */
	g.conn.stay_online = opt.one_shot && !interrupted && undelivered == 0;
	mc_goodbye(&g.conn, mono_ms() + 2000);
	if (g.bad_lines || g.bad_params)
		warnx("%lu lines read, %lu bad lines and %lu bad parameters skipped", g.in.lineno, g.bad_lines,
		      g.bad_params);
	if (g.spooling) {
		/* What is still queued stays in the spool for the next run. */
		if (undelivered)
			warnx("%lu messages kept in the spool %s for the next run%s", undelivered, opt.spool,
			      interrupted ? " (interrupted)" : "");
		lost -= undelivered;
		undelivered = 0;
	}
	if (lost == 0)
		return EXIT_OK;
	warnx("%lu messages lost: %lu not delivered%s, %lu dropped from a full %s, %lu refused by the broker", lost,
	      undelivered, interrupted ? " (interrupted)" : " within --drain-timeout", g.q.dropped,
	      g.spooling ? "spool" : "queue", g.conn.rejected);
	return EXIT_RUNTIME;
}

/* Everything back, so that a leak checker sees only real leaks. */
static void release_all(void)
{
	mc_free(&g.conn);
	if (g.spooling)
		spool_close(&g.spool);
	queue_free(&g.q);
	ha_registry_free(&g.ha);
	free(g.type);
	free(g.device);
	free(g.status_topic);
	free(g.health_topic);
	free(g.reader_health);
	free(g.client_id);
	free(g.ha_status);
	linein_free(&g.in);
	mm_list_free(&g.msgs);
	arena_release();
}

/* Without --type and --device, the device of what an earlier run left in
 * the spool (PREFIX/TYPE/DEVICE[/PARAM]): it is to be sent now, before any
 * line names the device. */
static void device_from_spool(void)
{
	size_t pn = strlen(opt.prefix);
	for (struct qmsg *m = g.q.head; m; m = m->next) {
		if (strncmp(m->data, opt.prefix, pn) != 0 || m->data[pn] != '/')
			continue;
		char *type = strdup(m->data + pn + 1);
		char *slash = type ? strchr(type, '/') : NULL;
		if (slash) {
			char *device = slash + 1;
			*slash = '\0';
			device[strcspn(device, "/")] = '\0';
			if (*type && *device)
				set_device(type, device);
		}
		free(type);
		return;
	}
}

static void start(void)
{
	if (linein_init(&g.in, (size_t)opt.line_max) < 0)
		die(EXIT_RUNTIME, "out of memory");
	mc_init(&g.conn, &opt.mq, &g.q);
	if (opt.spool) {
		/* The spool's bound is the queue's: memory holds what it holds. */
		queue_init(&g.q, SIZE_MAX, SIZE_MAX);
		char why[256];
		if (spool_open(&g.spool, opt.spool, (uint64_t)opt.spool_max, opt.spool_sync_ms, &g.q, why, sizeof why) < 0)
			die(EXIT_RUNTIME, "--spool %s: %s", opt.spool, why);
		g.spooling = true;
		g.conn.spool_dir = opt.spool;
	} else {
		queue_init(&g.q, (size_t)opt.queue_max, (size_t)opt.queue_bytes);
	}
	if (opt.homeassistant) {
		if (asprintf(&g.ha_status, "%s/status", opt.mm.ha_prefix) < 0)
			die(EXIT_RUNTIME, "out of memory");
		g.conn.subscribe = g.ha_status;
		g.conn.on_birth = ha_again;
	}
	g.conn.on_connected = count_connect;
	if (opt.type)
		set_device(opt.type, opt.device);
	else if (g.spooling)
		device_from_spool();
}

static int run(void)
{
	start();
	sigset_t block, orig;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	bool draining = false;
	int64_t drain_deadline = 0, stop_read_end = 0;
	for (;;) {
		int64_t now = mono_ms();
		/* A stop reaches the reader too (one process group): what it
		 * writes on its way out is read until the input ends, for
		 * STOP_READ_MS at most, so that nothing in the pipe is lost. */
		if (g.signals && !g.in.eof && !stop_read_end) {
			logmsg(LOG_INFO, "%s: delivering what is queued, then exiting", strsignal(g.last_signal));
			stop_read_end = now + STOP_READ_MS;
		}
		if (stop_read_end && now >= stop_read_end)
			g.in.eof = true;
		if (g.signals > 1)
			return finish(true); /* asked twice: now */
		if (g.in.eof && !draining) {
			draining = true;
			drain_deadline = now + opt.drain_timeout_s * 1000;
		}
		if (draining) {
			if (g.conn.state == MC_IDLE || g.q.count == 0)
				return finish(false);
			if (now >= drain_deadline)
				return finish(g.signals != 0);
		}
		if (opt.health_interval_s && g.health_topic && now >= g.health_due_ms)
			publish_health();
		mc_tick(&g.conn, now);
		pump(now);

		struct pollfd fds[2];
		nfds_t nfds = 0;
		int in_idx = -1, mq_idx = -1;
		/* While connected and half full, let the pipe hold the rest
		 * (the broker is taking messages); while disconnected keep
		 * reading, so that the reader never blocks. */
		bool busy = g.conn.state == MC_CONNECTED &&
		            (g.q.count >= g.q.max_count / 2 || g.q.bytes >= g.q.max_bytes / 2);
		if (!g.in.eof && !busy) {
			in_idx = (int)nfds;
			fds[nfds++] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 };
		}
		if (mc_pollfd(&g.conn, &fds[nfds]))
			mq_idx = (int)nfds++;

		/* Sleep until something happens or a deadline comes: idle
		 * costs nothing but a keepalive check now and then. */
		int64_t wake = mc_wake(&g.conn, now);
		if (g.spooling)
			wake = min64(wake, spool_wake(&g.spool));
		if (opt.health_interval_s && g.health_topic)
			wake = min64(wake, g.health_due_ms);
		if (draining)
			wake = min64(wake, drain_deadline);
		else if (stop_read_end)
			wake = min64(wake, stop_read_end);
		struct timespec ts = { 0, 0 };
		if (wake > now) {
			ts.tv_sec = (wake - now) / 1000;
			ts.tv_nsec = (wake - now) % 1000 * 1000000;
		}
		int n = ppoll(fds, nfds, &ts, &orig);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die_errno(EXIT_RUNTIME, "poll");
		}
		if (mq_idx >= 0)
			mc_io(&g.conn, fds[mq_idx].revents);
		if (in_idx >= 0 && (fds[in_idx].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    linein_read(&g.in, STDIN_FILENO, handle_line, NULL) < 0)
			warn_errno("stdin");
		pump(mono_ms());
	}
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	parse_options(argc, argv);
	if (opt.check)
		return EXIT_OK;
	if (opt.mq.insecure)
		warnx("WARNING: --insecure-skip-verify: the broker's certificate is NOT checked; anyone on the path "
		      "can read and change what is published");
	mc_lib_init();
	reading_use_arena();
	int rc = run();
	release_all();
	mc_lib_cleanup();
	return rc;
}
