#include "meter/port.h"

#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/files.h"
#include "base/util.h"

int serial_params_parse(const char *s, struct serial_params *out)
{
	struct serial_params p = { 115200, 8, 'N', 1 };
	char *end;
	errno = 0;
	long baud = strtol(s, &end, 10);
	if (errno || end == s || baud < 50 || baud > 4000000)
		return -1;
	p.baud = (int)baud;
	if (*end == ':') {
		const char *f = end + 1;
		if (strlen(f) != 3 || f[0] < '5' || f[0] > '8')
			return -1;
		p.data_bits = f[0] - '0';
		char par = f[1];
		if (par == 'n' || par == 'e' || par == 'o')
			par = (char)(par - 32);
		if (par != 'N' && par != 'E' && par != 'O')
			return -1;
		p.parity = par;
		if (f[2] != '1' && f[2] != '2')
			return -1;
		p.stop_bits = f[2] - '0';
	} else if (*end) {
		return -1;
	}
	*out = p;
	return 0;
}

void serial_params_format(const struct serial_params *p, char *out, size_t n)
{
	snprintf(out, n, "%d:%d%c%d", p->baud, p->data_bits, p->parity, p->stop_bits);
}

int port_spec_from_options(const char *port, const char *connection, const char *host, char *out, size_t outlen,
                           char *why, size_t whylen)
{
	out[0] = '\0';
	bool tcp = host != NULL;
	if (connection) {
		if (strcmp(connection, "tcp") == 0) {
			tcp = true;
		} else if (strcmp(connection, "stdin") && strcmp(connection, "serial_port") && strcmp(connection, "serial") &&
		           strcmp(connection, "file")) {
			snprintf(why, whylen, "--connection: '%s': expected serial_port, tcp, file or stdin", connection);
			return -1;
		} else if (host) {
			snprintf(why, whylen, "--host goes with --connection=tcp, not --connection=%s", connection);
			return -1;
		} else if (strcmp(connection, "stdin") == 0) {
			snprintf(out, outlen, "-");
			return 0;
		}
	}
	if (!port) {
		if (connection || host) {
			snprintf(why, whylen, "--%s%s: no --port given", connection ? "connection=" : "host",
			         connection ? connection : "");
			return -1;
		}
		return 0;
	}
	int n;
	if (tcp && strncmp(port, "tcp://", 6) != 0) {
		if (!host) {
			snprintf(why, whylen, "--connection=tcp needs --host=HOST or a port of the form tcp://host:port");
			return -1;
		}
		n = snprintf(out, outlen, "tcp://%s:%s", host, port);
	} else {
		n = snprintf(out, outlen, "%s", port);
	}
	if (n < 0 || (size_t)n >= outlen) {
		snprintf(why, whylen, "port name too long");
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int port_options_check(const char *port, const char *connection, const char *host, char *spec, size_t speclen,
                       char *why, size_t whylen)
{
	if (port_spec_from_options(port, connection, host, spec, speclen, why, whylen) < 0)
		return -1;
	struct port p;
	char inner[200];
	if (strncmp(spec, "tcp://", 6) == 0 && port_init(&p, spec, NULL, inner, sizeof inner) < 0) {
		snprintf(why, whylen, "%s: %s", spec, inner);
		return -1;
	}
	return 0;
}

int port_init(struct port *p, const char *spec, const struct serial_params *serial, char *why, size_t whylen)
{
	memset(p, 0, sizeof *p);
	p->fd = -1;
	if (strlen(spec) >= sizeof p->spec) {
		snprintf(why, whylen, "name too long");
		return -1;
	}
	strcpy(p->spec, spec);
	if (serial)
		p->serial = *serial;
	else
		p->serial = (struct serial_params){ 115200, 8, 'N', 1 };
	if (strcmp(spec, "-") == 0) {
		p->kind = PORT_STDIN;
	} else if (strncmp(spec, "tcp://", 6) == 0) {
		p->kind = PORT_TCP;
		const char *hp = spec + 6;
		const char *colon;
		const char *host = hp;
		size_t hostlen;
		if (*hp == '[') { /* [::1]:2001 */
			const char *close = strchr(hp, ']');
			if (!close || close[1] != ':') {
				snprintf(why, whylen, "expected tcp://[ipv6]:port");
				return -1;
			}
			host = hp + 1;
			hostlen = (size_t)(close - host);
			colon = close + 1;
		} else {
			colon = strrchr(hp, ':');
			if (!colon) {
				snprintf(why, whylen, "expected tcp://host:port");
				return -1;
			}
			hostlen = (size_t)(colon - hp);
		}
		const char *portstr = colon + 1;
		long portnum;
		char *end;
		errno = 0;
		portnum = strtol(portstr, &end, 10);
		if (hostlen == 0 || hostlen >= sizeof p->host || errno || *end || end == portstr || portnum < 1 || portnum > 65535) {
			snprintf(why, whylen, "expected tcp://host:port with a port from 1 to 65535");
			return -1;
		}
		memcpy(p->host, host, hostlen);
		p->host[hostlen] = '\0';
		snprintf(p->service, sizeof p->service, "%ld", portnum);
	} else if (strncmp(spec, "/dev/", 5) == 0) {
		p->kind = PORT_SERIAL;
	} else {
		/* A path outside /dev may still be a tty (a socat link in /tmp). */
		p->kind = PORT_FILE;
		int fd = open(spec, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			if (isatty(fd))
				p->kind = PORT_SERIAL;
			close(fd);
		}
	}
	return 0;
}

static speed_t baud_to_speed(int baud)
{
	switch (baud) {
	case 300: return B300;
	case 600: return B600;
	case 1200: return B1200;
	case 2400: return B2400;
	case 4800: return B4800;
	case 9600: return B9600;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	case 460800: return B460800;
	case 921600: return B921600;
	default: return 0;
	}
}

/* The fallback for ttys libserialport refuses (Debian's 0.1.1 rejects
 * /dev/pts/N and fails TIOCMGET on them): raw mode by hand. */
static int open_termios(struct port *p)
{
	int fd = open(p->spec, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(p->why, sizeof p->why, "%s", strerror(errno));
		return -1;
	}
	struct termios t;
	if (tcgetattr(fd, &t) < 0) {
		snprintf(p->why, sizeof p->why, "not a terminal: %s", strerror(errno));
		close(fd);
		return -1;
	}
	cfmakeraw(&t);
	speed_t sp = baud_to_speed(p->serial.baud);
	if (!sp) {
		snprintf(p->why, sizeof p->why, "baud rate %d not supported", p->serial.baud);
		close(fd);
		return -1;
	}
	cfsetispeed(&t, sp);
	cfsetospeed(&t, sp);
	t.c_cflag &= (tcflag_t)~(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
	static const tcflag_t sizes[] = { CS5, CS6, CS7, CS8 };
	t.c_cflag |= sizes[p->serial.data_bits - 5] | CLOCAL | CREAD;
	if (p->serial.parity != 'N')
		t.c_cflag |= PARENB | (p->serial.parity == 'O' ? PARODD : 0);
	if (p->serial.stop_bits == 2)
		t.c_cflag |= CSTOPB;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	int rc = tcsetattr(fd, TCSANOW, &t);
	if (rc < 0 && errno == EINVAL && (t.c_cflag & (CSIZE | PARENB)) != CS8) {
		/* A pseudo-terminal has no UART: Linux keeps it at CS8 without
		 * parity and refuses 7E1 once set (EINVAL).  Its bytes then
		 * carry the parity bit in bit 7, as on an 8N1 port. */
		t.c_cflag &= (tcflag_t)~(CSIZE | PARENB | PARODD);
		t.c_cflag |= CS8;
		rc = tcsetattr(fd, TCSANOW, &t);
	}
	if (rc < 0) {
		snprintf(p->why, sizeof p->why, "cannot configure: %s", strerror(errno));
		close(fd);
		return -1;
	}
	p->fd = fd;
	return 0;
}

static enum sp_parity sp_parity_of(char c)
{
	return c == 'E' ? SP_PARITY_EVEN : c == 'O' ? SP_PARITY_ODD : SP_PARITY_NONE;
}

static int open_libserialport(struct port *p)
{
	struct sp_port *sp;
	if (sp_get_port_by_name(p->spec, &sp) != SP_OK)
		return -1;
	if (sp_open(sp, SP_MODE_READ_WRITE) != SP_OK) {
		sp_free_port(sp);
		return -1;
	}
	int fd = -1;
	if (sp_set_baudrate(sp, p->serial.baud) != SP_OK || sp_set_bits(sp, p->serial.data_bits) != SP_OK ||
	    sp_set_parity(sp, sp_parity_of(p->serial.parity)) != SP_OK || sp_set_stopbits(sp, p->serial.stop_bits) != SP_OK ||
	    sp_set_flowcontrol(sp, SP_FLOWCONTROL_NONE) != SP_OK || sp_get_port_handle(sp, &fd) != SP_OK || fd < 0) {
		sp_close(sp);
		sp_free_port(sp);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	p->sp = sp;
	p->fd = fd;
	return 0;
}

/* What every TCP link gets once connected. */
static void tcp_connected(struct port *p, int fd)
{
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	p->fd = fd;
}

/* Connects to p->host:p->service, each address in turn.  wait: a
 * connection in progress is waited for, 5 s at most; else it is returned
 * as it is (1, p->fd set) for the caller's own poll. */
static int connect_tcp(struct port *p, bool wait)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	int rc = getaddrinfo(p->host, p->service, &hints, &res);
	if (rc) {
		snprintf(p->why, sizeof p->why, "%s", gai_strerror(rc));
		return -1;
	}
	int fd = -1, result = -1;
	for (struct addrinfo *ai = res; ai && result < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			result = 0;
			break;
		}
		if (errno == EINPROGRESS && !wait) {
			p->fd = fd;
			result = 1;
			break;
		}
		if (errno == EINPROGRESS) {
			/* A dongle that does not answer must not hang us forever. */
			struct pollfd pfd = { fd, POLLOUT, 0 };
			int err = 0;
			socklen_t len = sizeof err;
			if (poll(&pfd, 1, 5000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
				result = 0;
				break;
			}
			errno = err ? err : ETIMEDOUT;
		}
		snprintf(p->why, sizeof p->why, "%s", strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (result == 0)
		tcp_connected(p, fd);
	return result;
}

int port_open_start(struct port *p)
{
	if (p->kind != PORT_TCP)
		return port_open(p);
	p->why[0] = '\0';
	p->eof = false;
	return connect_tcp(p, false);
}

int port_open_finish(struct port *p)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		snprintf(p->why, sizeof p->why, "%s", strerror(err));
		close(p->fd);
		p->fd = -1;
		return -1;
	}
	tcp_connected(p, p->fd);
	return 0;
}

int port_open(struct port *p)
{
	p->why[0] = '\0';
	p->eof = false;
	switch (p->kind) {
	case PORT_STDIN:
		p->fd = STDIN_FILENO;
		return 0;
	case PORT_FILE:
		p->fd = open(p->spec, O_RDONLY | O_CLOEXEC);
		if (p->fd < 0) {
			snprintf(p->why, sizeof p->why, "%s", strerror(errno));
			return -1;
		}
		return 0;
	case PORT_TCP:
		return connect_tcp(p, true);
	case PORT_SERIAL:
		if (access(p->spec, F_OK) < 0) {
			snprintf(p->why, sizeof p->why, "%s", strerror(errno));
			return -1;
		}
		if (open_libserialport(p) == 0)
			return 0;
		return open_termios(p);
	}
	return -1;
}

void port_close(struct port *p)
{
	if (p->sp) {
		sp_close(p->sp);
		sp_free_port(p->sp);
		p->sp = NULL;
	} else if (p->fd >= 0 && p->kind != PORT_STDIN) {
		close(p->fd);
	}
	p->fd = -1;
}

/* The read after poll said so: the count, 0 when there was nothing after
 * all (EINTR, EAGAIN), -1 with p->why (and p->eof) when the port is done. */
static ssize_t read_once(struct port *p, void *buf, size_t n)
{
	ssize_t got = read(p->fd, buf, n);
	if (got > 0)
		return got;
	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (got == 0 && (p->kind == PORT_FILE || p->kind == PORT_STDIN)) {
		p->eof = true;
		snprintf(p->why, sizeof p->why, "end of input");
	} else if (got == 0) {
		snprintf(p->why, sizeof p->why, p->kind == PORT_TCP ? "connection closed by peer" : "device hung up");
	} else {
		if (p->kind == PORT_FILE || p->kind == PORT_STDIN)
			p->eof = true;
		snprintf(p->why, sizeof p->why, "%s", strerror(errno));
	}
	return -1;
}

ssize_t port_read(struct port *p, void *buf, size_t n, int timeout_ms)
{
	for (;;) {
		/* Regular files are always readable; poll() would say so too. */
		if (p->kind != PORT_FILE) {
			struct pollfd pfd = { p->fd, POLLIN, 0 };
			int r = poll(&pfd, 1, timeout_ms);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				snprintf(p->why, sizeof p->why, "poll: %s", strerror(errno));
				return -1;
			}
			if (r == 0)
				return 0;
		}
		ssize_t got = read_once(p, buf, n);
		if (got != 0)
			return got;
	}
}

ssize_t port_read_ready(struct port *p, void *buf, size_t n)
{
	return read_once(p, buf, n);
}

int port_write(struct port *p, const void *buf, size_t n)
{
	if (write_all(p->fd, buf, n, 5000) < 0) {
		snprintf(p->why, sizeof p->why, "%s", errno == ETIMEDOUT ? "write timed out" : strerror(errno));
		return -1;
	}
	return 0;
}

void port_discard_input(struct port *p)
{
	if (p->kind == PORT_SERIAL)
		tcflush(p->fd, TCIFLUSH);
	char junk[256];
	/* TCP (and ttys where tcflush is not enough): drain what is queued. */
	while (p->kind != PORT_FILE && p->kind != PORT_STDIN && read(p->fd, junk, sizeof junk) > 0)
		;
}

bool port_can_reconnect(const struct port *p)
{
	return p->kind == PORT_SERIAL || p->kind == PORT_TCP;
}

/* Sleeps ms, waking for the idle hook as often as it asks. */
static void wait_ms(const struct port *p, long ms)
{
	int64_t end = mono_ms() + ms;
	for (int64_t now = mono_ms(); now < end; now = mono_ms()) {
		long step = (long)(end - now);
		int next = p->idle ? p->idle(p->idle_arg) : -1;
		if (next >= 0 && next < step)
			step = next > 10 ? next : 10;
		sleep_ms(step);
	}
}

int port_reconnect(struct port *p, int cap_s)
{
	bool was_open = p->fd >= 0;
	port_close(p);
	if (!port_can_reconnect(p))
		return -1;
	long delay_ms = 1000, cap_ms = (long)(cap_s > 0 ? cap_s : 1) * 1000;
	/* At start-up nothing was lost: say only that it cannot be opened. */
	bool said_waiting = !was_open;
	if (was_open)
		warnx("%s: lost: %s; reconnecting", p->spec, p->why);
	else
		warnx("%s: cannot open: %s; retrying every %ld s at most", p->spec, p->why, cap_ms / 1000);
	for (;;) {
		wait_ms(p, delay_ms);
		if (port_open(p) == 0) {
			warnx("%s: connected again", p->spec);
			return 0;
		}
		if (!said_waiting) {
			/* One line per change of state, not one per attempt. */
			warnx("%s: cannot open: %s; retrying every %ld s at most", p->spec, p->why, cap_ms / 1000);
			said_waiting = true;
		}
		delay_ms = delay_ms * 2 > cap_ms ? cap_ms : delay_ms * 2;
	}
}

int port_list(FILE *out)
{
	struct sp_port **ports;
	if (sp_list_ports(&ports) != SP_OK)
		return -1;
	int n = 0;
	for (; ports[n]; n++) {
		struct sp_port *sp = ports[n];
		const char *name = sp_get_port_name(sp);
		if (sp_get_port_transport(sp) == SP_TRANSPORT_USB) {
			int vid = 0, pid = 0;
			sp_get_port_usb_vid_pid(sp, &vid, &pid);
			const char *man = sp_get_port_usb_manufacturer(sp);
			const char *prod = sp_get_port_usb_product(sp);
			const char *serial = sp_get_port_usb_serial(sp);
			fprintf(out, "%s\tusb %04x:%04x\t%s\t%s\t%s\n", name, vid, pid, man ? man : "-", prod ? prod : "-",
			        serial ? serial : "-");
		} else {
			const char *desc = sp_get_port_description(sp);
			fprintf(out, "%s\tnative\t-\t%s\t-\n", name, desc ? desc : "-");
		}
	}
	sp_free_port_list(ports);
	return n;
}
