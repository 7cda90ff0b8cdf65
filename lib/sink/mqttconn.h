/* mqttconn.h: one broker connection draining a queue, driven by the
 * caller's poll loop (no thread).  The only user of libmosquitto.
 *
 * mc_tick connects, retries with backoff and keeps the connection alive;
 * mc_pollfd and mc_io do the socket's I/O; mc_pump hands queued messages
 * to the library, in order, a window at a time.  A message leaves the
 * queue when the broker has acknowledged it (QoS 1 and 2), or when it is
 * handed over (QoS 0).  The status topic is the will ("offline"), gets
 * "online" on every connect, and "offline" from mc_goodbye. */
#ifndef M2M_MQTTCONN_H
#define M2M_MQTTCONN_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sink/mqttset.h"
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
	unsigned long rejected; /* messages the broker or the library refused for good */

	/* Set by libmosquitto's callbacks, acted upon in the loop. */
	bool cb_connack, cb_lost, cb_birth;
	int cb_connack_rc;
	int online_mid, offline_mid;
	bool offline_acked;
	int64_t acks_at; /* read acknowledgements from then on (see mc_pollfd) */
	char lib_error[256];
};

/* read(2), write(2) and socketpair(2) as libmosquitto should see them:
 * the program that uses mqttconn defines those three to call these (see
 * mqttconn.c for why).  Every descriptor but the broker's socket goes
 * straight to the kernel. */
ssize_t mc_read(int fd, void *buf, size_t n);
ssize_t mc_write(int fd, const void *buf, size_t n);
int mc_socketpair(int domain, int type, int protocol, int sv[2]);

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
/* Publishes "offline", waits for its acknowledgement until deadline, and
 * disconnects, so that the broker drops the will. */
void mc_goodbye(struct mqttconn *c, int64_t deadline);
void mc_free(struct mqttconn *c);

#endif
