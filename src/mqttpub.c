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
#include <sys/stat.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/util.h"
#include "line/linein.h"
#include "line/reading.h"
#include "sink/ha.h"
#include "sink/mqttconn.h"
#include "sink/mqttmsg.h"
#include "sink/queue.h"

#ifndef M2M_VERSION
#define M2M_VERSION "unknown"
#endif

static const char usage_text[] =
	"usage: mqttpub [-h HOST] [-p PORT] [-L URL] [-t PREFIX] [-i ID] [-k SEC] [-V 311|5]\n"
	"               [-q 0|1|2] [--no-retain] [-u USER] [--password-file FILE]\n"
	"               [--tls] [--cafile F] [--capath D] [--cert F --key F] [--tls-version V]\n"
	"               [--insecure-skip-verify] [--json | --json-values]\n"
	"               [--homeassistant] [--ha-prefix P] [--type TYPE --device ID]\n"
	"               [--queue-max N] [--queue-bytes N] [--drain-timeout SEC]\n"
	"               [--line-max N] [--check]\n"
	"\n"
	"Reads reading lines on stdin and publishes every value to\n"
	"PREFIX/TYPE/DEVICE/PARAMETER, with a retained PREFIX/TYPE/DEVICE/status\n"
	"(online, or offline as the will and on exit).\n"
	"\n"
	"  -h, --host HOST            broker host (default localhost)\n"
	"  -p, --port PORT            broker port (default 1883, 8883 with TLS)\n"
	"  -L, --url URL              mqtt://[USER@]HOST[:PORT] or mqtts://...\n"
	"  -t, --prefix PREFIX        first topic levels (default meters)\n"
	"  -i, --client-id ID         client id (default m2m-DEVICE-HASH, unique per host\n"
	"                             and device)\n"
	"  -k, --keepalive SEC        keepalive interval (default 60)\n"
	"  -V, --protocol 311|5       MQTT 3.1.1 (default) or 5\n"
	"  -q, --qos 0|1|2            quality of service (default 1)\n"
	"      --no-retain            do not retain the values\n"
	"  -u, --username USER        user name; the password comes from $MQTT_PASSWORD\n"
	"      --password-file FILE   or from the first line of FILE\n"
	"      --tls                  TLS, trusting the system's CA store\n"
	"      --cafile FILE          TLS, trusting the CAs in FILE\n"
	"      --capath DIR           TLS, trusting the CAs in DIR\n"
	"      --cert FILE, --key FILE  client certificate and its key\n"
	"      --tls-version V        tlsv1.3, tlsv1.2 (default: either) or tlsv1.1\n"
	"      --insecure-skip-verify TLS without checking the broker's certificate\n"
	"      --json                 the whole reading as one message on PREFIX/TYPE/DEVICE\n"
	"      --json-values          per parameter {\"value\":..,\"unit\":..,\"time\":..}\n"
	"      --homeassistant        Home Assistant MQTT discovery\n"
	"      --ha-prefix P          discovery prefix (default homeassistant)\n"
	"      --type TYPE, --device ID  the device, to connect before the first line\n"
	"      --queue-max N          messages held while the broker is away (100000)\n"
	"      --queue-bytes N        bytes held (default 16M; k, M, G allowed)\n"
	"      --drain-timeout SEC    at end of input, wait this long to deliver (10)\n"
	"      --line-max N           longest input line (default 1M)\n"
	"      --check                check the options, connect to nothing, exit 0 or 2\n"
	"      --help                 this text (also -h alone)\n"
	"      --version              the program's version\n";

enum {
	OPT_NO_RETAIN = 256,
	OPT_PASSWORD_FILE,
	OPT_CAFILE,
	OPT_CAPATH,
	OPT_CERT,
	OPT_KEY,
	OPT_TLS_VERSION,
	OPT_TLS,
	OPT_INSECURE,
	OPT_JSON,
	OPT_JSON_VALUES,
	OPT_HA,
	OPT_HA_PREFIX,
	OPT_QUEUE_MAX,
	OPT_QUEUE_BYTES,
	OPT_DRAIN_TIMEOUT,
	OPT_LINE_MAX,
	OPT_CHECK,
	OPT_TYPE,
	OPT_DEVICE,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_options[] = {
	{ "host", required_argument, NULL, 'h' },
	{ "port", required_argument, NULL, 'p' },
	{ "url", required_argument, NULL, 'L' },
	{ "prefix", required_argument, NULL, 't' },
	{ "client-id", required_argument, NULL, 'i' },
	{ "keepalive", required_argument, NULL, 'k' },
	{ "protocol", required_argument, NULL, 'V' },
	{ "qos", required_argument, NULL, 'q' },
	{ "no-retain", no_argument, NULL, OPT_NO_RETAIN },
	{ "username", required_argument, NULL, 'u' },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "capath", required_argument, NULL, OPT_CAPATH },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "tls-version", required_argument, NULL, OPT_TLS_VERSION },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "insecure-skip-verify", no_argument, NULL, OPT_INSECURE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "json-values", no_argument, NULL, OPT_JSON_VALUES },
	{ "homeassistant", no_argument, NULL, OPT_HA },
	{ "ha-prefix", required_argument, NULL, OPT_HA_PREFIX },
	{ "queue-max", required_argument, NULL, OPT_QUEUE_MAX },
	{ "queue-bytes", required_argument, NULL, OPT_QUEUE_BYTES },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
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
	char *password_buf;
	const char *prefix;
	const char *password_file;
	struct mm_opts mm;
	bool homeassistant;
	long queue_max, drain_timeout_s;
	int64_t queue_bytes, line_max;
	const char *type, *device;
	bool check;
};

static struct options opt;

static struct {
	struct mqttconn conn;
	struct queue q;
	struct linein in;
	char *type, *device, *status_topic, *client_id, *ha_status;
	struct mm_list msgs; /* one line's messages; kept, so that it is not grown anew for each */
	struct ha_registry ha;

	unsigned long bad_lines, bad_params;
	unsigned long dropped_reported;
	int64_t dropped_warned_ms;
	volatile sig_atomic_t signals, last_signal;
} g;

static struct ratelimit bad_line_rl = RATELIMIT_INIT(10, 20);

_Noreturn static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n%s", prog_name, msg, usage_text);
	exit(EXIT_USAGE);
}

/* ---- options ---- */

static long number_arg(const char *name, const char *s, long min, long max)
{
	long v;
	if (parse_long(s, min, max, &v) < 0)
		usage_error("%s: not a number from %ld to %ld: %s", name, min, max, s);
	return v;
}

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
		usage_error("%s: not a size from %lld to %lld bytes (k, M, G allowed): %s", name, (long long)min,
		            (long long)max, s);
	return v * mult;
}

/* mqtt[s]://[USER@]HOST[:PORT][/] */
static void url_arg(const char *url)
{
	const char *rest;
	if (strncmp(url, "mqtt://", 7) == 0)
		rest = url + 7;
	else if (strncmp(url, "mqtts://", 8) == 0) {
		rest = url + 8;
		opt.mq.tls = true;
	} else
		usage_error("--url: not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]: %s", url);
	const char *at = strchr(rest, '@');
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		if (colon)
			usage_error("--url: a password does not belong on the command line, where every user "
			            "sees it: use $MQTT_PASSWORD or --password-file");
		opt.mq.username = strndup(rest, (size_t)(at - rest));
		rest = at + 1;
	}
	size_t hostlen;
	const char *after;
	if (*rest == '[') {
		const char *close = strchr(rest, ']');
		if (!close)
			usage_error("--url: unclosed '[' in %s", url);
		opt.mq.host = strndup(rest + 1, (size_t)(close - rest - 1));
		after = close + 1;
	} else {
		hostlen = strcspn(rest, ":/");
		opt.mq.host = strndup(rest, hostlen);
		after = rest + hostlen;
	}
	if (!opt.mq.host || !*opt.mq.host)
		usage_error("--url: no host in %s", url);
	if (*after == ':') {
		char port[8];
		size_t n = strcspn(after + 1, "/");
		if (n == 0 || n >= sizeof port)
			usage_error("--url: bad port in %s", url);
		memcpy(port, after + 1, n);
		port[n] = '\0';
		opt.mq.port = (int)number_arg("--url port", port, 1, 65535);
		after += 1 + n;
	}
	if (*after && strcmp(after, "/") != 0)
		usage_error("--url: a path (%s) is not used: the topic prefix is --prefix", after);
}

static char *read_password_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die_errno(EXIT_USAGE, "--password-file: %s", path);
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IROTH))
		warnx("warning: password file %s is readable by every user", path);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	fclose(f);
	if (n < 0)
		die(EXIT_USAGE, "--password-file: %s is empty", path);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static void readable_or_die(const char *what, const char *path, bool dir)
{
	struct stat st;
	if (stat(path, &st) < 0 || access(path, R_OK) < 0)
		die_errno(EXIT_USAGE, "%s: %s", what, path);
	if (dir != S_ISDIR(st.st_mode))
		die(EXIT_USAGE, "%s: %s is %s a directory", what, path, dir ? "not" : "");
}

static void parse_options(int argc, char **argv)
{
	opt.prefix = "meters";
	opt.mq.keepalive = 60;
	opt.mq.protocol = MQTT_V311;
	opt.mq.qos = 1;
	opt.mq.retain = true;
	opt.mm.mode = MM_RAW;
	opt.mm.ha_prefix = "homeassistant";
	opt.queue_max = 100000;
	opt.queue_bytes = 16L * 1024 * 1024;
	opt.line_max = 1024L * 1024;
	opt.drain_timeout_s = 10;

	/* -h means the host, as in mosquitto_pub; alone it asks for help. */
	if (argc >= 2 && strcmp(argv[argc - 1], "-h") == 0) {
		fputs(usage_text, stdout);
		exit(EXIT_OK);
	}
	bool json = false, json_values = false;
	int c;
	while ((c = getopt_long(argc, argv, ":h:p:L:t:i:k:V:q:u:", long_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			opt.mq.host = optarg;
			break;
		case 'p':
			opt.mq.port = (int)number_arg("--port", optarg, 1, 65535);
			break;
		case 'L':
			url_arg(optarg);
			break;
		case 't':
			opt.prefix = optarg;
			break;
		case 'i':
			if (!*optarg || strlen(optarg) > 65535)
				usage_error("--client-id: empty or too long");
			opt.mq.client_id = optarg;
			break;
		case 'k':
			opt.mq.keepalive = (int)number_arg("--keepalive", optarg, 5, 65535);
			break;
		case 'V':
			if (!strcmp(optarg, "311") || !strcmp(optarg, "mqttv311"))
				opt.mq.protocol = MQTT_V311;
			else if (!strcmp(optarg, "5") || !strcmp(optarg, "mqttv5"))
				opt.mq.protocol = MQTT_V5;
			else
				usage_error("--protocol: 311 or 5, not %s", optarg);
			break;
		case 'q':
			opt.mq.qos = (int)number_arg("--qos", optarg, 0, 2);
			break;
		case OPT_NO_RETAIN:
			opt.mq.retain = false;
			break;
		case 'u':
			opt.mq.username = optarg;
			break;
		case OPT_PASSWORD_FILE:
			opt.password_file = optarg;
			break;
		case OPT_CAFILE:
			opt.mq.cafile = optarg;
			break;
		case OPT_CAPATH:
			opt.mq.capath = optarg;
			break;
		case OPT_CERT:
			opt.mq.cert = optarg;
			break;
		case OPT_KEY:
			opt.mq.key = optarg;
			break;
		case OPT_TLS_VERSION:
			if (strcmp(optarg, "tlsv1.3") && strcmp(optarg, "tlsv1.2") && strcmp(optarg, "tlsv1.1"))
				usage_error("--tls-version: tlsv1.3, tlsv1.2 or tlsv1.1, not %s", optarg);
			opt.mq.tls_version = optarg;
			break;
		case OPT_TLS:
			opt.mq.tls = true;
			break;
		case OPT_INSECURE:
			opt.mq.insecure = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_JSON_VALUES:
			json_values = true;
			break;
		case OPT_HA:
			opt.homeassistant = true;
			break;
		case OPT_HA_PREFIX:
			opt.mm.ha_prefix = optarg;
			break;
		case OPT_QUEUE_MAX:
			opt.queue_max = number_arg("--queue-max", optarg, 1, 100000000);
			break;
		case OPT_QUEUE_BYTES:
			opt.queue_bytes = size_arg("--queue-bytes", optarg, 4096, QUEUE_BYTES_MAX);
			break;
		case OPT_DRAIN_TIMEOUT:
			opt.drain_timeout_s = number_arg("--drain-timeout", optarg, 0, 86400);
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
			exit(EXIT_OK);
		case OPT_VERSION:
			print_version();
		case ':':
			usage_error("%s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument %s (mqttpub reads stdin)", argv[optind]);

	const char *why;
	if (!mm_prefix_valid(opt.prefix, &why))
		usage_error("--prefix %s: %s", opt.prefix, why);
	if (!mm_prefix_valid(opt.mm.ha_prefix, &why))
		usage_error("--ha-prefix %s: %s", opt.mm.ha_prefix, why);
	opt.mm.prefix = opt.prefix;
	if (json && json_values)
		usage_error("--json and --json-values exclude each other");
	opt.mm.mode = json ? MM_JSON_READING : json_values ? MM_JSON_VALUES : MM_RAW;
	if (!opt.type != !opt.device)
		usage_error("--type and --device go together");
	if (opt.device && !device_id_valid(opt.device))
		usage_error("--device %s: not [A-Za-z0-9_-]{1,64}", opt.device);
	if (opt.type && !topic_level_valid(opt.type, strlen(opt.type), &why))
		usage_error("--type %s: %s", opt.type, why);
	if (!opt.mq.cert != !opt.mq.key)
		usage_error("--cert and --key go together");
	if (opt.mq.cert && !opt.mq.cafile && !opt.mq.capath)
		usage_error("--cert needs --cafile or --capath");
	if (opt.mq.cafile || opt.mq.capath || opt.mq.cert || opt.mq.insecure || opt.mq.tls_version)
		opt.mq.tls = true;
	if (!opt.mq.host)
		opt.mq.host = "localhost";
	if (!opt.mq.port)
		opt.mq.port = opt.mq.tls ? 8883 : 1883;
	if (opt.mq.cafile)
		readable_or_die("--cafile", opt.mq.cafile, false);
	if (opt.mq.capath)
		readable_or_die("--capath", opt.mq.capath, true);
	if (opt.mq.cert)
		readable_or_die("--cert", opt.mq.cert, false);
	if (opt.mq.key)
		readable_or_die("--key", opt.mq.key, false);

	if (opt.password_file) {
		if (!opt.mq.username)
			usage_error("--password-file needs --username");
		opt.mq.password = opt.password_buf = read_password_file(opt.password_file);
	} else if (getenv("MQTT_PASSWORD") && opt.mq.username) {
		opt.mq.password = opt.password_buf = strdup(getenv("MQTT_PASSWORD"));
	}
	/* Not passed on to anything we might start. */
	unsetenv("MQTT_PASSWORD");
}

/* ---- the device and its client id ---- */

static uint32_t fnv1a(uint32_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/* m2m-<device>-<hash of host, prefix, type, device>: two gateways (or two
 * devices on one gateway) never share an id and kick each other off, and
 * the id stays within the 23 characters MQTT 3.1.1 brokers must accept. */
static char *default_client_id(const char *type, const char *device)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	uint32_t h = 2166136261u;
	const char *parts[] = { host, opt.prefix, type, device };
	for (size_t i = 0; i < 4; i++)
		h = fnv1a(h, parts[i], strlen(parts[i]) + 1);
	char id[32];
	snprintf(id, sizeof id, "m2m-%.10s-%08x", device, (unsigned)h);
	return strdup(id);
}

static void set_device(const char *type, const char *device)
{
	g.type = strdup(type);
	g.device = strdup(device);
	g.status_topic = mm_topic(opt.prefix, type, device, "status");
	g.client_id = opt.mq.client_id ? strdup(opt.mq.client_id) : default_client_id(type, device);
	if (!g.type || !g.device || !g.status_topic || !g.client_id)
		die(EXIT_RUNTIME, "out of memory");
	mc_start(&g.conn, g.client_id, g.status_topic);
}

/* ---- the queue ---- */

static void enqueue(const char *topic, const char *payload, size_t len, bool retain)
{
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
	if (opt.homeassistant)
		ha_announce(&g.ha, &opt.mm, &r, g.type, g.device, g.status_topic, M2M_VERSION, ha_emit, NULL);

	struct mm_result res;
	if (mm_build(&opt.mm, &r, line, len, opt.mq.retain, &g.msgs, &res) < 0)
		warnx("line %lu: out of memory: skipped", lineno);
	for (size_t i = 0; i < g.msgs.n; i++)
		enqueue(g.msgs.v[i].topic, g.msgs.v[i].payload, g.msgs.v[i].payload_len, g.msgs.v[i].retain);
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

static unsigned long lost_now(void) { return g.q.count + g.q.dropped + g.conn.rejected; }

static int finish(bool interrupted)
{
	report_drops(true);
	unsigned long undelivered = g.q.count, lost = lost_now();
	mc_goodbye(&g.conn, mono_ms() + 2000);
	if (g.bad_lines || g.bad_params)
		warnx("%lu lines read, %lu bad lines and %lu bad parameters skipped", g.in.lineno, g.bad_lines,
		      g.bad_params);
	if (lost == 0)
		return EXIT_OK;
	warnx("%lu messages lost: %lu not delivered%s, %lu dropped from a full queue, %lu refused by the broker", lost,
	      undelivered, interrupted ? " (interrupted)" : " within --drain-timeout", g.q.dropped, g.conn.rejected);
	return EXIT_RUNTIME;
}

/* Everything back, so that a leak checker sees only real leaks. */
static void release_all(void)
{
	mc_free(&g.conn);
	queue_free(&g.q);
	ha_registry_free(&g.ha);
	free(g.type);
	free(g.device);
	free(g.status_topic);
	free(g.client_id);
	free(g.ha_status);
	linein_free(&g.in);
	free(opt.password_buf);
	mm_list_free(&g.msgs);
	arena_release();
}

static void start(void)
{
	if (linein_init(&g.in, (size_t)opt.line_max) < 0)
		die(EXIT_RUNTIME, "out of memory");
	queue_init(&g.q, (size_t)opt.queue_max, (size_t)opt.queue_bytes);
	mc_init(&g.conn, &opt.mq, &g.q);
	if (opt.homeassistant) {
		if (asprintf(&g.ha_status, "%s/status", opt.mm.ha_prefix) < 0)
			die(EXIT_RUNTIME, "out of memory");
		g.conn.subscribe = g.ha_status;
		g.conn.on_connected = ha_again;
		g.conn.on_birth = ha_again;
	}
	if (opt.type)
		set_device(opt.type, opt.device);
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
	int64_t drain_deadline = 0;
	for (;;) {
		int64_t now = mono_ms();
		if (g.signals && !g.in.eof) {
			logmsg(LOG_INFO, "%s: delivering what is queued, then exiting", strsignal(g.last_signal));
			g.in.eof = true;
		}
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
		mc_tick(&g.conn, now);
		mc_pump(&g.conn);

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
		if (draining)
			wake = min64(wake, drain_deadline);
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
		mc_pump(&g.conn);
	}
}

/* libmosquitto's socket I/O, batched by mqttconn (one write(2) a reading,
 * one read(2) for a burst of acknowledgements, no wake-up socket pair).
 * Defined here, in the program, so that only mqttpub interposes them. */
ssize_t read(int fd, void *buf, size_t n) { return mc_read(fd, buf, n); }
ssize_t write(int fd, const void *buf, size_t n) { return mc_write(fd, buf, n); }
int socketpair(int domain, int type, int protocol, int sv[2]) { return mc_socketpair(domain, type, protocol, sv); }

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
