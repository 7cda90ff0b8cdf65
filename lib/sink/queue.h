/* queue.h: mqttpub's own queue of messages not yet acknowledged.
 *
 * A FIFO bounded by count and by bytes.  Messages are handed to the MQTT
 * library in order, only while connected, a window at a time; a message
 * leaves the queue when the broker acknowledges it (QoS 1 and 2) or when
 * it has been handed over (QoS 0).  After a lost connection everything
 * handed over but unacknowledged is sent again, in order; so is a message
 * the broker refused.  When full, the oldest message is dropped and
 * counted. */
#ifndef M2M_QUEUE_H
#define M2M_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qmsg {
	struct qmsg *prev, *next;
	uint64_t seq;     /* order of arrival */
	uint64_t spool_pos; /* where its record starts in the spool (sink/spool.h) */
	int mid;          /* the library's message id while in flight */
	bool in_flight;
	bool retain;
	size_t topic_len, payload_len;
	char *payload;    /* points into data, after the topic's NUL */
	char data[];      /* topic, NUL, payload, NUL */
};

/* What a watcher of the queue is told (queue_watch_fn). */
enum queue_event {
	QUEUE_IN,      /* pushed */
	QUEUE_OUT,     /* left: delivered (or refused for good) */
	QUEUE_DROPPED, /* the oldest, dropped to make room */
};
typedef void queue_watch_fn(void *arg, const struct qmsg *m, enum queue_event ev);

struct queue {
	struct qmsg *head, *tail;
	struct qmsg *next_unsent;  /* first message not in flight, or NULL */
	size_t count, bytes;       /* bytes: what the messages take in memory */
	size_t in_flight;
	size_t max_count, max_bytes;
	unsigned long dropped;     /* dropped because the queue was full */
	uint64_t next_seq;
	unsigned long pushed;      /* taken in all (for counters: pushed - dropped - count left) */
	queue_watch_fn *watch;     /* told of every message in and out, or NULL */
	void *watch_arg;
};

void queue_init(struct queue *q, size_t max_count, size_t max_bytes);
void queue_free(struct queue *q);
/* The memory one message takes, as counted against max_bytes. */
size_t queue_msg_size(size_t topic_len, size_t payload_len);
/* Appends a copy, dropping the oldest messages as needed to make room.
 * Returns 0, or -1 when memory ran out or the message alone is larger
 * than max_bytes. */
int queue_push(struct queue *q, const char *topic, size_t topic_len, const char *payload, size_t payload_len,
               bool retain);
/* True when one more message of that size would push an older one out. */
bool queue_full(const struct queue *q, size_t msg_size);
/* The next message to hand over, or NULL. */
struct qmsg *queue_next_unsent(struct queue *q);
void queue_mark_sent(struct queue *q, struct qmsg *m, int mid);
/* The in-flight message with that id, or NULL. */
struct qmsg *queue_find(struct queue *q, int mid);
/* Removes the in-flight message with that id; false when unknown. */
bool queue_ack(struct queue *q, int mid);
/* An in-flight message the broker refused: unsent again, in its place
 * (it goes out before every younger one). */
void queue_requeue(struct queue *q, struct qmsg *m);
void queue_remove(struct queue *q, struct qmsg *m);
/* Removes m to make room, counted as dropped. */
void queue_drop(struct queue *q, struct qmsg *m);
/* After a lost connection: every message is unsent again. */
void queue_unsend_all(struct queue *q);

#endif
