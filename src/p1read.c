/* p1read: reads DSMR P1 telegrams and prints one reading line per good
 * telegram.  The bytes are framed, checked and parsed by lib/dsmr.c; this
 * file is options, the read loop and the bookkeeping of dropped telegrams. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meter/dlms.h"
#include "meter/dsmr.h"
#include "base/err.h"
#include "line/jsonw.h"
#include "line/frame.h"
#include "line/health.h"
#include "line/tally.h"
#include "meter/listen.h"
#include "meter/port.h"
#include "base/text.h"
#include "base/util.h"

static const char usage_text[] =
	"usage: p1read [-d ID] [-p NAME,...] [-i SECONDS] [-s BAUD:8N1] [--dsmr=V] [PORT]\n"
	"       p1read --list | --list-ports | --list-options\n"
	"       p1read --check [options] [PORT]\n"
	"       p1read [options] --meters FILE [--gather MS]\n"
	"\n"
	"Reads DSMR P1 telegrams from PORT (/dev/ttyUSB0, tcp://host:port, a file,\n"
	"or - for stdin; stdin when no PORT is given and stdin is not a terminal)\n"
	"and prints one JSON reading line per telegram whose CRC and lines are good.\n"
	"\n"
	"  -d, --device ID            device id in the reading line (default dsmr)\n"
	"  -p, --parameters LIST      only these values: names (see --list) or OBIS codes\n"
	"  -i, --poll-interval SEC    print at most one reading per SEC seconds\n"
	"  -s, --serial BAUD:8N1      serial settings (default by --dsmr)\n"
	"      --baudrate N           serial speed only\n"
	"      --dsmr=V               DSMR version: 22, 30 (9600:7E1, no CRC), 40, 42,\n"
	"                             50, be, lu, at, hu, ie (115200:8N1, CRC required),\n"
	"                             q3d (9600:7E1, no CRC), auto (the default:\n"
	"                             115200:8N1, CRC checked when sent)\n"
	"      --port PORT            the port (also the positional argument)\n"
	"      --connection KIND      serial_port, tcp, file or stdin\n"
	"      --host HOST            with --connection=tcp: reads tcp://HOST:PORT\n"
	"      --silence-timeout SEC  TCP: a link silent this long is dead (default 60)\n"
	"      --health-interval SEC  a health line (counters, link) every SEC seconds\n"
	"                             and when the link changes (default 0: never)\n"
	"      --key-file FILE        decrypt DLMS/GCM frames with the 32-hex-digit key\n"
	"                             in FILE (Luxembourg Smarty, Austria); or $P1_KEY\n"
	"      --auth-key-file FILE   the authentication key (default the Smarty one);\n"
	"                             or $P1_AUTH_KEY\n"
	"      --meters FILE          many meters in one process: each line of FILE is\n"
	"                             one meter's options and port (serial or tcp://),\n"
	"                             as for one; the options given here apply to all\n"
	"      --gather MS            with --meters: after a wake-up, wait MS for the\n"
	"                             other meters' telegrams, so that one wake-up\n"
	"                             reads them all (default 50, 0 to 1000)\n"
	"      --check                check the options, open nothing, exit 0 or 2\n"
	"      --list                 the known parameters: name, OBIS, unit, meaning\n"
	"      --list-ports           serial ports, with USB vendor, product and serial\n"
	"      --list-options         the long options, one per line\n"
	"  -h, --help                 this text\n"
	"      --version              the program's version (alone)\n";

enum {
	OPT_BAUDRATE = 256,
	OPT_PORT,
	OPT_CONNECTION,
	OPT_HOST,
	OPT_CHECK,
	OPT_LIST,
	OPT_LIST_PORTS,
	OPT_LIST_OPTIONS,
	OPT_DSMR,
	OPT_VERSION,
	OPT_SILENCE,
	OPT_KEY_FILE,
	OPT_AUTH_KEY_FILE,
	OPT_HEALTH,
	OPT_METERS,
	OPT_GATHER,
};

static const struct option long_options[] = {
	{ "device", required_argument, NULL, 'd' },
	{ "parameters", required_argument, NULL, 'p' },
	{ "poll-interval", required_argument, NULL, 'i' },
	{ "serial", required_argument, NULL, 's' },
	{ "baudrate", required_argument, NULL, OPT_BAUDRATE },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "connection", required_argument, NULL, OPT_CONNECTION },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "silence-timeout", required_argument, NULL, OPT_SILENCE },
	{ "health-interval", required_argument, NULL, OPT_HEALTH },
	{ "key-file", required_argument, NULL, OPT_KEY_FILE },
	{ "auth-key-file", required_argument, NULL, OPT_AUTH_KEY_FILE },
	{ "meters", required_argument, NULL, OPT_METERS },
	{ "gather", required_argument, NULL, OPT_GATHER },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "list-ports", no_argument, NULL, OPT_LIST_PORTS },
	{ "list-options", no_argument, NULL, OPT_LIST_OPTIONS },
	{ "dsmr", required_argument, NULL, OPT_DSMR },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The DSMR versions --dsmr accepts: the defaults they imply. */
static const struct {
	const char *name;
	enum dsmr_crc_policy crc;
	bool slow; /* 9600:7E1 */
} versions[] = {
	{ "auto", DSMR_CRC_AUTO, false }, { "22", DSMR_CRC_ABSENT, true }, { "2.2", DSMR_CRC_ABSENT, true },
	{ "30", DSMR_CRC_ABSENT, true },  { "3", DSMR_CRC_ABSENT, true },  { "3.0", DSMR_CRC_ABSENT, true },
	{ "q3d", DSMR_CRC_ABSENT, true }, { "40", DSMR_CRC_REQUIRED, false }, { "4", DSMR_CRC_REQUIRED, false },
	{ "4.0", DSMR_CRC_REQUIRED, false }, { "42", DSMR_CRC_REQUIRED, false }, { "4.2", DSMR_CRC_REQUIRED, false },
	{ "50", DSMR_CRC_REQUIRED, false }, { "5", DSMR_CRC_REQUIRED, false }, { "5.0", DSMR_CRC_REQUIRED, false },
	{ "be", DSMR_CRC_REQUIRED, false }, { "5b", DSMR_CRC_REQUIRED, false }, { "lu", DSMR_CRC_REQUIRED, false },
	{ "at", DSMR_CRC_REQUIRED, false }, { "hu", DSMR_CRC_REQUIRED, false }, { "ie", DSMR_CRC_REQUIRED, false },
	{ "se", DSMR_CRC_REQUIRED, false },
};

struct opts {
	const char *device;
	const char *port, *connection, *host;
	const char *serial, *dsmr;
	const char *key_file, *auth_key_file;
	bool have_key, have_auth_key;
	unsigned char key[DLMS_KEY_LEN], auth_key[DLMS_KEY_LEN];
	long baudrate;
	double interval;
	long silence_s;
	long health_s;
	bool check;
	const char *meters;
	long gather_ms;
	struct dsmr_filter filter;
	enum dsmr_crc_policy crc;
	struct serial_params sp;
	char spec[300];
};

/* p1read --meters: many meters, each named in what is said of it. */
static bool many;
/* Set while a line of the --meters file is parsed: "FILE:LINE" (then
 * also in prog_name, so that every message about the line names it). */
static const char *meters_line;

static void parse_parameters(struct opts *o, const char *list)
{
	char copy[4096], *items[DSMR_FILTER_MAX], why[160];
	if (strlen(list) >= sizeof copy)
		die(EXIT_USAGE, "--parameters: list too long");
	strcpy(copy, list);
	int n = split_list(copy, items, DSMR_FILTER_MAX);
	if (n < 0)
		die(EXIT_USAGE, "--parameters: '%s': an empty item or more than %d", list, DSMR_FILTER_MAX);
	for (int i = 0; i < n; i++)
		if (dsmr_filter_add(&o->filter, items[i], why, sizeof why) < 0)
			die(EXIT_USAGE, "--parameters: %s", why);
}

/* Turns --port, --connection and --host into one port spec (the rule
 * every reader shares); no port at all means stdin, if it is not a tty. */
static void choose_port(struct opts *o)
{
	char why[256];
	if (port_spec_from_options(o->port, o->connection, o->host, o->spec, sizeof o->spec, why, sizeof why) < 0)
		die(EXIT_USAGE, "%s", why);
	if (!o->spec[0]) {
		if (isatty(STDIN_FILENO))
			usage_die(usage_text, "no port given (and stdin is a terminal)");
		snprintf(o->spec, sizeof o->spec, "-");
	}
}

static void choose_serial(struct opts *o)
{
	bool slow = false;
	o->crc = DSMR_CRC_AUTO;
	if (o->dsmr) {
		bool found = false;
		for (size_t i = 0; i < sizeof versions / sizeof *versions && !found; i++) {
			if (strcasecmp(versions[i].name, o->dsmr) == 0) {
				o->crc = versions[i].crc;
				slow = versions[i].slow;
				found = true;
			}
		}
		if (!found)
			die(EXIT_USAGE, "--dsmr: '%s': expected auto, 22, 30, 40, 42, 50, be, lu, at, hu, ie or q3d", o->dsmr);
	}
	o->sp = slow ? (struct serial_params){ 9600, 7, 'E', 1 } : (struct serial_params){ 115200, 8, 'N', 1 };
	if (o->serial && serial_params_parse(o->serial, &o->sp) < 0)
		die(EXIT_USAGE, "--serial: '%s': expected BAUD or BAUD:8N1 (data bits, parity N/E/O, stop bits)", o->serial);
	if (o->baudrate)
		o->sp.baud = (int)o->baudrate;
}

static _Noreturn void list_options(void)
{
	for (const struct option *lo = long_options; lo->name; lo++)
		printf("%s\n", lo->name);
	exit_listed();
}

/* Options that mean something for the whole process, not one meter. */
static void not_in_meters_file(const char *opt)
{
	if (meters_line)
		die(EXIT_USAGE, "%s: not in a meters file", opt);
}

static void parse_options(struct opts *o, int argc, char **argv)
{
	int c;
	opterr = 0;
	optind = 0; /* glibc: start afresh (a meters file parses many argvs) */
	while ((c = getopt_long(argc, argv, ":d:p:i:s:h", long_options, NULL)) != -1) {
		switch (c) {
		case 'd': o->device = optarg; break;
		case 'p': parse_parameters(o, optarg); break;
		case 'i': o->interval = arg_double("--poll-interval", optarg, 0, 31536000, "seconds (0 or more)"); break;
		case 's': o->serial = optarg; break;
		case OPT_BAUDRATE: o->baudrate = arg_long("--baudrate", optarg, 50, 4000000, NULL); break;
		case OPT_PORT: o->port = optarg; break;
		case OPT_CONNECTION: o->connection = optarg; break;
		case OPT_HOST: o->host = optarg; break;
		case OPT_SILENCE:
			o->silence_s = arg_long("--silence-timeout", optarg, 0, 86400, "seconds, 0 (off) to 86400");
			break;
		case OPT_HEALTH: o->health_s = health_interval_arg(optarg); break;
		case OPT_KEY_FILE: o->key_file = optarg; break;
		case OPT_AUTH_KEY_FILE: o->auth_key_file = optarg; break;
		case OPT_METERS:
			not_in_meters_file("--meters");
			o->meters = optarg;
			break;
		case OPT_GATHER:
			not_in_meters_file("--gather");
			o->gather_ms = arg_long("--gather", optarg, 0, 1000, "milliseconds, 0 to 1000");
			break;
		case OPT_CHECK: not_in_meters_file("--check"); o->check = true; break;
		case OPT_LIST: not_in_meters_file("--list"); dsmr_list_params(stdout); exit_listed();
		case OPT_LIST_PORTS:
			not_in_meters_file("--list-ports");
			if (port_list(stdout) < 0)
				die(EXIT_RUNTIME, "cannot list serial ports");
			exit_listed();
		case OPT_LIST_OPTIONS: not_in_meters_file("--list-options"); list_options();
		case OPT_DSMR: o->dsmr = optarg; break;
		case OPT_VERSION: not_in_meters_file("--version"); print_version(argc);
		case 'h': not_in_meters_file("-h"); fputs(usage_text, stdout); exit_listed();
		default:
			/* --version=V was the DSMR version before it had a name of its own. */
			if (c == '?' && strncmp(argv[optind - 1], "--version=", 10) == 0)
				usage_die(usage_text, "%s: the DSMR version is --dsmr=%s", argv[optind - 1], argv[optind - 1] + 10);
			usage_bad_option(usage_text, c, argv);
		}
	}
	if (optind < argc) {
		if (optind + 1 < argc)
			usage_die(usage_text, "more than one port: %s", argv[optind + 1]);
		if (o->port && strcmp(o->port, argv[optind]) != 0)
			usage_die(usage_text, "two ports given: --port and %s", argv[optind]);
		o->port = argv[optind];
	}
	if (!device_id_valid(o->device))
		die(EXIT_USAGE, "--device: '%s': expected 1 to 64 of A-Z a-z 0-9 _ -", o->device);
	if (o->gather_ms >= 0 && !o->meters && !meters_line)
		usage_die(usage_text, "--gather: only with --meters");
	choose_serial(o);
	if (!o->meters)
		choose_port(o);
	else if (o->port || o->connection || o->host)
		usage_die(usage_text, "a port and --meters: the ports are in the meters file");
	o->have_key = dlms_key_load(o->key_file, "P1_KEY", o->key);
	o->have_auth_key = dlms_key_load(o->auth_key_file, "P1_AUTH_KEY", o->auth_key);
	if (o->have_auth_key && !o->have_key)
		usage_die(usage_text, "an authentication key without a key (--key-file or $P1_KEY)");
}

/* ---- one meter ---- */

/* What a meter's telegrams pass through: its framer, DLMS session and
 * counters.  One for p1read PORT; one a line of --meters. */
struct meter {
	struct opts o;
	struct port port;
	struct health health;
	struct dsmr_framer framer;
	/* With a key: the DLMS session and a second framer that checks the
	 * telegram a frame decrypts to, CRC and all. */
	struct dlms_session *dlms;
	struct dsmr_framer *inner;
	unsigned long tag_failures;
	/* Set while the telegram being handled came out of a frame. */
	const struct dlms_session *decrypted;
	struct ratelimit drop_rl;
	int64_t last_ms;
	unsigned long lineno; /* in the meters file */
	struct listen_sink sink;
};

/* Parsed and written one telegram at a time: shared by every meter. */
static struct dsmr_telegram telegram;
static struct jw line;
/* Every meter's drops, for the summary on stderr (by meter: its health). */
static struct tally drops;
static const char *drop_name(int kind) { return dsmr_drop_name((enum dsmr_drop)kind); }

static void report_drop(struct meter *m, const struct dsmr_event *ev, const char *detail)
{
	tally_add(&drops, ev->why);
	health_drop(&m->health, dsmr_drop_word(ev->why), "telegram %lu at byte %llu: dropped: %s%s%s", ev->seq,
	            (unsigned long long)ev->offset, dsmr_drop_name(ev->why), detail[0] ? ": " : "", detail);
	if (many)
		warn_limited(&m->drop_rl, "%s: %s", m->o.device, m->health.last_error);
	else
		warn_limited(&m->drop_rl, "%s", m->health.last_error);
}

/* "security":{"frame_counter":N,"authenticated":true}: which encrypted
 * frame the reading came from, and whether a GCM tag vouched for it. */
static void write_security(const struct dlms_session *s)
{
	jw_key(&line, "security");
	jw_object_begin(&line);
	jw_key(&line, "frame_counter");
	jw_int(&line, s->counter);
	jw_key(&line, "authenticated");
	jw_bool(&line, s->authenticated);
	jw_object_end(&line);
}

static void print_reading(const struct meter *m)
{
	reading_begin(&line, "dsmr", m->o.device);
	dsmr_write_meter(&line, &telegram);
	if (m->decrypted)
		write_security(m->decrypted);
	reading_values_begin(&line);
	dsmr_write_values(&line, &telegram, &m->o.filter);
	reading_end(&line);
	reading_print(&line);
}

static void handle(struct meter *m, struct dsmr_event *ev);

/* A drop of a binary frame, named with the session's why. */
static void frame_dropped(struct meter *m, struct dsmr_event *ev)
{
	static const enum dsmr_drop as[] = {
		[DLMS_FAULT_FRAME] = DSMR_DROP_FRAME,
		[DLMS_FAULT_TAG] = DSMR_DROP_TAG,
		[DLMS_FAULT_REPLAY] = DSMR_DROP_REPLAY,
		[DLMS_FAULT_APDU] = DSMR_DROP_FRAME,
	};
	ev->kind = DSMR_EV_DROP;
	ev->why = as[m->dlms->fault];
	report_drop(m, ev, m->dlms->why);
	/* After the first few, once: a key that never fits is the likely cause. */
	if (m->dlms->fault == DLMS_FAULT_TAG && ++m->tag_failures == 3)
		warnx("%s%s3 frames failed their GCM tag: the key (--key-file, $P1_KEY) or the authentication key "
		      "(--auth-key-file, $P1_AUTH_KEY) is probably wrong",
		      many ? m->o.device : "", many ? ": " : "");
	if (m->dlms->fault == DLMS_FAULT_FRAME || m->dlms->fault == DLMS_FAULT_TAG)
		dsmr_framer_rescan(&m->framer);
}

/* A frame decrypted to a text telegram: through the second framer, so that
 * its CRC is checked as a plaintext telegram's would be. */
static void decrypted_text(struct meter *m, const struct dsmr_event *outer)
{
	struct dsmr_event ev;
	size_t off = 0;
	bool have;
	while (off < m->dlms->out_len) {
		off += dsmr_framer_push(m->inner, m->dlms->out + off, m->dlms->out_len - off, &ev, &have);
		if (have) {
			ev.seq = outer->seq;
			ev.offset = outer->offset;
			handle(m, &ev);
		}
	}
	if (dsmr_framer_abort(m->inner, DSMR_DROP_EOF, &ev)) {
		ev.seq = outer->seq;
		ev.offset = outer->offset;
		report_drop(m, &ev, "in the decrypted frame");
	}
}

static void handle_frame(struct meter *m, struct dsmr_event *ev)
{
	if (!m->dlms)
		return;
	switch (dlms_frame(m->dlms, ev->frame, (const unsigned char *)ev->text, ev->len)) {
	case DLMS_MORE: return;
	case DLMS_DROP: frame_dropped(m, ev); return;
	case DLMS_TEXT:
		m->decrypted = m->dlms;
		decrypted_text(m, ev);
		break;
	case DLMS_NOTIFICATION:
		ev->kind = DSMR_EV_TELEGRAM;
		ev->text = m->dlms->out;
		ev->len = m->dlms->out_len;
		ev->bits = DSMR_BITS_ASCII;
		m->decrypted = m->dlms;
		handle(m, ev);
		break;
	}
	m->decrypted = NULL;
}

static void handle(struct meter *m, struct dsmr_event *ev)
{
	if (ev->kind == DSMR_EV_FRAME) {
		handle_frame(m, ev);
		return;
	}
	if (ev->kind == DSMR_EV_DROP) {
		report_drop(m, ev, ev->detail);
		return;
	}
	if (ev->bits != DSMR_BITS_ASCII)
		logmsg(LOG_DEBUG, "%s: telegram %lu at byte %llu: %s", m->o.device, ev->seq, (unsigned long long)ev->offset,
		       dsmr_bits_name(ev->bits));
	/* -i: telegrams inside the interval are not even parsed (good all the
	 * same: their CRC held). */
	int64_t now = mono_ms();
	if (m->o.interval > 0 && m->last_ms != INT64_MIN && now - m->last_ms < (int64_t)(m->o.interval * 1000)) {
		health_good(&m->health);
		return;
	}
	if (dsmr_parse(&telegram, ev->text, ev->len) < 0) {
		ev->why = DSMR_DROP_GARBAGE;
		report_drop(m, ev, telegram.why);
		return;
	}
	health_good(&m->health);
	m->last_ms = now;
	print_reading(m);
}

static size_t push(void *arg, const unsigned char *buf, size_t len)
{
	struct meter *m = arg;
	struct dsmr_event ev;
	bool have;
	size_t took = dsmr_framer_push(&m->framer, buf, len, &ev, &have);
	if (have)
		handle(m, &ev);
	return took;
}

static bool within(void *arg)
{
	struct meter *m = arg;
	return dsmr_framer_within(&m->framer);
}

static void lost(void *arg, bool end)
{
	struct meter *m = arg;
	struct dsmr_event ev;
	if (dsmr_framer_abort(&m->framer, end ? DSMR_DROP_EOF : DSMR_DROP_LOST, &ev))
		report_drop(m, &ev, "");
}

/* The meter's port, framer and session, ready to read (nothing opened). */
static void meter_init(struct meter *m)
{
	char why[256];
	if (port_init(&m->port, m->o.spec, &m->o.sp, why, sizeof why) < 0)
		die(EXIT_USAGE, "%s: %s", m->o.spec, why);
	health_init(&m->health, "dsmr", m->o.device, m->o.health_s);
	dsmr_framer_init(&m->framer, m->o.crc);
	dsmr_framer_seven_bit(&m->framer, m->o.sp.data_bits == 7);
	m->drop_rl = (struct ratelimit)RATELIMIT_INIT(60, 10);
	m->last_ms = INT64_MIN;
	if (m->o.have_key) {
		m->dlms = malloc(sizeof *m->dlms);
		m->inner = malloc(sizeof *m->inner);
		if (!m->dlms || !m->inner)
			die(EXIT_RUNTIME, "out of memory");
		if (dlms_session_init(m->dlms, m->o.key, m->o.have_auth_key ? m->o.auth_key : NULL) < 0)
			die(EXIT_RUNTIME, "libcrypto: %s", dlms_crypto_why());
		dsmr_framer_binary(&m->framer, true);
		dsmr_framer_init(m->inner, m->o.crc);
	}
}

static const struct listen_sink *meter_sink(struct meter *m)
{
	m->sink = (struct listen_sink){ push, lost, m, within };
	return &m->sink;
}

/* p1read PORT: one meter, until the end of its input. */
static int run_one(struct meter *m)
{
	meter_init(m);
	listen_open(&m->port, &m->health);
	listen_loop(&m->port, &m->health, m->o.silence_s, meter_sink(m), m->o.spec);
	port_close(&m->port);
	tally_report(&drops, m->framer.seq);
	return EXIT_OK;
}

/* ---- many meters: p1read --meters FILE ---- */

#define METER_WORDS 64

/* One line of the meters file: the meter's options over base's. */
static void parse_meter_line(struct meter *m, const struct opts *base, char *text)
{
	char *words[METER_WORDS + 1];
	words[0] = (char *)"p1read";
	int n = words_split(text, words + 1, METER_WORDS);
	if (n < 0)
		die(EXIT_USAGE, "an unclosed quote or more than %d words", METER_WORDS);
	m->o = *base;
	m->o.meters = NULL;
	parse_options(&m->o, n + 1, words);
	if (!m->o.port && !m->o.host)
		die(EXIT_USAGE, "no port: each meter needs its serial port or tcp://host:port");
	struct port probe;
	char why[256];
	if (port_init(&probe, m->o.spec, &m->o.sp, why, sizeof why) < 0)
		die(EXIT_USAGE, "%s: %s", m->o.spec, why);
	if (!port_can_reconnect(&probe))
		die(EXIT_USAGE, "%s: not a serial port or tcp://: a file or stdin has one reader of its own", m->o.spec);
}

/* The meters of FILE, parsed whole before anything is opened: a mistake
 * on any line is a usage error that names it, and no meter is read. */
static struct meter *read_meters(const struct opts *base, size_t *count)
{
	FILE *f = fopen(base->meters, "r");
	if (!f)
		die_errno(EXIT_USAGE, "%s", base->meters);
	struct meter *v = NULL;
	size_t n = 0, cap = 0;
	char *text = NULL, where[300], prefix[400];
	size_t textcap = 0;
	const char *saved_name = prog_name;
	for (unsigned long lineno = 1; getline(&text, &textcap, f) >= 0; lineno++) {
		text[strcspn(text, "\r\n")] = '\0';
		char *p = text + strspn(text, " \t");
		if (!*p || *p == '#')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			/* calloc: the framers' buffers stay untouched pages until used */
			struct meter *nv = calloc(cap, sizeof *nv);
			if (!nv)
				die(EXIT_RUNTIME, "out of memory");
			if (n)
				memcpy(nv, v, n * sizeof *v);
			free(v);
			v = nv;
		}
		snprintf(where, sizeof where, "%s:%lu", base->meters, lineno);
		snprintf(prefix, sizeof prefix, "%s: %s", saved_name, where);
		prog_name = prefix;
		meters_line = where;
		/* The words point into the line: each meter keeps its own copy. */
		char *own = strdup(p);
		if (!own)
			die(EXIT_RUNTIME, "out of memory");
		parse_meter_line(&v[n], base, own);
		v[n].lineno = lineno;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(v[i].o.device, v[n].o.device))
				die(EXIT_USAGE, "device '%s' again (line %lu has it already)", v[n].o.device, v[i].lineno);
		n++;
	}
	if (ferror(f))
		die_errno(EXIT_USAGE, "%s", base->meters);
	fclose(f);
	free(text);
	prog_name = saved_name;
	meters_line = NULL;
	if (!n)
		die(EXIT_USAGE, "%s: no meters in it", base->meters);
	*count = n;
	return v;
}

static _Noreturn void run_many(const struct opts *base)
{
	size_t n;
	struct meter *v = read_meters(base, &n);
	struct listener *ls = calloc(n, sizeof *ls);
	if (!ls)
		die(EXIT_RUNTIME, "out of memory");
	many = true;
	for (size_t i = 0; i < n; i++) {
		meter_init(&v[i]);
		ls[i] = (struct listener){ .name = v[i].o.device,
		                           .port = &v[i].port,
		                           .health = &v[i].health,
		                           .silence_s = v[i].o.silence_s,
		                           .sink = meter_sink(&v[i]) };
	}
	listen_many(ls, n, (int)(base->gather_ms >= 0 ? base->gather_ms : 50));
}

int main(int argc, char **argv)
{
	static struct opts o = { .device = "dsmr", .silence_s = 60, .gather_ms = -1 };
	err_init(argv[0]);
	parse_options(&o, argc, argv);
	if (o.check) {
		struct port port;
		char why[256];
		size_t n;
		if (o.meters)
			free(read_meters(&o, &n));
		else if (strncmp(o.spec, "tcp://", 6) == 0 && port_init(&port, o.spec, &o.sp, why, sizeof why) < 0)
			die(EXIT_USAGE, "%s: %s", o.spec, why);
		return EXIT_OK;
	}
	signal(SIGPIPE, SIG_IGN);
	tally_init(&drops, "telegrams", DSMR_DROP_KINDS, drop_name);
	tally_on_stop(&drops);
	if (o.meters)
		run_many(&o);
	static struct meter one;
	one.o = o;
	return run_one(&one);
}
