/* listen.c: see listen.h. */
#include "meter/listen.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/util.h"

/* The longest a reader waits for the next attempt to open: 30 s. */
#define RECONNECT_CAP_S 30

void listen_open(struct port *p, struct health *h)
{
	p->idle = health_idle;
	p->idle_arg = h;
	if (port_open(p) == 0)
		return;
	if (!port_can_reconnect(p))
		die(EXIT_RUNTIME, "%s: %s", p->spec, p->why);
	health_complain(h, "%s: cannot open: %s", p->spec, p->why);
	health_link(h, HEALTH_LINK_DOWN);
	port_reconnect(p, RECONNECT_CAP_S);
}

ssize_t listen_read(struct port *p, void *buf, size_t n, long silence_s, struct health *h)
{
	int64_t silent_at = p->kind == PORT_TCP && silence_s > 0 ? mono_ms() + silence_s * 1000 : INT64_MAX;
	for (;;) {
		int wait = health_wait_ms(h);
		if (silent_at != INT64_MAX) {
			int64_t left = silent_at - mono_ms();
			left = left < 0 ? 0 : left;
			if (wait < 0 || left < wait)
				wait = (int)left;
		}
		ssize_t got = port_read(p, buf, n, wait);
		if (got > 0)
			health_link(h, HEALTH_LINK_UP);
		if (got != 0)
			return got;
		if (mono_ms() >= silent_at) {
			snprintf(p->why, sizeof p->why, "no data for %ld s", silence_s);
			return 0;
		}
		health_tick(h);
	}
}

void listen_reconnect(struct port *p, struct health *h)
{
	health_complain(h, "%s: lost: %s", p->spec, p->why);
	health_link(h, HEALTH_LINK_DOWN);
	port_reconnect(p, RECONNECT_CAP_S);
}

/* Telegrams of a meter are nearly all the same length, so the last one's
 * arrival time says how long to sleep once the next has begun.  Capped,
 * so that a slow link's bytes never pile up in the kernel for long. */
#define PACE_MAX_MS 500

struct pace {
	int64_t began_ms; /* the first read of this telegram, or -1 */
	int64_t took_ms;  /* how long the last one took to arrive */
	bool slept;       /* this read came right after the sleep */
};

/* A telegram that ended in the read after the sleep may have been
 * complete well before: shrink the estimate a little each time, so that
 * it follows a link that got faster instead of sleeping too long forever. */
static void pace_telegram_end(struct pace *pc, int64_t now)
{
	if (pc->slept)
		pc->took_ms -= pc->took_ms / 8 + 1;
	else if (pc->began_ms >= 0)
		pc->took_ms = now - pc->began_ms;
	if (pc->took_ms < 0)
		pc->took_ms = 0;
	pc->began_ms = -1;
}

/* Within a telegram: sleep until the rest should be there. */
static void pace_wait(struct pace *pc, int64_t now)
{
	if (pc->began_ms < 0)
		pc->began_ms = now;
	int64_t until = pc->began_ms + (pc->took_ms < PACE_MAX_MS ? pc->took_ms : PACE_MAX_MS);
	pc->slept = until > now;
	if (pc->slept)
		nanosleep(&(struct timespec){ (until - now) / 1000, (until - now) % 1000 * 1000000 }, NULL);
}

static bool sink_within(const struct listen_sink *sink)
{
	return sink->within && sink->within(sink->ctx);
}

/* Hands a read's bytes to the sink, noting where a telegram ended. */
static void push_all(const struct listen_sink *sink, const unsigned char *buf, size_t len, struct pace *pc, bool paced)
{
	int64_t now = mono_ms();
	bool within = sink_within(sink);
	if (!within)
		pc->slept = false;
	size_t off = 0;
	while (off < len) {
		off += sink->push(sink->ctx, buf + off, len - off);
		bool still = sink_within(sink);
		if (within && !still)
			pace_telegram_end(pc, now);
		within = still;
	}
	/* Files and pipes come as fast as they are read: no pacing. */
	if (within && paced)
		pace_wait(pc, now);
	else
		pc->began_ms = -1;
}

void listen_loop(struct port *p, struct health *h, long silence_s, const struct listen_sink *sink, const char *spec)
{
	static unsigned char buf[65536];
	struct pace pace = { -1, 0, false };
	for (;;) {
		ssize_t got = listen_read(p, buf, sizeof buf, silence_s, h);
		if (got <= 0) {
			bool end = p->eof || !port_can_reconnect(p);
			pace.began_ms = -1;
			sink->lost(sink->ctx, end);
			if (end) {
				/* port_read says "end of input" for a clean end; anything
				 * else (EIO on a file) is a failure. */
				if (!p->eof || strcmp(p->why, "end of input") != 0)
					die(EXIT_RUNTIME, "%s: %s", spec, p->why);
				break;
			}
			listen_reconnect(p, h);
			continue;
		}
		push_all(sink, buf, (size_t)got, &pace, p->kind == PORT_SERIAL || p->kind == PORT_TCP);
		health_tick(h);
	}
	health_final(h);
}
