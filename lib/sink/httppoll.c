#include "sink/httppoll.h"

#include <stdlib.h>

#include "base/err.h"
#include "base/util.h"

struct httppoll {
	CURLM *multi;
	struct pollfd *fd; /* the sockets libcurl asked us to watch */
	size_t n, cap;
	int64_t timer_ms;
};

/* ---- libcurl's callbacks: they only take note ---- */

static struct pollfd *find(struct httppoll *h, curl_socket_t s)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->fd[i].fd == s)
			return &h->fd[i];
	return NULL;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *arg, void *socketp)
{
	(void)easy, (void)socketp;
	struct httppoll *h = arg;
	struct pollfd *p = find(h, s);
	if (what == CURL_POLL_REMOVE) {
		if (p)
			*p = h->fd[--h->n];
		return 0;
	}
	if (!p) {
		if (h->n == h->cap) {
			size_t cap = h->cap ? h->cap * 2 : 4;
			struct pollfd *fd = realloc(h->fd, cap * sizeof *fd);
			if (!fd)
				return -1; /* libcurl fails the transfer */
			h->fd = fd;
			h->cap = cap;
		}
		p = &h->fd[h->n++];
		p->fd = s;
	}
	p->events = (short)((what & CURL_POLL_IN ? POLLIN : 0) | (what & CURL_POLL_OUT ? POLLOUT : 0));
	p->revents = 0;
	return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
	(void)multi;
	struct httppoll *h = arg;
	h->timer_ms = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
	return 0;
}

/* ---- the caller's side ---- */

struct httppoll *httppoll_new(void)
{
	struct httppoll *h = calloc(1, sizeof *h);
	if (!h || curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(h->multi = curl_multi_init())) {
		die(EXIT_RUNTIME, "cannot set up libcurl");
		return NULL; /* for cppcheck, which does not know die */
	}
	h->timer_ms = INT64_MAX;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void httppoll_free(struct httppoll *h)
{
	if (!h)
		return;
	curl_multi_cleanup(h->multi);
	free(h->fd);
	free(h);
	curl_global_cleanup();
}

void httppoll_add(struct httppoll *h, CURL *easy)
{
	CURLMcode rc = curl_multi_add_handle(h->multi, easy);
	if (rc != CURLM_OK)
		die(EXIT_RUNTIME, "libcurl: %s", curl_multi_strerror(rc));
}

size_t httppoll_nfds(const struct httppoll *h) { return h->n; }

void httppoll_fill(const struct httppoll *h, struct pollfd *p)
{
	for (size_t i = 0; i < h->n; i++)
		p[i] = (struct pollfd){ h->fd[i].fd, h->fd[i].events, 0 };
}

static void act(struct httppoll *h, curl_socket_t s, int mask)
{
	int running;
	CURLMcode rc = curl_multi_socket_action(h->multi, s, mask, &running);
	if (rc != CURLM_OK)
		die(EXIT_RUNTIME, "libcurl: %s", curl_multi_strerror(rc));
}

void httppoll_io(struct httppoll *h, const struct pollfd *p, size_t n)
{
	/* p is the caller's copy: the callbacks may change h->fd meanwhile. */
	for (size_t i = 0; i < n; i++) {
		short r = p[i].revents;
		if (!r)
			continue;
		act(h, p[i].fd,
		    (r & POLLIN ? CURL_CSELECT_IN : 0) | (r & POLLOUT ? CURL_CSELECT_OUT : 0) |
		        (r & (POLLERR | POLLHUP | POLLNVAL) ? CURL_CSELECT_ERR : 0));
	}
	if (mono_ms() >= h->timer_ms) {
		h->timer_ms = INT64_MAX; /* unless libcurl sets a new one */
		act(h, CURL_SOCKET_TIMEOUT, 0);
	}
}

int64_t httppoll_wake(const struct httppoll *h) { return h->timer_ms; }

CURL *httppoll_done(struct httppoll *h, CURLcode *result)
{
	int left;
	CURLMsg *m;
	while ((m = curl_multi_info_read(h->multi, &left)))
		if (m->msg == CURLMSG_DONE) {
			CURL *easy = m->easy_handle;
			*result = m->data.result;
			curl_multi_remove_handle(h->multi, easy);
			return easy;
		}
	return NULL;
}
