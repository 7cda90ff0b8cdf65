/* Fuzz harness for the broker's bytes as mqttpub reads them itself
 * (sink/mqttwire.h, mqtt_take_acks): any stream, cut into any pieces and
 * read through a buffer as small as a few packets, comes out as the same
 * bytes with exactly the claimed PUBACKs taken out, claimed in order,
 * whatever the cuts.  The reference below reads the whole stream at
 * once.  Also: every PUBLISH mqtt_publish_write makes has the size
 * mqtt_publish_size says and reads back as its topic, id and payload. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sink/mqttwire.h"

#define CAP 40 /* the reading buffer: small, so PUBACKs straddle its fills */

struct acks {
	unsigned mid[4096], reason[4096];
	size_t n;
};

/* Claims the odd ids: some PUBACKs are ours, some the library's. */
static bool claim(void *arg, unsigned mid, unsigned reason)
{
	struct acks *a = arg;
	if (!(mid & 1))
		return false;
	if (a->n < 4096) {
		a->mid[a->n] = mid;
		a->reason[a->n] = reason;
	}
	a->n++;
	return true;
}

/* The whole stream at once: what the library gets, and what is claimed. */
static size_t reference(const uint8_t *in, size_t n, uint8_t *out, struct acks *a)
{
	size_t i = 0, o = 0;
	while (i < n) {
		size_t hdr = 0, rem = 0, k;
		for (k = 1; k <= 4 && i + k < n; k++) {
			rem |= (size_t)(in[i + k] & 127) << (7 * (k - 1));
			if (!(in[i + k] & 128)) {
				hdr = k + 1;
				break;
			}
		}
		if (!hdr)
			break; /* cut short or malformed: the rest as it is */
		size_t total = hdr + rem;
		bool puback = (in[i] & 0xf0) == 0x40 && rem >= 2 && total <= CAP;
		if (puback && i + total > n)
			break; /* a PUBACK still coming */
		if (puback && claim(a, (unsigned)in[i + hdr] << 8 | in[i + hdr + 1], rem >= 3 ? in[i + hdr + 2] : 0)) {
			i += total;
			continue;
		}
		k = total < n - i ? total : n - i;
		memcpy(out + o, in + i, k);
		o += k, i += k;
	}
	memcpy(out + o, in + i, n - i);
	return o + n - i;
}

/* As sockio reads: pieces whose sizes come from the seed, the buffer
 * compacted before each read, the library taking all it may. */
static size_t incremental(const uint8_t *in, size_t n, unsigned seed, uint8_t *out, struct acks *a)
{
	struct mqtt_ackfilter f = { .fn = claim, .arg = a, .cap = CAP };
	char buf[CAP];
	size_t ok = 0, len = 0, o = 0, i = 0;
	while (i < n) {
		size_t tail = len - ok;
		memmove(buf, buf + ok, tail);
		len = tail;
		size_t piece = 1 + (seed = seed * 1103515245u + 12345u) % CAP;
		if (piece > CAP - len)
			piece = CAP - len;
		if (piece > n - i)
			piece = n - i;
		if (piece == 0)
			abort(); /* no room: the filter would stall the connection */
		memcpy(buf + len, in + i, piece);
		len += piece, i += piece;
		ok = mqtt_take_acks(&f, buf, 0, &len);
		if (ok > len)
			abort();
		memcpy(out + o, buf, ok);
		o += ok;
	}
	memcpy(out + o, buf + ok, len - ok);
	return o + len - ok;
}

static void filter_any_stream(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	unsigned seed = data[0];
	data++, size--;
	uint8_t *want = malloc(size + 1), *got = malloc(size + 1);
	struct acks *wa = calloc(1, sizeof *wa), *ga = calloc(1, sizeof *ga);
	if (want && got && wa && ga) {
		size_t wn = reference(data, size, want, wa);
		size_t gn = incremental(data, size, seed, got, ga);
		if (wn != gn || memcmp(want, got, wn) != 0 || wa->n != ga->n)
			abort();
		size_t k = wa->n < 4096 ? wa->n : 4096;
		if (memcmp(wa->mid, ga->mid, k * sizeof *wa->mid) || memcmp(wa->reason, ga->reason, k * sizeof *wa->reason))
			abort();
	}
	free(want), free(got), free(wa), free(ga);
}

static void publish_reads_back(const uint8_t *data, size_t size)
{
	if (size < 3)
		return;
	size_t topic_len = data[0] % (size - 2);
	bool v5 = data[1] & 1, retain = data[1] & 2;
	uint16_t mid = (uint16_t)(data[1] << 8 | data[2]);
	const char *topic = (const char *)data + 3;
	const uint8_t *payload = data + 3 + topic_len;
	size_t payload_len = size - 3 - topic_len;
	size_t n = mqtt_publish_size(topic_len, payload_len, v5);
	uint8_t *p = malloc(n);
	if (!p)
		return;
	mqtt_publish_write((char *)p, topic, topic_len, payload, payload_len, mid, retain, v5);
	size_t rem = 0, k = 1;
	for (; p[k] & 128; k++)
		rem |= (size_t)(p[k] & 127) << (7 * (k - 1));
	rem |= (size_t)p[k] << (7 * (k - 1));
	size_t h = k + 1, at = h + 2 + topic_len;
	if (p[0] != (0x32 | (retain ? 1 : 0)) || h + rem != n || (size_t)(p[h] << 8 | p[h + 1]) != topic_len ||
	    memcmp(p + h + 2, topic, topic_len) || (p[at] << 8 | p[at + 1]) != mid || (v5 && p[at + 2] != 0) ||
	    memcmp(p + at + 2 + v5, payload, payload_len) || at + 2 + v5 + payload_len != n)
		abort();
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	filter_any_stream(data, size);
	publish_reads_back(data, size);
	return 0;
}
