#include "sink/mqttconn.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/util.h"
#include "sink/mqttwire.h"
#include "sink/sockio.h"

/* QoS 1/2 messages in flight under MQTT 3.1.1 unless max_inflight says
 * otherwise: libmosquitto's and mosquitto's default.  A 3.1.1 broker that
 * gets more refuses them in a way its client cannot see. */
#define INFLIGHT_V311 20
#define INFLIGHT_MAX 65535
/* PUBCOMP's "packet identifier not found": the broker lost the session
 * the message was in (an MQTT 5 session ends with its connection), and
 * cannot say whether it had released it.  Sent again: maybe twice, never
 * lost. */
#define RC_PACKET_ID_NOT_FOUND 0x92
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
/* Acknowledgements come in small bursts as the broker gets to them (a
 * busy broker sends a dozen at a time, one burst a millisecond): while no
 * message waits for room in the window they are read together, at most
 * this often. */
#define ACK_BATCH_MS 20

void mc_lib_init(void) { mosquitto_lib_init(); }
void mc_lib_cleanup(void) { mosquitto_lib_cleanup(); }

static const char *host_of(const struct mqttconn *c) { return c->s->host; }

/* ---- libmosquitto callbacks: they only take note ---- */

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags, const mosquitto_property *props)
{
	(void)m;
	struct mqttconn *c = obj;
	c->cb_connack = true;
	c->cb_connack_rc = rc;
	/* Accepted without our session (a broker restarted without keeping
	 * it): it would answer the PUBREL libmosquitto now sends again for a
	 * message it took but never released as if all were well.  So every
	 * unacknowledged message goes out anew, and at once, before an
	 * answer to those can be taken for its acknowledgement: at least
	 * once, never lost.  (Nothing is in flight on a first connection.) */
	if (rc == 0 && !(flags & 1))
		queue_unsend_all(c->q);
	uint16_t rm = 0;
	c->cb_receive_max = mosquitto_property_read_int16(props, MQTT_PROP_RECEIVE_MAXIMUM, &rm, false) ? rm : 0;
	/* What the library would check of each publish, for ours.  (A broker
	 * without retained messages never gets here: our will is retained,
	 * and MQTT 5 has it refuse such a CONNECT.) */
	uint8_t b = 0;
	c->cb_max_qos = mosquitto_property_read_byte(props, MQTT_PROP_MAXIMUM_QOS, &b, false) ? b : 2;
	uint32_t size = 0;
	c->cb_max_packet = mosquitto_property_read_int32(props, MQTT_PROP_MAXIMUM_PACKET_SIZE, &size, false) ? size : 0;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc, const mosquitto_property *props)
{
	(void)m, (void)rc, (void)props;
	struct mqttconn *c = obj;
	c->cb_lost = true;
}

/* The broker's answer to a message of ours: reason below 0x80 is taken. */
static void answered(struct mqttconn *c, int mid, int reason)
{
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
	if (reason < 0x80) {
		if (queue_ack(c->q, mid)) {
			c->hold_ms = BACKOFF_FIRST_MS;
			c->refusal_warned = false;
		}
		return;
	}
	if (reason == RC_PACKET_ID_NOT_FOUND) {
		struct qmsg *msg = queue_find(c->q, mid);
		if (msg)
			queue_requeue(c->q, msg);
		return;
	}
	/* MQTT 5: the broker said no (quota, not authorized, ...): the
	 * message is not delivered; it goes out again after a pause. */
	struct qmsg *msg = queue_find(c->q, mid);
	if (msg) {
		queue_requeue(c->q, msg);
		c->refusals++;
		c->cb_refused = reason;
	}
}

static void on_publish(struct mosquitto *m, void *obj, int mid, int reason, const mosquitto_property *props)
{
	(void)m, (void)props;
	answered(obj, mid, reason);
}

/* A PUBACK read from the socket (sockio's filter): while our packets are
 * direct every QoS 1 message is ours, the status too, so every PUBACK is
 * an answer to one of ours. */
static bool direct_acked(void *arg, unsigned mid, unsigned reason)
{
	struct mqttconn *c = arg;
	if (!c->direct)
		return false;
	answered(c, (int)mid, (int)reason);
	return true;
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

int mqtt_client_setup(struct mosquitto *m, const struct mqtt_settings *s, const char **what)
{
	int rc;
#define STEP(call, name)                                  \
	do {                                              \
		if ((rc = (call)) != MOSQ_ERR_SUCCESS) {  \
			*what = name;                     \
			return rc;                        \
		}                                         \
	} while (0)
	STEP(mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, s->protocol), "MQTT protocol");
	if (s->username)
		STEP(mosquitto_username_pw_set(m, s->username, s->password), "user name");
	if (s->tls) {
		if (s->cafile || s->capath)
			STEP(mosquitto_tls_set(m, s->cafile, s->capath, s->cert, s->key, no_key_password), "TLS files");
		else
			STEP(mosquitto_int_option(m, MOSQ_OPT_TLS_USE_OS_CERTS, 1), "system CA store");
		if (s->insecure || s->tls_version)
			STEP(mosquitto_tls_opts_set(m, s->insecure ? 0 : 1, s->tls_version, NULL), "TLS options");
		if (s->insecure)
			STEP(mosquitto_tls_insecure_set(m, true), "TLS options");
	}
#undef STEP
	*what = NULL;
	return MOSQ_ERR_SUCCESS;
}

_Noreturn static void fatal(const struct mqttconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fatal(const struct mqttconn *c, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->q->count && c->spool_dir)
		die(EXIT_RUNTIME, "%s (%zu queued messages kept in the spool %s)", msg, c->q->count, c->spool_dir);
	if (c->q->count)
		die(EXIT_RUNTIME, "%s (%zu queued messages lost)", msg, c->q->count);
	die(EXIT_RUNTIME, "%s", msg);
}

static void setup_or_die(const struct mqttconn *c, int rc, const char *what)
{
	if (rc != MOSQ_ERR_SUCCESS)
		fatal(c, "%s: %s", what, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
}

/* The window before CONNACK says more: under MQTT 5 libmosquitto lowers
 * it to the broker's receive maximum itself. */
static int configured_window(const struct mqtt_settings *s)
{
	if (s->max_inflight)
		return s->max_inflight;
	return s->protocol == MQTT_V5 ? INFLIGHT_MAX : INFLIGHT_V311;
}

static struct mosquitto *new_client(struct mqttconn *c, bool clean)
{
	const struct mqtt_settings *s = c->s;
	sockio_making_client(true); /* no wake-up socket pair: sockio.h */
	struct mosquitto *m = mosquitto_new(c->client_id, clean, c);
	sockio_making_client(false);
	if (!m)
		fatal(c, "cannot create an MQTT client: %s", strerror(errno));
	setup_or_die(c, mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, configured_window(s)), "send maximum");
	/* A reading is complete when it is written: no waiting for more. */
	setup_or_die(c, mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1), "TCP_NODELAY");
	const char *what = NULL;
	int rc = mqtt_client_setup(m, s, &what);
	setup_or_die(c, rc, what);
	/* The connection that only clears the old session leaves no will:
	 * its end is no news. */
	if (!c->cleaning)
		setup_or_die(c, mosquitto_will_set(m, c->status_topic, 7, "offline", 1, true), "will");
	mosquitto_connect_v5_callback_set(m, on_connect);
	mosquitto_disconnect_v5_callback_set(m, on_disconnect);
	mosquitto_publish_v5_callback_set(m, on_publish);
	mosquitto_message_callback_set(m, on_message);
	mosquitto_log_callback_set(m, on_log);
	return m;
}

/* The socket is going: what was gathered for it and not sent is lost
 * with it, as the kernel's buffer would be. */
static void detach_socket(void) { sockio_attach(-1); }

/* Before the library closes the socket itself (DISCONNECT): what was
 * gathered goes first, and the library's last packets go straight out. */
static void detach_flushed(void)
{
	sockio_flush();
	detach_socket();
}

static void drop_client(struct mqttconn *c)
{
	detach_socket();
	if (c->mosq)
		mosquitto_destroy(c->mosq);
	c->mosq = NULL;
	/* libmosquitto's copies died with it; ours go out again, in order. */
	queue_unsend_all(c->q);
	c->online_mid = c->offline_mid = -1;
}

/* Our packets died with the connection: the library's session, kept or
 * not, never knew them. */
static void end_direct(struct mqttconn *c)
{
	if (!c->direct)
		return;
	c->direct = false;
	sockio_take_acks(NULL, NULL);
	queue_unsend_all(c->q);
	c->online_mid = c->offline_mid = -1;
}

static void schedule_retry(struct mqttconn *c, const char *why)
{
	detach_socket();
	end_direct(c);
	/* A resumable session keeps libmosquitto's client and what it has
	 * in flight: the handshakes go on where they stopped. */
	if (!(c->persistent && c->session_ready))
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
	c->lib_error[0] = '\0';
	c->cb_connack = c->cb_lost = false;
	errno = 0;
	int rc;
	detach_socket();
	if (c->mosq && c->persistent && c->session_ready) {
		rc = mosquitto_reconnect_async(c->mosq);
	} else {
		drop_client(c);
		c->cleaning = c->persistent && !c->session_ready;
		c->mosq = new_client(c, !(c->persistent && c->session_ready));
		rc = mosquitto_connect_bind_async(c->mosq, host_of(c), c->s->port, c->s->keepalive, NULL);
	}
	if (rc == MOSQ_ERR_SUCCESS) {
		sockio_attach(c->s->tls ? -1 : mosquitto_socket(c->mosq));
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

/* The first connection of a run, with a clean session, has cleared what
 * an earlier run left at the broker (QoS 2 ids awaiting their release
 * would swallow our new messages with the same ids): now the session
 * that is kept. */
static void session_cleared(struct mqttconn *c)
{
	detach_flushed();
	mosquitto_disconnect(c->mosq);
	for (int i = 0; i < 10 && mosquitto_want_write(c->mosq); i++)
		mosquitto_loop_write(c->mosq, 1);
	drop_client(c);
	c->session_ready = true;
	c->cleaning = false;
	connect_attempt(c);
}

static uint16_t next_mid(struct mqttconn *c)
{
	do
		c->last_mid++;
	while (c->last_mid == 0);
	return c->last_mid;
}

/* A QoS 1 PUBLISH of ours (sink/mqttwire.h), after the checks the
 * library would make: a MOSQ_ERR code. */
static int direct_publish(struct mqttconn *c, int *mid, const char *topic, size_t topic_len, const void *payload,
                          size_t payload_len, bool retain)
{
	if (mosquitto_validate_utf8(topic, (int)topic_len) != MOSQ_ERR_SUCCESS)
		return MOSQ_ERR_MALFORMED_UTF8;
	if (mosquitto_pub_topic_check2(topic, topic_len) != MOSQ_ERR_SUCCESS)
		return MOSQ_ERR_INVAL;
	bool v5 = c->s->protocol == MQTT_V5;
	size_t size = mqtt_publish_size(topic_len, payload_len, v5);
	if (!size)
		return MOSQ_ERR_PAYLOAD_SIZE;
	if (c->cb_max_packet && size > c->cb_max_packet)
		return MOSQ_ERR_OVERSIZE_PACKET;
	char *p = sockio_append(size);
	if (!p)
		return MOSQ_ERR_NOMEM;
	uint16_t id = next_mid(c);
	mqtt_publish_write(p, topic, topic_len, payload, payload_len, id, retain, v5);
	*mid = id;
	return MOSQ_ERR_SUCCESS;
}

static int publish_status(struct mqttconn *c, int *mid, const char *text)
{
	if (c->direct)
		return direct_publish(c, mid, c->status_topic, strlen(c->status_topic), text, strlen(text), true);
	return mosquitto_publish(c->mosq, mid, c->status_topic, (int)strlen(text), text, 1, true);
}

/* Our own QoS 1 packets: over plain TCP (TLS's bytes are OpenSSL's), and
 * not to a broker that takes no QoS 1 (the library refuses each message
 * then, and says why). */
static void start_direct(struct mqttconn *c)
{
	c->direct = c->s->qos == 1 && !c->s->tls && c->cb_max_qos >= 1;
	sockio_take_acks(c->direct ? direct_acked : NULL, c);
	/* Ids wrap at 65535: the status's and every message's in flight
	 * stay apart. */
	if (c->direct && c->window > INFLIGHT_MAX - 2)
		c->window = INFLIGHT_MAX - 2;
}

static void on_connected(struct mqttconn *c)
{
	c->state = MC_CONNECTED;
	c->window = configured_window(c->s);
	if (c->s->protocol == MQTT_V5) {
		int broker = c->cb_receive_max ? c->cb_receive_max : INFLIGHT_MAX;
		if (broker < c->window)
			c->window = broker;
	}
	start_direct(c);
	logmsg(LOG_DEBUG, "broker %s:%d: at most %d messages in flight", host_of(c), c->s->port, c->window);
	/* libmosquitto formats a log line (malloc, vsnprintf) for every
	 * packet while a log callback is set: a tenth of mqttpub's CPU at
	 * full speed.  Its errors matter only during the handshake. */
	if (log_threshold < LOG_DEBUG)
		mosquitto_log_callback_set(c->mosq, NULL);
	if (c->warned_down)
		warnx("broker %s:%d: connected", host_of(c), c->s->port);
	c->warned_down = false;
	c->backoff_ms = BACKOFF_FIRST_MS;
	int rc = publish_status(c, &c->online_mid, "online");
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
		if (c->cleaning)
			session_cleared(c);
		else
			on_connected(c);
		return;
	}
	bool v5 = c->s->protocol == MQTT_V5;
	if (rc == (v5 ? MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION : CONNACK_REFUSED_PROTOCOL_VERSION))
		fatal(c, "broker %s:%d does not speak MQTT %s: try --protocol %s (protocol: %s under mqtt: in config.yaml)",
		      host_of(c), c->s->port, v5 ? "5" : "3.1.1", v5 ? "311" : "5", v5 ? "311" : "5");
	const char *text = v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc);
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

void mc_init(struct mqttconn *c, const struct mqtt_settings *s, struct queue *q)
{
	memset(c, 0, sizeof *c);
	c->s = s;
	c->q = q;
	c->state = MC_IDLE;
	c->backoff_ms = c->hold_ms = BACKOFF_FIRST_MS;
	/* An MQTT 5 session ends with its connection here (libmosquitto
	 * 2.0.11 asks for a session expiry only in a blocking connect), and
	 * a broker answers a resent PUBREL it no longer knows with success:
	 * under 5 every unacknowledged message is sent anew instead. */
	c->persistent = s->qos > 0 && s->protocol == MQTT_V311;
	c->online_mid = c->offline_mid = -1;
}

void mc_start(struct mqttconn *c, const char *client_id, const char *status_topic)
{
	c->client_id = client_id;
	c->status_topic = status_topic;
	c->state = MC_WAIT;
	c->next_attempt_ms = mono_ms();
}

/* ---- the caller's loop ----
 *
 * Every entry point below opens a sockio window around its calls into the
 * library and, at its end, sends what the library wrote meanwhile: one
 * send(2) for a reading's packets. */

static void window_begin(void) { sockio_begin(); }

static void window_end(struct mqttconn *c)
{
	if (c->mosq && sockio_unsent() && sockio_flush() < 0)
		connection_lost(c, MOSQ_ERR_ERRNO);
	sockio_end();
}

static void tick(struct mqttconn *c, int64_t now)
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
}

void mc_tick(struct mqttconn *c, int64_t now)
{
	window_begin();
	tick(c, now);
	window_end(c);
}

/* Acknowledgements can wait a little while nothing waits for them (no
 * message queued behind a full window): one wake-up then takes many
 * bursts of them, not one each.  Latency is not touched: messages go out
 * at once. */
static bool acks_can_wait(const struct mqttconn *c, int64_t now)
{
	return c->state == MC_CONNECTED && now < c->acks_at && !c->q->next_unsent && c->q->in_flight;
}

/* The next read of acknowledgements, unless a message comes to wait for
 * them: ACK_BATCH_MS after the last, not later with every send. */
static void acks_later(struct mqttconn *c, int64_t now)
{
	if (c->acks_at <= now)
		c->acks_at = now + ACK_BATCH_MS;
}

bool mc_pollfd(const struct mqttconn *c, struct pollfd *p)
{
	if (!c->mosq || c->state < MC_CONNECTING || mosquitto_socket(c->mosq) < 0)
		return false;
	*p = (struct pollfd){ mosquitto_socket(c->mosq), acks_can_wait(c, mono_ms()) ? 0 : POLLIN, 0 };
	if (mosquitto_want_write(c->mosq) || sockio_unsent())
		p->events |= POLLOUT;
	return true;
}

/* The library reads at most as many packets a call as it has messages in
 * flight; what it left in sockio's buffer no poll would announce. */
static int read_packets(struct mqttconn *c)
{
	int rc;
	do
		rc = mosquitto_loop_read(c->mosq, 1);
	while (rc == MOSQ_ERR_SUCCESS && c->mosq && sockio_unread());
	return rc;
}

/* The poll that left the acknowledgements waiting has woken at their
 * time: they are read now, not after one more poll to say they are
 * there. */
static bool acks_due(const struct mqttconn *c, int64_t now)
{
	return c->state == MC_CONNECTED && c->q->in_flight && c->acks_at && now >= c->acks_at;
}

static void io(struct mqttconn *c, short revents)
{
	if (!c->mosq)
		return;
	int rc = MOSQ_ERR_SUCCESS;
	if (acks_due(c, mono_ms()))
		revents |= POLLIN;
	if (revents & (POLLIN | POLLERR | POLLHUP)) {
		rc = read_packets(c);
		acks_later(c, mono_ms());
	}
	if (rc == MOSQ_ERR_SUCCESS && (revents & POLLOUT) && c->mosq && sockio_unsent() && sockio_flush() < 0)
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
	if (c->cb_refused) {
		/* Not before a pause: a broker over its quota needs time. */
		if (!c->refusal_warned)
			warnx("broker %s:%d refused a message: %s; sending it again in %d s", host_of(c), c->s->port,
			      mosquitto_reason_string(c->cb_refused), c->hold_ms / 1000);
		c->refusal_warned = true;
		c->cb_refused = 0;
		c->hold_until_ms = mono_ms() + c->hold_ms;
		c->hold_ms = c->hold_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->hold_ms * 2;
	}
	if (c->cb_birth) {
		c->cb_birth = false;
		if (c->on_birth)
			c->on_birth(c->arg);
	}
}

void mc_io(struct mqttconn *c, short revents)
{
	window_begin();
	io(c, revents);
	window_end(c);
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
	if (c->state == MC_CONNECTED && c->q->next_unsent && c->hold_until_ms > now && c->hold_until_ms < wake)
		wake = c->hold_until_ms;
	if (acks_can_wait(c, now) && c->acks_at < wake)
		wake = c->acks_at;
	return wake;
}

/* A backlog is gathered a socket's worth at a time (SOCKIO_HIGH): true
 * when the socket has not taken the last of it yet. */
static bool socket_full(struct mqttconn *c)
{
	if (sockio_unsent() < SOCKIO_HIGH)
		return false;
	if (sockio_flush() < 0) {
		connection_lost(c, MOSQ_ERR_ERRNO);
		return true;
	}
	return sockio_unsent() > 0;
}

/* Hands queued messages to libmosquitto: in order, a window at a time,
 * and only as fast as the socket takes them. */
static void pump_window(struct mqttconn *c)
{
	struct qmsg *m;
	if (c->hold_until_ms && mono_ms() < c->hold_until_ms)
		return;
	c->hold_until_ms = 0;
	while (c->state == MC_CONNECTED && (m = queue_next_unsent(c->q)) && c->q->in_flight < (size_t)c->window) {
		if (mosquitto_want_write(c->mosq) || socket_full(c))
			return;
		int mid = 0;
		/* An empty retained message deletes the retained value. */
		bool retain = m->retain && m->payload_len > 0;
		int rc = c->direct ? direct_publish(c, &mid, m->data, m->topic_len, m->payload, m->payload_len, retain)
		                   : mosquitto_publish(c->mosq, &mid, m->data, (int)m->payload_len, m->payload, c->s->qos,
		                                       retain);
		if (rc == MOSQ_ERR_SUCCESS) {
			if (c->s->qos == 0)
				queue_remove(c->q, m);
			else
				queue_mark_sent(c->q, m, mid);
		} else if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO ||
		           rc == MOSQ_ERR_NOMEM) {
			/* Out of memory too: the message waits in the queue
			 * for the next connection. */
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
	size_t in_flight = c->q->in_flight;
	window_begin();
	pump_window(c);
	window_end(c);
	if (c->q->in_flight > in_flight)
		acks_later(c, mono_ms());
}

/* Sends what was gathered, waiting for the socket to take it until
 * deadline: false when it could not. */
static bool send_gathered(struct mqttconn *c, int64_t deadline)
{
	while (sockio_unsent()) {
		if (sockio_flush() < 0)
			return false;
		struct pollfd p = { mosquitto_socket(c->mosq), POLLOUT, 0 };
		if (sockio_unsent() && (p.fd < 0 || mono_ms() >= deadline || poll(&p, 1, (int)(deadline - mono_ms())) < 0))
			return false;
	}
	return true;
}

static void goodbye(struct mqttconn *c, int64_t deadline)
{
	if (c->state != MC_CONNECTED)
		return;
	/* "offline" at QoS 1 whatever the messages' QoS: its acknowledgement
	 * says that the broker has read everything before it, and only then
	 * may the connection close without risking a reset that would lose
	 * what the broker had not read yet. */
	c->offline_acked = c->stay_online;
	if (!c->stay_online &&
	    publish_status(c, &c->offline_mid, "offline") != MOSQ_ERR_SUCCESS)
		return;
	while (!c->offline_acked && mono_ms() < deadline && c->mosq) {
		if (sockio_flush() < 0)
			return;
		bool out = mosquitto_want_write(c->mosq) || sockio_unsent();
		struct pollfd p = { mosquitto_socket(c->mosq), POLLIN | (out ? POLLOUT : 0), 0 };
		if (p.fd < 0 || poll(&p, 1, (int)(deadline - mono_ms())) < 0)
			break;
		sockio_readable();
		if ((p.revents & (POLLIN | POLLERR | POLLHUP)) && read_packets(c) != MOSQ_ERR_SUCCESS)
			return;
		if ((p.revents & POLLOUT) && mosquitto_want_write(c->mosq) && mosquitto_loop_write(c->mosq, 1) != MOSQ_ERR_SUCCESS)
			return;
	}
	if (!c->mosq || !send_gathered(c, deadline))
		return;
	/* libmosquitto closes the socket as soon as DISCONNECT is written:
	 * that write goes straight out. */
	detach_socket();
	mosquitto_disconnect(c->mosq);
	for (int i = 0; i < 10 && c->mosq && mosquitto_want_write(c->mosq); i++)
		mosquitto_loop_write(c->mosq, 1);
}

void mc_goodbye(struct mqttconn *c, int64_t deadline)
{
	window_begin();
	goodbye(c, deadline);
	sockio_end();
}

void mc_free(struct mqttconn *c)
{
	if (c->mosq)
		mosquitto_destroy(c->mosq);
	c->mosq = NULL;
}
