#include "sink/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/util.h"

#define REC_MAGIC "M2MS"
#define HEAD_MAGIC "M2MH"
#define HEAD_SIZE 16
#define SEG_MIN (64 * 1024)
/* A record's body at most (a topic and a payload of MQTT's limits). */
#define BODY_MAX (5 + 65535 + 268435455UL)

/* ---- records ---- */

/* CRC-32 (IEEE 802.3, as zlib), for torn and damaged records.  Eight
 * bytes a step (slicing-by-8): every message of a shared publisher passes
 * here, and a byte a step was a twentieth of its time. */
static uint32_t crc_table[8][256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = crc_table[0][crc_table[t - 1][i] & 0xff] ^ (crc_table[t - 1][i] >> 8);
}

static uint32_t crc32_ieee(uint32_t crc, const void *data, size_t n)
{
	if (!crc_table[0][1])
		crc_init();
	const unsigned char *p = data;
	crc = ~crc;
	for (; n >= 8; n -= 8, p += 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
		      crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
		      crc_table[0][p[7]];
	}
	while (n--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

long spool_rec_parse(const unsigned char *buf, size_t len, struct spool_rec *r, const char **why)
{
	if (len < SPOOL_REC_HEADER)
		return memcmp(buf, REC_MAGIC, len < 4 ? len : 4) == 0 ? 0 : (*why = "no record here", -1);
	if (memcmp(buf, REC_MAGIC, 4) != 0) {
		*why = "no record here";
		return -1;
	}
	uint32_t body = get32(buf + 4);
	if (body < 5 || body > BODY_MAX) {
		*why = "impossible length";
		return -1;
	}
	if (len - SPOOL_REC_HEADER < body)
		return 0;
	const unsigned char *b = buf + SPOOL_REC_HEADER;
	if (crc32_ieee(0, b, body) != get32(buf + 8)) {
		*why = "checksum mismatch";
		return -1;
	}
	uint32_t tl = get32(b + 1);
	if (b[0] > 1 || tl == 0 || tl > body - 5) {
		*why = "bad body";
		return -1;
	}
	r->retain = b[0] == 1;
	r->topic = (const char *)b + 5;
	r->topic_len = tl;
	r->payload = r->topic + tl;
	r->payload_len = body - 5 - tl;
	return (long)(SPOOL_REC_HEADER + body);
}

int spool_rec_encode(char **buf, size_t *len, size_t *cap, const char *topic, size_t topic_len,
                     const char *payload, size_t payload_len, bool retain)
{
	size_t body = 5 + topic_len + payload_len, need = *len + SPOOL_REC_HEADER + body;
	if (need > *cap) {
		size_t c = *cap ? *cap : 65536;
		while (c < need)
			c *= 2;
		char *p = realloc(*buf, c);
		if (!p)
			return -1;
		*buf = p;
		*cap = c;
	}
	unsigned char *h = (unsigned char *)*buf + *len, *b = h + SPOOL_REC_HEADER;
	b[0] = retain ? 1 : 0;
	put32(b + 1, (uint32_t)topic_len);
	memcpy(b + 5, topic, topic_len);
	if (payload_len)
		memcpy(b + 5 + topic_len, payload, payload_len);
	memcpy(h, REC_MAGIC, 4);
	put32(h + 4, (uint32_t)body);
	put32(h + 8, crc32_ieee(0, b, body));
	*len = need;
	return 0;
}

/* ---- files ---- */

static void seg_name(char out[32], uint64_t seg) { snprintf(out, 32, "%016" PRIx64 ".seg", seg); }

static uint64_t pos_of(uint64_t seg, uint64_t off) { return seg << 32 | off; }

static int open_seg(struct spool *s, uint64_t seg)
{
	char name[32];
	seg_name(name, seg);
	int fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (s->segfd >= 0)
		close(s->segfd);
	s->segfd = fd;
	s->seg_cur = seg;
	s->seg_size = 0;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int write_buffer(struct spool *s)
{
	if (!s->len)
		return 0;
	if (write_all(s->segfd, s->buf, s->len) < 0)
		return -1;
	s->written += s->len;
	s->len = 0;
	s->dirty = true;
	return 0;
}

static uint64_t head_pos(const struct spool *s)
{
	return s->q->head ? s->q->head->spool_pos : pos_of(s->seg_cur, s->seg_size);
}

static int write_head(struct spool *s, uint64_t pos)
{
	unsigned char h[HEAD_SIZE];
	memcpy(h, HEAD_MAGIC, 4);
	put32(h + 4, (uint32_t)pos);
	put32(h + 8, (uint32_t)(pos >> 32));
	put32(h + 12, crc32_ieee(0, h, 12));
	int fd = openat(s->dirfd, "head", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int rc = pwrite(fd, h, sizeof h, 0) == (ssize_t)sizeof h && fdatasync(fd) == 0 ? 0 : -1;
	close(fd);
	return rc;
}

/* The recorded head, or false when there is none or it is damaged. */
static bool read_head(const struct spool *s, uint64_t *pos)
{
	unsigned char h[HEAD_SIZE];
	int fd = openat(s->dirfd, "head", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h && memcmp(h, HEAD_MAGIC, 4) == 0 &&
	          crc32_ieee(0, h, 12) == get32(h + 12);
	close(fd);
	*pos = (uint64_t)get32(h + 8) << 32 | get32(h + 4);
	return ok;
}

static uint64_t seg_bytes(const struct spool *s, uint64_t seg)
{
	char name[32];
	struct stat st;
	seg_name(name, seg);
	return fstatat(s->dirfd, name, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
}

static void remove_seg(struct spool *s, uint64_t seg)
{
	char name[32];
	seg_name(name, seg);
	s->disk_bytes -= seg_bytes(s, seg);
	unlinkat(s->dirfd, name, 0);
}

/* Segments entirely behind the head are done. */
static void remove_done(struct spool *s)
{
	uint64_t head_seg = head_pos(s) >> 32;
	while (s->seg_first < head_seg && s->seg_first < s->seg_cur)
		remove_seg(s, s->seg_first++);
}

static int sync_now(struct spool *s, int64_t now)
{
	if (write_buffer(s) < 0)
		return -1;
	if (s->dirty && fdatasync(s->segfd) < 0)
		return -1;
	s->dirty = false;
	s->synced_ms = now;
	s->head_written = head_pos(s);
	if (write_head(s, s->head_written) < 0)
		return -1;
	remove_done(s);
	return 0;
}

/* ---- replay ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The segment numbers in DIR, sorted; *n of them.  NULL and n 0 if none. */
static uint64_t *list_segs(struct spool *s, size_t *n)
{
	*n = 0;
	int fd = dup(s->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	uint64_t *v = NULL;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		if (strlen(e->d_name) != 20 || strcmp(e->d_name + 16, ".seg") != 0)
			continue;
		uint64_t seg = strtoull(e->d_name, &end, 16);
		if (end != e->d_name + 16)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, cap * sizeof *v);
			if (!nv)
				break;
			v = nv;
		}
		v[(*n)++] = seg;
	}
	closedir(d);
	if (v)
		qsort(v, *n, sizeof *v, cmp_u64);
	return v;
}

static char *read_seg(struct spool *s, uint64_t seg, size_t *len)
{
	char name[32];
	seg_name(name, seg);
	int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return buf;
}

/* Puts the records of one segment from off on back in the queue. */
static void replay_seg(struct spool *s, uint64_t seg, uint64_t off, bool last)
{
	size_t len;
	char *buf = read_seg(s, seg, &len);
	if (!buf)
		return;
	size_t at = off < len ? (size_t)off : len;
	while (at < len) {
		struct spool_rec r;
		const char *why = "cut short";
		long n = spool_rec_parse((const unsigned char *)buf + at, len - at, &r, &why);
		if (n <= 0) {
			s->torn++;
			warnx("spool %s: %s at byte %zu: %s: %zu bytes skipped", s->dir, last ? "the last record" : "a record",
			      at, why, len - at);
			if (last) {
				char name[32];
				seg_name(name, seg);
				int fd = openat(s->dirfd, name, O_WRONLY | O_CLOEXEC);
				if (fd >= 0) {
					if (ftruncate(fd, (off_t)at) == 0)
						len = at;
					close(fd);
				}
			}
			break;
		}
		if (queue_push(s->q, r.topic, r.topic_len, r.payload, r.payload_len, r.retain) == 0) {
			s->q->tail->spool_pos = pos_of(seg, at);
			s->replayed++;
		}
		at += (size_t)n;
	}
	s->disk_bytes += len;
	free(buf);
}

static void replay(struct spool *s)
{
	size_t n;
	uint64_t *segs = list_segs(s, &n);
	uint64_t head = 0;
	bool have_head = read_head(s, &head);
	size_t i = 0;
	if (have_head)
		for (; i < n && segs[i] < head >> 32; i++) {
			char name[32];
			seg_name(name, segs[i]);
			unlinkat(s->dirfd, name, 0); /* done before the last run ended */
		}
	s->seg_first = i < n ? segs[i] : 0;
	for (size_t k = i; k < n; k++)
		replay_seg(s, segs[k], have_head && segs[k] == head >> 32 ? (uint32_t)head : 0, k + 1 == n);
	s->seg_cur = n ? segs[n - 1] : 0;
	free(segs);
	if (s->replayed)
		warnx("spool %s: %lu messages from an earlier run, sent first", s->dir, s->replayed);
}

/* ---- the spool ---- */

int spool_open(struct spool *s, const char *dir, uint64_t max_bytes, int sync_ms, struct queue *q, char *why,
               size_t whylen)
{
	memset(s, 0, sizeof *s);
	s->dirfd = s->lockfd = s->segfd = -1;
	s->q = q;
	s->max_bytes = max_bytes;
	s->seg_max = max_bytes / 8 > SEG_MIN ? max_bytes / 8 : SEG_MIN;
	s->sync_ms = sync_ms;
	s->dir = strdup(dir);
	if (!s->dir) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		goto sys;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0)
		goto sys;
	s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lockfd < 0)
		goto sys;
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			goto sys;
		warnx("spool %s: in use by another mqttpub; waiting for it to end", dir);
		if (flock(s->lockfd, LOCK_EX) < 0)
			goto sys;
	}
	replay(s);
	if (open_seg(s, s->seg_cur + 1) < 0)
		goto sys;
	if (s->seg_first == 0 && s->q->count == 0)
		s->seg_first = s->seg_cur;
	s->synced_ms = mono_ms();
	return 0;
sys:
	snprintf(why, whylen, "%s", strerror(errno));
	return -1;
}

/* Makes room by dropping the oldest segment and its messages. */
static void drop_oldest(struct spool *s)
{
	uint64_t seg = s->seg_first;
	unsigned long n = 0;
	while (s->q->head && s->q->head->spool_pos >> 32 == seg) {
		queue_drop(s->q, s->q->head);
		n++;
	}
	s->dropped += n;
	remove_seg(s, seg);
	s->seg_first++;
}

int spool_push(struct spool *s, const char *topic, size_t topic_len, const char *payload, size_t payload_len,
               bool retain)
{
	uint64_t rec = SPOOL_REC_HEADER + 5 + topic_len + payload_len;
	if (rec > s->max_bytes)
		return -1;
	if (s->seg_size && s->seg_size + rec > s->seg_max) {
		if (write_buffer(s) < 0 || (s->dirty && fdatasync(s->segfd) < 0) || open_seg(s, s->seg_cur + 1) < 0)
			return -1;
		s->dirty = false;
	}
	while (s->disk_bytes + rec > s->max_bytes && s->seg_first < s->seg_cur)
		drop_oldest(s);
	/* The record first: a message the queue cannot take is unwritten by
	 * forgetting its bytes, never taken out of the queue as if sent. */
	size_t len = s->len;
	if (spool_rec_encode(&s->buf, &s->len, &s->cap, topic, topic_len, payload, payload_len, retain) < 0)
		return -1;
	if (queue_push(s->q, topic, topic_len, payload, payload_len, retain) < 0) {
		s->len = len;
		return -1;
	}
	s->q->tail->spool_pos = pos_of(s->seg_cur, s->seg_size);
	s->seg_size += rec;
	s->disk_bytes += rec;
	return 0;
}

int spool_flush(struct spool *s, int64_t now)
{
	if (write_buffer(s) < 0)
		return -1;
	if (now - s->synced_ms >= s->sync_ms && (s->dirty || head_pos(s) != s->head_written))
		return sync_now(s, now);
	return 0;
}

int64_t spool_wake(const struct spool *s)
{
	return s->dirty || head_pos(s) != s->head_written ? s->synced_ms + s->sync_ms : INT64_MAX;
}

void spool_close(struct spool *s)
{
	if (s->segfd >= 0) {
		if (sync_now(s, mono_ms()) < 0)
			warn_errno("spool %s", s->dir);
		logmsg(LOG_INFO, "spool %s: %" PRIu64 " bytes written, %lu dropped, %lu torn", s->dir, s->written,
		       s->dropped, s->torn);
		if (s->q->count == 0) {
			/* Everything delivered: nothing to replay. */
			while (s->seg_first <= s->seg_cur)
				remove_seg(s, s->seg_first++);
			unlinkat(s->dirfd, "head", 0);
		}
		close(s->segfd);
	}
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->buf);
	free(s->dir);
	memset(s, 0, sizeof *s);
	s->dirfd = s->lockfd = s->segfd = -1;
}
