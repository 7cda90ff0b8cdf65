/* httpexp.h: the exporter's three pages, rendered from the device table.
 *
 *   /metrics      Prometheus text exposition format 0.0.4
 *   /api/devices  JSON: every device with its state, values and health
 *   /             the status page: plain HTML and CSS, no script, no
 *                 external asset, refreshing itself
 *
 * Every name and value that came from the broker is escaped for where it
 * goes (label values: backslash, quote, newline; HTML: & < > " '; JSON:
 * by jsonw), so no message can break the format or inject markup.
 * Pure: the caller passes the clocks. */
#ifndef M2M_HTTPEXP_H
#define M2M_HTTPEXP_H

#include <stdint.h>

#include "base/buf.h"
#include "line/jsonw.h"
#include "sink/devtable.h"

struct exp_clock {
	int64_t now_ms;   /* monotonic, as given to devtable_message */
	int64_t unix_ms;  /* the wall clock */
};

void exp_metrics(const struct devtable *t, const struct exp_clock *c, struct buf *out);
void exp_devices_json(const struct devtable *t, const struct exp_clock *c, struct jw *w);
/* refresh_s: how often the page reloads itself. */
void exp_status_html(const struct devtable *t, const struct exp_clock *c, int refresh_s, struct buf *out);

/* Appends s escaped as a Prometheus label value (without the quotes). */
void exp_label_escape(struct buf *b, const char *s);
/* Appends s escaped for HTML text and attribute values. */
void exp_html_escape(struct buf *b, const char *s);

#endif
