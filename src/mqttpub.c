/* mqttpub: reads reading lines on stdin and publishes them to MQTT.
 *
 * One poll loop over stdin and the broker's socket drives libmosquitto
 * (loop_read/loop_write/loop_misc, no thread).  Messages go through our own
 * bounded queue (lib/queue.c) and leave it only when the broker has
 * acknowledged them, so a broker outage loses nothing that fits in the
 * queue.  Turning a line into messages is lib/mqttmsg.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "sink/mqttmsg.h"
#include "sink/queue.h"
#include "base/text.h"
#include "base/util.h"

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

/* Messages handed to libmosquitto and not yet acknowledged, at most. */
#define WINDOW 256
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
/* Known Home Assistant entities, at most (a line cannot grow memory
 * without bound by inventing parameter names). */
#define HA_MAX 4096

struct options {
	char *host;
	int port; /* 0: the default for TLS or not */
	const char *prefix, *client_id;
	int keepalive, protocol, qos;
	bool retain;
	char *username, *password;
	const char *password_file;
	const char *cafile, *capath, *cert, *key, *tls_version;
	bool tls, insecure;
	struct mm_opts mm;
	bool homeassistant;
	long queue_max, queue_bytes, line_max;
	long drain_timeout_s;
	const char *type, *device;
	bool check;
};

enum conn_state {
	C_IDLE,       /* the device is not known yet: nothing to connect */
	C_WAIT,       /* waiting for the next attempt */
	C_CONNECTING, /* socket open, waiting for CONNACK */
	C_CONNECTED,
};

/* A Home Assistant entity already announced: its config is kept so that it
 * can be sent again when Home Assistant restarts. */
struct ha_entity {
	char *key;   /* type NUL device NUL param */
	size_t key_len;
	struct mm_msg config;
};

static struct options opt;

static struct {
	struct mosquitto *mosq;
	enum conn_state state;
	int64_t next_attempt_ms, connack_deadline_ms;
	int backoff_ms;
	bool warned_down; /* "broker unreachable" said once per outage */

	/* Set by libmosquitto's callbacks, acted upon in the loop. */
	bool cb_connack, cb_lost, cb_ha_birth;
	int cb_connack_rc;
	int online_mid, offline_mid;
	bool offline_acked;
	char lib_error[256];

	char *type, *device, *status_topic, *client_id;
	struct queue q;
	struct mm_list msgs; /* one line's messages; kept, so that it is not grown anew for each */
	struct ha_entity *ha;
	size_t ha_n, ha_cap;
	bool ha_full_warned;

	unsigned long lineno, bad_lines, bad_params, rejected;
	unsigned long dropped_reported;
	int64_t dropped_warned_ms;
	volatile sig_atomic_t signals, last_signal;
} g;

static struct ratelimit bad_line_rl = RATELIMIT_INIT(10, 20);

_Noreturn static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vusage_die(usage_text, fmt, ap);
	// cppcheck-suppress va_end_missing ; vusage_die does not return
}

/* ---- options ---- */

static long number_arg(const char *name, const char *s, long min, long max)
{
	return arg_long(name, s, min, max, NULL);
}

/* 16M, 512k, 1G, or plain bytes. */
static long size_arg(const char *name, const char *s, long min, long max)
{
	char buf[32];
	size_t n = strlen(s);
	long mult = 1;
	if (n > 0 && n < sizeof buf) {
		char c = s[n - 1];
		mult = c == 'k' || c == 'K' ? 1024 : c == 'M' ? 1024L * 1024 : c == 'G' ? 1024L * 1024 * 1024 : 1;
	}
	if (mult == 1)
		return number_arg(name, s, min, max);
	memcpy(buf, s, n - 1);
	buf[n - 1] = '\0';
	long v = number_arg(name, buf, 1, max / mult);
	if (v * mult < min)
		usage_error("%s: at least %ld bytes: %s", name, min, s);
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
		opt.tls = true;
	} else
		usage_error("--url: not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]: %s", url);
	const char *at = strchr(rest, '@');
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		if (colon)
			usage_error("--url: a password does not belong on the command line, where every user "
			            "sees it: use $MQTT_PASSWORD or --password-file");
		opt.username = strndup(rest, (size_t)(at - rest));
		rest = at + 1;
	}
	size_t hostlen;
	const char *after;
	if (*rest == '[') {
		const char *close = strchr(rest, ']');
		if (!close)
			usage_error("--url: unclosed '[' in %s", url);
		opt.host = strndup(rest + 1, (size_t)(close - rest - 1));
		after = close + 1;
	} else {
		hostlen = strcspn(rest, ":/");
		opt.host = strndup(rest, hostlen);
		after = rest + hostlen;
	}
	if (!opt.host || !*opt.host)
		usage_error("--url: no host in %s", url);
	if (*after == ':') {
		char port[8];
		size_t n = strcspn(after + 1, "/");
		if (n == 0 || n >= sizeof port)
			usage_error("--url: bad port in %s", url);
		memcpy(port, after + 1, n);
		port[n] = '\0';
		opt.port = (int)number_arg("--url port", port, 1, 65535);
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
	opt.keepalive = 60;
	opt.protocol = MQTT_PROTOCOL_V311;
	opt.qos = 1;
	opt.retain = true;
	opt.mm.mode = MM_RAW;
	opt.mm.ha_prefix = "homeassistant";
	opt.queue_max = 100000;
	opt.queue_bytes = 16L * 1024 * 1024;
	opt.line_max = 1024L * 1024;
	opt.drain_timeout_s = 10;

	/* -h means the host, as in mosquitto_pub; alone it asks for help. */
	if (argc >= 2 && strcmp(argv[argc - 1], "-h") == 0) {
		fputs(usage_text, stdout);
		exit_listed();
	}
	bool json = false, json_values = false;
	int c;
	while ((c = getopt_long(argc, argv, ":h:p:L:t:i:k:V:q:u:", long_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			opt.host = optarg;
			break;
		case 'p':
			opt.port = (int)number_arg("--port", optarg, 1, 65535);
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
			opt.client_id = optarg;
			break;
		case 'k':
			opt.keepalive = (int)number_arg("--keepalive", optarg, 5, 65535);
			break;
		case 'V':
			if (!strcmp(optarg, "311") || !strcmp(optarg, "mqttv311"))
				opt.protocol = MQTT_PROTOCOL_V311;
			else if (!strcmp(optarg, "5") || !strcmp(optarg, "mqttv5"))
				opt.protocol = MQTT_PROTOCOL_V5;
			else
				usage_error("--protocol: 311 or 5, not %s", optarg);
			break;
		case 'q':
			opt.qos = (int)number_arg("--qos", optarg, 0, 2);
			break;
		case OPT_NO_RETAIN:
			opt.retain = false;
			break;
		case 'u':
			opt.username = optarg;
			break;
		case OPT_PASSWORD_FILE:
			opt.password_file = optarg;
			break;
		case OPT_CAFILE:
			opt.cafile = optarg;
			break;
		case OPT_CAPATH:
			opt.capath = optarg;
			break;
		case OPT_CERT:
			opt.cert = optarg;
			break;
		case OPT_KEY:
			opt.key = optarg;
			break;
		case OPT_TLS_VERSION:
			if (strcmp(optarg, "tlsv1.3") && strcmp(optarg, "tlsv1.2") && strcmp(optarg, "tlsv1.1"))
				usage_error("--tls-version: tlsv1.3, tlsv1.2 or tlsv1.1, not %s", optarg);
			opt.tls_version = optarg;
			break;
		case OPT_TLS:
			opt.tls = true;
			break;
		case OPT_INSECURE:
			opt.insecure = true;
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
			opt.queue_bytes = size_arg("--queue-bytes", optarg, 4096, 1L << 40);
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
			exit_listed();
		case OPT_VERSION:
			print_version(argc);
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
	if (opt.type && !mm_level_valid(opt.type, strlen(opt.type), &why))
		usage_error("--type %s: %s", opt.type, why);
	if (!opt.cert != !opt.key)
		usage_error("--cert and --key go together");
	if (opt.cert && !opt.cafile && !opt.capath)
		usage_error("--cert needs --cafile or --capath");
	if (opt.cafile || opt.capath || opt.cert || opt.insecure || opt.tls_version)
		opt.tls = true;
	if (!opt.host)
		opt.host = "localhost";
	if (!opt.port)
		opt.port = opt.tls ? 8883 : 1883;
	if (opt.cafile)
		readable_or_die("--cafile", opt.cafile, false);
	if (opt.capath)
		readable_or_die("--capath", opt.capath, true);
	if (opt.cert)
		readable_or_die("--cert", opt.cert, false);
	if (opt.key)
		readable_or_die("--key", opt.key, false);

	if (opt.password_file) {
		if (!opt.username)
			usage_error("--password-file needs --username");
		opt.password = read_password_file(opt.password_file);
	} else if (getenv("MQTT_PASSWORD") && opt.username) {
		opt.password = strdup(getenv("MQTT_PASSWORD"));
	}
	/* Not passed on to anything we might start. */
	unsetenv("MQTT_PASSWORD");
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
	g.client_id = opt.client_id ? strdup(opt.client_id) : default_client_id(type, device);
	if (!g.type || !g.device || !g.status_topic || !g.client_id)
		die(EXIT_RUNTIME, "out of memory");
	g.state = C_WAIT;
	g.next_attempt_ms = mono_ms();
}

/* ---- libmosquitto callbacks: they only take note ---- */

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags, const mosquitto_property *props)
{
	(void)m, (void)obj, (void)flags, (void)props;
	g.cb_connack = true;
	g.cb_connack_rc = rc;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc, const mosquitto_property *props)
{
	(void)m, (void)obj, (void)rc, (void)props;
	g.cb_lost = true;
}

static void on_publish(struct mosquitto *m, void *obj, int mid, int reason, const mosquitto_property *props)
{
	(void)m, (void)obj, (void)props;
	/* Message ids wrap at 65535: forget these once acknowledged. */
	if (mid == g.offline_mid) {
		g.offline_acked = true;
		g.offline_mid = -1;
		return;
	}
	if (mid == g.online_mid) {
		g.online_mid = -1;
		return;
	}
	if (queue_ack(&g.q, mid) && reason >= 128) {
		/* MQTT 5: the broker took it and said no (not authorized,
		 * quota); sending it again would not help. */
		g.rejected++;
		logmsg(LOG_WARN, "broker refused a message: %s", mosquitto_reason_string(reason));
	}
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)m, (void)obj;
	/* Home Assistant's birth message: it has (re)started and wants the
	 * discovery configs again. */
	if (msg->payloadlen == 6 && memcmp(msg->payload, "online", 6) == 0)
		g.cb_ha_birth = true;
}

static void on_log(struct mosquitto *m, void *obj, int level, const char *text)
{
	(void)m, (void)obj;
	if (level & MOSQ_LOG_ERR)
		snprintf(g.lib_error, sizeof g.lib_error, "%s", text);
	logmsg(LOG_DEBUG, "libmosquitto: %s", text);
}

/* ---- the connection ---- */

static int no_key_password(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf, (void)size, (void)rwflag, (void)userdata;
	return 0; /* never prompt on a terminal: an encrypted key fails */
}

static unsigned long lost_now(void) { return g.q.count + g.q.dropped + g.rejected; }

_Noreturn static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fatal(const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (g.q.count)
		die(EXIT_RUNTIME, "%s (%zu queued messages lost)", msg, g.q.count);
	die(EXIT_RUNTIME, "%s", msg);
}

static void setup_or_die(int rc, const char *what)
{
	if (rc != MOSQ_ERR_SUCCESS)
		fatal("%s: %s", what, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
}

static struct mosquitto *new_client(void)
{
	struct mosquitto *m = mosquitto_new(g.client_id, true, NULL);
	if (!m)
		fatal("cannot create an MQTT client: %s", strerror(errno));
	setup_or_die(mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, opt.protocol), "MQTT protocol");
	setup_or_die(mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, WINDOW), "send maximum");
	/* A reading is complete when it is written: no waiting for more. */
	setup_or_die(mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1), "TCP_NODELAY");
	if (opt.username)
		setup_or_die(mosquitto_username_pw_set(m, opt.username, opt.password), "user name");
	if (opt.tls) {
		if (opt.cafile || opt.capath)
			setup_or_die(mosquitto_tls_set(m, opt.cafile, opt.capath, opt.cert, opt.key, no_key_password),
			             "TLS files");
		else
			setup_or_die(mosquitto_int_option(m, MOSQ_OPT_TLS_USE_OS_CERTS, 1), "system CA store");
		if (opt.insecure || opt.tls_version)
			setup_or_die(mosquitto_tls_opts_set(m, opt.insecure ? 0 : 1, opt.tls_version, NULL),
			             "TLS options");
		if (opt.insecure)
			setup_or_die(mosquitto_tls_insecure_set(m, true), "TLS options");
	}
	setup_or_die(mosquitto_will_set(m, g.status_topic, 7, "offline", 1, true), "will");
	mosquitto_connect_v5_callback_set(m, on_connect);
	mosquitto_disconnect_v5_callback_set(m, on_disconnect);
	mosquitto_publish_v5_callback_set(m, on_publish);
	mosquitto_message_callback_set(m, on_message);
	mosquitto_log_callback_set(m, on_log);
	return m;
}

static void drop_client(void)
{
	if (g.mosq)
		mosquitto_destroy(g.mosq);
	g.mosq = NULL;
	/* libmosquitto's copies died with it; ours go out again, in order. */
	queue_unsend_all(&g.q);
	g.online_mid = g.offline_mid = -1;
}

static void schedule_retry(const char *why)
{
	drop_client();
	if (!g.warned_down)
		warnx("broker %s:%d: %s; retrying (every %d s at most)", opt.host, opt.port, why,
		      BACKOFF_MAX_MS / 1000);
	else
		logmsg(LOG_DEBUG, "broker %s:%d: %s; next try in %d ms", opt.host, opt.port, why, g.backoff_ms);
	g.warned_down = true;
	g.state = C_WAIT;
	g.next_attempt_ms = mono_ms() + g.backoff_ms;
	g.backoff_ms = g.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : g.backoff_ms * 2;
}

static void connect_attempt(void)
{
	drop_client();
	g.mosq = new_client();
	g.lib_error[0] = '\0';
	g.cb_connack = g.cb_lost = false;
	errno = 0;
	int rc = mosquitto_connect_bind_async(g.mosq, opt.host, opt.port, opt.keepalive, NULL);
	if (rc == MOSQ_ERR_SUCCESS) {
		g.state = C_CONNECTING;
		g.connack_deadline_ms = mono_ms() + (int64_t)opt.keepalive * 1000;
		return;
	}
	if (rc == MOSQ_ERR_EAI) {
		/* libmosquitto leaves getaddrinfo's code in errno. */
		int eai = errno;
		if (eai == EAI_AGAIN)
			schedule_retry("name lookup failed for now");
		else
			fatal("broker host %s: %s", opt.host, gai_strerror(eai));
		return;
	}
	if (rc == MOSQ_ERR_TLS)
		fatal("TLS handshake with %s:%d failed: %s", opt.host, opt.port,
		      g.lib_error[0] ? g.lib_error : mosquitto_strerror(rc));
	if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_NOMEM || rc == MOSQ_ERR_NOT_SUPPORTED)
		fatal("cannot connect to %s:%d: %s", opt.host, opt.port, mosquitto_strerror(rc));
	schedule_retry(rc == MOSQ_ERR_ERRNO && errno ? strerror(errno) : mosquitto_strerror(rc));
}

/* CONNACK codes that say the broker is busy, not that we are wrong. */
static bool connack_retryable(int rc)
{
	if (opt.protocol == MQTT_PROTOCOL_V5)
		return rc == MQTT_RC_SERVER_UNAVAILABLE || rc == MQTT_RC_SERVER_BUSY || rc == MQTT_RC_QUOTA_EXCEEDED ||
		       rc == MQTT_RC_CONNECTION_RATE_EXCEEDED;
	return rc == CONNACK_REFUSED_SERVER_UNAVAILABLE;
}

static void ha_resend_all(void);

static void on_connected(void)
{
	g.state = C_CONNECTED;
	/* libmosquitto formats a log line (malloc, vsnprintf) for every
	 * packet while a log callback is set: a tenth of mqttpub's CPU at
	 * full speed.  Its errors matter only during the handshake. */
	if (log_threshold < LOG_DEBUG)
		mosquitto_log_callback_set(g.mosq, NULL);
	if (g.warned_down)
		warnx("broker %s:%d: connected", opt.host, opt.port);
	g.warned_down = false;
	g.backoff_ms = BACKOFF_FIRST_MS;
	int rc = mosquitto_publish(g.mosq, &g.online_mid, g.status_topic, 6, "online", 1, true);
	if (rc != MOSQ_ERR_SUCCESS)
		logmsg(LOG_WARN, "cannot publish %s: %s", g.status_topic, mosquitto_strerror(rc));
	if (opt.homeassistant) {
		char topic[1100];
		snprintf(topic, sizeof topic, "%s/status", opt.mm.ha_prefix);
		mosquitto_subscribe(g.mosq, NULL, topic, 1);
		/* Retained configs may be gone (a broker without persistence). */
		ha_resend_all();
	}
}

static void handle_connack(void)
{
	g.cb_connack = false;
	int rc = g.cb_connack_rc;
	if (rc == 0) {
		on_connected();
		return;
	}
	const char *text = opt.protocol == MQTT_PROTOCOL_V5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
	if (connack_retryable(rc)) {
		schedule_retry(text);
		return;
	}
	fatal("broker %s:%d refused the connection: %s", opt.host, opt.port, text);
}

/* The connection ended (rc from loop_read/loop_write/loop_misc, or 0 when
 * only the callback told us). */
static void connection_lost(int rc)
{
	bool handshake = g.state == C_CONNECTING;
	g.cb_lost = false;
	if (handshake && rc == MOSQ_ERR_TLS)
		fatal("TLS handshake with %s:%d failed: %s", opt.host, opt.port,
		      g.lib_error[0] ? g.lib_error : "see the broker's log");
	const char *why = rc == MOSQ_ERR_ERRNO && errno ? strerror(errno)
	                  : rc                         ? mosquitto_strerror(rc)
	                                               : "connection closed";
	schedule_retry(why);
}

/* Hands queued messages to libmosquitto: in order, a window at a time,
 * and only as fast as the socket takes them. */
static void pump_window(void);

static void cork(bool on)
{
	int v = on;
	setsockopt(mosquitto_socket(g.mosq), IPPROTO_TCP, TCP_CORK, &v, sizeof v);
}

static void pump(void)
{
	/* A backlog goes out in full segments, not one per message. */
	bool corked = false;
	if (g.state == C_CONNECTED && g.q.next_unsent && g.q.next_unsent->next && g.q.in_flight < WINDOW) {
		cork(true);
		corked = true;
	}
	pump_window();
	if (corked && g.mosq)
		cork(false);
}

static void pump_window(void)
{
	struct qmsg *m;
	while (g.state == C_CONNECTED && (m = queue_next_unsent(&g.q)) && g.q.in_flight < WINDOW) {
		if (mosquitto_want_write(g.mosq))
			return;
		int mid = 0;
		int rc = mosquitto_publish(g.mosq, &mid, m->data, (int)m->payload_len, m->payload, opt.qos, m->retain);
		if (rc == MOSQ_ERR_SUCCESS) {
			if (opt.qos == 0)
				queue_remove(&g.q, m);
			else
				queue_mark_sent(&g.q, m, mid);
		} else if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO) {
			connection_lost(rc);
			return;
		} else {
			/* Too large for the broker and the like: no retry
			 * would ever get it through. */
			warnx("cannot publish to %s: %s: message dropped", m->data, mosquitto_strerror(rc));
			g.rejected++;
			queue_remove(&g.q, m);
		}
	}
}

/* ---- Home Assistant discovery ---- */

static struct ha_entity *ha_find(const char *key, size_t key_len)
{
	for (size_t i = 0; i < g.ha_n; i++)
		if (g.ha[i].key_len == key_len && memcmp(g.ha[i].key, key, key_len) == 0)
			return &g.ha[i];
	return NULL;
}

static void enqueue(const char *topic, const char *payload, size_t len, bool retain)
{
	if (queue_push(&g.q, topic, strlen(topic), payload, len, retain) < 0)
		warnx("cannot queue a message for %s: %s", topic,
		      queue_msg_size(strlen(topic), len) > g.q.max_bytes ? "larger than --queue-bytes" : "out of memory");
}

static void ha_resend_all(void)
{
	for (size_t i = 0; i < g.ha_n; i++)
		enqueue(g.ha[i].config.topic, g.ha[i].config.payload, g.ha[i].config.payload_len, true);
}

static void ha_announce(const struct mm_reading *r)
{
	if (!r->values)
		return;
	const char *param;
	json_t *entry;
	json_object_foreach(r->values, param, entry) {
		char key[512];
		int kn = snprintf(key, sizeof key, "%s%c%s%c%s", r->type, 0, r->device, 0, param);
		if (kn < 0 || (size_t)kn >= sizeof key || ha_find(key, (size_t)kn))
			continue;
		if (g.ha_n >= HA_MAX) {
			if (!g.ha_full_warned)
				warnx("more than %d Home Assistant entities: no more discovery", HA_MAX);
			g.ha_full_warned = true;
			return;
		}
		bool own = strcmp(r->type, g.type) == 0 && strcmp(r->device, g.device) == 0;
		struct mm_msg config;
		int rc = mm_ha_config(&opt.mm, r, param, own ? g.status_topic : NULL, M2M_VERSION, &config);
		if (rc <= 0)
			continue;
		if (g.ha_n == g.ha_cap) {
			size_t cap = g.ha_cap ? g.ha_cap * 2 : 64;
			struct ha_entity *v = realloc(g.ha, cap * sizeof *v);
			if (!v) {
				mm_msg_free(&config);
				return;
			}
			g.ha = v;
			g.ha_cap = cap;
		}
		struct ha_entity *e = &g.ha[g.ha_n];
		e->key = malloc((size_t)kn);
		if (!e->key) {
			mm_msg_free(&config);
			return;
		}
		memcpy(e->key, key, (size_t)kn);
		e->key_len = (size_t)kn;
		e->config = config;
		g.ha_n++;
		enqueue(config.topic, config.payload, config.payload_len, true);
	}
}

/* ---- jansson's memory ----
 *
 * Parsing a line makes jansson allocate a score of small blocks (objects,
 * their tables, keys, strings), all freed again when the line is done:
 * malloc and free were a fifth of mqttpub's CPU.  They come from a bump
 * arena instead, emptied at once after each line; no json_t outlives its
 * line (what is kept, Home Assistant configs and queued messages, is
 * copied to ordinary memory).  The ASan build keeps malloc, so that it
 * still sees every jansson block. */

#if defined(__SANITIZE_ADDRESS__)
#define USE_ARENA 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define USE_ARENA 0
#endif
#endif
#ifndef USE_ARENA
#define USE_ARENA 1
#endif

#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	max_align_t data[];
};

static struct arena_chunk *arena_head, *arena_cur;

static void *arena_alloc(size_t n)
{
	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (!arena_cur || arena_cur->size - arena_cur->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		struct arena_chunk *c = malloc(sizeof *c + size);
		if (!c)
			return NULL;
		c->next = NULL;
		c->size = size;
		c->used = 0;
		if (arena_cur)
			arena_cur->next = c;
		else
			arena_head = c;
		arena_cur = c;
	}
	void *p = (char *)arena_cur->data + arena_cur->used;
	arena_cur->used += n;
	return p;
}

static void arena_free(void *p) { (void)p; /* all at once, in arena_reset */ }

/* Forgets everything jansson allocated; keeps the first chunk. */
static void arena_reset(void)
{
	if (!arena_head)
		return;
	for (struct arena_chunk *c = arena_head->next, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	arena_head->next = NULL;
	arena_head->used = 0;
	arena_cur = arena_head;
}

static void arena_release(void)
{
	arena_reset();
	free(arena_head);
	arena_head = arena_cur = NULL;
}

static void arena_use(void)
{
	if (USE_ARENA)
		json_set_alloc_funcs(arena_alloc, arena_free);
}

/* ---- input ---- */

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

static void handle_line(const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	size_t lead = 0;
	while (lead < len && (line[lead] == ' ' || line[lead] == '\t'))
		lead++;
	if (lead == len)
		return; /* a blank line says nothing */

	struct mm_reading r;
	char why[256];
	int rc = mm_parse(line, len, &r, why, sizeof why);
	if (rc < 0) {
		arena_reset();
		g.bad_lines++;
		warn_limited(&bad_line_rl, "line %lu: %s: skipped", g.lineno, why);
		return;
	}
	if (g.state == C_IDLE)
		set_device(r.type, r.device);
	if (opt.homeassistant)
		ha_announce(&r);

	struct mm_result res;
	if (mm_build(&opt.mm, &r, line, len, opt.retain, &g.msgs, &res) < 0)
		warnx("line %lu: out of memory: skipped", g.lineno);
	for (size_t i = 0; i < g.msgs.n; i++)
		enqueue(g.msgs.v[i].topic, g.msgs.v[i].payload, g.msgs.v[i].payload_len, g.msgs.v[i].retain);
	for (int i = 0; i < res.nproblems; i++)
		warn_limited(&bad_line_rl, "line %lu: parameter %s: %s: skipped", g.lineno, res.problems[i].param,
		             res.problems[i].why);
	g.bad_params += (unsigned long)res.skipped;
	mm_list_clear(&g.msgs);
	mm_reading_free(&r);
	arena_reset();
	report_drops(false);
}

struct input {
	char *buf;
	size_t len, cap;
	bool skipping; /* inside a line longer than --line-max */
	bool eof;
};

static void input_lines(struct input *in)
{
	size_t start = 0;
	for (;;) {
		char *nl = memchr(in->buf + start, '\n', in->len - start);
		if (!nl)
			break;
		size_t n = (size_t)(nl - (in->buf + start));
		g.lineno++;
		if (in->skipping) {
			in->skipping = false;
		} else if (n > (size_t)opt.line_max) {
			g.bad_lines++;
			warn_limited(&bad_line_rl, "line %lu: longer than %ld bytes: skipped", g.lineno, opt.line_max);
		} else {
			handle_line(in->buf + start, n);
		}
		start += n + 1;
	}
	memmove(in->buf, in->buf + start, in->len - start);
	in->len -= start;
	if (in->len > (size_t)opt.line_max) {
		if (!in->skipping) {
			g.bad_lines++;
			warn_limited(&bad_line_rl, "line %lu: longer than %ld bytes: skipped", g.lineno + 1, opt.line_max);
		}
		in->skipping = true;
		in->len = 0;
	}
}

static void input_read(struct input *in)
{
	if (in->cap - in->len < 4096 && in->cap < (size_t)opt.line_max + 65536) {
		size_t cap = in->cap * 2;
		char *p = realloc(in->buf, cap);
		if (p) {
			in->buf = p;
			in->cap = cap;
		}
	}
	ssize_t n = read(STDIN_FILENO, in->buf + in->len, in->cap - in->len);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		warn_errno("stdin");
		n = 0;
	}
	if (n == 0) {
		in->eof = true;
		if (in->len > 0 && !in->skipping) {
			g.lineno++;
			handle_line(in->buf, in->len); /* the last line had no newline */
		}
		in->len = 0;
		return;
	}
	in->len += (size_t)n;
	input_lines(in);
}

/* ---- the loop ---- */

static void on_signal(int sig)
{
	g.signals++;
	g.last_signal = sig;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Publishes offline, waits for its acknowledgement (bounded), and says
 * goodbye, so that the broker drops the will. */
static void say_goodbye(int64_t deadline)
{
	if (g.state != C_CONNECTED)
		return;
	g.offline_acked = false;
	if (mosquitto_publish(g.mosq, &g.offline_mid, g.status_topic, 7, "offline", 1, true) != MOSQ_ERR_SUCCESS)
		return;
	while (!g.offline_acked && mono_ms() < deadline && g.mosq) {
		struct pollfd p = { mosquitto_socket(g.mosq), POLLIN | (mosquitto_want_write(g.mosq) ? POLLOUT : 0), 0 };
		if (p.fd < 0 || poll(&p, 1, (int)(deadline - mono_ms())) < 0)
			break;
		if ((p.revents & (POLLIN | POLLERR | POLLHUP)) && mosquitto_loop_read(g.mosq, 1) != MOSQ_ERR_SUCCESS)
			return;
		if ((p.revents & POLLOUT) && mosquitto_loop_write(g.mosq, 1) != MOSQ_ERR_SUCCESS)
			return;
	}
	mosquitto_disconnect(g.mosq);
	for (int i = 0; i < 10 && g.mosq && mosquitto_want_write(g.mosq); i++)
		mosquitto_loop_write(g.mosq, 1);
}

static int finish(bool interrupted)
{
	report_drops(true);
	unsigned long undelivered = g.q.count, lost = lost_now();
	say_goodbye(mono_ms() + 2000);
	if (g.bad_lines || g.bad_params)
		warnx("%lu lines read, %lu bad lines and %lu bad parameters skipped", g.lineno, g.bad_lines,
		      g.bad_params);
	if (lost == 0)
		return EXIT_OK;
	warnx("%lu messages lost: %lu not delivered%s, %lu dropped from a full queue, %lu refused by the broker", lost,
	      undelivered, interrupted ? " (interrupted)" : " within --drain-timeout", g.q.dropped, g.rejected);
	return EXIT_RUNTIME;
}

static struct input in;

/* Everything back, so that a leak checker sees only real leaks. */
static void release_all(void)
{
	if (g.mosq)
		mosquitto_destroy(g.mosq);
	g.mosq = NULL;
	queue_free(&g.q);
	for (size_t i = 0; i < g.ha_n; i++) {
		free(g.ha[i].key);
		mm_msg_free(&g.ha[i].config);
	}
	free(g.ha);
	free(g.type);
	free(g.device);
	free(g.status_topic);
	free(g.client_id);
	free(in.buf);
	free(opt.password);
	mm_list_free(&g.msgs);
	arena_release();
}

static int run(void)
{
	in.cap = 65536;
	in.buf = malloc(in.cap);
	if (!in.buf)
		die(EXIT_RUNTIME, "out of memory");
	queue_init(&g.q, (size_t)opt.queue_max, (size_t)opt.queue_bytes);
	g.backoff_ms = BACKOFF_FIRST_MS;
	g.online_mid = g.offline_mid = -1;
	if (opt.type)
		set_device(opt.type, opt.device);

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
		if (g.signals && !in.eof) {
			logmsg(LOG_INFO, "%s: delivering what is queued, then exiting", strsignal(g.last_signal));
			in.eof = true;
		}
		if (g.signals > 1)
			return finish(true); /* asked twice: now */
		if (in.eof && !draining) {
			draining = true;
			drain_deadline = now + opt.drain_timeout_s * 1000;
		}
		if (draining) {
			if (g.state == C_IDLE || g.q.count == 0)
				return finish(false);
			if (now >= drain_deadline)
				return finish(g.signals != 0);
		}

		if (g.state == C_WAIT && now >= g.next_attempt_ms)
			connect_attempt();
		if (g.state == C_CONNECTING && now >= g.connack_deadline_ms)
			connection_lost(MOSQ_ERR_KEEPALIVE);
		if (g.mosq && g.state >= C_CONNECTING) {
			int rc = mosquitto_loop_misc(g.mosq);
			if (rc != MOSQ_ERR_SUCCESS || g.cb_lost)
				connection_lost(rc);
		}
		pump();

		struct pollfd fds[2];
		nfds_t nfds = 0;
		int in_idx = -1, mq_idx = -1;
		/* While connected and half full, let the pipe hold the rest
		 * (the broker is taking messages); while disconnected keep
		 * reading, so that the reader never blocks. */
		bool busy = g.state == C_CONNECTED &&
		            (g.q.count >= g.q.max_count / 2 || g.q.bytes >= g.q.max_bytes / 2);
		if (!in.eof && !busy) {
			in_idx = (int)nfds;
			fds[nfds++] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 };
		}
		if (g.mosq && g.state >= C_CONNECTING && mosquitto_socket(g.mosq) >= 0) {
			mq_idx = (int)nfds;
			short ev = POLLIN;
			if (mosquitto_want_write(g.mosq))
				ev |= POLLOUT;
			fds[nfds++] = (struct pollfd){ mosquitto_socket(g.mosq), ev, 0 };
		}

		/* Sleep until something happens or a deadline comes: idle
		 * costs nothing but a keepalive check now and then. */
		int64_t wake = now + 3600 * 1000;
		if (g.state == C_WAIT)
			wake = min64(wake, g.next_attempt_ms);
		if (g.state == C_CONNECTING)
			wake = min64(wake, g.connack_deadline_ms);
		if (g.state >= C_CONNECTING)
			wake = min64(wake, now + (int64_t)opt.keepalive * 1000 / 4);
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
		if (mq_idx >= 0 && g.mosq) {
			short re = fds[mq_idx].revents;
			int rc = MOSQ_ERR_SUCCESS;
			if (re & (POLLIN | POLLERR | POLLHUP))
				rc = mosquitto_loop_read(g.mosq, 1);
			if (rc == MOSQ_ERR_SUCCESS && (re & POLLOUT) && g.mosq)
				rc = mosquitto_loop_write(g.mosq, 1);
			if (g.cb_connack)
				handle_connack(); /* a refusal ends here */
			if (rc == MOSQ_ERR_SUCCESS && g.state == C_CONNECTING && (re & (POLLHUP | POLLERR))) {
				/* A refused connect shows here; libmosquitto's TLS
				 * handshake would otherwise keep trying it. */
				int err = 0;
				socklen_t len = sizeof err;
				getsockopt(mosquitto_socket(g.mosq), SOL_SOCKET, SO_ERROR, &err, &len);
				errno = err ? err : ECONNRESET;
				rc = MOSQ_ERR_ERRNO;
			}
			if (rc != MOSQ_ERR_SUCCESS || g.cb_lost)
				connection_lost(rc);
			if (g.cb_ha_birth) {
				g.cb_ha_birth = false;
				ha_resend_all();
			}
		}
		if (in_idx >= 0 && (fds[in_idx].revents & (POLLIN | POLLHUP | POLLERR)))
			input_read(&in);
		pump();
	}
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	parse_options(argc, argv);
	if (opt.check)
		return EXIT_OK;
	if (opt.insecure)
		warnx("WARNING: --insecure-skip-verify: the broker's certificate is NOT checked; anyone on the path "
		      "can read and change what is published");
	mosquitto_lib_init();
	arena_use();
	int rc = run();
	release_all();
	mosquitto_lib_cleanup();
	return rc;
}
