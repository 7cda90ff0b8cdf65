/* mqttsub.h: a broker connection that subscribes, for the sinks.
 *
 * Like mqttpub, no thread: the caller polls the socket and calls
 * mqttsub_io and mqttsub_tick; libmosquitto's callbacks only take note or
 * pass a message on.  It connects, subscribes to its topics on every
 * (re)connect, and retries with a backoff (1 s doubling to 30 s) while
 * the broker is away.  A broker that refuses us (bad credentials, not
 * authorized) is fatal: exit 1 with the broker's reason.
 *
 * hold_acks: the sink must have stored a message before the broker learns
 * it was received.  libmosquitto acknowledges a QoS 1 message as it reads
 * it, so with hold_acks every outgoing packet (acknowledgements, pings)
 * waits in libmosquitto's queue until the sink calls mqttsub_release:
 * after InfluxDB took the batch.  If the sink dies first, the broker
 * (persistent session) sends the messages again on the next connection. */
#ifndef M2M_MQTTSUB_H
#define M2M_MQTTSUB_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink/mqttset.h"

/* The connection is mq's (its client_id NULL: the library picks one, and
 * the session is clean); mq->qos is the subscriptions'. */
struct mqttsub_settings {
	const struct mqtt_settings *mq;
	bool persistent;            /* clean_session false: the broker keeps our queue
	                             * (under MQTT 5: a session that never expires) */
	bool hold_acks;
	int receive_max;            /* MQTT 5: QoS 1/2 messages the broker may send
	                             * unacknowledged; 0: libmosquitto's 20 */
	const char *const *topics;
	size_t ntopics;
};

typedef void mqttsub_message_fn(const char *topic, const char *payload, size_t len, void *arg);

struct mqttsub;

/* Dies (exit 2 or 1) on settings the library refuses. */
struct mqttsub *mqttsub_new(const struct mqttsub_settings *s, mqttsub_message_fn *fn, void *arg);
void mqttsub_free(struct mqttsub *c);

/* Connects when due, checks the keepalive.  Call at least once a second. */
void mqttsub_tick(struct mqttsub *c, int64_t now_ms);
/* Fills p for poll (events 0 when there is no socket); may_read false
 * leaves incoming messages in the socket (the sink is full). */
void mqttsub_pollfd(const struct mqttsub *c, struct pollfd *p, bool may_read);
void mqttsub_io(struct mqttsub *c, short revents);
/* When mqttsub_tick wants to run next (monotonic ms). */
int64_t mqttsub_wake(const struct mqttsub *c, int64_t now_ms);
/* hold_acks: lets the acknowledgements held so far go out. */
void mqttsub_release(struct mqttsub *c);
bool mqttsub_connected(const struct mqttsub *c);
/* Messages received since the last release (hold_acks). */
size_t mqttsub_unreleased(const struct mqttsub *c);

#endif
