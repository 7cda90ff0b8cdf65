#include "base/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M2M_VERSION
#define M2M_VERSION "unknown"
#endif

const char *prog_name = "meter2mqtt";
static const char *base_name = "meter2mqtt";
static char tagged_name[128];
enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	if (strcmp(name, "warning") == 0)
		return LOG_WARN;
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

void print_version(void)
{
	printf("%s %s\n", base_name, M2M_VERSION);
	exit(EXIT_OK);
}
