#include "sink/mqttconn.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/err.h"
#include "base/util.h"

/* Messages handed to libmosquitto and not yet acknowledged, at most. */
#define WINDOW 256
/* A reading's acknowledgements come in a few bursts as the broker gets to
 * them: read them together, this long after the reading was sent. */
#define ACK_BATCH_MS 20
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000

/* ---- the broker socket's I/O, batched ----
 *
 * libmosquitto 2.0 reads a packet's fixed header a byte at a time (three
 * read(2) calls for every PUBACK, then one that fails with EAGAIN to learn
 * that there is no more), writes every packet with a write(2) of its own,
 * and writes a byte for each into a socket pair that only its loop thread
 * would read (mqttpub has none, so nobody drains it, and once it is full
 * those writes fail).  For one reading of 35 values that is some 175
 * system calls.  Without changing the library: mqttpub routes read(2),
 * write(2) and socketpair(2) through mc_read, mc_write and mc_socketpair
 * (src/mqttpub.c), which leave every other descriptor alone.  On the
 * broker's socket a read takes what is there into a buffer the library's
 * small reads are served from, and writes gather until mqttconn returns to
 * the caller's loop, then leave in one write(2): one batch of packets per
 * reading.  The socket pair is never made: libmosquitto then only warns
 * that publishes "may be delayed", which concerns its loop thread. */
static struct {
	int fd;                 /* the broker's socket, -1 before connect */
	char in[16384];
	size_t in_pos, in_len;
	bool drained;           /* the last read emptied the socket */
	char *out;
	size_t out_len, out_cap;
	bool making_client;     /* in mosquitto_new: no socket pair */
} io = { .fd = -1 };

/* Gathered bytes beyond this stop mc_pump, as a full socket would. */
#define IO_OUT_HIGH 65536

static void io_reset(void)
{
	io.fd = -1;
	io.in_pos = io.in_len = io.out_len = 0;
	io.drained = false;
}

ssize_t mc_read(int fd, void *buf, size_t n)
{
	if (fd != io.fd || fd < 0)
		return syscall(SYS_read, fd, buf, n);
	if (io.in_pos == io.in_len) {
		if (io.drained) {
			errno = EAGAIN; /* the kernel would say so: poll tells when not */
			return -1;
		}
		ssize_t r = syscall(SYS_read, fd, io.in, sizeof io.in);
		if (r < 0 && errno == EAGAIN)
			io.drained = true;
		if (r <= 0)
			return r;
		io.in_pos = 0;
		io.in_len = (size_t)r;
		io.drained = io.in_len < sizeof io.in;
	}
	size_t k = io.in_len - io.in_pos < n ? io.in_len - io.in_pos : n;
	memcpy(buf, io.in + io.in_pos, k);
	io.in_pos += k;
	return (ssize_t)k;
}

ssize_t mc_write(int fd, const void *buf, size_t n)
{
	if (fd != io.fd || fd < 0)
		return syscall(SYS_write, fd, buf, n);
	if (io.out_cap - io.out_len < n) {
		size_t cap = io.out_cap ? io.out_cap : 8192;
		while (cap - io.out_len < n)
			cap *= 2;
		char *p = realloc(io.out, cap);
		if (!p) {
			errno = ENOMEM;
			return -1;
		}
		io.out = p;
		io.out_cap = cap;
	}
	memcpy(io.out + io.out_len, buf, n);
	io.out_len += n;
	return (ssize_t)n;
}

int mc_socketpair(int domain, int type, int protocol, int sv[2])
{
	if (io.making_client) {
		errno = EMFILE;
		return -1;
	}
	return (int)syscall(SYS_socketpair, domain, type, protocol, sv);
}

/* Sends what was gathered, as far as the socket takes it.  Returns 0, or
 * -1 with errno when the connection is gone. */
static int io_flush(void)
{
	size_t off = 0;
	while (off < io.out_len) {
		ssize_t w = send(io.fd, io.out + off, io.out_len - off, MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno == EINTR)
			continue;
		else if (w < 0 && errno == EAGAIN)
			break; /* the rest when poll says POLLOUT */
		else
			return -1;
	}
	memmove(io.out, io.out + off, io.out_len - off);
	io.out_len -= off;
	return 0;
}

void mc_lib_init(void) { mosquitto_lib_init(); }
void mc_lib_cleanup(void) { mosquitto_lib_cleanup(); }

static const char *host_of(const struct mqttconn *c) { return c->s->host; }

/* ---- libmosquitto callbacks: they only take note ---- */

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags, const mosquitto_property *props)
{
	(void)m, (void)flags, (void)props;
	struct mqttconn *c = obj;
	c->cb_connack = true;
	c->cb_connack_rc = rc;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc, const mosquitto_property *props)
{
	(void)m, (void)rc, (void)props;
	struct mqttconn *c = obj;
	c->cb_lost = true;
}

static void on_publish(struct mosquitto *m, void *obj, int mid, int reason, const mosquitto_property *props)
{
	(void)m, (void)props;
	struct mqttconn *c = obj;
	/* Message ids wrap at 65535: forget these once acknowledged. */
	if (mid == c->offline_mid) {
		c->offline_acked = true;
		c->offline_mid = -1;
		return;
	}
	if (mid == c->online_mid) {
		c->online_mid = -1;
		return;
	}
	if (queue_ack(c->q, mid) && reason >= 128) {
		/* MQTT 5: the broker took it and said no (not authorized,
		 * quota); sending it again would not help. */
		c->rejected++;
		logmsg(LOG_WARN, "broker refused a message: %s", mosquitto_reason_string(reason));
	}
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)m;
	struct mqttconn *c = obj;
	/* Home Assistant's birth message: it has (re)started and wants the
	 * discovery configs again. */
	if (msg->payloadlen == 6 && memcmp(msg->payload, "online", 6) == 0)
		c->cb_birth = true;
}

static void on_log(struct mosquitto *m, void *obj, int level, const char *text)
{
	(void)m;
	struct mqttconn *c = obj;
	if (level & MOSQ_LOG_ERR)
		snprintf(c->lib_error, sizeof c->lib_error, "%s", text);
	logmsg(LOG_DEBUG, "libmosquitto: %s", text);
}

/* ---- the connection ---- */

static int no_key_password(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf, (void)size, (void)rwflag, (void)userdata;
	return 0; /* never prompt on a terminal: an encrypted key fails */
}

_Noreturn static void fatal(const struct mqttconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fatal(const struct mqttconn *c, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->q->count)
		die(EXIT_RUNTIME, "%s (%zu queued messages lost)", msg, c->q->count);
	die(EXIT_RUNTIME, "%s", msg);
}

static void setup_or_die(const struct mqttconn *c, int rc, const char *what)
{
	if (rc != MOSQ_ERR_SUCCESS)
		fatal(c, "%s: %s", what, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
}

static struct mosquitto *new_client(struct mqttconn *c)
{
	const struct mqtt_settings *s = c->s;
	io.making_client = true;
	struct mosquitto *m = mosquitto_new(c->client_id, true, c);
	io.making_client = false;
	if (!m)
		fatal(c, "cannot create an MQTT client: %s", strerror(errno));
	setup_or_die(c, mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, s->protocol), "MQTT protocol");
	setup_or_die(c, mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, WINDOW), "send maximum");
	/* A reading is complete when it is written: no waiting for more. */
	setup_or_die(c, mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1), "TCP_NODELAY");
	if (s->username)
		setup_or_die(c, mosquitto_username_pw_set(m, s->username, s->password), "user name");
	if (s->tls) {
		if (s->cafile || s->capath)
			setup_or_die(c, mosquitto_tls_set(m, s->cafile, s->capath, s->cert, s->key, no_key_password),
			             "TLS files");
		else
			setup_or_die(c, mosquitto_int_option(m, MOSQ_OPT_TLS_USE_OS_CERTS, 1), "system CA store");
		if (s->insecure || s->tls_version)
			setup_or_die(c, mosquitto_tls_opts_set(m, s->insecure ? 0 : 1, s->tls_version, NULL),
			             "TLS options");
		if (s->insecure)
			setup_or_die(c, mosquitto_tls_insecure_set(m, true), "TLS options");
	}
	setup_or_die(c, mosquitto_will_set(m, c->status_topic, 7, "offline", 1, true), "will");
	mosquitto_connect_v5_callback_set(m, on_connect);
	mosquitto_disconnect_v5_callback_set(m, on_disconnect);
	mosquitto_publish_v5_callback_set(m, on_publish);
	mosquitto_message_callback_set(m, on_message);
	mosquitto_log_callback_set(m, on_log);
	return m;
}

static void drop_client(struct mqttconn *c)
{
	if (c->mosq)
		mosquitto_destroy(c->mosq);
	c->mosq = NULL;
	io_reset();
	/* libmosquitto's copies died with it; ours go out again, in order. */
	queue_unsend_all(c->q);
	c->online_mid = c->offline_mid = -1;
}

static void schedule_retry(struct mqttconn *c, const char *why)
{
	drop_client(c);
	if (!c->warned_down)
		warnx("broker %s:%d: %s; retrying (every %d s at most)", host_of(c), c->s->port, why,
		      BACKOFF_MAX_MS / 1000);
	else
		logmsg(LOG_DEBUG, "broker %s:%d: %s; next try in %d ms", host_of(c), c->s->port, why, c->backoff_ms);
	c->warned_down = true;
	c->state = MC_WAIT;
	c->next_attempt_ms = mono_ms() + c->backoff_ms;
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void connect_attempt(struct mqttconn *c)
{
	drop_client(c);
	c->mosq = new_client(c);
	c->lib_error[0] = '\0';
	c->cb_connack = c->cb_lost = false;
	errno = 0;
	int rc = mosquitto_connect_bind_async(c->mosq, host_of(c), c->s->port, c->s->keepalive, NULL);
	if (rc == MOSQ_ERR_SUCCESS) {
		io_reset();
		io.fd = mosquitto_socket(c->mosq);
		c->state = MC_CONNECTING;
		c->connack_deadline_ms = mono_ms() + (int64_t)c->s->keepalive * 1000;
		return;
	}
	if (rc == MOSQ_ERR_EAI) {
		/* libmosquitto leaves getaddrinfo's code in errno. */
		int eai = errno;
		if (eai == EAI_AGAIN)
			schedule_retry(c, "name lookup failed for now");
		else
			fatal(c, "broker host %s: %s", host_of(c), gai_strerror(eai));
		return;
	}
	if (rc == MOSQ_ERR_TLS)
		fatal(c, "TLS handshake with %s:%d failed: %s", host_of(c), c->s->port,
		      c->lib_error[0] ? c->lib_error : mosquitto_strerror(rc));
	if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_NOMEM || rc == MOSQ_ERR_NOT_SUPPORTED)
		fatal(c, "cannot connect to %s:%d: %s", host_of(c), c->s->port, mosquitto_strerror(rc));
	schedule_retry(c, rc == MOSQ_ERR_ERRNO && errno ? strerror(errno) : mosquitto_strerror(rc));
}

/* CONNACK codes that say the broker is busy, not that we are wrong. */
static bool connack_retryable(const struct mqttconn *c, int rc)
{
	if (c->s->protocol == MQTT_V5)
		return rc == MQTT_RC_SERVER_UNAVAILABLE || rc == MQTT_RC_SERVER_BUSY || rc == MQTT_RC_QUOTA_EXCEEDED ||
		       rc == MQTT_RC_CONNECTION_RATE_EXCEEDED;
	return rc == CONNACK_REFUSED_SERVER_UNAVAILABLE;
}

static void on_connected(struct mqttconn *c)
{
	c->state = MC_CONNECTED;
	/* libmosquitto formats a log line (malloc, vsnprintf) for every
	 * packet while a log callback is set: a tenth of mqttpub's CPU at
	 * full speed.  Its errors matter only during the handshake. */
	if (log_threshold < LOG_DEBUG)
		mosquitto_log_callback_set(c->mosq, NULL);
	if (c->warned_down)
		warnx("broker %s:%d: connected", host_of(c), c->s->port);
	c->warned_down = false;
	c->backoff_ms = BACKOFF_FIRST_MS;
	int rc = mosquitto_publish(c->mosq, &c->online_mid, c->status_topic, 6, "online", 1, true);
	if (rc != MOSQ_ERR_SUCCESS)
		logmsg(LOG_WARN, "cannot publish %s: %s", c->status_topic, mosquitto_strerror(rc));
	if (c->subscribe)
		mosquitto_subscribe(c->mosq, NULL, c->subscribe, 1);
	if (c->on_connected)
		c->on_connected(c->arg);
}

static void handle_connack(struct mqttconn *c)
{
	c->cb_connack = false;
	int rc = c->cb_connack_rc;
	if (rc == 0) {
		on_connected(c);
		return;
	}
	const char *text = c->s->protocol == MQTT_V5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
	if (connack_retryable(c, rc)) {
		schedule_retry(c, text);
		return;
	}
	fatal(c, "broker %s:%d refused the connection: %s", host_of(c), c->s->port, text);
}

/* The connection ended (rc from loop_read/loop_write/loop_misc, or 0 when
 * only the callback told us). */
static void connection_lost(struct mqttconn *c, int rc)
{
	bool handshake = c->state == MC_CONNECTING;
	c->cb_lost = false;
	if (handshake && rc == MOSQ_ERR_TLS)
		fatal(c, "TLS handshake with %s:%d failed: %s", host_of(c), c->s->port,
		      c->lib_error[0] ? c->lib_error : "see the broker's log");
	const char *why = rc == MOSQ_ERR_ERRNO && errno ? strerror(errno)
	                  : rc                         ? mosquitto_strerror(rc)
	                                               : "connection closed";
	schedule_retry(c, why);
}

/* The library reads at most as many packets as it has messages in flight
 * per call; what is left in our buffer no poll would announce. */
static int read_all(struct mqttconn *c)
{
	int rc;
	do
		rc = mosquitto_loop_read(c->mosq, 1);
	while (rc == MOSQ_ERR_SUCCESS && c->mosq && io.in_pos < io.in_len);
	return rc;
}

/* Sends what the library wrote meanwhile; the end of every entry point. */
static void io_done(struct mqttconn *c)
{
	if (c->mosq && io.out_len && io_flush() < 0)
		connection_lost(c, MOSQ_ERR_ERRNO);
}

/* ---- the caller's loop ---- */

void mc_init(struct mqttconn *c, const struct mqtt_settings *s, struct queue *q)
{
	memset(c, 0, sizeof *c);
	c->s = s;
	c->q = q;
	c->state = MC_IDLE;
	c->backoff_ms = BACKOFF_FIRST_MS;
	c->online_mid = c->offline_mid = -1;
}

void mc_start(struct mqttconn *c, const char *client_id, const char *status_topic)
{
	c->client_id = client_id;
	c->status_topic = status_topic;
	c->state = MC_WAIT;
	c->next_attempt_ms = mono_ms();
}

void mc_tick(struct mqttconn *c, int64_t now)
{
	if (c->state == MC_WAIT && now >= c->next_attempt_ms)
		connect_attempt(c);
	if (c->state == MC_CONNECTING && now >= c->connack_deadline_ms)
		connection_lost(c, MOSQ_ERR_KEEPALIVE);
	if (c->mosq && c->state >= MC_CONNECTING) {
		int rc = mosquitto_loop_misc(c->mosq);
		if (rc != MOSQ_ERR_SUCCESS || c->cb_lost)
			connection_lost(c, rc);
	}
	io_done(c);
}

/* Acknowledgements can wait a little while nothing waits for them: no
 * message queued behind a full window, no handshake.  One wake-up then
 * takes a reading's 35 PUBACKs instead of one per burst. */
static bool acks_can_wait(const struct mqttconn *c, int64_t now)
{
	return c->state == MC_CONNECTED && now < c->acks_at && !c->q->next_unsent;
}

bool mc_pollfd(const struct mqttconn *c, struct pollfd *p)
{
	if (!c->mosq || c->state < MC_CONNECTING || mosquitto_socket(c->mosq) < 0)
		return false;
	*p = (struct pollfd){ mosquitto_socket(c->mosq), acks_can_wait(c, mono_ms()) ? 0 : POLLIN, 0 };
	if (mosquitto_want_write(c->mosq) || io.out_len)
		p->events |= POLLOUT;
	return true;
}

void mc_io(struct mqttconn *c, short revents)
{
	if (!c->mosq)
		return;
	int rc = MOSQ_ERR_SUCCESS;
	if (revents & (POLLIN | POLLERR | POLLHUP)) {
		io.drained = false;
		rc = read_all(c);
	}
	if (rc == MOSQ_ERR_SUCCESS && (revents & POLLOUT) && io.out_len && io_flush() < 0)
		rc = MOSQ_ERR_ERRNO;
	if (rc == MOSQ_ERR_SUCCESS && (revents & POLLOUT) && c->mosq && mosquitto_want_write(c->mosq))
		rc = mosquitto_loop_write(c->mosq, 1);
	if (c->cb_connack)
		handle_connack(c); /* a refusal ends here */
	if (rc == MOSQ_ERR_SUCCESS && c->state == MC_CONNECTING && (revents & (POLLHUP | POLLERR))) {
		/* A refused connect shows here; libmosquitto's TLS handshake
		 * would otherwise keep trying it. */
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(mosquitto_socket(c->mosq), SOL_SOCKET, SO_ERROR, &err, &len);
		errno = err ? err : ECONNRESET;
		rc = MOSQ_ERR_ERRNO;
	}
	if (rc != MOSQ_ERR_SUCCESS || c->cb_lost)
		connection_lost(c, rc);
	if (c->cb_birth) {
		c->cb_birth = false;
		if (c->on_birth)
			c->on_birth(c->arg);
	}
	io_done(c);
}

int64_t mc_wake(const struct mqttconn *c, int64_t now)
{
	int64_t wake = now + 3600 * 1000;
	if (c->state == MC_WAIT && c->next_attempt_ms < wake)
		wake = c->next_attempt_ms;
	if (c->state == MC_CONNECTING && c->connack_deadline_ms < wake)
		wake = c->connack_deadline_ms;
	if (c->state >= MC_CONNECTING && now + (int64_t)c->s->keepalive * 1000 / 4 < wake)
		wake = now + (int64_t)c->s->keepalive * 1000 / 4;
	if (acks_can_wait(c, now) && c->acks_at < wake)
		wake = c->acks_at;
	return wake;
}

/* Hands queued messages to libmosquitto: in order, a window at a time,
 * and only as fast as the socket takes them. */
static void pump_window(struct mqttconn *c)
{
	struct qmsg *m;
	while (c->state == MC_CONNECTED && (m = queue_next_unsent(c->q)) && c->q->in_flight < WINDOW) {
		if (mosquitto_want_write(c->mosq) || io.out_len >= IO_OUT_HIGH)
			return;
		int mid = 0;
		int rc = mosquitto_publish(c->mosq, &mid, m->data, (int)m->payload_len, m->payload, c->s->qos, m->retain);
		if (rc == MOSQ_ERR_SUCCESS) {
			if (c->s->qos == 0)
				queue_remove(c->q, m);
			else
				queue_mark_sent(c->q, m, mid);
		} else if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO) {
			connection_lost(c, rc);
			return;
		} else {
			/* Too large for the broker and the like: no retry
			 * would ever get it through. */
			warnx("cannot publish to %s: %s: message dropped", m->data, mosquitto_strerror(rc));
			c->rejected++;
			queue_remove(c->q, m);
		}
	}
}

void mc_pump(struct mqttconn *c)
{
	size_t before = c->q->in_flight;
	pump_window(c);
	if (c->q->in_flight > before)
		c->acks_at = mono_ms() + ACK_BATCH_MS;
	io_done(c); /* all of them in one write */
}

void mc_goodbye(struct mqttconn *c, int64_t deadline)
{
	if (c->state != MC_CONNECTED)
		return;
	c->offline_acked = false;
	if (mosquitto_publish(c->mosq, &c->offline_mid, c->status_topic, 7, "offline", 1, true) != MOSQ_ERR_SUCCESS)
		return;
	while (!c->offline_acked && mono_ms() < deadline && c->mosq) {
		if (io.out_len && io_flush() < 0)
			return;
		bool out = mosquitto_want_write(c->mosq) || io.out_len;
		struct pollfd p = { mosquitto_socket(c->mosq), POLLIN | (out ? POLLOUT : 0), 0 };
		if (p.fd < 0 || poll(&p, 1, (int)(deadline - mono_ms())) < 0)
			break;
		io.drained = false;
		if ((p.revents & (POLLIN | POLLERR | POLLHUP)) && read_all(c) != MOSQ_ERR_SUCCESS)
			return;
		if ((p.revents & POLLOUT) && mosquitto_want_write(c->mosq) &&
		    mosquitto_loop_write(c->mosq, 1) != MOSQ_ERR_SUCCESS)
			return;
	}
	/* libmosquitto closes the socket as soon as it has written DISCONNECT:
	 * that write must reach the kernel at once. */
	if (io.out_len && io_flush() < 0)
		return;
	io_reset();
	mosquitto_disconnect(c->mosq);
	for (int i = 0; i < 10 && c->mosq && mosquitto_want_write(c->mosq); i++)
		mosquitto_loop_write(c->mosq, 1);
}

void mc_free(struct mqttconn *c)
{
	if (c->mosq)
		mosquitto_destroy(c->mosq);
	c->mosq = NULL;
}
