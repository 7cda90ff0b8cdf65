/* err.h: one way to report, the same in every program.
 *
 * Messages go to stderr as "prog: what: why".  Exit codes mean the same in
 * every tool: 0 done, 1 runtime failure, 2 usage or configuration error. */
#ifndef M2M_ERR_H
#define M2M_ERR_H

#include <stdarg.h>
#include <time.h>

enum {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,
	EXIT_USAGE = 2,
};

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern const char *prog_name;
extern enum log_level log_threshold;

/* Sets the program name (basename of argv0; "name[TAG]" in messages when
 * $METER2MQTT_LOG_TAG is set) and the log level from $METER2MQTT_LOG_LEVEL
 * (error, warn, info, debug). */
void err_init(const char *argv0);
/* Parses a level name; returns -1 when unknown. */
int log_level_parse(const char *name);

/* "prog: fmt" on stderr, then exit(code). */
_Noreturn void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like die, with ": strerror(errno)" appended. */
_Noreturn void die_errno(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Printed only when log_threshold admits the level. */
void logmsg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vlogmsg(enum log_level lvl, const char *fmt, va_list ap);

/* A rate limiter for repeated warnings (one bad telegram a second must not
 * flood a log): at most `burst` messages per `interval` seconds; the
 * suppressed count is reported with the next message let through. */
struct ratelimit {
	int interval, burst;
	time_t window_start;
	int printed;
	unsigned long suppressed;
};
#define RATELIMIT_INIT(interval, burst) { (interval), (burst), 0, 0, 0 }
void warn_limited(struct ratelimit *rl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Common option helpers: print "prog VERSION" and exit 0. */
_Noreturn void print_version(void);

#endif
