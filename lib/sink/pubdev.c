/* pubdev.c: see pubdev.h. */
#include "sink/pubdev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "sink/mqttmsg.h"

void pubdevs_init(struct pubdevs *d, const char *prefix, const char *self_key)
{
	memset(d, 0, sizeof *d);
	d->prefix = prefix;
	d->self_key = self_key;
}

static size_t slot_of(const struct pubdevs *d, const char *key, size_t len)
{
	return fnv1a32(FNV1A32_INIT, key, len) & (d->nslots - 1);
}

/* The device whose key is key[0..len), or NULL. */
static struct pubdev *lookup(const struct pubdevs *d, const char *key, size_t len)
{
	if (!d->nslots)
		return NULL;
	for (struct pubdev *p = d->slots[slot_of(d, key, len)]; p; p = p->next_in_slot)
		if (strncmp(p->key, key, len) == 0 && p->key[len] == '\0')
			return p;
	return NULL;
}

/* Twice as many slots as devices at least, so that chains stay short. */
static int grow_slots(struct pubdevs *d)
{
	if (d->nslots >= 2 * (d->n + 1))
		return 0;
	size_t n = d->nslots ? d->nslots * 2 : 64;
	struct pubdev **s = calloc(n, sizeof *s);
	if (!s)
		return -1;
	free(d->slots);
	d->slots = s;
	d->nslots = n;
	for (size_t i = 0; i < d->n; i++) {
		struct pubdev *p = d->v[i];
		size_t k = slot_of(d, p->key, strlen(p->key));
		p->next_in_slot = s[k];
		s[k] = p;
	}
	return 0;
}

static void dev_free(struct pubdev *p)
{
	free(p->key);
	free(p->type);
	free(p->device);
	free(p->status_topic);
	free(p->health_topic);
	free(p->source);
	pubhealth_free(&p->health);
	free(p);
}

struct pubdev *pubdevs_get(struct pubdevs *d, const char *type, const char *device, bool *added)
{
	char *key;
	*added = false;
	if (asprintf(&key, "%s/%s", type, device) < 0)
		return NULL;
	struct pubdev *p = lookup(d, key, strlen(key));
	if (p) {
		free(key);
		return p;
	}
	struct pubdev **v = realloc(d->v, (d->n + 1) * sizeof *v);
	if (v)
		d->v = v;
	p = calloc(1, sizeof *p);
	if (!v || !p || grow_slots(d) < 0) {
		free(key);
		free(p);
		return NULL;
	}
	p->key = key;
	p->type = strdup(type);
	p->device = strdup(device);
	p->status_topic = mm_topic(d->prefix, type, device, "status");
	p->health_topic = mm_topic(d->prefix, type, device, "health");
	if (!p->type || !p->device || !p->status_topic || !p->health_topic) {
		dev_free(p);
		return NULL;
	}
	size_t k = slot_of(d, key, strlen(key));
	p->next_in_slot = d->slots[k];
	d->slots[k] = p;
	d->v[d->n++] = p;
	*added = true;
	return p;
}

/* PREFIX/TYPE/DEVICE[/...]: where TYPE/DEVICE begins, and its length. */
static bool topic_key(const struct pubdevs *d, const char *topic, const char **key, size_t *len)
{
	size_t pn = strlen(d->prefix);
	if (strncmp(topic, d->prefix, pn) != 0 || topic[pn] != '/')
		return false;
	const char *t = topic + pn + 1, *slash = strchr(t, '/');
	if (!slash || slash == t || !slash[1])
		return false;
	*key = t;
	*len = (size_t)(slash - t) + 1 + strcspn(slash + 1, "/");
	return true;
}

void pubdevs_count(void *arg, const struct qmsg *m, enum queue_event ev)
{
	struct pubdevs *d = arg;
	const char *key;
	size_t len;
	if (!topic_key(d, m->data, &key, &len))
		return;
	/* A device's messages come in runs: the last one first. */
	struct pubdev *p = d->last;
	if (!p || strncmp(p->key, key, len) != 0 || p->key[len] != '\0') {
		p = lookup(d, key, len);
		if (!p && ev == QUEUE_IN && !(d->self_key && strncmp(key, d->self_key, len) == 0 && !d->self_key[len])) {
			/* Left in the spool by an earlier run: its device, known
			 * from the topic until its first line comes. */
			char *type = strndup(key, len), *slash = type ? strchr(type, '/') : NULL;
			bool added;
			if (slash) {
				*slash = '\0';
				p = pubdevs_get(d, type, slash + 1, &added);
			}
			free(type);
		}
		if (!p)
			return;
		d->last = p;
	}
	/* One removed and known again may still have older messages leave. */
	if (ev != QUEUE_IN && p->queued)
		p->queued--;
	if (ev == QUEUE_IN)
		p->queued++;
	else if (ev == QUEUE_OUT)
		p->published++;
	else
		p->dropped++;
}

void pubdevs_remove(struct pubdevs *d, struct pubdev *dev)
{
	struct pubdev **pp = &d->slots[slot_of(d, dev->key, strlen(dev->key))];
	while (*pp != dev)
		pp = &(*pp)->next_in_slot;
	*pp = dev->next_in_slot;
	size_t i = 0;
	while (d->v[i] != dev)
		i++;
	memmove(&d->v[i], &d->v[i + 1], (d->n - i - 1) * sizeof *d->v);
	d->n--;
	if (d->last == dev)
		d->last = NULL;
	dev_free(dev);
}

void pubdevs_free(struct pubdevs *d)
{
	for (size_t i = 0; i < d->n; i++)
		dev_free(d->v[i]);
	free(d->v);
	free(d->slots);
	memset(d, 0, sizeof *d);
}
