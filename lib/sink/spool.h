/* spool.h: mqttpub's queue on disk, so that a crash, a restart or a power
 * cut during a broker outage loses nothing.
 *
 * The spool mirrors the queue (sink/queue.h): every message is appended to
 * the spool before it is handed to the broker (spool_flush, one write(2)
 * per batch), and the queue still decides when it leaves (acknowledged at
 * QoS 1/2, written to the socket at QoS 0).  At most once per sync interval
 * (default 1 s) the spool is fsync'ed and the position of the oldest
 * message still queued is recorded (the head); whole segment files behind
 * it are removed.  On open, every record from the head on is put back in
 * the queue, oldest first, before anything new.
 *
 * What this guarantees: a message whose record was synced is never lost,
 * whatever happens to the process or the machine, until the broker has
 * acknowledged it or the spool, full, drops it (counted and said).  A
 * process crash (kill -9) loses nothing written, synced or not.  What can
 * be duplicated: messages acknowledged after the last head was recorded
 * (at most one sync interval of deliveries plus what was in flight) are
 * sent again by the next run.
 *
 * Files in DIR: lock (flock: one mqttpub per spool), head, and segment
 * files NNNNNNNNNNNNNNNN.seg of records: magic "M2MS", body length and
 * CRC-32 of the body (little endian), then the body: flags (1: retain),
 * topic length (u32), topic, payload.  A record cut short or failing its
 * CRC at the end of the last segment is a torn write: skipped, counted,
 * and cut off the file. */
#ifndef M2M_SPOOL_H
#define M2M_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink/queue.h"

#define SPOOL_REC_HEADER 12
#define SPOOL_MAX_DEFAULT (64LL * 1024 * 1024)

struct spool {
	char *dir;
	int dirfd, lockfd, segfd;
	uint64_t seg_first, seg_cur; /* oldest and newest segment numbers */
	uint64_t seg_size;           /* bytes in the current segment */
	uint64_t disk_bytes;         /* bytes in all segments */
	uint64_t max_bytes, seg_max;
	int sync_ms;
	int64_t synced_ms;
	bool dirty;                  /* written since the last sync */
	uint64_t head_written;       /* the head last recorded */
	char *buf;                   /* records not yet written */
	size_t len, cap;
	struct queue *q;
	/* counters */
	unsigned long replayed, torn, dropped;
	uint64_t written; /* bytes written in all */
};

/* One record, as read. */
struct spool_rec {
	bool retain;
	const char *topic, *payload; /* point into the buffer read */
	size_t topic_len, payload_len;
};

/* Parses the record at buf.  Returns its length, 0 when buf holds only the
 * start of one, -1 when it is not a record (why says how). */
long spool_rec_parse(const unsigned char *buf, size_t len, struct spool_rec *r, const char **why);
/* Appends the record for one message to a buffer (the caller's growable
 * one).  Returns 0, or -1 when memory ran out. */
int spool_rec_encode(char **buf, size_t *len, size_t *cap, const char *topic, size_t topic_len,
                     const char *payload, size_t payload_len, bool retain);

/* Opens (creating DIR if needed) and replays into q.  Returns 0, or -1
 * with the reason in why (DIR cannot be created, written or locked). */
int spool_open(struct spool *s, const char *dir, uint64_t max_bytes, int sync_ms, struct queue *q, char *why,
               size_t whylen);
/* Queues a copy of the message and appends its record (written at the next
 * spool_flush).  Drops the oldest segment first when the spool would
 * grow beyond max_bytes.  Returns 0 or -1 (out of memory). */
int spool_push(struct spool *s, const char *topic, size_t topic_len, const char *payload, size_t payload_len,
               bool retain);
/* Writes what spool_push appended; syncs when the interval has passed.
 * Returns 0, or -1 with errno (the disk failed: said by the caller). */
int spool_flush(struct spool *s, int64_t now);
/* When spool_flush next has a sync to do (or INT64_MAX). */
int64_t spool_wake(const struct spool *s);
/* Writes, syncs, records the head; removes the files when nothing is left. */
void spool_close(struct spool *s);

#endif
