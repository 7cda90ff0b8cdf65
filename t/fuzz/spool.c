/* Fuzz harness for the spool's record reader (sink/spool.c): whatever the
 * bytes of a segment file, reading never crashes; a record read is one
 * that encodes back to exactly the bytes it was read from, so a damaged
 * or torn record can never be published as if it were whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sink/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t at = 0;
	while (at < size) {
		struct spool_rec r;
		const char *why = NULL;
		long n = spool_rec_parse(data + at, size - at, &r, &why);
		if (n < 0 && !why)
			abort();
		if (n <= 0)
			break;
		if ((size_t)n > size - at)
			abort();
		char *buf = NULL;
		size_t len = 0, cap = 0;
		if (spool_rec_encode(&buf, &len, &cap, r.topic, r.topic_len, r.payload, r.payload_len, r.retain) < 0)
			abort();
		if (len != (size_t)n || memcmp(buf, data + at, len) != 0)
			abort();
		free(buf);
		at += (size_t)n;
	}
	return 0;
}
