/* tally.c: see tally.h. */
#include "line/tally.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"

/* The tally a stop signal reports: one per program. */
static struct tally *stopping;

void tally_init(struct tally *t, const char *what, int kinds, const char *(*name)(int kind))
{
	memset(t, 0, sizeof *t);
	t->what = what;
	t->kinds = kinds < TALLY_MAX_KINDS ? kinds : TALLY_MAX_KINDS;
	t->name = name;
}

unsigned long tally_total(const struct tally *t)
{
	unsigned long total = 0;
	for (int i = 0; i < t->kinds; i++)
		total += t->count[i];
	return total;
}

void tally_add(struct tally *t, int kind)
{
	if (kind < 0 || kind >= t->kinds)
		return;
	t->count[kind]++;
	size_t n = 0;
	t->text[0] = '\0';
	for (int i = 0; i < t->kinds && n < sizeof t->text; i++)
		if (t->count[i])
			n += (size_t)snprintf(t->text + n, sizeof t->text - n, "%s%lu %s", n ? ", " : "", t->count[i],
			                      t->name(i));
	t->stop_len = 0;
	int len = snprintf(t->stop_line, sizeof t->stop_line, "%s: %lu %s dropped: %s\n", prog_name, tally_total(t),
	                   t->what, t->text);
	t->stop_len = len > 0 && (size_t)len < sizeof t->stop_line ? (size_t)len : 0;
}

void tally_report(const struct tally *t, unsigned long seen)
{
	if (tally_total(t))
		warnx("%lu of %lu %s dropped: %s", tally_total(t), seen, t->what, t->text);
}

/* The summary, ready-made (write(2) is all a handler may do), then the
 * signal's default action. */
static void on_stop(int sig)
{
	if (stopping && stopping->stop_len && write(STDERR_FILENO, stopping->stop_line, stopping->stop_len) < 0)
		stopping->stop_len = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

void tally_on_stop(struct tally *t)
{
	stopping = t;
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
}
