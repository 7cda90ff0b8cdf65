/* listen.c: see listen.h. */
#include "meter/listen.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <errno.h>
#include <time.h>

#include "base/err.h"
#include "base/util.h"
#include "line/frame.h"

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

/* ---- many meters in one loop ---- */

static int epfd = -1;

/* The most a TCP connection may take to be made (as for one meter). */
#define CONNECT_TIMEOUT_MS 5000

static void many_open_failed(struct listener *l, int64_t now)
{
	if (!l->said_down) {
		warnx("%s: %s: cannot open: %s; retrying every %d s at most", l->name, l->port->spec, l->port->why,
		      RECONNECT_CAP_S);
		health_complain(l->health, "%s: cannot open: %s", l->port->spec, l->port->why);
		l->said_down = true;
	}
	health_link(l->health, HEALTH_LINK_DOWN);
	l->connecting = false;
	l->retry_at = now + l->retry_ms;
	l->retry_ms = l->retry_ms * 2 > RECONNECT_CAP_S * 1000 ? RECONNECT_CAP_S * 1000 : l->retry_ms * 2;
}

static void many_opened(struct listener *l, int64_t now)
{
	if (l->said_down || l->was_lost)
		warnx("%s: %s: connected%s", l->name, l->port->spec, l->was_lost ? " again" : "");
	l->open = true;
	l->connecting = false;
	l->was_lost = false;
	l->said_down = false;
	l->retry_ms = 1000;
	l->silent_at = l->port->kind == PORT_TCP && l->silence_s > 0 ? now + l->silence_s * 1000 : INT64_MAX;
}

/* An attempt to open that waits for nothing: a TCP connection in progress
 * is polled for with the others (writable: made or refused), so that a
 * dongle that does not answer holds no other meter up. */
static void many_open(struct listener *l, int64_t now)
{
	int r = port_open_start(l->port);
	if (r < 0) {
		many_open_failed(l, now);
		return;
	}
	struct epoll_event ev = { .events = r ? EPOLLOUT : EPOLLIN, .data.ptr = l };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, l->port->fd, &ev) < 0)
		die_errno(EXIT_RUNTIME, "epoll_ctl");
	if (r) {
		l->connecting = true;
		l->connect_by = now + CONNECT_TIMEOUT_MS;
	} else {
		many_opened(l, now);
	}
}

/* Poll says the connection in progress is made or refused. */
static void many_connected(struct listener *l, int64_t now)
{
	if (port_open_finish(l->port) < 0) { /* closed: out of the epoll set */
		many_open_failed(l, now);
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, l->port->fd, &ev) < 0)
		die_errno(EXIT_RUNTIME, "epoll_ctl");
	many_opened(l, now);
}

static void many_lost(struct listener *l, int64_t now)
{
	l->sink->lost(l->sink->ctx, false);
	warnx("%s: %s: lost: %s; reconnecting", l->name, l->port->spec, l->port->why);
	health_complain(l->health, "%s: lost: %s", l->port->spec, l->port->why);
	health_link(l->health, HEALTH_LINK_DOWN);
	port_close(l->port); /* closing drops it from the epoll set */
	l->open = false;
	l->said_down = false;
	l->was_lost = true;
	l->retry_at = now + 1000;
	l->retry_ms = 2000;
}

static void many_read(struct listener *l, unsigned char *buf, size_t size, int64_t now)
{
	if (l->connecting) {
		many_connected(l, now);
		return;
	}
	ssize_t got = port_read_ready(l->port, buf, size);
	if (got == 0)
		return;
	if (got < 0) {
		many_lost(l, now);
		return;
	}
	health_link(l->health, HEALTH_LINK_UP);
	if (l->silent_at != INT64_MAX)
		l->silent_at = now + l->silence_s * 1000;
	for (size_t off = 0; off < (size_t)got;)
		off += l->sink->push(l->sink->ctx, buf + off, (size_t)got - off);
}

/* Opens what is due, loses what is silent, writes health lines when due;
 * returns how long poll may wait (-1: for ever). */
static int many_timers(struct listener *v, size_t n, int64_t now)
{
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < n; i++) {
		struct listener *l = &v[i];
		if (l->connecting && now >= l->connect_by) {
			snprintf(l->port->why, sizeof l->port->why, "%s", strerror(ETIMEDOUT));
			port_close(l->port);
			many_open_failed(l, now);
		}
		if (!l->open && !l->connecting && now >= l->retry_at)
			many_open(l, now);
		if (l->open && now >= l->silent_at) {
			snprintf(l->port->why, sizeof l->port->why, "no data for %ld s", l->silence_s);
			many_lost(l, now);
		}
		health_tick(l->health);
		int64_t at = l->open ? l->silent_at : l->connecting ? l->connect_by : l->retry_at;
		int h = health_wait_ms(l->health);
		if (h >= 0 && now + h < at)
			at = now + h;
		if (at < next)
			next = at;
	}
	if (next == INT64_MAX)
		return -1;
	return next <= now ? 0 : next - now > 86400000 ? 86400000 : (int)(next - now);
}

void listen_many(struct listener *v, size_t n, int gather_ms)
{
	static unsigned char buf[65536];
	static struct epoll_event evs[256];
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die_errno(EXIT_RUNTIME, "epoll_create1");
	for (size_t i = 0; i < n; i++) {
		v[i].port->idle = NULL;
		v[i].retry_ms = 1000;
		v[i].retry_at = INT64_MIN;
	}
	reading_gather(true);
	for (;;) {
		int wait = many_timers(v, n, mono_ms());
		reading_flush();
		int got = epoll_wait(epfd, evs, sizeof evs / sizeof *evs, wait);
		if (got < 0 && errno != EINTR)
			die_errno(EXIT_RUNTIME, "epoll_wait");
		if (got <= 0)
			continue;
		/* Let the other meters' telegrams come too, then take them all:
		 * a full set of events may leave more, taken by the next round
		 * at once (level-triggered). */
		if (gather_ms > 0) {
			sleep_ms(gather_ms);
			got = epoll_wait(epfd, evs, sizeof evs / sizeof *evs, 0);
		}
		int64_t now = mono_ms();
		for (int i = 0; i < got; i++)
			many_read(evs[i].data.ptr, buf, sizeof buf, now);
	}
}
