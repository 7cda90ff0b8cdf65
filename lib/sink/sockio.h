/* sockio.h: the broker socket's bytes, gathered, under libmosquitto.
 *
 * libmosquitto 2.0 makes a system call for every few bytes: a write(2)
 * per packet, a read(2) per byte of a packet's fixed header (three for a
 * PUBACK, and a fourth that fails to learn there is no more), and a
 * one-byte write(2) per packet into a socket pair that only its loop
 * thread would read (mqttconn has no such thread, so nobody drains it and,
 * once it is full, those writes fail).  On a virtual machine a system call
 * costs more than building the packet: at full speed two thirds of
 * mqttpub's time went into them, and at one reading a second the reading's
 * ~180 calls were most of its cost.
 *
 * The library cannot be told to do otherwise, so this file stands in for
 * read(2), write(2) and socketpair(2) in the programs that link it, and
 * changes nothing for any descriptor but the one attached, and nothing
 * outside a window opened by mqttconn around its own calls into the
 * library:
 *   - writes to the attached socket are appended to a buffer that
 *     sockio_flush sends in one send(2) (what the socket does not take
 *     waits for POLLOUT, ahead of anything written later: order kept);
 *   - reads from it are served from one read(2) of what the kernel has;
 *   - mqttpub's own QoS 1 packets (sink/mqttwire.h) are appended to the
 *     same buffer, between the library's, and the acknowledgements the
 *     filter claims never reach the library;
 *   - socketpair fails while the client is being made, which libmosquitto
 *     takes as "no wake-up pair" (it warns that a loop thread's publishes
 *     may be delayed; there is none).
 * Only plain TCP is attached: under TLS the bytes are OpenSSL's, and its
 * records are already one write each.  One connection per process. */
#ifndef M2M_SOCKIO_H
#define M2M_SOCKIO_H

#include <stdbool.h>
#include <stddef.h>

#include "sink/mqttwire.h"

/* Gathered bytes beyond this: flush before handing over more. */
#define SOCKIO_HIGH 65536

/* While on, socketpair(2) fails (EMFILE). */
void sockio_making_client(bool on);
/* The broker's socket from now on (-1: none); buffered bytes of an
 * earlier socket are forgotten. */
void sockio_attach(int fd);
/* Opens and closes a window: the library's reads and writes of the
 * attached socket are ours while it is open. */
void sockio_begin(void);
void sockio_end(void);
/* poll(2) said the socket is readable: the next read asks the kernel. */
void sockio_readable(void);
/* Sends what was gathered, as far as the socket takes it now: 0, or -1
 * with errno when the connection is gone. */
int sockio_flush(void);
/* Room for an n-byte packet of our own after what is gathered (it is
 * sent with it): NULL when no socket is attached or memory ran out. */
char *sockio_append(size_t n);
/* From now on, the PUBACKs fn claims are taken out of what the library
 * reads (fn NULL: none). */
void sockio_take_acks(mqtt_ack_fn *fn, void *arg);
/* Bytes gathered and not sent yet. */
size_t sockio_unsent(void);
/* Bytes read from the socket that the library has not taken yet: no
 * poll(2) would announce them. */
bool sockio_unread(void);

#endif
