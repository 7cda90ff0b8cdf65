/* fanin.c: see fanin.h. */
#include "sink/fanin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

/* A reading line is a few KiB: a first read of one page per FIFO keeps a
 * thousand of them small; a longer line grows its own buffer. */
#define SRC_READ_FIRST 4096

static bool hidden(const char *name) { return name[0] == '.'; }

static void add_source(struct fanin *f, const char *name)
{
	if (hidden(name) || fanin_find(f, name))
		return;
	int fd = openat(f->dirfd, name, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return; /* not a FIFO (or gone again): nothing to read */
	}
	struct fan_src *s = calloc(1, sizeof *s);
	struct fan_src **g = realloc(f->v, (f->n + 1) * sizeof *g);
	if (g)
		f->v = g;
	if (!s || !g || !(s->name = strdup(name)) || linein_init_cap(&s->in, f->line_max, SRC_READ_FIRST) < 0) {
		warnx("%s: out of memory: not read", name);
		if (s)
			free(s->name);
		free(s);
		close(fd);
		return;
	}
	s->fd = fd;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
	if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		warn_errno("%s: cannot watch", name);
		linein_free(&s->in);
		free(s->name);
		free(s);
		close(fd);
		return;
	}
	f->v[f->n++] = s;
	logmsg(LOG_DEBUG, "fan-in: reading %s", name);
}

static void read_source(struct fanin *f, struct fan_src *s, line_fn *fn, void *arg)
{
	f->current = s;
	if (linein_read(&s->in, s->fd, fn, arg) < 0)
		warn_errno("%s", s->name);
	f->current = NULL;
}

/* Removed from the directory: what its reader wrote before is read (its
 * last line without a newline is a line cut short, and dropped), then it
 * is closed. */
static void remove_source(struct fanin *f, const char *name, line_fn *fn, void *arg)
{
	struct fan_src *s = fanin_find(f, name);
	if (!s)
		return;
	int left;
	while (ioctl(s->fd, FIONREAD, &left) == 0 && left > 0)
		read_source(f, s, fn, arg);
	epoll_ctl(f->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	size_t i = 0;
	while (f->v[i] != s)
		i++;
	f->v[i] = f->v[--f->n];
	logmsg(LOG_DEBUG, "fan-in: %s removed", name);
	if (f->on_gone)
		f->on_gone(arg, s);
	linein_free(&s->in);
	free(s->name);
	free(s);
}

struct fan_src *fanin_find(const struct fanin *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i]->name, name) == 0)
			return f->v[i];
	return NULL;
}

int fanin_open(struct fanin *f, int dirfd, size_t line_max, char *why, size_t whylen)
{
	memset(f, 0, sizeof *f);
	f->dirfd = dirfd;
	f->line_max = line_max;
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	f->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	char self[64];
	snprintf(self, sizeof self, "/proc/self/fd/%d", dirfd);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (f->epfd < 0 || f->inofd < 0 ||
	    inotify_add_watch(f->inofd, self, IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR) < 0 ||
	    epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->inofd, &ev) < 0) {
		snprintf(why, whylen, "cannot watch the directory: %s", strerror(errno));
		return -1;
	}
	/* Watched first, listed second: a FIFO made in between is in both
	 * (add_source takes it once). */
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		snprintf(why, whylen, "cannot list the directory: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d)))
		add_source(f, e->d_name);
	closedir(d);
	return 0;
}

/* What inotify says: FIFOs added and removed. */
static int directory_news(struct fanin *f, line_fn *fn, void *arg)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(f->inofd, buf, sizeof buf);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			p += sizeof *e + e->len;
			if (e->mask & IN_Q_OVERFLOW)
				warnx("fan-in: too many changes at once: a device added now is read after a restart");
			if (!e->len)
				continue;
			if (e->mask & (IN_CREATE | IN_MOVED_TO))
				add_source(f, e->name);
			else if (e->mask & (IN_DELETE | IN_MOVED_FROM))
				remove_source(f, e->name, fn, arg);
		}
	}
}

int fanin_read(struct fanin *f, line_fn *fn, void *arg)
{
	struct epoll_event evs[64];
	int n = epoll_wait(f->epfd, evs, 64, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	/* The FIFOs first: a FIFO removed is read to its end anyway. */
	bool news = false;
	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr)
			read_source(f, evs[i].data.ptr, fn, arg);
		else
			news = true;
	}
	return news ? directory_news(f, fn, arg) : 0;
}

void fanin_close(struct fanin *f)
{
	for (size_t i = 0; i < f->n; i++) {
		close(f->v[i]->fd);
		linein_free(&f->v[i]->in);
		free(f->v[i]->name);
		free(f->v[i]);
	}
	free(f->v);
	f->v = NULL;
	f->n = 0;
	if (f->epfd >= 0)
		close(f->epfd);
	if (f->inofd >= 0)
		close(f->inofd);
	close(f->dirfd);
}
