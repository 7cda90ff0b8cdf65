/* smlread: reads SML files (German meters' optical interface) and prints
 * one reading line per good file.  The bytes are framed, checked and
 * decoded by lib/meter/sml.c; this file is options, the read loop and the
 * bookkeeping of dropped files. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/text.h"
#include "base/util.h"
#include "line/frame.h"
#include "line/health.h"
#include "line/tally.h"
#include "line/jsonw.h"
#include "meter/listen.h"
#include "meter/port.h"
#include "meter/sml.h"

static const char usage_text[] =
	"usage: smlread [-d ID] [-p NAME,...] [-i SECONDS] [-s BAUD:8N1] [PORT]\n"
	"       smlread --list | --list-ports | --list-options\n"
	"       smlread --check [options] [PORT]\n"
	"\n"
	"Reads SML files from PORT (/dev/ttyUSB0 with an optical read head,\n"
	"tcp://host:port, a file, or - for stdin; stdin when no PORT is given and\n"
	"stdin is not a terminal) and prints one JSON reading line per file whose\n"
	"CRC and messages are good.\n"
	"\n"
	"  -d, --device ID            device id in the reading line (default sml)\n"
	"  -p, --parameters LIST      only these values: names (see --list) or OBIS codes\n"
	"  -i, --poll-interval SEC    print at most one reading per SEC seconds\n"
	"  -s, --serial BAUD:8N1      serial settings (default 9600:8N1)\n"
	"      --baudrate N           serial speed only\n"
	"      --port PORT            the port (also the positional argument)\n"
	"      --connection KIND      serial_port, tcp, file or stdin\n"
	"      --host HOST            with --connection=tcp: reads tcp://HOST:PORT\n"
	"      --silence-timeout SEC  TCP: a link silent this long is dead (default 60)\n"
	"      --health-interval SEC  a health line (counters, link) every SEC seconds\n"
	"                             and when the link changes (default 0: never)\n"
	"      --check                check the options, open nothing, exit 0 or 2\n"
	"      --list                 the named parameters: name, OBIS, meaning\n"
	"      --list-ports           serial ports, with USB vendor, product and serial\n"
	"      --list-options         the long options, one per line\n"
	"  -h, --help                 this text\n"
	"      --version              the program's version\n";

enum {
	OPT_BAUDRATE = 256,
	OPT_PORT,
	OPT_CONNECTION,
	OPT_HOST,
	OPT_CHECK,
	OPT_LIST,
	OPT_LIST_PORTS,
	OPT_LIST_OPTIONS,
	OPT_VERSION,
	OPT_SILENCE,
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
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "list-ports", no_argument, NULL, OPT_LIST_PORTS },
	{ "list-options", no_argument, NULL, OPT_LIST_OPTIONS },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct opts {
	const char *device;
	const char *port, *connection, *host;
	long baudrate;
	double interval;
	long silence_s;
	long health_s;
	bool check;
	struct sml_filter filter;
	struct serial_params sp;
	char spec[300];
};

static _Noreturn void usage_error(const char *fmt, const char *arg)
{
	usage_die(usage_text, fmt, arg);
}

static void parse_parameters(struct opts *o, const char *list)
{
	char copy[4096], *items[SML_FILTER_MAX], why[160];
	if (strlen(list) >= sizeof copy)
		die(EXIT_USAGE, "--parameters: list too long");
	strcpy(copy, list);
	int n = split_list(copy, items, SML_FILTER_MAX);
	if (n < 0)
		die(EXIT_USAGE, "--parameters: '%s': an empty item or more than %d", list, SML_FILTER_MAX);
	for (int i = 0; i < n; i++)
		if (sml_filter_add(&o->filter, items[i], why, sizeof why) < 0)
			die(EXIT_USAGE, "--parameters: %s", why);
}

/* --port, --connection and --host as one port spec (the rule every reader
 * shares); no port at all means stdin, if it is not a tty. */
static void choose_port(struct opts *o)
{
	char why[256];
	if (port_spec_from_options(o->port, o->connection, o->host, o->spec, sizeof o->spec, why, sizeof why) < 0)
		die(EXIT_USAGE, "%s", why);
	if (!o->spec[0]) {
		if (isatty(STDIN_FILENO))
			usage_error("%s", "no port given (and stdin is a terminal)");
		snprintf(o->spec, sizeof o->spec, "-");
	}
}

static void parse_options(struct opts *o, int argc, char **argv)
{
	const char *serial = NULL;
	int c;
	long v;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:p:i:s:h", long_options, NULL)) != -1) {
		switch (c) {
		case 'd': o->device = optarg; break;
		case 'p': parse_parameters(o, optarg); break;
		case 'i':
			if (parse_double(optarg, 0, 31536000, &o->interval) < 0)
				die(EXIT_USAGE, "--poll-interval: '%s': expected seconds (0 or more)", optarg);
			break;
		case 's': serial = optarg; break;
		case OPT_BAUDRATE:
			if (parse_long(optarg, 50, 4000000, &o->baudrate) < 0)
				die(EXIT_USAGE, "--baudrate: '%s': expected 50 to 4000000", optarg);
			break;
		case OPT_PORT: o->port = optarg; break;
		case OPT_CONNECTION: o->connection = optarg; break;
		case OPT_HOST: o->host = optarg; break;
		case OPT_SILENCE:
			if (parse_long(optarg, 0, 86400, &v) < 0)
				die(EXIT_USAGE, "--silence-timeout: '%s': expected seconds, 0 (off) to 86400", optarg);
			o->silence_s = v;
			break;
		case OPT_HEALTH: o->health_s = health_interval_arg(optarg); break;
		case OPT_CHECK: o->check = true; break;
		case OPT_LIST: exit(sml_list_params(stdout) < 0 || fflush(stdout) ? EXIT_RUNTIME : EXIT_OK);
		case OPT_LIST_PORTS:
			if (port_list(stdout) < 0)
				die(EXIT_RUNTIME, "cannot list serial ports");
			exit(EXIT_OK);
		case OPT_LIST_OPTIONS:
			for (const struct option *lo = long_options; lo->name; lo++)
				printf("%s\n", lo->name);
			exit(EXIT_OK);
		case OPT_VERSION: print_version(argc);
		case 'h': fputs(usage_text, stdout); exit_listed();
		default: usage_bad_option(usage_text, c, argv);
		}
	}
	if (optind < argc) {
		if (optind + 1 < argc)
			usage_error("more than one port: %s", argv[optind + 1]);
		if (o->port && strcmp(o->port, argv[optind]) != 0)
			usage_error("two ports given: --port and %s", argv[optind]);
		o->port = argv[optind];
	}
	if (!device_id_valid(o->device))
		die(EXIT_USAGE, "--device: '%s': expected 1 to 64 of A-Z a-z 0-9 _ -", o->device);
	/* Every SML optical interface: 9600 baud, 8N1. */
	o->sp = (struct serial_params){ 9600, 8, 'N', 1 };
	if (serial && serial_params_parse(serial, &o->sp) < 0)
		die(EXIT_USAGE, "--serial: '%s': expected BAUD or BAUD:8N1 (data bits, parity N/E/O, stop bits)", serial);
	if (o->baudrate)
		o->sp.baud = (int)o->baudrate;
	choose_port(o);
}

/* ---- the read loop ---- */

static struct sml_framer framer;
static struct sml_file file;
static struct jw line;
static struct tally drops;
static const char *drop_name(int kind) { return sml_drop_name((enum sml_drop)kind); }
/* Not a drop: wrong message CRCs under a good file CRC, named in the summary. */
static unsigned long bad_msg_crc_files;
static struct health health;
static struct ratelimit drop_rl = RATELIMIT_INIT(60, 10);

static void report_drop(const struct sml_event *ev, const char *detail)
{
	tally_add(&drops, ev->why);
	health_drop(&health, sml_drop_word(ev->why), "SML file %lu at byte %llu: dropped: %s%s%s", ev->seq,
	            (unsigned long long)ev->offset, sml_drop_name(ev->why), detail[0] ? ": " : "", detail);
	warn_limited(&drop_rl, "%s", health.last_error);
}

static void print_reading(const struct opts *o)
{
	reading_begin(&line, "sml", o->device);
	sml_write_meter(&line, &file);
	reading_values_begin(&line);
	sml_write_values(&line, &file, &o->filter);
	reading_end(&line);
	reading_print(&line);
}

static void handle(const struct opts *o, struct sml_event *ev, int64_t *last_ms)
{
	if (ev->kind == SML_EV_DROP) {
		report_drop(ev, ev->detail);
		return;
	}
	/* -i: files inside the interval are not even decoded (good all the
	 * same: their CRC held). */
	int64_t now = mono_ms();
	if (o->interval > 0 && *last_ms != INT64_MIN && now - *last_ms < (int64_t)(o->interval * 1000)) {
		health_good(&health);
		return;
	}
	if (sml_decode(&file, ev->data, ev->len) < 0) {
		ev->why = SML_DROP_GARBAGE;
		report_drop(ev, file.why);
		return;
	}
	health_good(&health);
	/* The file CRC vouches for the bytes: a wrong message CRC under it is
	 * the meter's own slip (eBZ DD3, Holley DTZ541), counted, not fatal. */
	if (file.bad_msg_crc && bad_msg_crc_files++ == 0)
		warnx("SML file %lu: %d message CRCs wrong under a good file CRC: kept (counted from now on)", ev->seq,
		      file.bad_msg_crc);
	*last_ms = now;
	print_reading(o);
}

static void summary(void)
{
	tally_report(&drops, framer.seq);
	if (framer.skipped)
		warnx("%llu bytes outside SML files skipped", (unsigned long long)framer.skipped);
	if (bad_msg_crc_files)
		warnx("%lu of %lu SML files had wrong message CRCs under a good file CRC (kept)", bad_msg_crc_files,
		      framer.seq);
}

/* What the read loop carries from one push to the next. */
struct read_ctx {
	const struct opts *o;
	int64_t last_ms;
};

static size_t push(void *arg, const unsigned char *buf, size_t len)
{
	struct read_ctx *c = arg;
	struct sml_event ev;
	bool have;
	size_t took = sml_framer_push(&framer, buf, len, &ev, &have);
	if (have)
		handle(c->o, &ev, &c->last_ms);
	return took;
}

static bool within(void *arg)
{
	(void)arg;
	return sml_framer_within(&framer);
}

static void lost(void *arg, bool end)
{
	(void)arg;
	struct sml_event ev;
	if (sml_framer_abort(&framer, end ? SML_DROP_EOF : SML_DROP_LOST, &ev))
		report_drop(&ev, "");
}

static int run(const struct opts *o)
{
	struct port port;
	char why[256];
	if (port_init(&port, o->spec, &o->sp, why, sizeof why) < 0)
		die(EXIT_USAGE, "%s: %s", o->spec, why);
	health_init(&health, "sml", o->device, o->health_s);
	listen_open(&port, &health);
	sml_framer_init(&framer);
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
	static struct opts o = { .device = "sml", .silence_s = 60 };
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
	tally_init(&drops, "SML files", SML_DROP_KINDS, drop_name);
	tally_on_stop(&drops);
	return run(&o);
}
