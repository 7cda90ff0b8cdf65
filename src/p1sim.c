/* p1sim: a simulated DSMR P1 meter.  Writes realistic telegrams, with
 * correct CRCs and counters that grow with the power drawn, to stdout, a
 * file or tty, a pseudo-terminal it creates, or TCP clients; at the meter's
 * rate or as fast as possible; with faults on request (bit flips, cut
 * telegrams, garbage between telegrams, telegrams in many small writes).
 * The lux profile seals each telegram as a DLMS general-global-ciphering
 * frame (lib/meter/dlms), as a Luxembourg Smarty does; its faults add a
 * forged tag and a replayed frame counter.
 *
 * The meter itself is lib/p1gen.c; this file is options, outputs, faults
 * and pacing.  Pacing sleeps to absolute deadlines (no drift, no polling). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "meter/dlms.h"
#include "meter/p1gen.h"
#include "meter/port.h"
#include "base/util.h"

static const char usage_text[] =
	"usage: p1sim [-fhv] [-n count] [-o output] [-P profile] [-r rate] [-s baud:format]\n"
	"             [--fault fault[,fault...]] [--gas l/h] [--message text] [--power watts]\n"
	"             [--seed n] [--solar watts] [--start-time time] [--step seconds] [--water l/h]\n"
	"             [--key-file file] [--auth-key-file file]\n"
	"       p1sim --list-profiles\n"
	"\n"
	"  -P, --profile NAME   22, 42, 50, 50-nogas, 50-2mbus, 50-gas2, be, be-2mbus, lux, at-t210\n"
	"                       (default 50)\n"
	"  -n, --count N        send N telegrams, then exit (default: until stopped)\n"
	"  -r, --rate R         telegrams per second, fractions allowed (default: the meter's,\n"
	"                       1 for 5.0 and be, 0.1 for 2.2 and 4.2); 0: as fast as possible\n"
	"  -f, --fast           as fast as possible (-r 0)\n"
	"  -o, --output OUT     - (stdout, default), pty, pty:LINK, tcp:PORT, tcp:ADDR:PORT, or a path\n"
	"  -s, --serial B:F     line settings, e.g. 9600:7E1; with 7 data bits and parity each\n"
	"                       byte carries its parity bit in bit 7, as an 8N1 receiver sees it\n"
	"      --seed N         make the meter and the faults reproducible\n"
	"      --start-time T   the meter clock's start: 2026-11-27T10:00:00Z or epoch seconds\n"
	"      --step S         seconds the meter clock moves per telegram (default 1/rate, or the\n"
	"                       meter's interval when fast)\n"
	"      --power W        base load in watts (default 450), --solar W peak solar (default 0)\n"
	"      --gas L, --water L  litres per hour (default 150 and 12)\n"
	"      --message TEXT   text message for 0-0:96.13.0 (sent hex-encoded)\n"
	"      --fault LIST     bitflip=P, truncate=P, garbage=P (probability per telegram), split[=P];\n"
	"                       encrypted profiles also forged-tag=P, replay=P\n"
	"      --key-file FILE  lux, at-t210: the 32-hex-digit encryption key (else $P1_KEY)\n"
	"      --auth-key-file FILE  the authentication key (else $P1_AUTH_KEY, else Smarty's)\n"
	"  -v, --verbose        log every fault, client and a summary on stderr\n"
	"      --list-profiles  the profiles, their line settings and rates\n"
	"  -h, --help, --version\n";


static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* ---- options ---- */

struct faults {
	double bitflip, truncate, garbage, split, forged_tag, replay;
};

struct options {
	const struct p1profile *prof;
	struct p1settings set;
	long count;
	double rate;             /* < 0: the profile's */
	double step_s;           /* 0: derived */
	const char *output;
	struct serial_params serial;
	bool serial_given;
	uint64_t seed;
	bool seed_given;
	int64_t start_ms;        /* < 0: now */
	struct faults faults;
	bool verbose;
	/* lux: the keys that seal each telegram */
	bool sealed;
	const char *key_file, *auth_key_file;
	unsigned char ek[DLMS_KEY_LEN], ak[DLMS_KEY_LEN];
};

static int parse_fault(char *item, struct faults *f)
{
	char *eq = strchr(item, '=');
	double p = 1;
	if (eq) {
		*eq = '\0';
		if (parse_double(eq + 1, 0, 1, &p) < 0)
			return -1;
	}
	if (strcmp(item, "bitflip") == 0 && eq)
		f->bitflip = p;
	else if (strcmp(item, "truncate") == 0 && eq)
		f->truncate = p;
	else if (strcmp(item, "garbage") == 0 && eq)
		f->garbage = p;
	else if (strcmp(item, "split") == 0)
		f->split = p;
	else if (strcmp(item, "forged-tag") == 0 && eq)
		f->forged_tag = p;
	else if (strcmp(item, "replay") == 0 && eq)
		f->replay = p;
	else
		return -1;
	return 0;
}

/* 2026-11-27T10:00:00Z, 2026-11-27T11:00:00+01:00 or epoch seconds. */
static int parse_start_time(const char *s, int64_t *out_ms)
{
	/* Epoch seconds from 2000 to 2099: past what a 32-bit long holds, so
	 * not parse_long. */
	const char *digits = s[0] == '@' ? s + 1 : s;
	char *end;
	errno = 0;
	long long epoch = strtoll(digits, &end, 10);
	if (digits[0] >= '0' && digits[0] <= '9' && !*end && !errno) {
		if (epoch < 946684800LL || epoch > 4102444800LL)
			return -1;
		*out_ms = (int64_t)epoch * 1000;
		return 0;
	}
	struct tm tm = { 0 };
	int n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	           &tm.tm_sec, &n) != 6 || n != 19)
		return -1;
	const char *z = s + n;
	long offset = 0;
	if (z[0] == 'Z' && z[1] == '\0') {
		offset = 0;
	} else if ((z[0] == '+' || z[0] == '-') && strlen(z) == 6 && z[3] == ':') {
		int hh, mm;
		if (sscanf(z + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 14 || mm > 59)
			return -1;
		offset = (hh * 3600L + mm * 60L) * (z[0] == '-' ? -1 : 1);
	} else {
		return -1;
	}
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 59 || tm.tm_year < 2000 || tm.tm_year > 2099)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	/* With a 32-bit time_t (armhf built without _TIME_BITS=64), timegm
	 * fails past 2038: say so rather than start today. */
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out_ms = ((int64_t)t - offset) * 1000;
	return 0;
}

enum { OPT_SEED = 256, OPT_START, OPT_STEP, OPT_POWER, OPT_SOLAR, OPT_GAS, OPT_WATER, OPT_MESSAGE, OPT_FAULT,
       OPT_LIST, OPT_VERSION, OPT_KEY_FILE, OPT_AUTH_KEY_FILE };

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "profile", required_argument, NULL, 'P' },
	{ "count", required_argument, NULL, 'n' },
	{ "rate", required_argument, NULL, 'r' },
	{ "fast", no_argument, NULL, 'f' },
	{ "output", required_argument, NULL, 'o' },
	{ "serial", required_argument, NULL, 's' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "start-time", required_argument, NULL, OPT_START },
	{ "step", required_argument, NULL, OPT_STEP },
	{ "power", required_argument, NULL, OPT_POWER },
	{ "solar", required_argument, NULL, OPT_SOLAR },
	{ "gas", required_argument, NULL, OPT_GAS },
	{ "water", required_argument, NULL, OPT_WATER },
	{ "message", required_argument, NULL, OPT_MESSAGE },
	{ "fault", required_argument, NULL, OPT_FAULT },
	{ "list-profiles", no_argument, NULL, OPT_LIST },
	{ "key-file", required_argument, NULL, OPT_KEY_FILE },
	{ "auth-key-file", required_argument, NULL, OPT_AUTH_KEY_FILE },
	{ NULL, 0, NULL, 0 },
};

static _Noreturn void bad_value(const char *opt, const char *value, const char *want)
{
	usage_die(usage_text, "%s: bad value '%s': %s", opt, value, want);
}

/* The lux profile needs a key and nothing else takes one; keys come from
 * a file or the environment, never the command line. */
static void load_keys(struct options *o)
{
	o->sealed = p1profile_sealed(o->prof);
	if (!o->sealed) {
		if (o->key_file || o->auth_key_file)
			die(EXIT_USAGE, "--key-file: profile %s is not encrypted (lux and at-t210 are)", o->prof->name);
		if (o->faults.forged_tag > 0 || o->faults.replay > 0)
			die(EXIT_USAGE, "--fault forged-tag, replay: profile %s is not encrypted (lux and at-t210 are)",
			    o->prof->name);
		return;
	}
	if (!dlms_key_load(o->key_file, "P1_KEY", o->ek))
		usage_die(usage_text, "profile %s: no key (--key-file or $P1_KEY)", o->prof->name);
	if (!dlms_key_load(o->auth_key_file, "P1_AUTH_KEY", o->ak)) {
		char why[64];
		dlms_key_parse(DLMS_DEFAULT_AUTH_KEY, o->ak, why, sizeof why);
	}
	if (o->faults.bitflip + o->faults.truncate + o->faults.forged_tag + o->faults.replay > 1)
		die(EXIT_USAGE, "--fault: bitflip, truncate, forged-tag and replay probabilities add up to more than 1");
}

static void parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){
		.prof = p1profile_find("50"),
		.set = { .power_w = 450, .gas_lph = 150, .water_lph = 12 },
		.rate = -1,
		.output = "-",
		.start_ms = -1,
	};
	int c;
	long v;
	unsigned long long seed;
	char *end;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":fhn:o:P:r:s:v", long_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			exit_listed();
		case OPT_VERSION:
			print_version(argc);
		case OPT_LIST:
			p1profile_list(stdout);
			exit_listed();
		case 'P':
			if (!(o->prof = p1profile_find(optarg)))
				bad_value("-P", optarg, "no such profile (see --list-profiles)");
			break;
		case 'n':
			if (parse_long(optarg, 1, LONG_MAX, &o->count) < 0)
				bad_value("-n", optarg, "a count of 1 or more");
			break;
		case 'r':
			if (parse_double(optarg, 0, 10000, &o->rate) < 0 || (o->rate > 0 && o->rate < 0.0001))
				bad_value("-r", optarg, "telegrams per second, 0 or 0.0001 to 10000");
			break;
		case 'f':
			o->rate = 0;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 's':
			if (serial_params_parse(optarg, &o->serial) < 0)
				bad_value("-s", optarg, "BAUD or BAUD:8N1, 9600:7E1, ...");
			o->serial_given = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case OPT_SEED:
			errno = 0;
			seed = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end || optarg[0] == '-')
				bad_value("--seed", optarg, "a number");
			o->seed = seed;
			o->seed_given = true;
			break;
		case OPT_START:
			if (parse_start_time(optarg, &o->start_ms) < 0)
				bad_value("--start-time", optarg, "2026-11-27T10:00:00Z, an offset like +01:00, or epoch seconds");
			break;
		case OPT_STEP:
			if (parse_double(optarg, 0.001, 86400, &o->step_s) < 0)
				bad_value("--step", optarg, "seconds from 0.001 to 86400");
			break;
		case OPT_POWER:
		case OPT_SOLAR:
			if (parse_long(optarg, 0, 60000, &v) < 0)
				bad_value(c == OPT_POWER ? "--power" : "--solar", optarg, "watts from 0 to 60000");
			*(c == OPT_POWER ? &o->set.power_w : &o->set.solar_w) = v;
			break;
		case OPT_GAS:
		case OPT_WATER:
			if (parse_long(optarg, 0, 100000, &v) < 0)
				bad_value(c == OPT_GAS ? "--gas" : "--water", optarg, "litres per hour from 0 to 100000");
			*(c == OPT_GAS ? &o->set.gas_lph : &o->set.water_lph) = v;
			break;
		case OPT_MESSAGE:
			if (strlen(optarg) > 1024)
				bad_value("--message", "...", "at most 1024 bytes (DSMR allows 2048 hex digits)");
			o->set.message = optarg;
			break;
		case OPT_KEY_FILE:
			o->key_file = optarg;
			break;
		case OPT_AUTH_KEY_FILE:
			o->auth_key_file = optarg;
			break;
		case OPT_FAULT: {
			char *items[8];
			int n = split_list(optarg, items, 8);
			if (n < 0)
				bad_value("--fault", optarg, "a comma-separated list");
			for (int i = 0; i < n; i++)
				if (parse_fault(items[i], &o->faults) < 0)
					bad_value("--fault", items[i],
					          "bitflip=P, truncate=P, garbage=P, split[=P], forged-tag=P or replay=P, P from 0 to 1");
			break;
		}
		default:
			usage_bad_option(usage_text, c, argv);
		}
	}
	if (optind < argc)
		usage_die(usage_text, "unexpected argument: %s", argv[optind]);
	if (o->faults.bitflip + o->faults.truncate > 1)
		die(EXIT_USAGE, "--fault: bitflip and truncate probabilities add up to more than 1");
	if (o->faults.bitflip > 0 && o->prof->dialect == P1_DSMR22)
		die(EXIT_USAGE, "--fault bitflip: profile 22 has no CRC, so a flipped bit could not be detected");
	load_keys(o);
	if (o->rate < 0)
		o->rate = o->prof->rate;
	if (!o->serial_given)
		serial_params_parse(o->prof->dialect == P1_DSMR22 ? "9600:8N1" : "115200:8N1", &o->serial);
}

/* ---- outputs ---- */

#define MAX_CLIENTS 16

enum out_kind { OUT_FD, OUT_PTY, OUT_TCP };

struct output {
	enum out_kind kind;
	int fd;                  /* stdout, a path, or the pty's master side */
	int slave_fd;            /* the pty's slave, held so the pty lives without a reader */
	char slave[64];
	char link[PATH_MAX];
	long pending;            /* pty: telegrams written that nobody has read yet */
	bool unread_said;        /* "nobody reads" logged; said again once read */
	bool paced;              /* a rate is set: drop what is not read in time */
	int clients[MAX_CLIENTS];
	char client_name[MAX_CLIENTS][64];
	int nclients;
	bool verbose;
};

struct stats {
	long sent, bitflip, truncated, garbage, unread, forged, replayed;
};

/* lux: the meter's system title and the next frame counter.  The counter
 * starts at the meter clock's seconds since 2020, so a restarted p1sim
 * goes on above what a running reader saw last (at the meter's rate). */
struct sealer {
	unsigned char title[8];
	uint32_t next_fc;
	/* the counter of the last frame sent whole: the one a replay repeats
	 * (a reader never accepted the counter of a frame it dropped) */
	uint32_t last_whole_fc;
	bool sent_whole;
};

static void set_line(int fd, const struct serial_params *sp)
{
	struct termios t;
	if (tcgetattr(fd, &t) < 0)
		return;
	cfmakeraw(&t);
	static const struct { int baud; speed_t speed; } speeds[] = {
		{ 1200, B1200 }, { 2400, B2400 }, { 4800, B4800 }, { 9600, B9600 }, { 19200, B19200 },
		{ 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 }, { 230400, B230400 },
	};
	for (size_t i = 0; i < sizeof speeds / sizeof *speeds; i++)
		if (speeds[i].baud == sp->baud) {
			cfsetispeed(&t, speeds[i].speed);
			cfsetospeed(&t, speeds[i].speed);
		}
	static const tcflag_t sizes[] = { CS5, CS6, CS7, CS8 };
	t.c_cflag &= (tcflag_t)~(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
	t.c_cflag |= sizes[sp->data_bits - 5] | CLOCAL | CREAD;
	if (sp->parity != 'N')
		t.c_cflag |= PARENB | (sp->parity == 'O' ? PARODD : 0);
	if (sp->stop_bits == 2)
		t.c_cflag |= CSTOPB;
	if (tcsetattr(fd, TCSANOW, &t) < 0 && errno == EINVAL) {
		/* A pseudo-terminal has no UART and refuses 7E1 (Linux keeps
		 * it CS8): raw 8N1 it is; the parity bit travels in bit 7. */
		t.c_cflag &= (tcflag_t)~(CSIZE | PARENB | PARODD);
		t.c_cflag |= CS8;
		tcsetattr(fd, TCSANOW, &t);
	}
}

/* LINK is replaced only when it is a symbolic link (a stale one from a
 * p1sim that was killed), never when it is a real file. */
static void make_link(struct output *out)
{
	struct stat st;
	if (lstat(out->link, &st) == 0 && !S_ISLNK(st.st_mode))
		die(EXIT_RUNTIME, "%s: exists and is not a symbolic link", out->link);
	char tmp[PATH_MAX + 32];
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", out->link, (long)getpid());
	unlink(tmp);
	if (symlink(out->slave, tmp) < 0 || rename(tmp, out->link) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		die_errno(EXIT_RUNTIME, "%s: cannot link to %s", out->link, out->slave);
	}
}

static void open_pty(struct output *out, const char *link, const struct serial_params *sp)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, out->slave, sizeof out->slave) != 0)
		die_errno(EXIT_RUNTIME, "cannot create a pseudo-terminal");
	out->slave_fd = open(out->slave, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (out->slave_fd < 0)
		die_errno(EXIT_RUNTIME, "%s", out->slave);
	set_line(out->slave_fd, sp);
	fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
	out->fd = m;
	out->kind = OUT_PTY;
	if (link && *link) {
		if (strlen(link) >= sizeof out->link)
			die(EXIT_USAGE, "%s: path too long", link);
		strcpy(out->link, link);
		make_link(out);
	}
	printf("%s\n", out->slave);
	fflush(stdout);
}

/* tcp:PORT, tcp:ADDR:PORT, tcp:[V6ADDR]:PORT; port 0 lets the kernel pick
 * (the port is printed on stdout either way). */
static void open_tcp(struct output *out, const char *spec)
{
	char host[256] = "127.0.0.1";
	const char *port = spec;
	const char *colon = strrchr(spec, ':');
	if (colon) {
		size_t n = (size_t)(colon - spec);
		if (spec[0] == '[' && n >= 2 && spec[n - 1] == ']') {
			spec++;
			n -= 2;
		}
		if (n == 0 || n >= sizeof host)
			die(EXIT_USAGE, "-o tcp:%s: expected tcp:PORT or tcp:ADDR:PORT", spec);
		snprintf(host, sizeof host, "%.*s", (int)n, spec);
		port = colon + 1;
	}
	long portnum;
	if (parse_long(port, 0, 65535, &portnum) < 0)
		die(EXIT_USAGE, "-o tcp:%s: the port must be a number from 0 to 65535", spec);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		die(EXIT_RUNTIME, "%s: %s", host, gai_strerror(rc));
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 8) < 0)
		die_errno(EXIT_RUNTIME, "cannot listen on %s port %s", host, port);
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char hbuf[NI_MAXHOST], sbuf[NI_MAXSERV];
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, len, hbuf, sizeof hbuf, sbuf, sizeof sbuf, NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		printf(strchr(hbuf, ':') ? "[%s]:%s\n" : "%s:%s\n", hbuf, sbuf);
	fflush(stdout);
	out->fd = fd;
	out->kind = OUT_TCP;
}

static void open_output(struct output *out, const struct options *o)
{
	memset(out, 0, sizeof *out);
	out->slave_fd = -1;
	out->verbose = o->verbose;
	out->paced = o->rate > 0;
	const char *spec = o->output;
	if (strcmp(spec, "-") == 0 || strcmp(spec, "stdout") == 0) {
		out->kind = OUT_FD;
		out->fd = STDOUT_FILENO;
	} else if (strcmp(spec, "pty") == 0 || strncmp(spec, "pty:", 4) == 0) {
		open_pty(out, spec[3] ? spec + 4 : NULL, &o->serial);
	} else if (strncmp(spec, "tcp:", 4) == 0) {
		open_tcp(out, spec + 4);
	} else {
		/* A path: a serial port, a socat pseudo-terminal, a FIFO, a file. */
		out->kind = OUT_FD;
		out->fd = open(spec, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_CREAT | O_APPEND, 0644);
		if (out->fd < 0)
			die_errno(EXIT_RUNTIME, "%s", spec);
		if (isatty(out->fd))
			set_line(out->fd, &o->serial);
	}
}

static void pause_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stopping)
		;
}

/* Closing the master hangs the slave up and loses what it holds: give a
 * reader up to a second to take the last telegrams. */
static void pty_drain(const struct output *out)
{
	for (int i = 0; i < 20 && !stopping; i++) {
		int queued = 0;
		if (ioctl(out->slave_fd, FIONREAD, &queued) < 0 || (queued == 0 && i > 0))
			return;
		pause_ms(50);
	}
}

static void close_output(struct output *out)
{
	if (out->kind == OUT_PTY)
		pty_drain(out);
	if (out->kind == OUT_PTY && out->link[0]) {
		/* Only our own link: another p1sim may have taken the path. */
		char target[sizeof out->slave];
		ssize_t n = readlink(out->link, target, sizeof target - 1);
		if (n > 0) {
			target[n] = '\0';
			if (strcmp(target, out->slave) == 0)
				unlink(out->link);
		}
	}
	for (int i = 0; i < out->nclients; i++)
		close(out->clients[i]);
	if (out->slave_fd >= 0)
		close(out->slave_fd);
	if (out->fd != STDOUT_FILENO)
		close(out->fd);
}

static void drop_client(struct output *out, int i, const char *why)
{
	if (out->verbose)
		warnx("client %s gone: %s", out->client_name[i], why);
	close(out->clients[i]);
	out->nclients--;
	out->clients[i] = out->clients[out->nclients];
	memcpy(out->client_name[i], out->client_name[out->nclients], sizeof out->client_name[i]);
}

static void accept_clients(struct output *out, int listen_fd)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int c = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			return;
		if (out->nclients == MAX_CLIENTS) {
			warnx("more than %d clients: refusing one", MAX_CLIENTS);
			close(c);
			continue;
		}
		int one = 1, sndbuf = 65536;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		/* A bounded send buffer (some 100 telegrams): a client that
		 * stopped reading shows soon, instead of after megabytes. */
		setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
		char host[NI_MAXHOST], serv[NI_MAXSERV];
		if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv,
		                NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
			strcpy(host, "?");
			strcpy(serv, "?");
		}
		snprintf(out->client_name[out->nclients], sizeof out->client_name[0], "%.40s:%.10s", host, serv);
		out->clients[out->nclients++] = c;
		if (out->verbose)
			warnx("client %s connected", out->client_name[out->nclients - 1]);
	}
}

/* Clients send nothing we need; reading tells us when they have gone. */
static void read_clients(struct output *out, const struct pollfd *pfd, int n)
{
	for (int k = n - 1; k >= 1; k--) {
		if (!pfd[k].revents)
			continue;
		char junk[512];
		ssize_t r = recv(pfd[k].fd, junk, sizeof junk, MSG_DONTWAIT);
		if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)))
			continue;
		for (int i = 0; i < out->nclients; i++)
			if (out->clients[i] == pfd[k].fd) {
				drop_client(out, i, r == 0 ? "closed" : strerror(errno));
				break;
			}
	}
}

/* Waits until the deadline (CLOCK_MONOTONIC), serving TCP clients
 * meanwhile.  A deadline in the past just serves what is pending. */
static void wait_until(struct output *out, const struct timespec *deadline)
{
	while (!stopping) {
		if (out->kind != OUT_TCP) {
			int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL);
			if (rc != EINTR)
				return;
			continue;
		}
		struct timespec now, left = { 0, 0 };
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t ns = (deadline->tv_sec - now.tv_sec) * 1000000000LL + (deadline->tv_nsec - now.tv_nsec);
		if (ns > 0)
			left = (struct timespec){ ns / 1000000000LL, ns % 1000000000LL };
		struct pollfd pfd[MAX_CLIENTS + 1];
		pfd[0] = (struct pollfd){ out->fd, POLLIN, 0 };
		for (int i = 0; i < out->nclients; i++)
			pfd[i + 1] = (struct pollfd){ out->clients[i], POLLIN, 0 };
		int n = out->nclients + 1;
		int r = ppoll(pfd, (nfds_t)n, &left, NULL);
		if (r < 0 && errno != EINTR)
			die_errno(EXIT_RUNTIME, "poll");
		if (r > 0) {
			read_clients(out, pfd, n);
			if (pfd[0].revents)
				accept_clients(out, out->fd);
		}
		if (r == 0 || ns <= 0)
			return;
	}
}

static void write_all_fd(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die_errno(EXIT_RUNTIME, "write");
		p += w;
		n -= (size_t)w;
	}
}

/* The master side never blocks: when the reader has stalled for 200 ms the
 * telegram is given up (and the unread input flushed), so p1sim neither
 * hangs nor spins when nobody reads. */
static int write_pty(struct output *out, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(out->fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			die_errno(EXIT_RUNTIME, "%s", out->slave);
		struct pollfd pfd = { out->fd, POLLOUT, 0 };
		if (poll(&pfd, 1, 200) <= 0) {
			tcflush(out->slave_fd, TCIFLUSH);
			return -1;
		}
	}
	return 0;
}

static void write_clients(struct output *out, const char *p, size_t n)
{
	for (int i = out->nclients - 1; i >= 0; i--) {
		ssize_t w = send(out->clients[i], p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0)
			drop_client(out, i, errno == EAGAIN ? "not reading" : strerror(errno));
		else if ((size_t)w < n)
			drop_client(out, i, "not reading");
	}
}

static int output_write(struct output *out, const char *p, size_t n)
{
	switch (out->kind) {
	case OUT_FD:
		write_all_fd(out->fd, p, n);
		return 0;
	case OUT_PTY:
		return write_pty(out, p, n);
	case OUT_TCP:
		write_clients(out, p, n);
		return 0;
	}
	return 0;
}

/* Before each telegram on a pty: what a reader sent us is discarded, and if
 * nobody has read the last telegrams they are flushed, so that a reader
 * who comes late starts with fresh ones.  A reader that is there empties
 * the queue between telegrams; four in a row found waiting (or a full
 * line buffer) mean nobody is.  As fast as possible, the reader sets the
 * pace instead (write_pty waits for it). */
static void pty_prepare(struct output *out, struct stats *st)
{
	char junk[256];
	while (read(out->fd, junk, sizeof junk) > 0)
		;
	int queued = 0;
	if (ioctl(out->slave_fd, FIONREAD, &queued) < 0 || queued == 0) {
		if (out->verbose && out->unread_said)
			warnx("%s: read again", out->slave);
		out->unread_said = false;
		out->pending = 0;
		return;
	}
	if (!out->paced)
		return;
	if (out->pending >= 4 || queued >= 4095) {
		tcflush(out->slave_fd, TCIFLUSH);
		st->unread += out->pending;
		if (out->verbose && !out->unread_said)
			warnx("%s: nobody reads: dropping unread telegrams", out->slave);
		out->unread_said = true;
		out->pending = 0;
	}
}

/* ---- faults ---- */

static bool framing_byte(unsigned char c)
{
	return c == '/' || c == '!' || c == '\r' || c == '\n';
}

/* One of the low seven bits of a byte between '/' and '!' that neither is
 * nor becomes a framing byte: the telegram stays one telegram, and only
 * its CRC can tell (a reader that strips bit 7 cannot undo it). */
static void flip_bit(char *t, size_t bang, struct p1rng *r, long number, bool verbose)
{
	for (;;) {
		size_t at = (size_t)p1rng_range(r, 1, (long)bang - 1);
		int bit = (int)p1rng_range(r, 0, 6);
		unsigned char was = (unsigned char)t[at], now = (unsigned char)(was ^ (1u << bit));
		if (framing_byte(was) || framing_byte(now))
			continue;
		t[at] = (char)now;
		if (verbose)
			warnx("telegram %ld: bit %d of byte %zu flipped ('%c' to 0x%02X)", number, bit, at,
			      was >= 32 && was < 127 ? was : '?', now);
		return;
	}
}

/* Garbage never holds a '/' (nor one with bit 7 set), nor when sealed the
 * 0xDB of a frame, so it cannot start a telegram: each burst costs a
 * reader nothing but bytes to skip. */
static size_t make_garbage(char *g, struct p1rng *r, bool sealed)
{
	size_t n = (size_t)p1rng_range(r, 1, 64);
	for (size_t i = 0; i < n; i++) {
		unsigned char c;
		do
			c = (unsigned char)p1rng_range(r, 0, 255);
		while ((c & 0x7f) == '/' || (sealed && c == 0xDB));
		g[i] = (char)c;
	}
	return n;
}

/* 7 data bits with parity: bit 7 becomes the parity bit, as an 8N1 UART
 * receives a 7E1 meter (a real UART set to 7E1 ignores bit 7). */
static void add_parity(char *p, size_t n, const struct serial_params *sp)
{
	if (sp->data_bits != 7 || sp->parity == 'N')
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)(p[i] & 0x7f);
		int ones = __builtin_popcount(c);
		int bit = sp->parity == 'E' ? ones & 1 : !(ones & 1);
		p[i] = (char)(c | bit << 7);
	}
}


/* Several small writes with short pauses, as a slow UART or a TCP stream
 * delivers a telegram. */
static int write_split(struct output *out, const char *p, size_t n, struct p1rng *r)
{
	int rc = 0;
	while (n && rc == 0) {
		size_t chunk = (size_t)p1rng_range(r, 8, 96);
		if (chunk > n)
			chunk = n;
		rc = output_write(out, p, chunk);
		p += chunk;
		n -= chunk;
		if (n)
			pause_ms(p1rng_range(r, 1, 4));
	}
	return rc;
}

/* lux: the telegram sealed as the meter sends it, with at most one of the
 * frame faults: a bit of the ciphertext flipped (the tag fails), the frame
 * cut short, a bit of the tag flipped, or the last frame counter again. */
static size_t seal_one(const struct options *o, struct sealer *sl, const char *t, size_t n, double pick,
                       struct p1rng *faults, long number, struct stats *st, unsigned char *frame, size_t cap)
{
	const struct faults *f = &o->faults;
	double forge_at = f->bitflip + f->truncate, replay_at = forge_at + f->forged_tag;
	bool replay = pick >= replay_at && pick < replay_at + f->replay && sl->sent_whole;
	uint32_t fc = replay ? sl->last_whole_fc : sl->next_fc++;
	size_t m = dlms_seal(o->ek, o->ak, sl->title, fc, 0x30, t, n, frame, cap);
	if (m == 0)
		die(EXIT_RUNTIME, "telegram %ld: cannot seal it", number);
	if (replay) {
		st->replayed++;
		if (o->verbose)
			warnx("telegram %ld: frame counter %lu again", number, (unsigned long)fc);
	} else if (pick < f->bitflip) {
		size_t at = m - 12 - n + (size_t)p1rng_range(faults, 0, (long)n - 1);
		frame[at] ^= (unsigned char)(1u << p1rng_range(faults, 0, 7));
		st->bitflip++;
		if (o->verbose)
			warnx("telegram %ld: a bit of frame byte %zu flipped", number, at);
	} else if (pick < forge_at) {
		size_t keep = (size_t)p1rng_range(faults, 1, (long)m - 1);
		if (o->verbose)
			warnx("telegram %ld: frame cut after %zu of %zu bytes", number, keep, m);
		m = keep;
		st->truncated++;
	} else if (pick < replay_at) {
		frame[m - 1 - (size_t)p1rng_range(faults, 0, 11)] ^= (unsigned char)(1u << p1rng_range(faults, 0, 7));
		st->forged++;
		if (o->verbose)
			warnx("telegram %ld: forged tag (frame counter %lu)", number, (unsigned long)fc);
	} else {
		sl->last_whole_fc = fc;
		sl->sent_whole = true;
	}
	return m;
}

static void send_one(struct output *out, const struct options *o, char *t, size_t n, struct p1rng *faults,
                     struct p1rng *splits, struct stats *st, struct sealer *sl)
{
	long number = st->sent + 1;
	char garbage[64];
	size_t ngarbage = 0;
	/* Draw every choice each time, so one fault's rate does not shift
	 * which telegrams get another. */
	double pick = p1rng_unit(faults), pick_garbage = p1rng_unit(faults), pick_split = p1rng_unit(faults);
	char *bang = memchr(t, '!', n);
	size_t bang_at = bang ? (size_t)(bang - t) : n;
	if (pick_garbage < o->faults.garbage) {
		ngarbage = make_garbage(garbage, faults, o->sealed);
		st->garbage++;
		if (o->verbose)
			warnx("telegram %ld: %zu bytes of garbage before it", number, ngarbage);
	}
	static unsigned char frame[DLMS_MAX_APDU + 64];
	if (o->sealed) {
		n = seal_one(o, sl, t, n, pick, faults, number, st, frame, sizeof frame);
		t = (char *)frame;
	} else if (pick < o->faults.bitflip) {
		flip_bit(t, bang_at, faults, number, o->verbose);
		st->bitflip++;
	} else if (pick < o->faults.bitflip + o->faults.truncate) {
		size_t keep = (size_t)p1rng_range(faults, 1, (long)bang_at - 1);
		if (o->verbose)
			warnx("telegram %ld: cut after %zu of %zu bytes", number, keep, n);
		n = keep;
		st->truncated++;
	}
	if (!o->sealed) {
		add_parity(garbage, ngarbage, &o->serial);
		add_parity(t, n, &o->serial);
	}
	if (out->kind == OUT_PTY)
		pty_prepare(out, st);
	int rc = 0;
	if (ngarbage)
		rc = output_write(out, garbage, ngarbage);
	if (rc == 0)
		rc = pick_split < o->faults.split ? write_split(out, t, n, splits) : output_write(out, t, n);
	if (rc < 0) {
		/* The flush took the telegrams still queued with it. */
		st->unread += 1 + out->pending;
		out->pending = 0;
	} else if (out->kind == OUT_PTY) {
		out->pending++;
	}
	st->sent++;
}

/* ---- the loop ---- */

static int64_t ts_ns(const struct timespec *ts)
{
	return ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
	return (struct timespec){ ns / 1000000000LL, ns % 1000000000LL };
}

static uint64_t default_seed(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts_ns(&ts) ^ ((uint64_t)getpid() << 32);
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	struct options o;
	parse_options(argc, argv, &o);

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	uint64_t seed = o.seed_given ? o.seed : default_seed();
	if (o.start_ms < 0) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		o.start_ms = ts_ns(&now) / 1000000000LL * 1000;
	}
	int64_t step_ms = o.step_s > 0 ? (int64_t)(o.step_s * 1000 + 0.5)
	                  : (int64_t)(1000 / (o.rate > 0 ? o.rate : o.prof->rate) + 0.5);
	if (step_ms < 1)
		step_ms = 1;

	struct p1meter meter;
	p1meter_init(&meter, o.prof, &o.set, seed, o.start_ms);
	/* Faults and split sizes draw from their own streams, so adding a
	 * fault never changes what the meter says. */
	struct p1rng faults, splits;
	p1rng_seed(&faults, seed ^ 0xF00DFACEULL);
	p1rng_seed(&splits, seed ^ 0x5B117ULL);

	struct sealer sealer = { .title = { 'S', 'A', 'G', 'g', 'p' } };
	/* The title's last three bytes from the meter's serial number. */
	for (int k = 0; k < 3; k++)
		sealer.title[5 + k] = (unsigned char)meter.equipment_id[strlen(meter.equipment_id) - 3 + k];
	sealer.next_fc = (uint32_t)(o.start_ms / 1000 - 1577836800LL);

	struct output out;
	open_output(&out, &o);

	struct stats st = { 0 };
	static char telegram[P1_TELEGRAM_MAX];
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int64_t base = ts_ns(&t0), interval = o.rate > 0 ? (int64_t)(1e9 / o.rate) : 0;
	for (long i = 0; !stopping && (o.count == 0 || i < o.count); i++) {
		if (i > 0)
			p1meter_advance(&meter, step_ms);
		size_t n = p1meter_telegram(&meter, telegram, sizeof telegram);
		if (n == 0)
			die(EXIT_RUNTIME, "telegram %ld does not fit in %d bytes", i + 1, P1_TELEGRAM_MAX);
		send_one(&out, &o, telegram, n, &faults, &splits, &st, &sealer);
		if (o.count && i + 1 == o.count)
			break;
		if (interval == 0 && out.kind != OUT_TCP)
			continue;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t deadline = base + (i + 1) * interval;
		if (ts_ns(&now) > deadline + interval) {
			/* Far behind (a blocked output, a suspended process): start
			 * afresh rather than burst to catch up. */
			base = ts_ns(&now) - (i + 1) * interval;
			deadline = ts_ns(&now);
		}
		struct timespec dl = ns_ts(deadline);
		wait_until(&out, &dl);
	}
	if (o.verbose && o.sealed)
		warnx("summary: sent=%ld good=%ld bitflip=%ld truncate=%ld forged-tag=%ld replay=%ld garbage=%ld "
		      "unread=%ld", st.sent, st.sent - st.bitflip - st.truncated - st.forged - st.replayed, st.bitflip,
		      st.truncated, st.forged, st.replayed, st.garbage, st.unread);
	else if (o.verbose)
		warnx("summary: sent=%ld good=%ld bitflip=%ld truncate=%ld garbage=%ld unread=%ld", st.sent,
		      st.sent - st.bitflip - st.truncated, st.bitflip, st.truncated, st.garbage, st.unread);
	close_output(&out);
	return EXIT_OK;
}
