/* ha.h: Home Assistant MQTT discovery.
 *
 * One config per parameter, on <ha_prefix>/sensor/<node>/<object>/config,
 * classed by the tables of ha_classes.c.  One Home Assistant device per
 * prefix, type and device (what names a pipeline), so that two pipelines
 * never merge even when they read the same meter.  The registry
 * remembers every entity announced (bounded by HA_MAX, so that a line
 * cannot grow memory by inventing names) and its config, so that all can
 * be sent again when Home Assistant restarts or the broker forgot them. */
#ifndef M2M_HA_H
#define M2M_HA_H

#include <stdbool.h>
#include <stddef.h>

#include "line/reading.h"
#include "sink/mqttmsg.h"

#define HA_MAX 4096

/* What every entity shares. */
struct ha_settings {
	const char *status_topic; /* availability: the connection's status topic
	                             (its will says offline), or NULL */
	long expire_after;        /* seconds without a value before Home Assistant
	                             shows the entity unavailable; 0: never */
	const char *version;      /* origin.sw, or NULL */
	bool device_status;       /* also the reading's own PREFIX/TYPE/DEVICE/status
	                             (fan-in: both must say online) */
};

/* The discovery message for one parameter of a reading.  Returns 1 when
 * built, 0 when the parameter gets no entity (an array, an object, a bad
 * name), -1 when memory ran out. */
int ha_config(const struct mm_opts *o, const struct ha_settings *s, const struct reading *r, const char *param,
              struct mm_msg *out);

struct ha_entity;
struct ha_registry {
	struct ha_entity *v;
	size_t n, cap;
	bool full_warned;
};

/* Where configs go (mqttpub queues them, retained). */
typedef void ha_emit_fn(const struct mm_msg *config, void *arg);

/* Announces every parameter of r not announced before. */
void ha_announce(struct ha_registry *h, const struct mm_opts *o, const struct ha_settings *s,
                 const struct reading *r, ha_emit_fn *emit, void *arg);
/* Every config announced so far, again. */
void ha_resend_all(const struct ha_registry *h, ha_emit_fn *emit, void *arg);
void ha_registry_free(struct ha_registry *h);

#endif
