/* tally.h: a reader's dropped telegrams (or files, or polls), counted by
 * kind, for its summary on stderr: at the end of input, and when it is
 * stopped (SIGTERM, SIGINT), where a signal handler may only write(2), so
 * the summary line is kept ready after every drop. */
#ifndef M2M_TALLY_H
#define M2M_TALLY_H

#include <stddef.h>

#define TALLY_MAX_KINDS 32

struct tally {
	const char *what;                 /* "telegrams", "SML files" */
	int kinds;
	const char *(*name)(int kind);    /* "CRC mismatch" */
	unsigned long count[TALLY_MAX_KINDS];
	char text[400];                   /* "2 CRC mismatch, 1 cut short" */
	char stop_line[512];              /* "prog: 3 telegrams dropped: ...\n" */
	volatile size_t stop_len;
};

void tally_init(struct tally *t, const char *what, int kinds, const char *(*name)(int kind));
void tally_add(struct tally *t, int kind);
unsigned long tally_total(const struct tally *t);
/* "N of SEEN WHAT dropped: TEXT" on stderr, when anything was dropped. */
void tally_report(const struct tally *t, unsigned long seen);
/* SIGTERM and SIGINT write t's summary, then do what they would have done. */
void tally_on_stop(struct tally *t);

#endif
