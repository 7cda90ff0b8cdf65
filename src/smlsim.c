/* smlsim: a simulated SML meter (EMH eHZ, EasyMeter Q3A, Holley DTZ541).
 * Writes SML files with growing counters to stdout, a file or a tty (the
 * other end of a socat pseudo-terminal pair), at the meter's rate or as
 * fast as possible, with faults on request (bit flips, cut files, garbage
 * between files).  The meter is lib/meter/smlgen.c; this file is options,
 * output, faults and pacing (sleeps to absolute deadlines: no drift). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/util.h"
#include "meter/smlgen.h"

static const char usage_text[] =
	"usage: smlsim [-fhv] [-n count] [-o output] [-P profile] [-r rate] [--fault fault[,fault...]]\n"
	"              [--power watts] [--seed n] [--solar watts] [--step seconds]\n"
	"       smlsim --list-profiles\n"
	"\n"
	"  -P, --profile NAME   ehz, q3a, dtz541 (default ehz)\n"
	"  -n, --count N        send N files, then exit (default: until stopped)\n"
	"  -r, --rate R         files per second, fractions allowed (default: the meter's)\n"
	"  -f, --fast           as fast as possible (-r 0)\n"
	"  -o, --output OUT     - (stdout, default), or a path: a file, or a tty such as one\n"
	"                       end of a socat pty pair (set raw, 9600 baud)\n"
	"      --seed N         make the meter and the faults reproducible\n"
	"      --step S         seconds the meter's clock moves per file (default 1/rate)\n"
	"      --power W        load in watts (default 450), --solar W solar power (default 0)\n"
	"      --fault LIST     bitflip=P, truncate=P, garbage=P (probability per file)\n"
	"  -v, --verbose        log every fault and a summary on stderr\n"
	"      --list-profiles  the profiles, their line settings and rates\n"
	"  -h, --help, --version\n";

static _Noreturn void help(void)
{
	fputs(usage_text, stdout);
	exit_listed();
}

static volatile sig_atomic_t stopping;
static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

struct faults {
	double bitflip, truncate, garbage;
};

struct options {
	const struct smlprofile *prof;
	long count, power_w, solar_w;
	double rate, step_s;
	const char *output;
	bool verbose, seed_given;
	uint64_t seed;
	struct faults faults;
};

enum { OPT_SEED = 256, OPT_STEP, OPT_POWER, OPT_SOLAR, OPT_FAULT, OPT_LIST, OPT_VERSION };

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "profile", required_argument, NULL, 'P' },
	{ "count", required_argument, NULL, 'n' },
	{ "rate", required_argument, NULL, 'r' },
	{ "fast", no_argument, NULL, 'f' },
	{ "output", required_argument, NULL, 'o' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "step", required_argument, NULL, OPT_STEP },
	{ "power", required_argument, NULL, OPT_POWER },
	{ "solar", required_argument, NULL, OPT_SOLAR },
	{ "fault", required_argument, NULL, OPT_FAULT },
	{ "list-profiles", no_argument, NULL, OPT_LIST },
	{ NULL, 0, NULL, 0 },
};

static _Noreturn void bad_value(const char *opt, const char *value, const char *want)
{
	usage_die(usage_text, "%s: bad value '%s': %s", opt, value, want);
}

static int parse_fault(const char *item, struct faults *f)
{
	const char *eq = strchr(item, '=');
	double p;
	if (!eq || parse_double(eq + 1, 0, 1, &p) < 0)
		return -1;
	size_t n = (size_t)(eq - item);
	if (n == 7 && strncmp(item, "bitflip", n) == 0)
		f->bitflip = p;
	else if (n == 8 && strncmp(item, "truncate", n) == 0)
		f->truncate = p;
	else if (n == 7 && strncmp(item, "garbage", n) == 0)
		f->garbage = p;
	else
		return -1;
	return 0;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .prof = smlprofile_find("ehz"), .power_w = 450, .rate = -1, .output = "-" };
	int c;
	long v;
	char *end;
	while ((c = getopt_long(argc, argv, ":fhn:o:P:r:v", long_options, NULL)) != -1) {
		switch (c) {
		case 'h': help();
		case OPT_VERSION: print_version(argc);
		case 'v': o->verbose = true; break;
		case 'f': o->rate = 0; break;
		case 'o': o->output = optarg; break;
		case 'P':
			if (!(o->prof = smlprofile_find(optarg)))
				bad_value("--profile", optarg, "ehz, q3a or dtz541 (see --list-profiles)");
			break;
		case 'n':
			if (parse_long(optarg, 1, 1000000000, &o->count) < 0)
				bad_value("--count", optarg, "1 or more");
			break;
		case 'r':
			if (parse_double(optarg, 0, 100000, &o->rate) < 0)
				bad_value("--rate", optarg, "files per second, 0 (as fast as possible) to 100000");
			break;
		case OPT_SEED:
			errno = 0;
			o->seed = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end || optarg[0] == '-')
				bad_value("--seed", optarg, "a number");
			o->seed_given = true;
			break;
		case OPT_STEP:
			if (parse_double(optarg, 0.001, 86400, &o->step_s) < 0)
				bad_value("--step", optarg, "seconds from 0.001 to 86400");
			break;
		case OPT_POWER:
		case OPT_SOLAR:
			if (parse_long(optarg, 0, 60000, &v) < 0)
				bad_value(c == OPT_POWER ? "--power" : "--solar", optarg, "watts from 0 to 60000");
			*(c == OPT_POWER ? &o->power_w : &o->solar_w) = v;
			break;
		case OPT_FAULT: {
			char copy[256], *items[4];
			snprintf(copy, sizeof copy, "%s", optarg);
			int n = split_list(copy, items, 4);
			if (n < 0)
				bad_value("--fault", optarg, "a comma-separated list");
			for (int i = 0; i < n; i++)
				if (parse_fault(items[i], &o->faults) < 0)
					bad_value("--fault", items[i], "bitflip=P, truncate=P or garbage=P, P from 0 to 1");
			break;
		}
		case OPT_LIST: smlprofile_list(stdout); exit(EXIT_OK);
		default: usage_bad_option(usage_text, c, argv);
		}
	}
	if (optind < argc)
		bad_value("arguments", argv[optind], "none (the output is -o)");
}

/* ---- output ---- */

static int open_output(const char *path)
{
	if (strcmp(path, "-") == 0)
		return STDOUT_FILENO;
	int fd = open(path, O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC, 0644);
	if (fd < 0)
		die_errno(EXIT_RUNTIME, "%s", path);
	struct termios t;
	if (isatty(fd) && tcgetattr(fd, &t) == 0) {
		/* Raw, or the line discipline would turn 0x0a into 0d0a. */
		cfmakeraw(&t);
		cfsetspeed(&t, B9600);
		if (tcsetattr(fd, TCSANOW, &t) < 0)
			die_errno(EXIT_RUNTIME, "%s: cannot set raw mode", path);
	}
	return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno == EPIPE || errno == EIO)
				exit(EXIT_OK); /* the reader or the pty went away */
			die_errno(EXIT_RUNTIME, "write");
		}
		p += w;
		n -= (size_t)w;
	}
}

/* ---- faults ---- */

struct stats {
	long sent, bitflip, truncated, garbage;
};

/* A bit after the start sequence, and not in its escape words: the file
 * stays one file and only its CRC can tell. */
static void flip_bit(uint8_t *f, size_t n, struct p1rng *r, long number, bool verbose)
{
	size_t at = (size_t)p1rng_range(r, 8, (long)n - 9);
	int bit = (int)p1rng_range(r, 0, 7);
	f[at] ^= (uint8_t)(1u << bit);
	if (verbose)
		warnx("file %ld: bit %d of byte %zu flipped", number, bit, at);
}

/* Garbage never holds 0x1b, so it can neither start nor end a file. */
static size_t make_garbage(uint8_t *g, struct p1rng *r)
{
	size_t n = (size_t)p1rng_range(r, 1, 64);
	for (size_t i = 0; i < n; i++)
		do
			g[i] = (uint8_t)p1rng_range(r, 0, 255);
		while (g[i] == 0x1b);
	return n;
}

static void send_one(int fd, const struct options *o, uint8_t *f, size_t n, struct p1rng *r, struct stats *st)
{
	long number = ++st->sent;
	if (o->faults.garbage > 0 && p1rng_unit(r) < o->faults.garbage) {
		uint8_t g[64];
		write_all(fd, g, make_garbage(g, r));
		st->garbage++;
	}
	if (o->faults.truncate > 0 && p1rng_unit(r) < o->faults.truncate) {
		n = (size_t)p1rng_range(r, 9, (long)n - 1);
		st->truncated++;
		if (o->verbose)
			warnx("file %ld: cut after %zu bytes", number, n);
	} else if (o->faults.bitflip > 0 && p1rng_unit(r) < o->faults.bitflip) {
		flip_bit(f, n, r, number, o->verbose);
		st->bitflip++;
	}
	write_all(fd, f, n);
}

/* ---- pacing ---- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t deadline)
{
	struct timespec ts = { (time_t)(deadline / 1000000000), (long)(deadline % 1000000000) };
	while (!stopping && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
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
	signal(SIGPIPE, SIG_IGN);

	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	uint64_t seed = o.seed_given ? o.seed : (uint64_t)t.tv_nsec ^ (uint64_t)t.tv_sec << 20 ^ (uint64_t)getpid();
	double rate = o.rate >= 0 ? o.rate : o.prof->rate;
	int64_t step_ms = (int64_t)(1000 * (o.step_s > 0 ? o.step_s : 1 / (rate > 0 ? rate : o.prof->rate)) + 0.5);

	struct smlmeter meter;
	smlmeter_init(&meter, o.prof, seed, o.power_w, o.solar_w);
	/* Faults draw from their own stream: adding one never changes what
	 * the meter says. */
	struct p1rng faults;
	p1rng_seed(&faults, seed ^ 0xF00DFACEULL);
	int fd = open_output(o.output);

	struct stats st = { 0 };
	static uint8_t file[SMLGEN_MAX];
	int64_t base = now_ns(), interval = rate > 0 ? (int64_t)(1e9 / rate) : 0;
	for (long i = 0; !stopping && (o.count == 0 || i < o.count); i++) {
		if (i > 0)
			smlmeter_advance(&meter, step_ms);
		size_t n = smlmeter_file(&meter, file);
		send_one(fd, &o, file, n, &faults, &st);
		if ((o.count && i + 1 == o.count) || interval == 0)
			continue;
		int64_t deadline = base + (i + 1) * interval;
		if (now_ns() > deadline + interval)
			base = now_ns() - (i + 1) * interval; /* far behind: no burst to catch up */
		sleep_until(base + (i + 1) * interval);
	}
	if (o.verbose)
		warnx("summary: sent=%ld good=%ld bitflip=%ld truncate=%ld garbage=%ld", st.sent,
		      st.sent - st.bitflip - st.truncated, st.bitflip, st.truncated, st.garbage);
	if (fd != STDOUT_FILENO && close(fd) < 0)
		die_errno(EXIT_RUNTIME, "%s", o.output);
	return EXIT_OK;
}
