/* ha.h: Home Assistant MQTT discovery.
 *
 * One config per parameter, on <ha_prefix>/sensor/<node>/<object>/config,
 * with the Energy dashboard's classes for the reader's unit.  The registry
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

/* The discovery message for one parameter of a reading.  status_topic (may
 * be NULL) becomes the availability topic.  Returns 1 when built, 0 when
 * the parameter gets no entity (an array, an object, a bad name), -1 when
 * memory ran out. */
int ha_config(const struct mm_opts *o, const struct reading *r, const char *param, const char *status_topic,
              const char *version, struct mm_msg *out);

/* Home Assistant's classification of a reader's unit for a parameter. */
struct ha_class {
	const char *unit;         /* as Home Assistant spells it ("m³"), or NULL */
	const char *device_class; /* or NULL */
	const char *state_class;  /* or NULL */
};
void ha_classify(const char *unit, const char *param, bool numeric, struct ha_class *c);

struct ha_entity;
struct ha_registry {
	struct ha_entity *v;
	size_t n, cap;
	bool full_warned;
};

/* Where configs go (mqttpub queues them, retained). */
typedef void ha_emit_fn(const struct mm_msg *config, void *arg);

/* Announces every parameter of r not announced before.  status_topic is
 * the availability topic of the entities of own_type/own_device (the
 * connection's device); other devices get none. */
void ha_announce(struct ha_registry *h, const struct mm_opts *o, const struct reading *r, const char *own_type,
                 const char *own_device, const char *status_topic, const char *version, ha_emit_fn *emit,
                 void *arg);
/* Every config announced so far, again. */
void ha_resend_all(const struct ha_registry *h, ha_emit_fn *emit, void *arg);
void ha_registry_free(struct ha_registry *h);

#endif
