/* kmpread: reads a Kamstrup MULTICAL heat meter over KMP and prints one
 * reading line per poll.
 *
 * A poll asks for up to 8 registers per request (every round trip costs
 * the meter battery), decodes each register by its own id and length,
 * and writes the exact decimal the meter sent.  A bad CRC or a timeout is
 * retried at most twice; then the poll is reported as failed on stderr,
 * nothing is printed for it, and the next poll comes on schedule: a meter
 * whose optical eye has gone to sleep does not end kmpread. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "line/jsonw.h"
#include "line/frame.h"
#include "line/health.h"
#include "meter/kmp.h"
#include "meter/port.h"
#include "base/text.h"
#include "base/util.h"

#define MAX_PARAMS 64
#define ATTEMPTS 3 /* one try and at most two retries */

static const char usage_text[] =
	"usage: kmpread [-1] [-d ID] [-p LIST] [-i SECONDS] [-s BAUD[:8N2]]\n"
	"               [--timeout MS] [--byte-timeout MS] [--check] PORT\n"
	"       kmpread --list | --list-ports | --list-options\n"
	"  PORT                  a serial port (/dev/ttyUSB0) or tcp://host:port\n"
	"  -d, --device ID       device id in the reading line (default multical)\n"
	"  -p, --parameters LIST registers by name, id or 0x id, comma-separated\n"
	"                        (default: energy, power, volume, flow,\n"
	"                        flow_temperature, return_temperature,\n"
	"                        temperature_difference, operating_hours, info_code)\n"
	"  -i, --poll-interval S seconds from one poll to the next (default 300)\n"
	"  -1, --once            poll once and exit: 0 if it worked, 1 if not\n"
	"  -s, --serial BAUD[:8N2]  line settings (default 1200:8N2; 2400, 9600)\n"
	"      --baudrate N      the rate alone\n"
	"      --timeout MS      wait for the first byte of a reply (default 1500)\n"
	"      --byte-timeout MS wait between bytes of a reply (default 200)\n"
	"      --health-interval S  a health line (polls, failures, link) every S\n"
	"                        seconds and when the link changes (default 0: never)\n"
	"      --connection serial_port|tcp, --host HOST, --port PORT\n"
	"                        the config's form of PORT (tcp: tcp://HOST:PORT)\n"
	"      --check           validate the options, touch no port\n"
	"      --list            the known registers: id, name, meaning\n"
	"      --list-ports      serial ports with their USB ids\n"
	"      --list-options    the long options, for mtrcfg\n"
	"  -h, --help, --version\n";

enum {
	O_TIMEOUT = 256, O_BYTE_TIMEOUT, O_BAUDRATE, O_CONNECTION, O_HOST, O_PORT,
	O_CHECK, O_LIST, O_LIST_PORTS, O_LIST_OPTIONS, O_VERSION, O_HEALTH,
};
static const struct option long_opts[] = {
	{ "device", required_argument, NULL, 'd' },
	{ "parameters", required_argument, NULL, 'p' },
	{ "poll-interval", required_argument, NULL, 'i' },
	{ "once", no_argument, NULL, '1' },
	{ "serial", required_argument, NULL, 's' },
	{ "baudrate", required_argument, NULL, O_BAUDRATE },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "byte-timeout", required_argument, NULL, O_BYTE_TIMEOUT },
	{ "health-interval", required_argument, NULL, O_HEALTH },
	{ "connection", required_argument, NULL, O_CONNECTION },
	{ "host", required_argument, NULL, O_HOST },
	{ "port", required_argument, NULL, O_PORT },
	{ "check", no_argument, NULL, O_CHECK },
	{ "list", no_argument, NULL, O_LIST },
	{ "list-ports", no_argument, NULL, O_LIST_PORTS },
	{ "list-options", no_argument, NULL, O_LIST_OPTIONS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, O_VERSION },
	{ 0, 0, 0, 0 },
};

static struct {
	const char *device;
	const char *port, *connection, *host;
	char spec[300];
	uint16_t ids[MAX_PARAMS];
	int nids;
	long interval_s, timeout_ms, byte_timeout_ms, health_s;
	bool once, check;
	struct serial_params line;
} opt = {
	.device = "multical",
	.interval_s = 300,
	.timeout_ms = 1500,
	.byte_timeout_ms = 200,
	.line = { 1200, 8, 'N', 2 },
};

/* ---- options ---- */

static void add_parameters(char *list)
{
	char *items[MAX_PARAMS];
	int n = split_list(list, items, MAX_PARAMS);
	if (n < 0)
		die(EXIT_USAGE, "--parameters: expected 1 to %d names or ids, comma-separated", MAX_PARAMS);
	opt.nids = 0;
	for (int i = 0; i < n; i++) {
		uint16_t id;
		if (kmp_register_parse(items[i], &id) < 0)
			die(EXIT_USAGE, "--parameters: unknown register: %s (kmpread --list names them; ids work too)",
			    items[i]);
		bool seen = false;
		for (int k = 0; k < opt.nids; k++)
			seen |= opt.ids[k] == id;
		if (!seen)
			opt.ids[opt.nids++] = id;
	}
}

static void default_parameters(void)
{
	for (size_t i = 0; i < kmp_register_count && opt.nids < MAX_PARAMS; i++)
		if (kmp_registers[i].in_default_set)
			opt.ids[opt.nids++] = kmp_registers[i].id;
}

static bool baud_supported(long b)
{
	static const long rates[] = { 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200 };
	for (size_t i = 0; i < sizeof rates / sizeof *rates; i++)
		if (rates[i] == b)
			return true;
	return false;
}

static void set_serial(const char *s)
{
	struct serial_params p;
	if (serial_params_parse(s, &p) < 0 || !baud_supported(p.baud))
		die(EXIT_USAGE, "--serial %s: expected BAUD or BAUD:8N2 with BAUD 300 to 115200 (KMP: 1200, 2400, 9600)", s);
	if (!strchr(s, ':')) { /* a bare rate keeps KMP's 8N2 */
		p.data_bits = opt.line.data_bits;
		p.parity = opt.line.parity;
		p.stop_bits = opt.line.stop_bits;
	}
	opt.line = p;
}

/* The port from the positional argument, --port, --connection and --host. */
static void resolve_port(const char *positional)
{
	if (positional && opt.port && strcmp(positional, opt.port) != 0)
		die(EXIT_USAGE, "two ports given: %s and %s", opt.port, positional);
	const char *port = positional ? positional : opt.port;
	if (!port)
		die(EXIT_USAGE, "no port given (a serial port such as /dev/ttyUSB0, or tcp://host:port)");
	const char *conn = opt.connection;
	if (conn && (strcmp(conn, "file") == 0 || strcmp(conn, "stdin") == 0))
		die(EXIT_USAGE, "--connection %s: kmpread must talk to the meter: use serial_port or tcp", conn);
	char why[256];
	if (port_spec_from_options(port, conn, opt.host, opt.spec, sizeof opt.spec, why, sizeof why) < 0)
		die(EXIT_USAGE, "%s", why);
	if (strcmp(opt.spec, "-") == 0)
		die(EXIT_USAGE, "port -: kmpread must talk to the meter, not read stdin");
	if (strncmp(opt.spec, "tcp://", 6) == 0) {
		struct port p;
		if (port_init(&p, opt.spec, &opt.line, why, sizeof why) < 0)
			die(EXIT_USAGE, "port %s: %s", opt.spec, why);
	}
}

static void list_registers(void)
{
	for (size_t i = 0; i < kmp_register_count; i++)
		printf("%u\t%s\t%s\n", kmp_registers[i].id, kmp_registers[i].name, kmp_registers[i].meaning);
}

static void parse_options(int argc, char **argv)
{
	int c;
	bool list = false, list_ports = false;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:p:i:s:1h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!device_id_valid(optarg))
				die(EXIT_USAGE, "--device %s: expected 1 to 64 of A-Z a-z 0-9 _ -", optarg);
			opt.device = optarg;
			break;
		case 'p': add_parameters(optarg); break;
		case 'i': opt.interval_s = arg_long("--poll-interval", optarg, 1, 7 * 86400, NULL); break;
		case '1': opt.once = true; break;
		case 's': set_serial(optarg); break;
		case O_BAUDRATE:
			opt.line.baud = (int)arg_long("--baudrate", optarg, 300, 115200, NULL);
			if (!baud_supported(opt.line.baud))
				die(EXIT_USAGE, "--baudrate %s: not a standard rate (KMP: 1200, 2400, 9600)", optarg);
			break;
		case O_TIMEOUT: opt.timeout_ms = arg_long("--timeout", optarg, 1, 60000, NULL); break;
		case O_BYTE_TIMEOUT: opt.byte_timeout_ms = arg_long("--byte-timeout", optarg, 1, 60000, NULL); break;
		case O_HEALTH: opt.health_s = health_interval_arg(optarg); break;
		case O_CONNECTION: opt.connection = optarg; break;
		case O_HOST: opt.host = optarg; break;
		case O_PORT: opt.port = optarg; break;
		case O_CHECK: opt.check = true; break;
		case O_LIST: list = true; break;
		case O_LIST_PORTS: list_ports = true; break;
		case O_LIST_OPTIONS:
			for (const struct option *o = long_opts; o->name; o++)
				puts(o->name);
			exit_listed();
		case O_VERSION: print_version(argc);
		case 'h': fputs(usage_text, stdout); exit_listed();
		default: usage_bad_option(usage_text, c, argv);
		}
	}
	if (list) {
		list_registers();
		exit_listed();
	}
	if (list_ports) {
		if (port_list(stdout) < 0)
			die(EXIT_RUNTIME, "cannot list serial ports");
		exit_listed();
	}
	if (argc - optind > 1)
		die(EXIT_USAGE, "one port only; unexpected: %s", argv[optind + 1]);
	resolve_port(optind < argc ? argv[optind] : NULL);
	if (!opt.nids)
		default_parameters();
}

/* ---- talking to the meter ---- */

enum { OK = 0, FAILED = -1, LINK_LOST = -2 };

struct reader {
	struct port port;
	bool open, open_failure_reported, lost;
	bool identified; /* GetSerialNo and GetType asked on this connection */
	bool have_serial, have_type;
	uint32_t serial;
	uint16_t type, revision;
	struct kmp_rx rx;
	struct kmp_record records[KMP_MAX_REGISTERS];
	int nrecords;
	/* per register of opt.ids */
	bool got[MAX_PARAMS], missing_reported[MAX_PARAMS], bad_reported[MAX_PARAMS];
	bool value_ok[MAX_PARAMS];
	char text[MAX_PARAMS][KMP_VALUE_TEXT];
	uint8_t unit[MAX_PARAMS];
	/* this poll, for the debug line */
	int requests;
	size_t bytes_out, bytes_in;
	char why[600];
	const char *reason; /* why's reason word, for the health line */
	struct jw w;
	struct health health;
};

/* Milliseconds n bytes take on the line (start, data, parity, stop bits). */
static int64_t wire_ms(size_t n)
{
	int bits = 1 + opt.line.data_bits + (opt.line.parity != 'N') + opt.line.stop_bits;
	return ((int64_t)n * bits * 1000 + opt.line.baud - 1) / opt.line.baud;
}

/* A frame that passed the CRC may still not be what we asked for. */
static int check_reply(struct reader *r, uint8_t cid, char *why, size_t whylen)
{
	const uint8_t *f = r->rx.frame;
	if (f[0] != KMP_DST_HEAT_METER || f[1] != cid) {
		snprintf(why, whylen, "reply to another command (address 0x%02X, command 0x%02X)", f[0], f[1]);
		r->reason = "wrong_reply";
		return FAILED;
	}
	if (cid == KMP_CID_GET_REGISTER) {
		r->nrecords = kmp_parse_registers(f, r->rx.len, r->records, KMP_MAX_REGISTERS, why, whylen);
		if (r->nrecords < 0) {
			r->reason = "bad_reply";
			return FAILED;
		}
	}
	return OK;
}

/* One request, one reply: the reply is in r->rx.frame. */
static int exchange(struct reader *r, const uint8_t *req, size_t len, char *why, size_t whylen)
{
	port_discard_input(&r->port);
	if (port_write(&r->port, req, len) < 0) {
		snprintf(why, whylen, "cannot send: %s", r->port.why);
		r->reason = "link_lost";
		return LINK_LOST;
	}
	r->requests++;
	r->bytes_out += len;
	kmp_rx_init(&r->rx, KMP_START_REPLY);
	/* The request takes its time on the wire before the meter can answer. */
	int64_t deadline = mono_ms() + wire_ms(len) + opt.timeout_ms;
	for (;;) {
		bool in_frame = r->rx.state != KMP_RX_HUNT;
		int64_t wait = in_frame ? opt.byte_timeout_ms : deadline - mono_ms();
		uint8_t buf[256];
		ssize_t got = wait > 0 ? port_read(&r->port, buf, sizeof buf, (int)wait) : 0;
		if (got < 0) {
			snprintf(why, whylen, "%s", r->port.why);
			r->reason = "link_lost";
			return LINK_LOST;
		}
		if (got == 0) {
			if (in_frame)
				snprintf(why, whylen, "reply cut short: nothing for %ld ms after %zu bytes", opt.byte_timeout_ms,
				         r->rx.raw);
			else
				snprintf(why, whylen, "no reply within %ld ms", opt.timeout_ms);
			r->reason = in_frame ? "cut_short" : "timeout";
			return FAILED;
		}
		for (ssize_t i = 0; i < got; i++) {
			enum kmp_rx_event ev = kmp_rx_byte(&r->rx, buf[i]);
			if (ev == KMP_RX_ERROR) {
				snprintf(why, whylen, "broken reply: %s", r->rx.why);
				r->reason = r->rx.word;
				return FAILED;
			}
			if (ev == KMP_RX_FRAME) {
				r->bytes_in += r->rx.raw;
				if (r->rx.discarded)
					logmsg(LOG_DEBUG, "%zu bytes before the reply discarded (an echo?)", r->rx.discarded);
				return check_reply(r, req[2], why, whylen);
			}
		}
	}
}

/* exchange, retried at most twice; r->why says why it failed. */
static int transact(struct reader *r, const uint8_t *req, size_t len, const char *what)
{
	for (int attempt = 1;; attempt++) {
		char why[400];
		int rc = exchange(r, req, len, why, sizeof why);
		if (rc == OK) {
			if (attempt > 1)
				warnx("%s: answered on attempt %d of %d", what, attempt, ATTEMPTS);
			return OK;
		}
		if (rc == LINK_LOST || attempt == ATTEMPTS) {
			snprintf(r->why, sizeof r->why, "%s: %s%s", what, why, rc == LINK_LOST ? "" : " (3 attempts)");
			return rc;
		}
		warnx("%s: %s (attempt %d of %d); retrying", what, why, attempt, ATTEMPTS);
	}
}

/* Takes the values of opt.ids[first..first+n) from the records of a reply,
 * matching them by id: the meter may leave some out or answer in another
 * order. */
static void take_values(struct reader *r, int first, int n)
{
	for (int i = first; i < first + n; i++) {
		char name[48];
		kmp_register_name(opt.ids[i], name, sizeof name);
		const struct kmp_record *rec = NULL;
		for (int k = 0; k < r->nrecords; k++)
			if (r->records[k].id == opt.ids[i])
				rec = &r->records[k];
		if (!rec) {
			if (!r->missing_reported[i])
				warnx("register %u (%s): not answered by the meter; left out", opt.ids[i], name);
			r->missing_reported[i] = true;
			continue;
		}
		char why[128];
		r->got[i] = true;
		/* GJx10 and the like leave as GJ, for every sink (meter2mqtt(7)). */
		uint8_t siex = rec->siex;
		r->unit[i] = kmp_unit_unscale(rec->unit, &siex);
		r->value_ok[i] = kmp_value_text(siex, rec->mantissa, rec->len, r->text[i], KMP_VALUE_TEXT, why,
		                                sizeof why) >= 0;
		if (!r->value_ok[i] && !r->bad_reported[i]) {
			warnx("register %u (%s): %s; written as null", opt.ids[i], name, why);
			r->bad_reported[i] = true;
		}
	}
	for (int k = 0; k < r->nrecords; k++) {
		bool asked = false;
		for (int i = first; i < first + n; i++)
			asked |= r->records[k].id == opt.ids[i];
		if (!asked)
			logmsg(LOG_DEBUG, "register %u answered without being asked; ignored", r->records[k].id);
	}
}

/* GetSerialNo and GetType, once per connection.  A meter that does not
 * answer them still has its readings printed, without those members. */
static int identify(struct reader *r)
{
	uint8_t req[16];
	const char *why;
	size_t len = kmp_request_get_serial(req, sizeof req);
	int rc = transact(r, req, len, "GetSerialNo");
	if (rc == LINK_LOST)
		return rc;
	if (rc == OK && kmp_decode_serial(r->rx.frame, r->rx.len, &r->serial, &why) < 0)
		warnx("GetSerialNo: %s", why);
	else if (rc == OK)
		r->have_serial = true;
	else
		warnx("%s; the reading lines lack the serial number", r->why);
	len = kmp_request_get_type(req, sizeof req);
	rc = transact(r, req, len, "GetType");
	if (rc == LINK_LOST)
		return rc;
	if (rc == OK && kmp_decode_type(r->rx.frame, r->rx.len, &r->type, &r->revision, &why) < 0)
		warnx("GetType: %s", why);
	else if (rc == OK)
		r->have_type = true;
	else
		warnx("%s; the reading lines lack the meter type", r->why);
	r->identified = true;
	return OK;
}

static void write_meter(struct reader *r)
{
	if (!r->have_serial && !r->have_type)
		return;
	jw_key(&r->w, "meter");
	jw_object_begin(&r->w);
	char buf[16];
	if (r->have_serial) {
		snprintf(buf, sizeof buf, "%u", r->serial);
		jw_key(&r->w, "serial");
		jw_string(&r->w, buf);
	}
	if (r->have_type) {
		snprintf(buf, sizeof buf, "0x%04X", r->type);
		jw_key(&r->w, "type");
		jw_string(&r->w, buf);
		kmp_revision_text(r->revision, buf);
		if (buf[0]) {
			jw_key(&r->w, "version");
			jw_string(&r->w, buf);
		}
	}
	jw_object_end(&r->w);
}

static int print_reading(struct reader *r)
{
	reading_begin(&r->w, "multical", opt.device);
	write_meter(r);
	reading_values_begin(&r->w);
	for (int i = 0; i < opt.nids; i++) {
		if (!r->got[i])
			continue;
		char name[48];
		kmp_register_name(opt.ids[i], name, sizeof name);
		jw_key(&r->w, name);
		jw_object_begin(&r->w);
		jw_key(&r->w, "value");
		if (r->value_ok[i])
			jw_number_text(&r->w, r->text[i], strlen(r->text[i]));
		else
			jw_null(&r->w);
		const char *unit = kmp_unit_name(r->unit[i]);
		if (unit) {
			jw_key(&r->w, "unit");
			jw_string(&r->w, unit);
		}
		jw_key(&r->w, "register");
		jw_int(&r->w, opt.ids[i]);
		jw_object_end(&r->w);
	}
	reading_end(&r->w);
	reading_print(&r->w);
	return OK;
}

static int read_registers(struct reader *r)
{
	int nreq = (opt.nids + KMP_MAX_REGISTERS - 1) / KMP_MAX_REGISTERS;
	for (int k = 0; k < nreq; k++) {
		int first = k * KMP_MAX_REGISTERS;
		int n = opt.nids - first < KMP_MAX_REGISTERS ? opt.nids - first : KMP_MAX_REGISTERS;
		uint8_t req[64];
		size_t len = kmp_request_get_register(opt.ids + first, n, req, sizeof req);
		char what[48];
		snprintf(what, sizeof what, "register request %d of %d", k + 1, nreq);
		int rc = transact(r, req, len, what);
		if (rc != OK)
			return rc;
		take_values(r, first, n);
	}
	for (int i = 0; i < opt.nids; i++)
		if (r->got[i])
			return OK;
	snprintf(r->why, sizeof r->why, "the meter answered none of the %d registers", opt.nids);
	r->reason = "no_registers";
	return FAILED;
}

/* A poll failed for r->reason: counted, said (when say), and the link is
 * down when nothing came back at all. */
static void poll_failed(struct reader *r, bool say)
{
	static const char *const silent[] = { "timeout", "link_lost", "cannot_open" };
	bool down = false;
	if (!r->reason)
		r->reason = "other";
	for (size_t i = 0; i < sizeof silent / sizeof *silent; i++)
		down |= strcmp(r->reason, silent[i]) == 0;
	health_drop(&r->health, r->reason, "poll failed: %s", r->why);
	if (say)
		warnx("poll failed: %s%s", r->why,
		      strcmp(r->reason, "cannot_open") == 0 && !opt.once ? "; trying again at every poll" : "");
	health_link(&r->health, down ? HEALTH_LINK_DOWN : HEALTH_LINK_UP);
}

static bool open_port(struct reader *r)
{
	if (r->open)
		return true;
	if (port_open(&r->port) < 0) {
		snprintf(r->why, sizeof r->why, "cannot open %s: %s", opt.spec, r->port.why);
		r->reason = "cannot_open";
		/* Said once per outage, not once per poll; counted every time. */
		poll_failed(r, !r->open_failure_reported || opt.once);
		r->open_failure_reported = true;
		return false;
	}
	if (r->open_failure_reported || r->lost)
		warnx("%s: connected again", opt.spec);
	r->open = true;
	r->open_failure_reported = r->lost = false;
	r->identified = r->have_serial = r->have_type = false;
	return true;
}

static bool poll_meter(struct reader *r)
{
	if (!open_port(r))
		return false;
	int64_t t0 = mono_ms();
	r->requests = 0;
	r->bytes_out = r->bytes_in = 0;
	memset(r->got, 0, sizeof r->got);
	int rc = read_registers(r);
	if (rc == OK && !r->identified)
		rc = identify(r);
	if (rc != OK) {
		if (rc == LINK_LOST) {
			port_close(&r->port);
			r->open = false;
			r->lost = true;
		}
		poll_failed(r, true);
		return false;
	}
	logmsg(LOG_DEBUG, "poll: %d requests, %zu bytes sent, %zu bytes received, %lld ms; the wire needs %lld ms",
	       r->requests, r->bytes_out, r->bytes_in, (long long)(mono_ms() - t0),
	       (long long)wire_ms(r->bytes_out + r->bytes_in));
	health_good(&r->health);
	health_link(&r->health, HEALTH_LINK_UP);
	return print_reading(r) == OK;
}

static void sleep_until_ms(int64_t t)
{
	struct timespec ts = { (time_t)(t / 1000), (long)(t % 1000) * 1000000L };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Until t, waking for the health lines due before it. */
static void wait_until_ms(struct health *h, int64_t t)
{
	for (;;) {
		health_tick(h);
		int64_t now = mono_ms();
		if (now >= t)
			return;
		int wait = health_wait_ms(h);
		sleep_until_ms(wait < 0 || now + wait > t ? t : now + wait);
	}
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	parse_options(argc, argv);
	if (opt.check)
		return EXIT_OK;
	static struct reader r;
	char why[256];
	if (port_init(&r.port, opt.spec, &opt.line, why, sizeof why) < 0)
		die(EXIT_USAGE, "port %s: %s", opt.spec, why);
	if (r.port.kind == PORT_FILE && access(opt.spec, F_OK) == 0)
		die(EXIT_USAGE, "port %s: not a serial port (kmpread must talk to the meter)", opt.spec);
	if (r.port.kind == PORT_FILE)
		r.port.kind = PORT_SERIAL; /* a tty that is not there yet */
	jw_init(&r.w);
	health_init(&r.health, "multical", opt.device, opt.health_s);
	int64_t next = mono_ms();
	for (;;) {
		bool ok = poll_meter(&r);
		if (opt.once)
			return ok ? EXIT_OK : EXIT_RUNTIME;
		int64_t now = mono_ms();
		while (next <= now) /* a poll that overran skips its slot, never bunches */
			next += opt.interval_s * 1000;
		wait_until_ms(&r.health, next);
	}
}
