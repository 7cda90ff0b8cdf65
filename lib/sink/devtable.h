/* devtable.h: what the exporter knows of each device: its last reading,
 * the health its reader and mqttpub report, and its status topic.
 *
 * Fed from MQTT messages (whatever they hold: each is checked, and one
 * that does not fit is counted by reason and changes nothing), read by
 * the renderers in httpexp.h.  Devices are kept sorted by type, then
 * device, so every page lists them in the same order.
 *
 * A device is
 *   online   its status is not "offline" and a reading came recently;
 *   stale    no reading for longer than its stale time: twice the gap
 *            between its last two readings plus a second, or the fixed
 *            time given (the reader stopped, the pipe is stuck);
 *   offline  mqttpub said so on <prefix>/<type>/<device>/status;
 *   waiting  known from its status or health only, no reading yet.
 *
 * The gateway's shared publisher (type PUBLISHER_TYPE, line/reading.h)
 * sends no readings, only its status and health: it is online or offline
 * as its status says, waiting until it has said. */
#ifndef M2M_DEVTABLE_H
#define M2M_DEVTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink/flatread.h"

#define DEV_MAX_REASONS 8
#define DEV_TIME_MAX 40

struct dev_value {
	char *name, *unit; /* unit may be NULL */
	char *text;        /* number text, string, true/false */
	enum flat_kind kind;
};

struct dev_health {
	bool known;
	char time[DEV_TIME_MAX];
	char link[16];            /* "up", "down", or "" when not said */
	bool has_reader, has_publisher;
	unsigned long long telegrams;  /* telegrams or polls read well */
	size_t ndropped;
	struct {
		char reason[32];
		unsigned long long n;
	} dropped[DEV_MAX_REASONS];
	char last_error[200];
	unsigned long long published, queued, pub_dropped, reconnects;
	bool has_spool; /* mqttpub --spool: what its spool holds and lost */
	unsigned long long spool_bytes, spool_replayed, spool_dropped, spool_torn;
};

enum dev_status { STATUS_UNKNOWN, STATUS_ONLINE, STATUS_OFFLINE };
enum dev_state { DS_ONLINE, DS_STALE, DS_OFFLINE, DS_WAITING };

struct device {
	char *type, *device, *meter_id;
	char time[DEV_TIME_MAX];  /* the last reading's own time, or "" */
	int64_t seen_ms;          /* when it came (monotonic), 0: never */
	int64_t seen_unix_ms;     /* the same, by the wall clock */
	int64_t interval_ms;      /* the gap before it, 0 until two readings */
	unsigned long readings;
	enum dev_status status;
	bool publisher;           /* the gateway's publisher, not a meter */
	struct dev_value *v;
	size_t nv;
	struct dev_health h;
};

/* Why a message was not taken. */
enum dev_reject {
	REJ_TOO_LARGE,
	REJ_NOT_JSON,     /* not JSON, or not a reading (no type/device) */
	REJ_MISMATCH,     /* type/device in the payload differ from the topic */
	REJ_BAD_HEALTH,
	REJ_BAD_STATUS,
	REJ_BAD_TOPIC,
	REJ_TABLE_FULL,
	REJ_N
};
extern const char *const dev_reject_names[REJ_N];

enum dev_kind { MSG_READING, MSG_HEALTH, MSG_STATUS, MSG_N };
extern const char *const dev_kind_names[MSG_N];

struct devtable {
	struct device **v;
	size_t n, cap;
	size_t max_devices;
	size_t max_payload;
	int64_t stale_ms;         /* fixed stale time, 0: from the intervals */
	unsigned long long taken[MSG_N];
	unsigned long long rejected[REJ_N];
};

void devtable_init(struct devtable *t, size_t max_devices, size_t max_payload, int64_t stale_ms);
void devtable_free(struct devtable *t);

/* One message from the broker: topic under prefix (which the caller
 * subscribed to), payload of len bytes.  now_ms is monotonic, unix_ms the
 * wall clock.  Returns 0 when taken, -1 when rejected (and counted). */
int devtable_message(struct devtable *t, const char *prefix, const char *topic, const char *payload, size_t len,
                     int64_t now_ms, int64_t unix_ms);

enum dev_state device_state(const struct devtable *t, const struct device *d, int64_t now_ms);
/* The time after which d counts as stale, in ms. */
int64_t device_stale_ms(const struct devtable *t, const struct device *d);
extern const char *const dev_state_names[4];
/* Telegrams dropped, all reasons together. */
unsigned long long device_dropped(const struct device *d);

#endif
