/* health.c: see health.h. */
#include "line/health.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/util.h"
#include "line/frame.h"

long health_interval_arg(const char *s)
{
	return arg_long("--health-interval", s, 0, 86400, "seconds, 0 (never) to 86400");
}

void health_init(struct health *h, const char *type, const char *device, long interval_s)
{
	memset(h, 0, sizeof *h);
	h->type = type;
	h->device = device;
	h->interval_ms = (int64_t)interval_s * 1000;
	h->due_ms = mono_ms() + h->interval_ms;
	jw_init(&h->w);
}

void health_good(struct health *h)
{
	h->good++;
}

static struct health_count *count_of(struct health *h, const char *reason)
{
	for (int i = 0; i < h->nreasons; i++)
		if (strcmp(h->dropped[i].reason, reason) == 0)
			return &h->dropped[i];
	/* The last slot is "other", for the reasons beyond the rest. */
	if (h->nreasons >= HEALTH_MAX_REASONS - 1 && strcmp(reason, "other") != 0)
		return count_of(h, "other");
	h->dropped[h->nreasons] = (struct health_count){ reason, 0 };
	return &h->dropped[h->nreasons++];
}

void health_drop(struct health *h, const char *reason, const char *fmt, ...)
{
	count_of(h, reason)->n++;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->last_error, sizeof h->last_error, fmt, ap);
	va_end(ap);
}

void health_complain(struct health *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->last_error, sizeof h->last_error, fmt, ap);
	va_end(ap);
}

static void write_line(struct health *h)
{
	static const char *const links[] = { [HEALTH_LINK_UP] = "up", [HEALTH_LINK_DOWN] = "down" };
	struct jw *w = &h->w;
	reading_begin(w, h->type, h->device);
	jw_key(w, "health");
	jw_object_begin(w);
	jw_key(w, "telegrams");
	jw_int(w, (long long)h->good);
	jw_key(w, "dropped");
	jw_object_begin(w);
	for (int i = 0; i < h->nreasons; i++) {
		jw_key(w, h->dropped[i].reason);
		jw_int(w, (long long)h->dropped[i].n);
	}
	jw_object_end(w);
	if (h->last_error[0]) {
		jw_key(w, "last_error");
		jw_string(w, h->last_error);
	}
	if (h->link != HEALTH_LINK_UNKNOWN) {
		jw_key(w, "link");
		jw_string(w, links[h->link]);
	}
	reading_end(w);
	reading_print(w);
	h->due_ms = mono_ms() + h->interval_ms;
}

void health_link(struct health *h, enum health_link link)
{
	if (link == h->link)
		return;
	h->link = link;
	if (h->interval_ms)
		write_line(h);
}

void health_tick(struct health *h)
{
	if (h->interval_ms && mono_ms() >= h->due_ms)
		write_line(h);
}

int health_wait_ms(const struct health *h)
{
	if (!h->interval_ms)
		return -1;
	int64_t left = h->due_ms - mono_ms();
	return left <= 0 ? 0 : left > 86400000 ? 86400000 : (int)left;
}

int health_idle(void *h)
{
	health_tick(h);
	return health_wait_ms(h);
}

void health_final(struct health *h)
{
	h->link = HEALTH_LINK_DOWN;
	if (h->interval_ms)
		write_line(h);
}
