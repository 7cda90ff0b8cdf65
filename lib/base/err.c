#include "base/err.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

#ifndef M2M_VERSION
#define M2M_VERSION "unknown"
#endif

const char *prog_name = "meter2mqtt";
static const char *base_name = "meter2mqtt";
static char tagged_name[128];
enum log_level log_threshold = LOG_INFO;

/* The usual names, in any case: Python's logging and syslog say WARNING
 * and CRITICAL, which we fold into warn and error. */
static const struct {
	const char *name;
	enum log_level level;
} level_names[] = {
	{ "error", LOG_ERROR }, { "warn", LOG_WARN },        { "info", LOG_INFO },
	{ "debug", LOG_DEBUG }, { "warning", LOG_WARN },     { "critical", LOG_ERROR },
};

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++)
		if (strcasecmp(name, level_names[i].name) == 0)
			return (int)level_names[i].level;
	return -1;
}

void err_init(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
	prog_name = base_name = slash ? slash + 1 : (argv0 ? argv0 : prog_name);
	/* Every device's programs may write to one shared log: the tag (the
	 * device id, set by the service) says whose line it is. */
	const char *tag = getenv("METER2MQTT_LOG_TAG");
	if (tag && *tag) {
		snprintf(tagged_name, sizeof tagged_name, "%s[%s]", base_name, tag);
		prog_name = tagged_name;
	}
	const char *env = getenv("METER2MQTT_LOG_LEVEL");
	int lvl = env ? log_level_parse(env) : -1;
	if (lvl >= 0)
		log_threshold = (enum log_level)lvl;
}

static void vreport(int errnum, const char *fmt, va_list ap)
{
	/* One fprintf per message keeps lines whole when stderr is shared
	 * by several processes of a pipeline. */
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (errnum)
		fprintf(stderr, "%s: %s: %s\n", prog_name, msg, strerror(errnum));
	else
		fprintf(stderr, "%s: %s\n", prog_name, msg);
}

void die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(0, fmt, ap);
	va_end(ap);
	exit(code);
}

void die_errno(int code, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vreport(e, fmt, ap);
	va_end(ap);
	exit(code);
}

void warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(0, fmt, ap);
	va_end(ap);
}

void warn_errno(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vreport(e, fmt, ap);
	va_end(ap);
}

void vlogmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	if (lvl > log_threshold)
		return;
	vreport(0, fmt, ap);
}

void logmsg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlogmsg(lvl, fmt, ap);
	va_end(ap);
}

void warn_limited(struct ratelimit *rl, const char *fmt, ...)
{
	time_t now = time(NULL);
	if (now - rl->window_start >= rl->interval) {
		rl->window_start = now;
		rl->printed = 0;
	}
	if (rl->printed >= rl->burst) {
		rl->suppressed++;
		return;
	}
	rl->printed++;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (rl->suppressed) {
		fprintf(stderr, "%s: %s (%lu similar messages suppressed)\n", prog_name, msg, rl->suppressed);
		rl->suppressed = 0;
	} else {
		fprintf(stderr, "%s: %s\n", prog_name, msg);
	}
}

void vusage_die(const char *usage, const char *fmt, va_list ap)
{
	vreport(0, fmt, ap);
	const char *nl = strchr(usage, '\n');
	fprintf(stderr, "%.*s\ntry '%s -h'\n", (int)(nl ? nl - usage : (ptrdiff_t)strlen(usage)), usage, base_name);
	exit(EXIT_USAGE);
}

void usage_die(const char *usage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vusage_die(usage, fmt, ap);
	// cppcheck-suppress va_end_missing ; vusage_die does not return
}

void usage_bad_option(const char *usage, int c, char *const *argv)
{
	/* A long option as typed; a short one from optopt (which may sit
	 * inside a cluster such as -vx). */
	const char *arg = argv[optind - 1];
	char shortopt[3] = { '-', (char)optopt, '\0' };
	const char *name = strncmp(arg, "--", 2) == 0 || optopt <= ' ' || optopt > '~' ? arg : shortopt;
	if (c == ':')
		usage_die(usage, "option needs a value: %s", name);
	usage_die(usage, "unknown option: %s", name);
}

void print_version(int argc)
{
	if (argc > 2)
		die(EXIT_USAGE, "--version goes alone: it prints the program's version and does nothing else");
	printf("%s %s\n", base_name, M2M_VERSION);
	exit_listed();
}

/* "opt: 's': expected what", or the range when there is no what. */
static _Noreturn void bad_number(const char *opt, const char *s, const char *what, const char *range)
{
	die(EXIT_USAGE, "%s: '%s': expected %s", opt, s, what ? what : range);
}

long arg_long(const char *opt, const char *s, long lo, long hi, const char *what)
{
	long v;
	char range[80];
	if (parse_long(s, lo, hi, &v) == 0)
		return v;
	snprintf(range, sizeof range, "a whole number from %ld to %ld", lo, hi);
	bad_number(opt, s, what, range);
}

double arg_double(const char *opt, const char *s, double lo, double hi, const char *what)
{
	double v;
	char range[80];
	if (parse_double(s, lo, hi, &v) == 0)
		return v;
	snprintf(range, sizeof range, "a number from %g to %g", lo, hi);
	bad_number(opt, s, what, range);
}

void exit_listed(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		die_errno(EXIT_RUNTIME, "writing stdout");
	exit(EXIT_OK);
}
