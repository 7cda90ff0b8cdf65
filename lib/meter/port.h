/* port.h: one way to open what a reader reads from.
 *
 *   /dev/ttyUSB0      a serial port (libserialport; plain termios for ttys it
 *                     refuses, such as pseudo-terminals)
 *   tcp://host:port   a network P1 dongle or ser2net
 *   -                 standard input
 *   anything else     a file (a capture to replay)
 *
 * Every kind is read through poll(2) on one descriptor, so readers block in
 * the kernel between telegrams and never spin. */
#ifndef M2M_PORT_H
#define M2M_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

enum port_kind { PORT_SERIAL, PORT_TCP, PORT_FILE, PORT_STDIN };

struct serial_params {
	int baud;       /* 300 .. 4000000 */
	int data_bits;  /* 5 .. 8 */
	char parity;    /* 'N', 'E', 'O' */
	int stop_bits;  /* 1 or 2 */
};

struct sp_port;

struct port {
	enum port_kind kind;
	char spec[256];
	char host[256];
	char service[16];
	struct serial_params serial;
	int fd;
	struct sp_port *sp;     /* libserialport handle, NULL with termios */
	bool eof;               /* a file or stdin has ended: nothing comes back */
	bool lost_logged;
	char why[256];          /* why the last open or read failed */
	/* Set by the caller after port_init: called while port_reconnect
	 * waits, again after the milliseconds it returns (-1: not again before
	 * the next attempt).  A reader's health lines go on in an outage. */
	int (*idle)(void *arg);
	void *idle_arg;
};

/* "115200:8N1", "9600:7E1", "1200:8N2" or just "115200" (8N1). */
int serial_params_parse(const char *s, struct serial_params *out);
void serial_params_format(const struct serial_params *p, char *out, size_t n);

/* The port a reader reads from, by one rule for every reader, from the
 * options mtrcfg generates: port (--port or the positional argument),
 * connection (--connection: serial_port, tcp, file or stdin) and host
 * (--host, which means tcp).  Writes a spec for port_init to out, or ""
 * when nothing names a port (the caller decides: stdin, or an error).
 * Returns 0, or -1 with why. */
int port_spec_from_options(const char *port, const char *connection, const char *host, char *out, size_t outlen,
                           char *why, size_t whylen);

/* The rule above and the form of a tcp:// spec, without opening anything:
 * what a reader's --check does, for config checks (mtrcfg) to call rather
 * than restate.  Returns 0 with spec as above, or -1 with why. */
int port_options_check(const char *port, const char *connection, const char *host, char *spec, size_t speclen,
                       char *why, size_t whylen);

/* Records what to open; checks only the form of spec (a bad tcp:// URL is a
 * usage error).  Returns 0, or -1 with why filled in. */
int port_init(struct port *p, const char *spec, const struct serial_params *serial, char *why, size_t whylen);
/* One attempt to open.  Returns 0, or -1 with p->why. */
int port_open(struct port *p);
/* The same without waiting for a TCP connection: 1 while it is in
 * progress (p->fd set: poll it for POLLOUT, then port_open_finish, or
 * port_close to give up), else as port_open. */
int port_open_start(struct port *p);
/* The connection port_open_start began, once poll says it is writable:
 * 0 open, or -1 with p->why (closed). */
int port_open_finish(struct port *p);
void port_close(struct port *p);
/* Waits up to timeout_ms (-1: forever) for bytes.  Returns the count read,
 * 0 on timeout, -1 when the link was lost or the input ended (p->eof set
 * for a file or stdin that ended; p->why says why). */
ssize_t port_read(struct port *p, void *buf, size_t n, int timeout_ms);
/* The read when the caller's own poll said the port is readable: the
 * count, 0 when nothing was there after all, -1 as port_read. */
ssize_t port_read_ready(struct port *p, void *buf, size_t n);
/* Writes all of buf (serial, TCP).  Returns 0, or -1 with p->why. */
int port_write(struct port *p, const void *buf, size_t n);
/* Discards bytes already received and not yet read (stale replies). */
void port_discard_input(struct port *p);
/* After a loss: closes, then retries opening with capped exponential
 * backoff (1 s doubling to cap_s), logging one line when the link goes and
 * one when it is back, never spinning.  Returns 0 when open again; -1 at
 * once for a file or stdin, which cannot come back. */
int port_reconnect(struct port *p, int cap_s);
/* True when the kind can come back after a loss (serial, TCP). */
bool port_can_reconnect(const struct port *p);
/* --list-ports: one line per serial port: name, USB vendor:product,
 * manufacturer, product, serial number.  Returns the number listed or -1. */
int port_list(FILE *out);

#endif
