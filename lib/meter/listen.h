/* listen.h: the port of a reader that listens (p1read, smlread: the meter
 * talks, the reader only reads), with the link state and the health lines
 * of line/health.h kept in passing: the link is up when bytes come, down
 * when the port is lost, cannot be opened or stays silent too long. */
#ifndef M2M_LISTEN_H
#define M2M_LISTEN_H

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

#endif
