/* Stands in for the C library's read, write and socketpair (see
 * sockio.h).  Fortified headers define read as an inline wrapper, which a
 * definition here may not replace. */
#undef _FORTIFY_SOURCE
#include "sink/sockio.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct {
	int fd;          /* the attached socket, or -1 */
	int open;        /* windows open (mqttconn's entry points) */
	bool making_client;
	char in[16384];
	/* in[in_pos, in_ok): the library's to read; in[in_ok, in_len): the
	 * start of a packet the filter has not seen whole yet */
	size_t in_pos, in_ok, in_len;
	bool drained;    /* the last read(2) emptied the socket */
	struct mqtt_ackfilter acks;
	char *out;
	size_t out_len, out_cap;
} io = { .fd = -1, .acks = { .cap = sizeof io.in } };

static bool ours(int fd) { return fd >= 0 && fd == io.fd && io.open; }

static ssize_t sys_read(int fd, void *buf, size_t n) { return syscall(SYS_read, fd, buf, n); }
static ssize_t sys_write(int fd, const void *buf, size_t n) { return syscall(SYS_write, fd, buf, n); }

/* One read(2) of what the kernel has, after what is waiting in the
 * buffer; our acknowledgements are taken out of it. */
static ssize_t fill(int fd)
{
	size_t tail = io.in_len - io.in_ok;
	memmove(io.in, io.in + io.in_ok, tail);
	io.in_pos = io.in_ok = 0;
	io.in_len = tail;
	size_t room = sizeof io.in - tail;
	ssize_t r = sys_read(fd, io.in + tail, room);
	if (r <= 0) {
		io.drained = r < 0 && errno == EAGAIN;
		return r;
	}
	io.in_len += (size_t)r;
	io.drained = (size_t)r < room;
	io.in_ok = mqtt_take_acks(&io.acks, io.in, 0, &io.in_len);
	return r;
}

ssize_t read(int fd, void *buf, size_t n)
{
	if (!ours(fd))
		return sys_read(fd, buf, n);
	while (io.in_pos == io.in_ok) {
		if (io.drained) {
			errno = EAGAIN; /* as the kernel would say: poll tells when not */
			return -1;
		}
		ssize_t r = fill(fd);
		if (r <= 0)
			return r;
	}
	size_t k = io.in_ok - io.in_pos < n ? io.in_ok - io.in_pos : n;
	memcpy(buf, io.in + io.in_pos, k);
	io.in_pos += k;
	return (ssize_t)k;
}

/* Room for n more bytes to send: NULL when memory ran out. */
static char *room_for(size_t n)
{
	if (io.out_cap - io.out_len < n) {
		size_t cap = io.out_cap ? io.out_cap : 8192;
		while (cap - io.out_len < n)
			cap *= 2;
		char *p = realloc(io.out, cap);
		if (!p)
			return NULL;
		io.out = p;
		io.out_cap = cap;
	}
	return io.out + io.out_len;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (!ours(fd))
		return sys_write(fd, buf, n);
	char *p = room_for(n);
	if (!p) {
		errno = ENOMEM; /* libmosquitto gives up the connection */
		return -1;
	}
	memcpy(p, buf, n);
	io.out_len += n;
	return (ssize_t)n;
}

char *sockio_append(size_t n)
{
	char *p = io.fd >= 0 ? room_for(n) : NULL;
	if (p)
		io.out_len += n;
	return p;
}

void sockio_take_acks(mqtt_ack_fn *fn, void *arg)
{
	io.acks.fn = fn;
	io.acks.arg = arg;
}

int socketpair(int domain, int type, int protocol, int sv[2])
{
	if (io.making_client) {
		errno = EMFILE;
		return -1;
	}
	return (int)syscall(SYS_socketpair, domain, type, protocol, sv);
}

void sockio_making_client(bool on) { io.making_client = on; }

void sockio_attach(int fd)
{
	io.fd = fd;
	io.in_pos = io.in_ok = io.in_len = io.out_len = 0;
	io.drained = false;
	io.acks.pass_left = 0; /* a new connection starts with a packet */
}

void sockio_begin(void)
{
	io.open++;
	io.drained = false; /* more may have come since */
}

void sockio_readable(void) { io.drained = false; }

void sockio_end(void)
{
	if (io.open > 0)
		io.open--;
}

int sockio_flush(void)
{
	size_t off = 0;
	while (io.fd >= 0 && off < io.out_len) {
		ssize_t w = send(io.fd, io.out + off, io.out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno == EINTR)
			continue;
		else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break; /* the rest when poll says POLLOUT */
		else
			return -1;
	}
	if (off == 0)
		return 0;
	memmove(io.out, io.out + off, io.out_len - off);
	io.out_len -= off;
	return 0;
}

size_t sockio_unsent(void) { return io.out_len; }
bool sockio_unread(void) { return io.in_pos < io.in_ok; }
