/* listen.h: the port of a reader that listens (p1read, smlread: the meter
 * talks, the reader only reads), with the link state and the health lines
 * of line/health.h kept in passing: the link is up when bytes come, down
 * when the port is lost, cannot be opened or stays silent too long. */
#ifndef M2M_LISTEN_H
#define M2M_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* One meter of a reader that serves many (p1read --meters): its port,
 * health and sink as above, and what the loop keeps of it. */
struct listener {
	const char *name;        /* the device id, in messages */
	struct port *port;
	struct health *health;
	long silence_s;
	const struct listen_sink *sink;
	/* kept by listen_many */
	bool open;
	bool said_down;          /* "cannot open" said since the last loss */
	bool was_lost;           /* lost, not yet open again */
	bool connecting;         /* TCP: a connection in progress */
	int64_t connect_by;      /* given up on then */
	int64_t silent_at;       /* TCP: lost if nothing comes by then */
	int64_t retry_at;        /* closed: the next attempt to open */
	long retry_ms;
};

/* The read loop of many meters in one process (serial ports and TCP
 * links only: each comes back after a loss, so the loop never ends).
 * One wake-up serves every meter that has something: after poll says one
 * has, the loop sleeps gather_ms so that the others' telegrams arrive,
 * reads them all, pushes each to its own sink and writes the lines once
 * (line/frame.h gathering).  A meter that is lost, silent or cannot be
 * opened is retried on its own (1 s doubling to 30 s) while the others go
 * on.  The price of the wake-up saved: up to gather_ms later lines, and
 * one process whose restart restarts them all. */
_Noreturn void listen_many(struct listener *v, size_t n, int gather_ms);

#endif
