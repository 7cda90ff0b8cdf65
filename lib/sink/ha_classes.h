/* ha_classes.h: what Home Assistant should make of a reader's parameter.
 *
 * Two tables in ha_classes.c decide it, each row citing the Home Assistant
 * rule it follows: one by parameter name (counters, codes, enumerations,
 * text), one by unit (device class, the unit as Home Assistant spells it,
 * and whether the quantity is a total or a measurement).  t/ha_check.py
 * holds the same rules, taken from Home Assistant's own code, and checks
 * every discovery message the readers can cause. */
#ifndef M2M_HA_CLASSES_H
#define M2M_HA_CLASSES_H

#include <stdbool.h>

struct ha_class {
	const char *unit;             /* as Home Assistant spells it ("m³"), or NULL */
	const char *device_class;     /* or NULL */
	const char *state_class;      /* or NULL: no long-term statistics */
	const char *const *options;   /* device_class enum: the states, NULL-ended */
	bool numeric;                 /* Home Assistant expects a number */
	bool long_text;               /* free text: state cut to 255 characters,
	                                 all of it in an attribute */
	bool diagnostic;              /* entity_category: diagnostic */
};

/* Home Assistant drops a state longer than this (characters). */
#define HA_STATE_MAX 255
#define HA_STATE_MAX_TEXT "255"

/* param: the reading's name; unit: the reader's unit or NULL; number: the
 * value is a JSON number. */
void ha_classify(const char *param, const char *unit, bool number, struct ha_class *c);

#endif
