/* httppoll.h: libcurl transfers driven by the caller's poll loop.
 *
 * Like mqttsub, no thread: the caller adds a transfer (an easy handle it
 * set up), puts httppoll_fill's sockets into its poll with its own, calls
 * httppoll_io after the poll and takes finished transfers from
 * httppoll_done.  So a sink goes on reading its broker while InfluxDB
 * takes a batch.  Transfers run side by side on libcurl's connection
 * cache (one connection each while they overlap, kept for the next). */
#ifndef M2M_HTTPPOLL_H
#define M2M_HTTPPOLL_H

#include <curl/curl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>

struct httppoll;

/* Dies (exit 1) when libcurl cannot be set up. */
struct httppoll *httppoll_new(void);
void httppoll_free(struct httppoll *h);

/* Starts the transfer; it stays the caller's handle. */
void httppoll_add(struct httppoll *h, CURL *easy);
/* How many sockets libcurl wants watched now, and those sockets into p
 * (room for httppoll_nfds of them). */
size_t httppoll_nfds(const struct httppoll *h);
void httppoll_fill(const struct httppoll *h, struct pollfd *p);
/* After the poll: acts on p's revents (n sockets, as filled) and on
 * libcurl's timer when it is due. */
void httppoll_io(struct httppoll *h, const struct pollfd *p, size_t n);
/* When libcurl's timer is due (monotonic ms; INT64_MAX: none). */
int64_t httppoll_wake(const struct httppoll *h);
/* A finished transfer with its outcome, taken off the list, or NULL. */
CURL *httppoll_done(struct httppoll *h, CURLcode *result);

#endif
