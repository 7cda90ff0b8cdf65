/* listen.c: see listen.h. */
#include "meter/listen.h"

#include <stdint.h>
#include <stdio.h>

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
