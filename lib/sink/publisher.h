/* publisher.h: mqttpub's work: reading lines on stdin in, MQTT messages
 * out.
 *
 * One poll loop (pub_run) over stdin (line/linein) and the broker's socket
 * (sink/mqttconn, which drives libmosquitto without a thread).  Each line
 * is parsed (line/reading), turned into messages (sink/mqttmsg, sink/ha)
 * and put in the outbox (sink/outbox: the queue in memory, or on disk
 * with a spool); a message leaves it only when the broker has
 * acknowledged it, so a broker outage loses nothing that fits.  A reader's
 * health lines become the health message (sink/pubhealth).  At the end of
 * input, what is queued is delivered within the drain timeout.
 *
 * Fan-in: when stdin is a directory, every FIFO in it is one reader's
 * input (sink/fanin), and each device has its own status and health
 * (sink/pubdev); the connection's will is the publisher's own status,
 * PREFIX/meter2mqtt/HOST/status (or --type and --device). */
#ifndef M2M_PUBLISHER_H
#define M2M_PUBLISHER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "line/linein.h"
#include "sink/ha.h"
#include "sink/mqttconn.h"
#include "sink/mqttmsg.h"
#include "sink/mqttset.h"
#include "sink/outbox.h"
#include "sink/pubdev.h"
#include "sink/pubhealth.h"

/* What mqttpub's options say (see mqttpub(1)). */
struct pub_settings {
	struct mqtt_settings mq;
	struct mm_opts mm;         /* mm.prefix: the first topic levels */
	bool homeassistant;
	bool one_shot;             /* leave the status online at the end */
	bool whole_reading;        /* also the line itself on PREFIX/TYPE/DEVICE */
	long expire_after_s, health_interval_s, drain_timeout_s;
	long queue_max;
	int64_t queue_bytes, line_max;
	const char *spool;         /* the queue's directory, or NULL: in memory */
	int64_t spool_max;
	int spool_sync_ms;
	const char *type, *device; /* known before the first line, or NULL */
};

/* The defaults, as mqttpub(1) gives them. */
void pub_settings_init(struct pub_settings *s);

struct publisher {
	const struct pub_settings *set;
	struct mqttconn conn;
	struct outbox out;
	struct linein in;
	/* The device, known from the options, the spool or the first line. */
	char *type, *device, *status_topic, *client_id;
	char *ha_status;     /* Home Assistant's birth topic, or NULL */
	struct mm_list msgs; /* one line's messages; kept, so that it is not grown anew for each */
	struct ha_registry ha;
	struct ha_settings ha_set;
	struct pubhealth health;
	char *health_topic;
	int64_t health_due_ms;
	unsigned long connects, bad_lines, bad_params;
	struct ratelimit bad_line_rl;
	struct fanin *fan;   /* fan-in: the FIFOs, or NULL */
	struct pubdevs devs; /* fan-in: the devices */
	char *devs_self;     /* fan-in: the publisher's own TYPE/DEVICE */
};

/* Opens the outbox (dies, exit 1, when the spool cannot be used) and, when
 * the device is known, starts connecting. */
void pub_start(struct publisher *p, const struct pub_settings *s);
/* One line of input (line/linein's line_fn; arg is the publisher). */
void pub_handle_line(const char *line, size_t len, unsigned long lineno, void *arg);
/* The loop, until the input ends and what is queued is delivered (or the
 * drain timeout, or a second SIGTERM/SIGINT).  Returns the exit code. */
int pub_run(struct publisher *p);
/* Says goodbye to the broker and what was lost.  Returns the exit code:
 * 0, or 1 when a message was lost. */
int pub_finish(struct publisher *p, bool interrupted);
/* Everything back, so that a leak checker sees only real leaks. */
void pub_free(struct publisher *p);

#endif
