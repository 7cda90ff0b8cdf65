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
 * (see log_level_parse). */
void err_init(const char *argv0);
/* Parses a level name, in any case: debug, info, warn or warning, error,
 * critical (as error).  Returns -1 when unknown. */
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

/* ---- options ---- */

/* A usage error: "prog: fmt", then the first line of usage (the synopsis,
 * "usage: prog [-d ID] ... [PORT]") and "try 'prog -h'" on stderr; exit 2.
 * The whole help is for -h alone. */
_Noreturn void usage_die(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void vusage_die(const char *usage, const char *fmt, va_list ap) __attribute__((noreturn));
/* getopt_long's ':' (a value missing; the optstring must begin with ':')
 * or '?' (an unknown option) as usage_die, naming the option. */
_Noreturn void usage_bad_option(const char *usage, int c, char *const *argv);
/* --version: "prog VERSION" on stdout, exit 0.  argc is main's: --version
 * goes alone, so that a service misconfigured into "prog --version ..."
 * fails its check instead of printing a version and being restarted
 * forever. */
_Noreturn void print_version(int argc);
/* The value of a number option: the whole of s a number from lo to hi, or
 * a usage error "opt: 's': expected what" (what NULL: "a whole number from
 * lo to hi"). */
long arg_long(const char *opt, const char *s, long lo, long hi, const char *what);
double arg_double(const char *opt, const char *s, double lo, double hi, const char *what);
/* The end of a listing mode (--list, -h...): exit 0, or 1 when writing
 * stdout failed (a full disk, a closed pipe), which is said. */
_Noreturn void exit_listed(void);

#endif
