#include "sink/mqttsub.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/err.h"
#include "sink/mqttconn.h"
#include "base/util.h"

enum { BACKOFF_FIRST_MS = 1000, BACKOFF_MAX_MS = 30000, READS_PER_WAKE = 256 };

enum state { S_WAIT, S_CONNECTING, S_CONNECTED };

struct mqttsub {
	struct mqttsub_settings s;
	struct mosquitto *m;
	mqttsub_message_fn *fn;
	void *arg;
	enum state state;
	int64_t next_attempt_ms, backoff_ms, connack_deadline_ms;
	bool cb_connack, cb_lost, warned_down;
	int cb_connack_rc;
	size_t delivered;   /* messages passed on during the current loop_read */
	size_t unreleased;  /* QoS>0 messages whose acknowledgement waits */
	bool v5_session;    /* the CONNECT properties are set: reconnect with them */
	char lib_error[256];
};

/* ---- callbacks: they only take note, or pass a message on ---- */

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	(void)m;
	struct mqttsub *c = obj;
	c->cb_connack = true;
	c->cb_connack_rc = rc;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	(void)m, (void)rc;
	((struct mqttsub *)obj)->cb_lost = true;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)m;
	struct mqttsub *c = obj;
	c->delivered++;
	if (msg->qos > 0)
		c->unreleased++;
	c->fn(msg->topic, msg->payload ? msg->payload : "", (size_t)msg->payloadlen, c->arg);
}

static void on_log(struct mosquitto *m, void *obj, int level, const char *text)
{
	(void)m;
	if (level & MOSQ_LOG_ERR)
		snprintf(((struct mqttsub *)obj)->lib_error, sizeof ((struct mqttsub *)obj)->lib_error, "%s", text);
	logmsg(LOG_DEBUG, "libmosquitto: %s", text);
}

/* ---- the connection ---- */

static void setup_or_die(int rc, const char *what)
{
	if (rc != MOSQ_ERR_SUCCESS)
		die(EXIT_USAGE, "%s: %s", what, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
}

struct mqttsub *mqttsub_new(const struct mqttsub_settings *s, mqttsub_message_fn *fn, void *arg)
{
	mosquitto_lib_init();
	struct mqttsub *c = calloc(1, sizeof *c);
	if (!c) {
		die(EXIT_RUNTIME, "out of memory");
		return NULL; /* for cppcheck, which does not know die */
	}
	c->s = *s;
	c->fn = fn;
	c->arg = arg;
	const struct mqtt_settings *mq = s->mq;
	c->m = mosquitto_new(mq->client_id, !s->persistent || !mq->client_id, c);
	if (!c->m)
		die_errno(EXIT_RUNTIME, "cannot create an MQTT client");
	const char *what = NULL;
	int rc = mqtt_client_setup(c->m, mq, &what);
	setup_or_die(rc, what);
	/* "Threaded" tells libmosquitto to queue every outgoing packet for
	 * mosquitto_loop_write instead of writing it at once: that is what
	 * lets hold_acks keep the acknowledgements back (see the header). */
	if (s->hold_acks)
		setup_or_die(mosquitto_threaded_set(c->m, true), "MQTT client");
	if (s->receive_max && mq->protocol == MQTT_V5)
		setup_or_die(mosquitto_int_option(c->m, MOSQ_OPT_RECEIVE_MAXIMUM, s->receive_max), "receive maximum");
	mosquitto_connect_callback_set(c->m, on_connect);
	mosquitto_disconnect_callback_set(c->m, on_disconnect);
	mosquitto_message_callback_set(c->m, on_message);
	mosquitto_log_callback_set(c->m, on_log);
	c->state = S_WAIT;
	c->backoff_ms = BACKOFF_FIRST_MS;
	c->next_attempt_ms = mono_ms();
	return c;
}

void mqttsub_free(struct mqttsub *c)
{
	if (!c)
		return;
	if (c->state == S_CONNECTED && c->unreleased == 0) {
		mosquitto_disconnect(c->m);
		mosquitto_loop_write(c->m, 1);
	}
	mosquitto_destroy(c->m);
	free(c);
	mosquitto_lib_cleanup();
}

static void schedule_retry(struct mqttsub *c, const char *why)
{
	/* Whatever libmosquitto held (acknowledgements included) dies with
	 * the connection: the broker sends those messages again. */
	mosquitto_disconnect(c->m);
	if (!c->warned_down)
		warnx("broker %s:%d: %s; retrying (every %d s at most)", c->s.mq->host, c->s.mq->port, why, BACKOFF_MAX_MS / 1000);
	c->warned_down = true;
	c->state = S_WAIT;
	c->unreleased = 0;
	c->next_attempt_ms = mono_ms() + c->backoff_ms;
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* Under MQTT 5 a persistent session needs a session expiry interval in
 * CONNECT, which libmosquitto 2.0 sends only from mosquitto_connect_bind_v5:
 * the first attempt makes the TCP connection blocking (on loopback or a LAN
 * a moment; the broker down, refused at once); it keeps the properties, and
 * every later attempt is mosquitto_reconnect_async with them. */
static int connect_call(struct mqttsub *c)
{
	const struct mqtt_settings *mq = c->s.mq;
	if (c->v5_session)
		return mosquitto_reconnect_async(c->m);
	if (mq->protocol != MQTT_V5 || !c->s.persistent)
		return mosquitto_connect_bind_async(c->m, mq->host, mq->port, mq->keepalive, NULL);
	mosquitto_property *props = NULL;
	int rc = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, UINT32_MAX);
	if (rc == MOSQ_ERR_SUCCESS) {
		c->v5_session = true;
		rc = mosquitto_connect_bind_v5(c->m, mq->host, mq->port, mq->keepalive, NULL, props);
	}
	mosquitto_property_free_all(&props);
	return rc;
}

static void connect_attempt(struct mqttsub *c)
{
	c->cb_connack = c->cb_lost = false;
	c->lib_error[0] = '\0';
	errno = 0;
	int rc = connect_call(c);
	if (rc == MOSQ_ERR_SUCCESS) {
		c->state = S_CONNECTING;
		c->connack_deadline_ms = mono_ms() + (int64_t)c->s.mq->keepalive * 1000;
		return;
	}
	if (rc == MOSQ_ERR_EAI && errno != EAI_AGAIN)
		die(EXIT_RUNTIME, "broker host %s: %s", c->s.mq->host, gai_strerror(errno));
	schedule_retry(c, rc == MOSQ_ERR_ERRNO && errno ? strerror(errno) : mosquitto_strerror(rc));
}

static void subscribe_all(struct mqttsub *c)
{
	for (size_t i = 0; i < c->s.ntopics; i++) {
		int rc = mosquitto_subscribe(c->m, NULL, c->s.topics[i], c->s.mq->qos);
		if (rc != MOSQ_ERR_SUCCESS)
			die(EXIT_RUNTIME, "cannot subscribe to %s: %s", c->s.topics[i], mosquitto_strerror(rc));
	}
}

static void handle_connack(struct mqttsub *c)
{
	c->cb_connack = false;
	int rc = c->cb_connack_rc;
	if (rc == CONNACK_REFUSED_SERVER_UNAVAILABLE ||
	    (c->s.mq->protocol == MQTT_V5 && (rc == MQTT_RC_SERVER_UNAVAILABLE || rc == MQTT_RC_SERVER_BUSY))) {
		schedule_retry(c, mosquitto_connack_string(rc));
		return;
	}
	if (rc != 0)
		die(EXIT_RUNTIME, "broker %s:%d refused the connection: %s", c->s.mq->host, c->s.mq->port,
		    c->s.mq->protocol == MQTT_V5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc));
	c->state = S_CONNECTED;
	if (c->warned_down)
		warnx("broker %s:%d: connected", c->s.mq->host, c->s.mq->port);
	c->warned_down = false;
	c->backoff_ms = BACKOFF_FIRST_MS;
	subscribe_all(c);
}

static bool may_write(const struct mqttsub *c) { return !c->s.hold_acks || c->unreleased == 0; }

void mqttsub_tick(struct mqttsub *c, int64_t now_ms)
{
	if (c->state == S_WAIT && now_ms >= c->next_attempt_ms)
		connect_attempt(c);
	else if (c->state == S_CONNECTING && now_ms >= c->connack_deadline_ms)
		schedule_retry(c, "no answer to CONNECT");
	else if (c->state == S_CONNECTED && may_write(c)) {
		/* Keepalive pings; held back with the acknowledgements, which
		 * the broker notices after 1.5 keepalives at worst. */
		int rc = mosquitto_loop_misc(c->m);
		if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(c->m))
			rc = mosquitto_loop_write(c->m, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			schedule_retry(c, mosquitto_strerror(rc));
	}
}

void mqttsub_pollfd(const struct mqttsub *c, struct pollfd *p, bool may_read)
{
	p->fd = c->state == S_WAIT ? -1 : mosquitto_socket(c->m);
	p->events = 0;
	p->revents = 0;
	if (p->fd < 0)
		return;
	if (may_read || c->state == S_CONNECTING)
		p->events |= POLLIN;
	if (mosquitto_want_write(c->m) && may_write(c))
		p->events |= POLLOUT;
}

static int read_some(struct mqttsub *c)
{
	int rc = MOSQ_ERR_SUCCESS;
	for (int i = 0; i < READS_PER_WAKE && rc == MOSQ_ERR_SUCCESS; i++) {
		c->delivered = 0;
		rc = mosquitto_loop_read(c->m, 1);
		if (!c->delivered || c->cb_connack)
			break; /* nothing more buffered, or the handshake to finish */
	}
	return rc;
}

void mqttsub_io(struct mqttsub *c, short revents)
{
	if (c->state == S_WAIT)
		return;
	int rc = MOSQ_ERR_SUCCESS;
	if (revents & (POLLIN | POLLERR | POLLHUP))
		rc = read_some(c);
	if (rc == MOSQ_ERR_SUCCESS && (revents & POLLOUT) && may_write(c))
		rc = mosquitto_loop_write(c->m, 1);
	if (c->cb_connack)
		handle_connack(c);
	if (rc == MOSQ_ERR_SUCCESS && c->state == S_CONNECTING && (revents & (POLLHUP | POLLERR))) {
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(mosquitto_socket(c->m), SOL_SOCKET, SO_ERROR, &err, &len);
		errno = err ? err : ECONNRESET;
		rc = MOSQ_ERR_ERRNO;
	}
	if (rc != MOSQ_ERR_SUCCESS || c->cb_lost) {
		const char *why = rc == MOSQ_ERR_ERRNO && errno ? strerror(errno)
		                  : rc                         ? mosquitto_strerror(rc)
		                                               : "connection closed";
		schedule_retry(c, why);
	}
}

int64_t mqttsub_wake(const struct mqttsub *c, int64_t now_ms)
{
	switch (c->state) {
	case S_WAIT: return c->next_attempt_ms;
	case S_CONNECTING: return c->connack_deadline_ms;
	default: return now_ms + 1000;
	}
}

void mqttsub_release(struct mqttsub *c)
{
	c->unreleased = 0;
	if (c->state != S_WAIT && mosquitto_want_write(c->m)) {
		int rc = mosquitto_loop_write(c->m, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			schedule_retry(c, mosquitto_strerror(rc));
	}
}

bool mqttsub_connected(const struct mqttsub *c) { return c->state == S_CONNECTED; }

size_t mqttsub_unreleased(const struct mqttsub *c) { return c->unreleased; }
