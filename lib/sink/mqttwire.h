/* mqttwire.h: the two MQTT packets mqttpub writes and reads itself.
 *
 * libmosquitto keeps every QoS 1 message it has sent in one list and
 * walks all of it for every publish and every acknowledgement: with a
 * broker that takes 1,000 messages in flight, half of a gateway's
 * publishing time went into that walk.  mqttpub's queue already holds
 * each message until it is acknowledged, so over plain TCP at QoS 1 it
 * writes the PUBLISH packets itself, beside the library's own packets on
 * the same connection (sink/sockio.h gathers both, in order), and takes
 * the PUBACKs for them out of what the library reads.  The connection,
 * its handshake, keepalive, will, subscriptions, TLS and QoS 0 and 2 stay
 * the library's. */
#ifndef M2M_MQTTWIRE_H
#define M2M_MQTTWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest remaining length MQTT can say (four bytes of varint). */
#define MQTT_REMAINING_MAX 268435455u

/* Bytes of a QoS 1 PUBLISH of that topic and payload, or 0 when MQTT
 * cannot carry it (a topic over 65,535 bytes, a packet over 256 MiB). */
size_t mqtt_publish_size(size_t topic_len, size_t payload_len, bool v5);
/* Writes that packet (mqtt_publish_size bytes) at out. */
void mqtt_publish_write(char *out, const char *topic, size_t topic_len, const void *payload, size_t payload_len,
                        uint16_t mid, bool retain, bool v5);

/* Told of each PUBACK (its packet id and reason code, 0 when it has
 * none): true when the acknowledgement was ours, and is taken out. */
typedef bool mqtt_ack_fn(void *arg, unsigned mid, unsigned reason);

struct mqtt_ackfilter {
	mqtt_ack_fn *fn;  /* NULL: nothing is taken */
	void *arg;
	size_t cap;       /* a PUBACK longer than this is never whole in the buffer: passed on */
	size_t pass_left; /* bytes of the packet being passed on, still to come */
};

/* Scans buf[from, *len) as the broker's packets, continuing where the
 * last call stopped: the PUBACKs f->fn claims are taken out (the rest of
 * the buffer moves down over them, *len shrinks).  Returns the end of
 * what may be handed to the library now: whole packets, and any part of
 * a packet that is not a PUBACK.  What follows it, up to *len, is the
 * start of a packet whose kind or length is not known yet, or of a PUBACK
 * not whole yet: scan it again with more bytes after it.  A malformed
 * length is handed on, with all after it: the library ends the
 * connection. */
size_t mqtt_take_acks(struct mqtt_ackfilter *f, char *buf, size_t from, size_t *len);

#endif
