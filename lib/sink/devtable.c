#include "sink/devtable.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "line/reading.h"

const char *const dev_reject_names[REJ_N] = {
	[REJ_TOO_LARGE] = "too_large",   [REJ_NOT_JSON] = "not_a_reading", [REJ_MISMATCH] = "topic_mismatch",
	[REJ_BAD_HEALTH] = "bad_health", [REJ_BAD_STATUS] = "bad_status",  [REJ_BAD_TOPIC] = "bad_topic",
	[REJ_TABLE_FULL] = "too_many_devices",
};
const char *const dev_kind_names[MSG_N] = { "reading", "health", "status" };
const char *const dev_state_names[4] = { "online", "stale", "offline", "waiting" };

void devtable_init(struct devtable *t, size_t max_devices, size_t max_payload, int64_t stale_ms)
{
	memset(t, 0, sizeof *t);
	t->max_devices = max_devices;
	t->max_payload = max_payload;
	t->stale_ms = stale_ms;
}

static void values_free(struct device *d)
{
	for (size_t i = 0; i < d->nv; i++) {
		free(d->v[i].name);
		free(d->v[i].unit);
		free(d->v[i].text);
	}
	free(d->v);
	d->v = NULL;
	d->nv = 0;
}

static void device_free(struct device *d)
{
	values_free(d);
	free(d->type);
	free(d->device);
	free(d->meter_id);
	free(d);
}

void devtable_free(struct devtable *t)
{
	for (size_t i = 0; i < t->n; i++)
		device_free(t->v[i]);
	free(t->v);
	memset(t, 0, sizeof *t);
}

/* Copies at most n-1 bytes of s, never cutting a UTF-8 sequence in two
 * (a label value must stay valid UTF-8). */
static void copy_utf8(char *dst, size_t n, const char *s)
{
	size_t len = strlen(s);
	if (len >= n) {
		len = n - 1;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
}

/* ---- finding devices ---- */

static int compare_key(const char *type, const char *device, const struct device *d)
{
	int c = strcmp(type, d->type);
	return c ? c : strcmp(device, d->device);
}

/* The index of (type, device), or where it would go (*found false). */
static size_t position(const struct devtable *t, const char *type, const char *device, bool *found)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = compare_key(type, device, t->v[mid]);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = false;
	return lo;
}

/* The device, created when new; NULL when the table is full or memory ran
 * out (*full says which). */
static struct device *device_get(struct devtable *t, const char *type, const char *device, bool *full)
{
	bool found;
	size_t at = position(t, type, device, &found);
	*full = false;
	if (found)
		return t->v[at];
	if (t->n >= t->max_devices) {
		*full = true;
		return NULL;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct device **v = realloc(t->v, cap * sizeof *v);
		if (!v)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	struct device *d = calloc(1, sizeof *d);
	if (!d || !(d->type = strdup(type)) || !(d->device = strdup(device))) {
		if (d)
			device_free(d);
		return NULL;
	}
	d->publisher = strcmp(type, PUBLISHER_TYPE) == 0;
	memmove(t->v + at + 1, t->v + at, (t->n - at) * sizeof *t->v);
	t->v[at] = d;
	t->n++;
	return d;
}

/* ---- the three kinds of message ---- */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int take_reading(struct devtable *t, const char *type, const char *device, const char *payload, size_t len,
                        int64_t now_ms, int64_t unix_ms)
{
	struct reading r;
	char why[200];
	if (reading_parse(payload, len, &r, why, sizeof why) < 0)
		return REJ_NOT_JSON;
	int rej = -1;
	struct flat_reading f;
	flat_init(&f);
	if (strcmp(r.type, type) != 0 || strcmp(r.device, device) != 0) {
		rej = REJ_MISMATCH;
		goto out;
	}
	bool full;
	struct device *d = flat_from_reading(&f, &r) == 0 ? device_get(t, type, device, &full) : NULL;
	if (!d) {
		rej = full ? REJ_TABLE_FULL : REJ_TOO_LARGE;
		goto out;
	}
	values_free(d);
	d->v = calloc(f.n ? f.n : 1, sizeof *d->v);
	for (size_t i = 0; d->v && i < f.n; i++) {
		const struct flat_value *fv = &f.v[i];
		if (fv->kind == FV_OTHER)
			continue;
		struct dev_value *v = &d->v[d->nv++];
		v->kind = fv->kind;
		v->name = strdup(fv->name);
		v->unit = dup_or_null(fv->unit);
		v->text = strdup(fv->kind == FV_STRING ? fv->str : fv->text);
		if (!v->name || !v->text || (fv->unit && !v->unit)) {
			values_free(d);
			break;
		}
	}
	free(d->meter_id);
	d->meter_id = dup_or_null(f.meter_id);
	copy_utf8(d->time, sizeof d->time, r.time ? r.time : "");
	if (d->seen_ms)
		d->interval_ms = now_ms - d->seen_ms;
	d->seen_ms = now_ms;
	d->seen_unix_ms = unix_ms;
	d->readings++;
out:
	flat_free(&f);
	reading_free(&r);
	return rej;
}

static bool counter(const json_t *obj, const char *key, unsigned long long *out)
{
	const json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (unsigned long long)json_integer_value(v);
	return true;
}

static void text_member(const json_t *obj, const char *key, char *out, size_t n)
{
	const json_t *v = json_object_get(obj, key);
	if (json_is_string(v))
		copy_utf8(out, n, json_string_value(v));
}

static void read_reader_health(struct dev_health *h, const json_t *reader)
{
	h->has_reader = true;
	counter(reader, "telegrams", &h->telegrams);
	text_member(reader, "last_error", h->last_error, sizeof h->last_error);
	const char *reason;
	const json_t *n;
	json_object_foreach ((json_t *)json_object_get(reader, "dropped"), reason, n) {
		if (h->ndropped == DEV_MAX_REASONS || !json_is_integer(n) || json_integer_value(n) < 0)
			continue;
		copy_utf8(h->dropped[h->ndropped].reason, sizeof h->dropped[0].reason, reason);
		h->dropped[h->ndropped++].n = (unsigned long long)json_integer_value(n);
	}
}

static int take_health(struct devtable *t, const char *type, const char *device, const char *payload, size_t len)
{
	json_t *root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return REJ_BAD_HEALTH;
	}
	bool full;
	struct device *d = device_get(t, type, device, &full);
	if (!d) {
		json_decref(root);
		return full ? REJ_TABLE_FULL : REJ_TOO_LARGE;
	}
	struct dev_health *h = &d->h;
	memset(h, 0, sizeof *h);
	h->known = true;
	text_member(root, "time", h->time, sizeof h->time);
	text_member(root, "link", h->link, sizeof h->link);
	const json_t *reader = json_object_get(root, "reader");
	if (json_is_object(reader))
		read_reader_health(h, reader);
	const json_t *pub = json_object_get(root, "publisher");
	if (json_is_object(pub)) {
		h->has_publisher = true;
		counter(pub, "published", &h->published);
		counter(pub, "queued", &h->queued);
		counter(pub, "dropped", &h->pub_dropped);
		counter(pub, "reconnects", &h->reconnects);
		const json_t *spool = json_object_get(pub, "spool");
		if (json_is_object(spool)) {
			h->has_spool = true;
			counter(spool, "bytes", &h->spool_bytes);
			counter(spool, "replayed", &h->spool_replayed);
			counter(spool, "dropped", &h->spool_dropped);
			counter(spool, "torn", &h->spool_torn);
		}
	}
	json_decref(root);
	return -1;
}

static int take_status(struct devtable *t, const char *type, const char *device, const char *payload, size_t len)
{
	enum dev_status s;
	if (len == 6 && memcmp(payload, "online", 6) == 0)
		s = STATUS_ONLINE;
	else if (len == 7 && memcmp(payload, "offline", 7) == 0)
		s = STATUS_OFFLINE;
	else if (len == 0)
		s = STATUS_UNKNOWN; /* the retained status was cleared */
	else
		return REJ_BAD_STATUS;
	bool full;
	struct device *d = device_get(t, type, device, &full);
	if (!d)
		return full ? REJ_TABLE_FULL : REJ_TOO_LARGE;
	d->status = s;
	return -1;
}

/* Splits "<type>/<device>[/<last>]" (after the prefix) into its levels;
 * returns the number of levels, or -1. */
static int split_topic(const char *rest, char type[], char device[], char last[], size_t n)
{
	char *out[3] = { type, device, last };
	int levels = 0;
	for (const char *p = rest;; levels++) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (levels == 3 || len == 0 || len >= n || !topic_level_valid(p, len, NULL))
			return -1;
		memcpy(out[levels], p, len);
		out[levels][len] = '\0';
		if (!slash)
			return levels + 1;
		p = slash + 1;
	}
}

int devtable_message(struct devtable *t, const char *prefix, const char *topic, const char *payload, size_t len,
                     int64_t now_ms, int64_t unix_ms)
{
	enum { LEVEL_MAX = 256 };
	char type[LEVEL_MAX], device[LEVEL_MAX], last[LEVEL_MAX];
	size_t pn = strlen(prefix);
	int rej, kind = MSG_READING;
	int levels = strncmp(topic, prefix, pn) == 0 && topic[pn] == '/'
	                     ? split_topic(topic + pn + 1, type, device, last, LEVEL_MAX)
	                     : -1;
	if (len > t->max_payload) {
		rej = REJ_TOO_LARGE;
	} else if (levels == 2) {
		kind = MSG_READING;
		rej = take_reading(t, type, device, payload, len, now_ms, unix_ms);
	} else if (levels == 3 && strcmp(last, "health") == 0) {
		kind = MSG_HEALTH;
		rej = take_health(t, type, device, payload, len);
	} else if (levels == 3 && strcmp(last, "status") == 0) {
		kind = MSG_STATUS;
		rej = take_status(t, type, device, payload, len);
	} else {
		rej = REJ_BAD_TOPIC;
	}
	if (rej >= 0) {
		t->rejected[rej]++;
		return -1;
	}
	t->taken[kind]++;
	return 0;
}

int64_t device_stale_ms(const struct devtable *t, const struct device *d)
{
	if (t->stale_ms)
		return t->stale_ms;
	if (d->interval_ms <= 0)
		return 60000; /* one reading so far: give it a minute */
	return 2 * d->interval_ms + 1000;
}

enum dev_state device_state(const struct devtable *t, const struct device *d, int64_t now_ms)
{
	if (d->status == STATUS_OFFLINE)
		return DS_OFFLINE;
	if (d->publisher)
		return d->status == STATUS_ONLINE ? DS_ONLINE : DS_WAITING;
	if (!d->seen_ms)
		return DS_WAITING;
	return now_ms - d->seen_ms > device_stale_ms(t, d) ? DS_STALE : DS_ONLINE;
}

unsigned long long device_dropped(const struct device *d)
{
	unsigned long long n = 0;
	for (size_t i = 0; i < d->h.ndropped; i++)
		n += d->h.dropped[i].n;
	return n;
}
