#include "sink/mqttwire.h"

#include <string.h>

#define PUBLISH_QOS1 0x32
#define RETAIN 0x01
#define PUBACK 0x40

static size_t varint_size(size_t n) { return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4; }

static size_t remaining(size_t topic_len, size_t payload_len, bool v5)
{
	/* topic length, topic, packet id, (MQTT 5: no properties), payload */
	return 2 + topic_len + 2 + (v5 ? 1 : 0) + payload_len;
}

size_t mqtt_publish_size(size_t topic_len, size_t payload_len, bool v5)
{
	if (topic_len > 65535 || payload_len > MQTT_REMAINING_MAX)
		return 0;
	size_t rem = remaining(topic_len, payload_len, v5);
	if (rem > MQTT_REMAINING_MAX)
		return 0;
	return 1 + varint_size(rem) + rem;
}

void mqtt_publish_write(char *out, const char *topic, size_t topic_len, const void *payload, size_t payload_len,
                        uint16_t mid, bool retain, bool v5)
{
	unsigned char *p = (unsigned char *)out;
	*p++ = PUBLISH_QOS1 | (retain ? RETAIN : 0);
	size_t rem = remaining(topic_len, payload_len, v5);
	do {
		unsigned char b = rem % 128;
		rem /= 128;
		*p++ = rem ? b | 128 : b;
	} while (rem);
	*p++ = (unsigned char)(topic_len >> 8);
	*p++ = (unsigned char)topic_len;
	memcpy(p, topic, topic_len);
	p += topic_len;
	*p++ = (unsigned char)(mid >> 8);
	*p++ = (unsigned char)mid;
	if (v5)
		*p++ = 0; /* no properties */
	if (payload_len)
		memcpy(p, payload, payload_len);
}

/* A fixed header at p (avail bytes): 1 with its size and the remaining
 * length, 0 when not all of it is here yet, -1 when the length is
 * malformed (a fifth varint byte). */
static int fixed_header(const unsigned char *p, size_t avail, size_t *hdr, size_t *rem)
{
	size_t n = 0;
	for (size_t i = 1; i <= 4; i++) {
		if (i >= avail)
			return 0;
		n |= (size_t)(p[i] & 127) << (7 * (i - 1));
		if (!(p[i] & 128)) {
			*hdr = i + 1;
			*rem = n;
			return 1;
		}
	}
	return -1;
}

size_t mqtt_take_acks(struct mqtt_ackfilter *f, char *buf, size_t from, size_t *len)
{
	unsigned char *b = (unsigned char *)buf;
	size_t r = from, w = from, end = *len;
	while (r < end) {
		if (f->pass_left) {
			size_t k = end - r < f->pass_left ? end - r : f->pass_left;
			if (w != r)
				memmove(b + w, b + r, k);
			r += k, w += k;
			f->pass_left -= k;
			continue;
		}
		size_t hdr = 0, rem = 0;
		int h = fixed_header(b + r, end - r, &hdr, &rem);
		if (h == 0)
			break;
		if (h < 0) {
			f->pass_left = (size_t)-1; /* the library says what is wrong */
			continue;
		}
		bool puback = (b[r] & 0xf0) == PUBACK && rem >= 2 && hdr + rem <= f->cap;
		if (!f->fn || !puback) {
			f->pass_left = hdr + rem;
			continue;
		}
		if (end - r < hdr + rem)
			break; /* the rest of this PUBACK is still to come */
		unsigned mid = (unsigned)b[r + hdr] << 8 | b[r + hdr + 1];
		unsigned reason = rem >= 3 ? b[r + hdr + 2] : 0;
		if (f->fn(f->arg, mid, reason))
			r += hdr + rem;
		else
			f->pass_left = hdr + rem;
	}
	if (w != r)
		memmove(b + w, b + r, end - r);
	*len = w + (end - r);
	return w;
}
