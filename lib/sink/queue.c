#include "sink/queue.h"

#include <stdlib.h>
#include <string.h>

void queue_init(struct queue *q, size_t max_count, size_t max_bytes)
{
	memset(q, 0, sizeof *q);
	q->max_count = max_count;
	q->max_bytes = max_bytes;
}

void queue_free(struct queue *q)
{
	q->watch = NULL; /* nothing leaves by delivery here */
	while (q->head)
		queue_remove(q, q->head);
}

size_t queue_msg_size(size_t topic_len, size_t payload_len)
{
	/* Plus a rough malloc overhead, so that the byte limit is close to
	 * what the process really holds. */
	return sizeof(struct qmsg) + topic_len + payload_len + 2 + 16;
}

bool queue_full(const struct queue *q, size_t msg_size)
{
	return q->count + 1 > q->max_count || q->bytes + msg_size > q->max_bytes;
}

/* Unlinks and frees m; the watcher hears ev. */
static void take_out(struct queue *q, struct qmsg *m, enum queue_event ev)
{
	if (q->watch)
		q->watch(q->watch_arg, m, ev);
	if (q->next_unsent == m)
		q->next_unsent = m->next;
	if (m->prev)
		m->prev->next = m->next;
	else
		q->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		q->tail = m->prev;
	if (m->in_flight)
		q->in_flight--;
	q->count--;
	q->bytes -= queue_msg_size(m->topic_len, m->payload_len);
	free(m);
}

void queue_remove(struct queue *q, struct qmsg *m) { take_out(q, m, QUEUE_OUT); }

void queue_drop(struct queue *q, struct qmsg *m)
{
	take_out(q, m, QUEUE_DROPPED);
	q->dropped++;
}

int queue_push(struct queue *q, const char *topic, size_t topic_len, const char *payload, size_t payload_len,
               bool retain)
{
	size_t size = queue_msg_size(topic_len, payload_len);
	if (size > q->max_bytes || q->max_count == 0)
		return -1;
	while (q->head && queue_full(q, size))
		queue_drop(q, q->head);
	struct qmsg *m = malloc(sizeof *m + topic_len + payload_len + 2);
	if (!m)
		return -1;
	memset(m, 0, sizeof *m);
	m->retain = retain;
	m->seq = q->next_seq++;
	m->topic_len = topic_len;
	m->payload_len = payload_len;
	memcpy(m->data, topic, topic_len);
	m->data[topic_len] = '\0';
	m->payload = m->data + topic_len + 1;
	if (payload_len)
		memcpy(m->payload, payload, payload_len);
	m->payload[payload_len] = '\0';
	m->prev = q->tail;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	if (!q->next_unsent)
		q->next_unsent = m;
	q->count++;
	q->pushed++;
	q->bytes += size;
	if (q->watch)
		q->watch(q->watch_arg, m, QUEUE_IN);
	return 0;
}

struct qmsg *queue_next_unsent(struct queue *q) { return q->next_unsent; }

void queue_mark_sent(struct queue *q, struct qmsg *m, int mid)
{
	m->in_flight = true;
	m->mid = mid;
	q->in_flight++;
	while (q->next_unsent && q->next_unsent->in_flight)
		q->next_unsent = q->next_unsent->next;
}

struct qmsg *queue_find(struct queue *q, int mid)
{
	/* In-flight messages are among the oldest, acknowledged mostly in
	 * order: the search ends near the head, after the last of them. */
	size_t seen = 0;
	for (struct qmsg *m = q->head; m && seen < q->in_flight; m = m->next) {
		if (!m->in_flight)
			continue;
		if (m->mid == mid)
			return m;
		seen++;
	}
	return NULL;
}

bool queue_ack(struct queue *q, int mid)
{
	struct qmsg *m = queue_find(q, mid);
	if (m)
		queue_remove(q, m);
	return m != NULL;
}

void queue_requeue(struct queue *q, struct qmsg *m)
{
	m->in_flight = false;
	q->in_flight--;
	if (!q->next_unsent || m->seq < q->next_unsent->seq)
		q->next_unsent = m;
}

void queue_unsend_all(struct queue *q)
{
	for (struct qmsg *m = q->head; m; m = m->next)
		m->in_flight = false;
	q->in_flight = 0;
	q->next_unsent = q->head;
}
