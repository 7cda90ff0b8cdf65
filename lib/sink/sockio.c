/* Stands in for the C library's read, write and socketpair (see
 * sockio.h).  Fortified headers define read as an inline wrapper, which a
 * definition here may not replace. */
#undef _FORTIFY_SOURCE
#include "sink/sockio.h"

#include <errno.h>
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
	size_t in_pos, in_len;
	bool drained;    /* the last read(2) emptied the socket */
	char *out;
	size_t out_len, out_cap;
} io = { .fd = -1 };

static bool ours(int fd) { return fd >= 0 && fd == io.fd && io.open; }

static ssize_t sys_read(int fd, void *buf, size_t n) { return syscall(SYS_read, fd, buf, n); }
static ssize_t sys_write(int fd, const void *buf, size_t n) { return syscall(SYS_write, fd, buf, n); }

ssize_t read(int fd, void *buf, size_t n)
{
	if (!ours(fd))
		return sys_read(fd, buf, n);
	if (io.in_pos == io.in_len) {
		if (io.drained) {
			errno = EAGAIN; /* as the kernel would say: poll tells when not */
			return -1;
		}
		ssize_t r = sys_read(fd, io.in, sizeof io.in);
		if (r <= 0) {
			io.drained = r < 0 && errno == EAGAIN;
			return r;
		}
		io.in_pos = 0;
		io.in_len = (size_t)r;
		io.drained = io.in_len < sizeof io.in;
	}
	size_t k = io.in_len - io.in_pos < n ? io.in_len - io.in_pos : n;
	memcpy(buf, io.in + io.in_pos, k);
	io.in_pos += k;
	return (ssize_t)k;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (!ours(fd))
		return sys_write(fd, buf, n);
	if (io.out_cap - io.out_len < n) {
		size_t cap = io.out_cap ? io.out_cap : 8192;
		while (cap - io.out_len < n)
			cap *= 2;
		char *p = realloc(io.out, cap);
		if (!p) {
			errno = ENOMEM; /* libmosquitto gives up the connection */
			return -1;
		}
		io.out = p;
		io.out_cap = cap;
	}
	memcpy(io.out + io.out_len, buf, n);
	io.out_len += n;
	return (ssize_t)n;
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
	io.in_pos = io.in_len = io.out_len = 0;
	io.drained = false;
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
bool sockio_unread(void) { return io.in_pos < io.in_len; }
