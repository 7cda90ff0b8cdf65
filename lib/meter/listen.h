/* listen.h: the port of a reader that listens (p1read, smlread: the meter
 * talks, the reader only reads), with the link state and the health lines
 * of line/health.h kept in passing: the link is up when bytes come, down
 * when the port is lost, cannot be opened or stays silent too long. */
#ifndef M2M_LISTEN_H
#define M2M_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "line/health.h"
#include "meter/port.h"

/* Opens p (after port_init).  A serial port or TCP link that cannot be
 * opened is waited for (the link down); a file or stdin that cannot ends
 * the reader with 1. */
void listen_open(struct port *p, struct health *h);
/* Reads what comes, writing health lines when due while it waits.
 * Returns the count read (the link up), 0 when a TCP link was silent for
 * silence_s seconds (0: never; p->why says so), -1 as port_read. */
ssize_t listen_read(struct port *p, void *buf, size_t n, long silence_s, struct health *h);
/* After a loss (0 or -1 from listen_read on a port that can come back):
 * the link down, then port_reconnect. */
void listen_reconnect(struct port *p, struct health *h);

/* What a listening reader's loop does with the bytes: push hands them to
 * the reader's framer and acts on what it finds, returning how many it
 * took; lost tells it the link went (end: for good, at the end of input),
 * so that a telegram cut short is counted; within (may be NULL) says
 * whether a telegram has begun and not ended, for the pacing below. */
struct listen_sink {
	size_t (*push)(void *ctx, const unsigned char *buf, size_t len);
	void (*lost)(void *ctx, bool end);
	void *ctx;
	bool (*within)(void *ctx);
};
/* The read loop: reads, pushes, writes health lines when due, reconnects
 * a port that can come back, until the end of input (then the last health
 * line; returns).  Any other end (EIO on a file) ends the reader with 1,
 * named by spec.  On a serial port or TCP, with sink->within, a telegram
 * begun is slept through (as long as the last one took to arrive, 500 ms
 * at most) and its rest taken in one read: a wake-up or two a telegram
 * instead of one per chunk a dongle or adapter hands over. */
void listen_loop(struct port *p, struct health *h, long silence_s, const struct listen_sink *sink, const char *spec);

#endif
