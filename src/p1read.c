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

#include "meter/dsmr.h"
#include "base/err.h"
#include "line/jsonw.h"
#include "meter/port.h"
#include "base/util.h"

static const char usage_text[] =
	"usage: p1read [-d ID] [-p NAME,...] [-i SECONDS] [-s BAUD:8N1] [--version=V] [PORT]\n"
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
	"  -s, --serial BAUD:8N1      serial settings (default by --version)\n"
	"      --baudrate N           serial speed only\n"
	"      --version=V            DSMR version: 22, 30 (9600:7E1, no CRC), 40, 42,\n"
	"                             50, be, lu, at, hu, ie (115200:8N1, CRC required),\n"
	"                             q3d (9600:7E1, no CRC), auto (the default:\n"
	"                             115200:8N1, CRC checked when sent)\n"
	"      --port PORT            the port (also the positional argument)\n"
	"      --connection KIND      serial_port, tcp, file or stdin\n"
	"      --host HOST            with --connection=tcp: reads tcp://HOST:PORT\n"
	"      --silence-timeout SEC  TCP: a link silent this long is dead (default 60)\n"
	"      --check                check the options, open nothing, exit 0 or 2\n"
	"      --list                 the known parameters: name, OBIS, unit, meaning\n"
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
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "list-ports", no_argument, NULL, OPT_LIST_PORTS },
	{ "list-options", no_argument, NULL, OPT_LIST_OPTIONS },
	{ "version", optional_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The DSMR versions --version accepts: the defaults they imply. */
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
	const char *serial, *version;
	long baudrate;
	double interval;
	long silence_s;
	bool check;
	struct dsmr_filter filter;
	enum dsmr_crc_policy crc;
	struct serial_params sp;
	char spec[300];
};

static _Noreturn void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog_name);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage_text);
	exit(EXIT_USAGE);
}

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
			usage_error("%s", "no port given (and stdin is a terminal)");
		snprintf(o->spec, sizeof o->spec, "-");
	}
}

static void choose_serial(struct opts *o)
{
	bool slow = false;
	o->crc = DSMR_CRC_AUTO;
	if (o->version) {
		bool found = false;
		for (size_t i = 0; i < sizeof versions / sizeof *versions && !found; i++) {
			if (strcasecmp(versions[i].name, o->version) == 0) {
				o->crc = versions[i].crc;
				slow = versions[i].slow;
				found = true;
			}
		}
		if (!found)
			die(EXIT_USAGE, "--version: '%s': expected auto, 22, 30, 40, 42, 50, be, lu, at, hu, ie or q3d", o->version);
	}
	o->sp = slow ? (struct serial_params){ 9600, 7, 'E', 1 } : (struct serial_params){ 115200, 8, 'N', 1 };
	if (o->serial && serial_params_parse(o->serial, &o->sp) < 0)
		die(EXIT_USAGE, "--serial: '%s': expected BAUD or BAUD:8N1 (data bits, parity N/E/O, stop bits)", o->serial);
	if (o->baudrate)
		o->sp.baud = (int)o->baudrate;
}

static void list_options(void)
{
	for (const struct option *lo = long_options; lo->name; lo++)
		printf("%s\n", lo->name);
	exit(EXIT_OK);
}

static void parse_options(struct opts *o, int argc, char **argv)
{
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
		case 's': o->serial = optarg; break;
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
		case OPT_CHECK: o->check = true; break;
		case OPT_LIST: dsmr_list_params(stdout); exit(EXIT_OK);
		case OPT_LIST_PORTS:
			if (port_list(stdout) < 0)
				die(EXIT_RUNTIME, "cannot list serial ports");
			exit(EXIT_OK);
		case OPT_LIST_OPTIONS: list_options(); break;
		case OPT_VERSION:
			if (!optarg)
				print_version();
			o->version = optarg;
			break;
		case 'h': fputs(usage_text, stdout); exit(EXIT_OK);
		case ':': usage_error("option needs a value: %s", argv[optind - 1]);
		default: usage_error("unknown option: %s", argv[optind - 1]);
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
	choose_serial(o);
	choose_port(o);
}

/* ---- the read loop ---- */

static struct dsmr_framer framer;
static struct dsmr_telegram telegram;
static struct jw line;
static unsigned long dropped[DSMR_DROP_KINDS];
static struct ratelimit drop_rl = RATELIMIT_INIT(60, 10);

/* The drops so far as "2 CRC mismatch, 1 cut short ..." (for the summary),
 * and the whole line a signal handler writes when p1read is stopped. */
static char drops_text[400];
static char stop_line[512];
static volatile size_t stop_len;

static unsigned long drops_total(void)
{
	unsigned long total = 0;
	for (int i = 0; i < DSMR_DROP_KINDS; i++)
		total += dropped[i];
	return total;
}

static void format_drops(void)
{
	size_t n = 0;
	drops_text[0] = '\0';
	for (int i = 0; i < DSMR_DROP_KINDS && n < sizeof drops_text; i++)
		if (dropped[i])
			n += (size_t)snprintf(drops_text + n, sizeof drops_text - n, "%s%lu %s", n ? ", " : "", dropped[i],
			                      dsmr_drop_name(i));
	stop_len = 0;
	int len = snprintf(stop_line, sizeof stop_line, "%s: %lu telegrams dropped: %s\n", prog_name, drops_total(),
	                   drops_text);
	stop_len = len > 0 && (size_t)len < sizeof stop_line ? (size_t)len : 0;
}

/* SIGTERM, SIGINT: the summary (written ready-made, as write(2) is all a
 * handler may do), then the default action. */
static void on_stop(int sig)
{
	if (stop_len && write(STDERR_FILENO, stop_line, stop_len) < 0)
		stop_len = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

static void report_drop(const struct dsmr_event *ev, const char *detail)
{
	dropped[ev->why]++;
	format_drops();
	warn_limited(&drop_rl, "telegram %lu at byte %llu: dropped: %s%s%s", ev->seq, (unsigned long long)ev->offset,
	             dsmr_drop_name(ev->why), detail[0] ? ": " : "", detail);
}

static void print_reading(const struct opts *o)
{
	reading_begin(&line, "dsmr", o->device);
	dsmr_write_meter(&line, &telegram);
	reading_values_begin(&line);
	dsmr_write_values(&line, &telegram, &o->filter);
	reading_end(&line);
	if (jw_write_line(&line, STDOUT_FILENO) < 0) {
		if (errno == EPIPE)
			exit(EXIT_RUNTIME); /* the reader went away: nothing to say */
		die_errno(EXIT_RUNTIME, "stdout");
	}
}

static void handle(const struct opts *o, struct dsmr_event *ev, int64_t *last_ms)
{
	if (ev->kind == DSMR_EV_DROP) {
		report_drop(ev, ev->detail);
		return;
	}
	/* -i: telegrams inside the interval are not even parsed. */
	int64_t now = mono_ms();
	if (o->interval > 0 && *last_ms != INT64_MIN && now - *last_ms < (int64_t)(o->interval * 1000))
		return;
	if (dsmr_parse(&telegram, ev->text, ev->len) < 0) {
		ev->why = DSMR_DROP_GARBAGE;
		report_drop(ev, telegram.why);
		return;
	}
	*last_ms = now;
	print_reading(o);
}

static void summary(void)
{
	if (drops_total())
		warnx("%lu of %lu telegrams dropped: %s", drops_total(), framer.seq, drops_text);
}

/* A serial adapter or a dongle hands a telegram over a few dozen bytes at a
 * time: a wake-up each.  Once a telegram has begun, sleep as long as the
 * last one took to arrive and take the rest in one read: two or three
 * wake-ups a telegram, whatever the adapter, and hardly later (telegrams of
 * a meter are nearly all the same length).  Capped, so that a slow link's
 * bytes never pile up in the kernel for long. */
#define PACE_MAX_MS 500

struct pace {
	int64_t began_ms; /* the first read of this telegram, or -1 */
	int64_t took_ms;  /* how long the last one took to arrive */
	bool slept;       /* this read came right after the sleep */
};

/* A telegram that ended in the read after the sleep may have been
 * complete well before: shrink the estimate a little each time, so that
 * it follows a link that got faster instead of sleeping too long forever. */
static void pace_telegram_end(struct pace *p, int64_t now)
{
	if (p->slept)
		p->took_ms -= p->took_ms / 8 + 1;
	else if (p->began_ms >= 0)
		p->took_ms = now - p->began_ms;
	if (p->took_ms < 0)
		p->took_ms = 0;
	p->began_ms = -1;
}

/* Within a telegram: sleep until the rest should be there. */
static void pace_wait(struct pace *p, int64_t now)
{
	if (p->began_ms < 0)
		p->began_ms = now;
	int64_t until = p->began_ms + (p->took_ms < PACE_MAX_MS ? p->took_ms : PACE_MAX_MS);
	p->slept = until > now;
	if (p->slept)
		nanosleep(&(struct timespec){ (until - now) / 1000, (until - now) % 1000 * 1000000 }, NULL);
}

static int run(const struct opts *o)
{
	static char buf[65536];
	struct port port;
	char why[256];
	if (port_init(&port, o->spec, &o->sp, why, sizeof why) < 0)
		die(EXIT_USAGE, "%s: %s", o->spec, why);
	if (port_open(&port) < 0) {
		if (!port_can_reconnect(&port))
			die(EXIT_RUNTIME, "%s: %s", o->spec, port.why);
		port_reconnect(&port, 30);
	}
	dsmr_framer_init(&framer, o->crc);
	jw_init(&line);
	int64_t last_ms = INT64_MIN;
	struct pace pace = { -1, 0, false };
	int timeout = port.kind == PORT_TCP && o->silence_s > 0 ? (int)o->silence_s * 1000 : -1;
	struct dsmr_event ev;
	for (;;) {
		ssize_t got = port_read(&port, buf, sizeof buf, timeout);
		if (got == 0)
			snprintf(port.why, sizeof port.why, "no data for %ld s", o->silence_s);
		if (got <= 0) {
			bool end = port.eof || !port_can_reconnect(&port);
			if (dsmr_framer_abort(&framer, end ? DSMR_DROP_EOF : DSMR_DROP_LOST, &ev))
				report_drop(&ev, "");
			if (end) {
				/* port_read says "end of input" for a clean end; anything
				 * else (EIO on a file) is a failure. */
				if (!port.eof || strcmp(port.why, "end of input") != 0)
					die(EXIT_RUNTIME, "%s: %s", o->spec, port.why);
				break;
			}
			port_reconnect(&port, 30);
			continue;
		}
		size_t off = 0;
		int64_t now = mono_ms();
		if (!dsmr_framer_within(&framer))
			pace.slept = false;
		while (off < (size_t)got) {
			bool have;
			off += dsmr_framer_push(&framer, buf + off, (size_t)got - off, &ev, &have);
			if (have) {
				handle(o, &ev, &last_ms);
				pace_telegram_end(&pace, now);
			}
		}
		/* Files and pipes come as fast as they are read: no pacing. */
		if (dsmr_framer_within(&framer) && (port.kind == PORT_SERIAL || port.kind == PORT_TCP))
			pace_wait(&pace, now);
		else
			pace.began_ms = -1;
	}
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
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	return run(&o);
}
