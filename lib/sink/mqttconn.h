/* mqttconn.h: one broker connection draining a queue, driven by the
 * caller's poll loop (no thread).  The only user of libmosquitto.
 *
 * mc_tick connects, retries with backoff and keeps the connection alive;
 * mc_pollfd and mc_io do the socket's I/O; mc_pump hands queued messages
 * to the library, in order, a window at a time.  A message leaves the
 * queue when the broker has acknowledged it (QoS 1 and 2), or when it is
 * handed over (QoS 0).  The status topic is the will ("offline"), gets
 * "online" on every connect, and "offline" from mc_goodbye.
 *
 * In flight (handed over, not yet acknowledged) are at most as many QoS
 * 1/2 messages as the broker takes: its receive maximum under MQTT 5, 20
 * under 3.1.1 (mosquitto's default; a 3.1.1 broker cannot say, and one
 * that gets more refuses them silently), or max_inflight.  A publish the
 * broker refuses (reason code 0x80 or more) goes back into the queue and
 * is sent again after a pause (1 s, doubling to 30 s), never counted as
 * delivered.  A message with an empty payload is never sent retained (it
 * would delete the retained value).
 *
 * QoS 1 and 2 under MQTT 3.1.1 use a session that outlives a lost
 * connection: the first connection of a run clears whatever an earlier run
 * left at the broker, and later ones resume it, so that libmosquitto
 * completes each QoS 2 handshake where it stopped (exactly once, also
 * across a broker restart when the broker keeps its sessions).  A broker
 * that accepts us without the session has forgotten what it had taken and
 * not released: every unacknowledged message is sent anew (at least once).
 * Under MQTT 5 every unacknowledged message is sent anew after a lost
 * connection: at least once.
 *
 * At QoS 1 over plain TCP the messages' PUBLISH packets are ours, not the
 * library's, and so are their acknowledgements (sink/mqttwire.h says
 * why): the same packets, the same window, the same answers, without the
 * library's copy of every message in flight. */
#ifndef M2M_MQTTCONN_H
#define M2M_MQTTCONN_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "sink/mqttset.h"

struct mosquitto;
/* What every client of ours sets on a new libmosquitto client: protocol
 * version, user name and password, TLS.  A MOSQ_ERR code; *what names
 * the step that failed. */
int mqtt_client_setup(struct mosquitto *m, const struct mqtt_settings *s, const char **what);
#include "sink/queue.h"

struct mosquitto;

enum mc_state {
	MC_IDLE,       /* not started: the device is not known yet */
	MC_WAIT,       /* waiting for the next attempt */
	MC_CONNECTING, /* socket open, waiting for CONNACK */
	MC_CONNECTED,
};

struct mqttconn {
	const struct mqtt_settings *s;
	struct queue *q;
	const char *client_id, *status_topic;
	const char *spool_dir; /* where what is queued is kept, or NULL */
	const char *subscribe; /* a topic to subscribe to (Home Assistant's status), or NULL */
	/* Called after each CONNACK that accepts us, and when a message
	 * "online" arrives on the subscribed topic. */
	void (*on_connected)(void *arg);
	void (*on_birth)(void *arg);
	void *arg;

	struct mosquitto *mosq;
	enum mc_state state;
	int64_t next_attempt_ms, connack_deadline_ms;
	int backoff_ms;
	bool warned_down; /* "broker unreachable" said once per outage */
	unsigned long rejected; /* messages the library refused for good (too large) */
	unsigned long refusals; /* publishes the broker refused (each sent again) */
	int window;       /* in flight at most, on this connection */
	bool direct;      /* QoS 1 packets are ours on this connection (sink/mqttwire.h) */
	uint16_t last_mid; /* the id of our last PUBLISH */
	bool persistent;  /* QoS 1/2: a session kept across reconnects */
	bool session_ready; /* the broker's old session is cleared; ours resumes */
	bool cleaning;    /* this connection only clears the old session */
	int64_t hold_until_ms; /* after a refusal: nothing sent before this */
	int64_t acks_at;  /* the acknowledgements of what was last sent are read from then on */
	int hold_ms;
	bool refusal_warned;

	/* Set by libmosquitto's callbacks, acted upon in the loop. */
	bool cb_connack, cb_lost, cb_birth;
	int cb_connack_rc, cb_receive_max, cb_refused, cb_max_qos;
	uint32_t cb_max_packet; /* the broker's largest packet (MQTT 5), or 0 */
	int online_mid, offline_mid;
	bool offline_acked;
	bool stay_online; /* mc_goodbye leaves the status as it is */
	char lib_error[256];
};

void mc_lib_init(void);
void mc_lib_cleanup(void);

void mc_init(struct mqttconn *c, const struct mqtt_settings *s, struct queue *q);
/* From now on, connect (at the next mc_tick) as client_id. */
void mc_start(struct mqttconn *c, const char *client_id, const char *status_topic);
/* Connects, retries, checks the CONNACK deadline and keepalive. */
void mc_tick(struct mqttconn *c, int64_t now);
/* Fills p with the broker's socket; false when there is none now. */
bool mc_pollfd(const struct mqttconn *c, struct pollfd *p);
/* Acts on the socket's revents. */
void mc_io(struct mqttconn *c, short revents);
/* Hands queued messages to the library while the window has room. */
void mc_pump(struct mqttconn *c);
/* When mc_tick next has something to do (monotonic ms). */
int64_t mc_wake(const struct mqttconn *c, int64_t now);
/* Publishes "offline" (unless stay_online), waits for its acknowledgement until deadline, and
 * disconnects, so that the broker drops the will. */
void mc_goodbye(struct mqttconn *c, int64_t deadline);
void mc_free(struct mqttconn *c);

#endif
