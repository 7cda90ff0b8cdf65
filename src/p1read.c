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
	struct dsmr_filter filter;
	enum dsmr_crc_policy crc;
	struct serial_params sp;
	char spec[300];
};

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

static void parse_options(struct opts *o, int argc, char **argv)
{
	int c;
	opterr = 0;
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
		case OPT_CHECK: o->check = true; break;
		case OPT_LIST: dsmr_list_params(stdout); exit_listed();
		case OPT_LIST_PORTS:
			if (port_list(stdout) < 0)
				die(EXIT_RUNTIME, "cannot list serial ports");
			exit_listed();
		case OPT_LIST_OPTIONS: list_options();
		case OPT_DSMR: o->dsmr = optarg; break;
		case OPT_VERSION: print_version(argc);
		case 'h': fputs(usage_text, stdout); exit_listed();
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
	choose_serial(o);
	choose_port(o);
	o->have_key = dlms_key_load(o->key_file, "P1_KEY", o->key);
	o->have_auth_key = dlms_key_load(o->auth_key_file, "P1_AUTH_KEY", o->auth_key);
	if (o->have_auth_key && !o->have_key)
		usage_die(usage_text, "an authentication key without a key (--key-file or $P1_KEY)");
}

/* ---- the read loop ---- */

static struct dsmr_framer framer;
static struct dsmr_telegram telegram;
/* With a key: the DLMS session and a second framer that checks the
 * telegram a frame decrypts to, CRC and all. */
static struct dlms_session dlms;
static struct dsmr_framer inner;
static unsigned long tag_failures;
/* Set while the telegram being handled came out of a frame. */
static const struct dlms_session *decrypted;
static struct jw line;
static struct tally drops;
static const char *drop_name(int kind) { return dsmr_drop_name((enum dsmr_drop)kind); }
static struct health health;
static struct ratelimit drop_rl = RATELIMIT_INIT(60, 10);

static void report_drop(const struct dsmr_event *ev, const char *detail)
{
	tally_add(&drops, ev->why);
	health_drop(&health, dsmr_drop_word(ev->why), "telegram %lu at byte %llu: dropped: %s%s%s", ev->seq,
	            (unsigned long long)ev->offset, dsmr_drop_name(ev->why), detail[0] ? ": " : "", detail);
	warn_limited(&drop_rl, "%s", health.last_error);
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

static void print_reading(const struct opts *o, const struct dlms_session *from)
{
	reading_begin(&line, "dsmr", o->device);
	dsmr_write_meter(&line, &telegram);
	if (from)
		write_security(from);
	reading_values_begin(&line);
	dsmr_write_values(&line, &telegram, &o->filter);
	reading_end(&line);
	reading_print(&line);
}

static void handle(const struct opts *o, struct dsmr_event *ev, int64_t *last_ms);

/* A drop of a binary frame, named with the session's why. */
static void frame_dropped(struct dsmr_event *ev)
{
	static const enum dsmr_drop as[] = {
		[DLMS_FAULT_FRAME] = DSMR_DROP_FRAME,
		[DLMS_FAULT_TAG] = DSMR_DROP_TAG,
		[DLMS_FAULT_REPLAY] = DSMR_DROP_REPLAY,
		[DLMS_FAULT_APDU] = DSMR_DROP_FRAME,
	};
	ev->kind = DSMR_EV_DROP;
	ev->why = as[dlms.fault];
	report_drop(ev, dlms.why);
	/* After the first few, once: a key that never fits is the likely cause. */
	if (dlms.fault == DLMS_FAULT_TAG && ++tag_failures == 3)
		warnx("3 frames failed their GCM tag: the key (--key-file, $P1_KEY) or the authentication key "
		      "(--auth-key-file, $P1_AUTH_KEY) is probably wrong");
	if (dlms.fault == DLMS_FAULT_FRAME || dlms.fault == DLMS_FAULT_TAG)
		dsmr_framer_rescan(&framer);
}

/* A frame decrypted to a text telegram: through the second framer, so that
 * its CRC is checked as a plaintext telegram's would be. */
static void decrypted_text(const struct opts *o, const struct dsmr_event *outer, int64_t *last_ms)
{
	struct dsmr_event ev;
	size_t off = 0;
	bool have;
	while (off < dlms.out_len) {
		off += dsmr_framer_push(&inner, dlms.out + off, dlms.out_len - off, &ev, &have);
		if (have) {
			ev.seq = outer->seq;
			ev.offset = outer->offset;
			handle(o, &ev, last_ms);
		}
	}
	if (dsmr_framer_abort(&inner, DSMR_DROP_EOF, &ev)) {
		ev.seq = outer->seq;
		ev.offset = outer->offset;
		report_drop(&ev, "in the decrypted frame");
	}
}

static void handle_frame(const struct opts *o, struct dsmr_event *ev, int64_t *last_ms)
{
	if (!o->have_key)
		return;
	switch (dlms_frame(&dlms, ev->frame, (const unsigned char *)ev->text, ev->len)) {
	case DLMS_MORE: return;
	case DLMS_DROP: frame_dropped(ev); return;
	case DLMS_TEXT:
		decrypted = &dlms;
		decrypted_text(o, ev, last_ms);
		break;
	case DLMS_NOTIFICATION:
		ev->kind = DSMR_EV_TELEGRAM;
		ev->text = dlms.out;
		ev->len = dlms.out_len;
		ev->bits = DSMR_BITS_ASCII;
		decrypted = &dlms;
		handle(o, ev, last_ms);
		break;
	}
	decrypted = NULL;
}

static void handle(const struct opts *o, struct dsmr_event *ev, int64_t *last_ms)
{
	if (ev->kind == DSMR_EV_FRAME) {
		handle_frame(o, ev, last_ms);
		return;
	}
	if (ev->kind == DSMR_EV_DROP) {
		report_drop(ev, ev->detail);
		return;
	}
	if (ev->bits != DSMR_BITS_ASCII)
		logmsg(LOG_DEBUG, "telegram %lu at byte %llu: %s", ev->seq, (unsigned long long)ev->offset,
		       dsmr_bits_name(ev->bits));
	/* -i: telegrams inside the interval are not even parsed (good all the
	 * same: their CRC held). */
	int64_t now = mono_ms();
	if (o->interval > 0 && *last_ms != INT64_MIN && now - *last_ms < (int64_t)(o->interval * 1000)) {
		health_good(&health);
		return;
	}
	if (dsmr_parse(&telegram, ev->text, ev->len) < 0) {
		ev->why = DSMR_DROP_GARBAGE;
		report_drop(ev, telegram.why);
		return;
	}
	health_good(&health);
	*last_ms = now;
	print_reading(o, decrypted);
}

static void summary(void)
{
	tally_report(&drops, framer.seq);
}

/* What the read loop carries from one push to the next. */
struct read_ctx {
	const struct opts *o;
	int64_t last_ms;
};

static size_t push(void *arg, const unsigned char *buf, size_t len)
{
	struct read_ctx *c = arg;
	struct dsmr_event ev;
	bool have;
	size_t took = dsmr_framer_push(&framer, buf, len, &ev, &have);
	if (have)
		handle(c->o, &ev, &c->last_ms);
	return took;
}

static bool within(void *arg)
{
	(void)arg;
	return dsmr_framer_within(&framer);
}

static void lost(void *arg, bool end)
{
	(void)arg;
	struct dsmr_event ev;
	if (dsmr_framer_abort(&framer, end ? DSMR_DROP_EOF : DSMR_DROP_LOST, &ev))
		report_drop(&ev, "");
}

static int run(const struct opts *o)
{
	struct port port;
	char why[256];
	if (port_init(&port, o->spec, &o->sp, why, sizeof why) < 0)
		die(EXIT_USAGE, "%s: %s", o->spec, why);
	health_init(&health, "dsmr", o->device, o->health_s);
	listen_open(&port, &health);
	dsmr_framer_init(&framer, o->crc);
	dsmr_framer_seven_bit(&framer, o->sp.data_bits == 7);
	if (o->have_key) {
		if (dlms_session_init(&dlms, o->key, o->have_auth_key ? o->auth_key : NULL) < 0)
			die(EXIT_RUNTIME, "libcrypto: %s", dlms_crypto_why());
		dsmr_framer_binary(&framer, true);
		dsmr_framer_init(&inner, o->crc);
	}
	jw_init(&line);
	struct read_ctx ctx = { o, INT64_MIN };
	const struct listen_sink sink = { push, lost, &ctx, within };
	listen_loop(&port, &health, o->silence_s, &sink, o->spec);
	port_close(&port);
	summary();
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static struct opts o = { .device = "dsmr", .silence_s = 60 };
	err_init(argv[0]);
	parse_options(&o, argc, argv);
	if (o.check) {
		struct port port;
		char why[256];
		if (strncmp(o.spec, "tcp://", 6) == 0 && port_init(&port, o.spec, &o.sp, why, sizeof why) < 0)
			die(EXIT_USAGE, "%s: %s", o.spec, why);
		return EXIT_OK;
	}
	signal(SIGPIPE, SIG_IGN);
	tally_init(&drops, "telegrams", DSMR_DROP_KINDS, drop_name);
	tally_on_stop(&drops);
	return run(&o);
}
