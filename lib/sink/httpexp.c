#include "sink/httpexp.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- escaping ---- */

void exp_label_escape(struct buf *b, const char *s)
{
	for (;;) {
		size_t run = strcspn(s, "\\\"\n");
		buf_add(b, s, run);
		s += run;
		if (!*s)
			return;
		buf_adds(b, *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : "\\n");
		s++;
	}
}

void exp_html_escape(struct buf *b, const char *s)
{
	for (;;) {
		size_t run = strcspn(s, "&<>\"'");
		buf_add(b, s, run);
		s += run;
		switch (*s) {
		case '\0': return;
		case '&': buf_adds(b, "&amp;"); break;
		case '<': buf_adds(b, "&lt;"); break;
		case '>': buf_adds(b, "&gt;"); break;
		case '"': buf_adds(b, "&quot;"); break;
		default: buf_adds(b, "&#39;"); break;
		}
		s++;
	}
}

static bool numeric(enum flat_kind k) { return k == FV_INTEGER || k == FV_DECIMAL; }

static double age_s(const struct device *d, const struct exp_clock *c) { return (c->now_ms - d->seen_ms) / 1000.0; }

/* ---- /metrics ---- */

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{type="..",device=".." then the caller adds more labels or "}". */
static void series(struct buf *b, const char *name, const struct device *d)
{
	buf_adds(b, name);
	buf_adds(b, "{type=\"");
	exp_label_escape(b, d->type);
	buf_adds(b, "\",device=\"");
	exp_label_escape(b, d->device);
	buf_addc(b, '"');
}

static void sample_u(struct buf *b, const char *name, const struct device *d, unsigned long long v)
{
	series(b, name, d);
	buf_printf(b, "} %llu\n", v);
}

static void metrics_values(const struct devtable *t, struct buf *b)
{
	family(b, "meter2mqtt_value", "gauge", "A numeric value of the device's last reading, in its unit.");
	for (size_t i = 0; i < t->n; i++) {
		const struct device *d = t->v[i];
		for (size_t k = 0; k < d->nv; k++) {
			const struct dev_value *v = &d->v[k];
			if (!numeric(v->kind))
				continue;
			series(b, "meter2mqtt_value", d);
			buf_adds(b, ",parameter=\"");
			exp_label_escape(b, v->name);
			buf_adds(b, "\",unit=\"");
			exp_label_escape(b, v->unit ? v->unit : "");
			buf_adds(b, "\"} ");
			buf_adds(b, v->text);
			buf_addc(b, '\n');
		}
	}
}

static void metrics_state(const struct devtable *t, const struct exp_clock *c, struct buf *b)
{
	family(b, "meter2mqtt_up", "gauge", "1 when the device is online: its readings come in time.");
	for (size_t i = 0; i < t->n; i++)
		sample_u(b, "meter2mqtt_up", t->v[i], device_state(t, t->v[i], c->now_ms) == DS_ONLINE);
	family(b, "meter2mqtt_last_reading_age_seconds", "gauge", "Seconds since the device's last reading came.");
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->seen_ms) {
			series(b, "meter2mqtt_last_reading_age_seconds", t->v[i]);
			buf_printf(b, "} %.3f\n", age_s(t->v[i], c));
		}
	family(b, "meter2mqtt_readings_total", "counter", "Readings received since the exporter started.");
	for (size_t i = 0; i < t->n; i++)
		sample_u(b, "meter2mqtt_readings_total", t->v[i], t->v[i]->readings);
}

static void metrics_health(const struct devtable *t, struct buf *b)
{
	family(b, "meter2mqtt_link_up", "gauge", "1 when the reader's link to the meter is up, as the reader says.");
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->h.link[0])
			sample_u(b, "meter2mqtt_link_up", t->v[i], strcmp(t->v[i]->h.link, "up") == 0);
	family(b, "meter2mqtt_reader_telegrams_total", "counter", "Telegrams or polls the reader read well.");
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->h.has_reader)
			sample_u(b, "meter2mqtt_reader_telegrams_total", t->v[i], t->v[i]->h.telegrams);
	family(b, "meter2mqtt_reader_dropped_total", "counter", "Telegrams or polls the reader dropped, by reason.");
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; k < t->v[i]->h.ndropped; k++) {
			series(b, "meter2mqtt_reader_dropped_total", t->v[i]);
			buf_adds(b, ",reason=\"");
			exp_label_escape(b, t->v[i]->h.dropped[k].reason);
			buf_printf(b, "\"} %llu\n", t->v[i]->h.dropped[k].n);
		}
	static const struct {
		const char *name, *type, *help;
		size_t offset;
		bool spool; /* only where mqttpub has a spool */
	} pub[] = {
		{ "meter2mqtt_publisher_published_total", "counter", "Messages mqttpub delivered to the broker.",
		  offsetof(struct dev_health, published), false },
		{ "meter2mqtt_publisher_queued", "gauge", "Messages mqttpub holds, not yet acknowledged.",
		  offsetof(struct dev_health, queued), false },
		{ "meter2mqtt_publisher_dropped_total", "counter", "Messages mqttpub dropped (its queue was full).",
		  offsetof(struct dev_health, pub_dropped), false },
		{ "meter2mqtt_publisher_reconnects_total", "counter", "Times mqttpub connected to the broker again.",
		  offsetof(struct dev_health, reconnects), false },
		{ "meter2mqtt_spool_bytes", "gauge", "Bytes mqttpub's spool holds.", offsetof(struct dev_health, spool_bytes),
		  true },
		{ "meter2mqtt_spool_replayed_total", "counter", "Messages an earlier run of mqttpub left in its spool.",
		  offsetof(struct dev_health, spool_replayed), true },
		{ "meter2mqtt_spool_dropped_total", "counter", "Messages a full spool dropped (the oldest).",
		  offsetof(struct dev_health, spool_dropped), true },
		{ "meter2mqtt_spool_torn_total", "counter", "Torn or damaged spool records skipped at start.",
		  offsetof(struct dev_health, spool_torn), true },
	};
	for (size_t p = 0; p < sizeof pub / sizeof *pub; p++) {
		family(b, pub[p].name, pub[p].type, pub[p].help);
		for (size_t i = 0; i < t->n; i++)
			if (t->v[i]->h.has_publisher && (!pub[p].spool || t->v[i]->h.has_spool))
				sample_u(b, pub[p].name, t->v[i],
				         *(const unsigned long long *)((const char *)&t->v[i]->h + pub[p].offset));
	}
}

static void metrics_self(const struct devtable *t, struct buf *b)
{
	family(b, "meter2mqtt_exporter_messages_total", "counter", "Messages taken from the broker, by kind.");
	for (int k = 0; k < MSG_N; k++)
		buf_printf(b, "meter2mqtt_exporter_messages_total{kind=\"%s\"} %llu\n", dev_kind_names[k], t->taken[k]);
	family(b, "meter2mqtt_exporter_rejected_total", "counter", "Messages rejected, by reason.");
	for (int r = 0; r < REJ_N; r++)
		buf_printf(b, "meter2mqtt_exporter_rejected_total{reason=\"%s\"} %llu\n", dev_reject_names[r],
		           t->rejected[r]);
	family(b, "meter2mqtt_exporter_devices", "gauge", "Devices known.");
	buf_printf(b, "meter2mqtt_exporter_devices %zu\n", t->n);
}

void exp_metrics(const struct devtable *t, const struct exp_clock *c, struct buf *out)
{
	metrics_values(t, out);
	metrics_state(t, c, out);
	metrics_health(t, out);
	metrics_self(t, out);
}

/* ---- /api/devices ---- */

/* Opens an object with n counters in it; the caller closes it. */
static void json_counters(struct jw *w, const char *const *keys, const unsigned long long *values, size_t n)
{
	jw_object_begin(w);
	for (size_t i = 0; i < n; i++) {
		jw_key(w, keys[i]);
		jw_int(w, (long long)values[i]);
	}
}

static void json_health(struct jw *w, const struct dev_health *h)
{
	jw_key(w, "health");
	if (!h->known) {
		jw_null(w);
		return;
	}
	jw_object_begin(w);
	if (h->time[0]) {
		jw_key(w, "time");
		jw_string(w, h->time);
	}
	if (h->link[0]) {
		jw_key(w, "link");
		jw_string(w, h->link);
	}
	if (h->has_reader) {
		jw_key(w, "reader");
		jw_object_begin(w);
		jw_key(w, "telegrams");
		jw_int(w, (long long)h->telegrams);
		jw_key(w, "dropped");
		jw_object_begin(w);
		for (size_t k = 0; k < h->ndropped; k++) {
			jw_key(w, h->dropped[k].reason);
			jw_int(w, (long long)h->dropped[k].n);
		}
		jw_object_end(w);
		if (h->last_error[0]) {
			jw_key(w, "last_error");
			jw_string(w, h->last_error);
		}
		jw_object_end(w);
	}
	if (h->has_publisher) {
		jw_key(w, "publisher");
		json_counters(w, (const char *[]){ "published", "queued", "dropped", "reconnects" },
		              (const unsigned long long[]){ h->published, h->queued, h->pub_dropped, h->reconnects }, 4);
		if (h->has_spool) {
			jw_key(w, "spool");
			json_counters(w, (const char *[]){ "bytes", "replayed", "dropped", "torn" },
			              (const unsigned long long[]){ h->spool_bytes, h->spool_replayed, h->spool_dropped,
			                                            h->spool_torn },
			              4);
			jw_object_end(w);
		}
		jw_object_end(w);
	}
	jw_object_end(w);
}

static void json_value(struct jw *w, const struct dev_value *v)
{
	jw_key(w, v->name);
	jw_object_begin(w);
	jw_key(w, "value");
	if (numeric(v->kind))
		jw_number_text(w, v->text, strlen(v->text));
	else if (v->kind == FV_BOOL)
		jw_bool(w, strcmp(v->text, "true") == 0);
	else
		jw_string(w, v->text);
	if (v->unit) {
		jw_key(w, "unit");
		jw_string(w, v->unit);
	}
	jw_object_end(w);
}

static void json_device(struct jw *w, const struct devtable *t, const struct device *d, const struct exp_clock *c)
{
	static const char *const status_names[] = { NULL, "online", "offline" };
	jw_object_begin(w);
	jw_key(w, "type");
	jw_string(w, d->type);
	jw_key(w, "device");
	jw_string(w, d->device);
	jw_key(w, "state");
	jw_string(w, dev_state_names[device_state(t, d, c->now_ms)]);
	jw_key(w, "status");
	if (status_names[d->status])
		jw_string(w, status_names[d->status]);
	else
		jw_null(w);
	if (d->publisher) {
		jw_key(w, "publisher");
		jw_bool(w, true);
	}
	if (d->meter_id) {
		jw_key(w, "meter_id");
		jw_string(w, d->meter_id);
	}
	jw_key(w, "last_reading");
	if (d->time[0])
		jw_string(w, d->time);
	else
		jw_null(w);
	if (d->seen_ms) {
		char num[32];
		jw_key(w, "age_seconds");
		snprintf(num, sizeof num, "%.3f", age_s(d, c));
		jw_number_text(w, num, strlen(num));
		jw_key(w, "stale_after_seconds");
		snprintf(num, sizeof num, "%.3f", device_stale_ms(t, d) / 1000.0);
		jw_number_text(w, num, strlen(num));
	}
	jw_key(w, "readings");
	jw_int(w, (long long)d->readings);
	jw_key(w, "values");
	jw_object_begin(w);
	for (size_t k = 0; k < d->nv; k++)
		json_value(w, &d->v[k]);
	jw_object_end(w);
	json_health(w, &d->h);
	jw_object_end(w);
}

void exp_devices_json(const struct devtable *t, const struct exp_clock *c, struct jw *w)
{
	jw_reset(w);
	jw_object_begin(w);
	jw_key(w, "devices");
	jw_array_begin(w);
	for (size_t i = 0; i < t->n; i++)
		json_device(w, t, t->v[i], c);
	jw_array_end(w);
	jw_key(w, "rejected");
	jw_object_begin(w);
	for (int r = 0; r < REJ_N; r++) {
		jw_key(w, dev_reject_names[r]);
		jw_int(w, (long long)t->rejected[r]);
	}
	jw_object_end(w);
	jw_object_end(w);
}

/* ---- the status page ---- */

static const char page_style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
	"h1{font-size:1.4em;margin:0 0 .2em}p.summary{margin:0 0 1em;color:#555}"
	"table{border-collapse:collapse;background:#fff;box-shadow:0 1px 3px #0002;width:100%}"
	"td.time,td.age{white-space:nowrap}"
	"th,td{padding:.45em .8em;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}"
	"th{background:#f0f0f0;font-weight:600}"
	"td.state span{display:inline-block;padding:.1em .6em;border-radius:1em;font-weight:600;color:#fff}"
	"tr.online td.state span{background:#2e7d32}tr.stale td.state span{background:#e68a00}"
	"tr.offline td.state span{background:#c62828}tr.waiting td.state span{background:#777}"
	"ul.values{list-style:none;margin:0;padding:0;font-size:.92em}"
	"ul.values li{white-space:nowrap}span.name{color:#666}"
	"span.value{font-variant-numeric:tabular-nums;font-weight:600}"
	"td.dropped.bad{color:#c62828;font-weight:600}small{color:#777}";

static void format_age(char *out, size_t n, double s)
{
	if (s < 120)
		snprintf(out, n, "%.0f s", s);
	else if (s < 7200)
		snprintf(out, n, "%.0f min", s / 60);
	else if (s < 172800)
		snprintf(out, n, "%.0f h", s / 3600);
	else
		snprintf(out, n, "%.0f days", s / 86400);
}

static void html_cell(struct buf *b, const char *cls, const char *text)
{
	buf_printf(b, "<td class=\"%s\">", cls);
	exp_html_escape(b, text);
	buf_adds(b, "</td>");
}

static void html_values(struct buf *b, const struct device *d)
{
	buf_adds(b, "<td class=\"values\"><ul class=\"values\">");
	for (size_t k = 0; k < d->nv; k++) {
		const struct dev_value *v = &d->v[k];
		buf_adds(b, "<li data-parameter=\"");
		exp_html_escape(b, v->name);
		buf_adds(b, "\"><span class=\"name\">");
		exp_html_escape(b, v->name);
		buf_adds(b, "</span> <span class=\"value\">");
		exp_html_escape(b, v->text);
		buf_adds(b, "</span>");
		if (v->unit) {
			buf_adds(b, " <span class=\"unit\">");
			exp_html_escape(b, v->unit);
			buf_adds(b, "</span>");
		}
		buf_adds(b, "</li>");
	}
	buf_adds(b, "</ul></td>");
}

static void html_health(struct buf *b, const struct device *d)
{
	const struct dev_health *h = &d->h;
	unsigned long long dropped = device_dropped(d);
	buf_printf(b, "<td class=\"dropped%s\" data-dropped=\"%llu\">", dropped ? " bad" : "", dropped);
	if (h->has_reader) {
		buf_printf(b, "%llu of %llu", dropped, dropped + h->telegrams);
		for (size_t k = 0; k < h->ndropped; k++) {
			buf_adds(b, k ? ", " : "<br><small>");
			exp_html_escape(b, h->dropped[k].reason);
			buf_printf(b, " %llu", h->dropped[k].n);
		}
		if (h->ndropped)
			buf_adds(b, "</small>");
		if (h->last_error[0]) {
			buf_adds(b, "<br><small class=\"error\">");
			exp_html_escape(b, h->last_error);
			buf_adds(b, "</small>");
		}
	} else {
		buf_adds(b, "&ndash;");
	}
	buf_adds(b, "</td>");
	html_cell(b, "link", h->link[0] ? h->link : "\xe2\x80\x93");
}

/* The gateway's publisher: no readings; its counters where a meter's
 * values go, what it dropped where a meter's dropped telegrams go. */
static void html_publisher_cells(struct buf *b, const struct device *d)
{
	const struct dev_health *h = &d->h;
	buf_adds(b, "<td class=\"values\"><ul class=\"values\">");
	if (h->has_publisher) {
		const char *names[] = { "published", "queued", "reconnects", "spool bytes" };
		unsigned long long v[] = { h->published, h->queued, h->reconnects, h->spool_bytes };
		for (size_t k = 0; k < (h->has_spool ? 4u : 3u); k++)
			buf_printf(b, "<li><span class=\"name\">%s</span> <span class=\"value\">%llu</span></li>",
			           names[k], v[k]);
	}
	buf_adds(b, "</ul></td>");
	unsigned long long dropped = h->pub_dropped;
	buf_printf(b, "<td class=\"dropped%s\" data-dropped=\"%llu\">%llu</td>", dropped ? " bad" : "", dropped,
	           dropped);
	html_cell(b, "link", "\xe2\x80\x93");
}

static void html_device(struct buf *b, const struct devtable *t, const struct device *d, const struct exp_clock *c)
{
	const char *state = dev_state_names[device_state(t, d, c->now_ms)];
	buf_printf(b, "<tr class=\"%s %s\" data-state=\"%s\" data-type=\"", d->publisher ? "publisher" : "device",
	           state, state);
	exp_html_escape(b, d->type);
	buf_adds(b, "\" data-device=\"");
	exp_html_escape(b, d->device);
	buf_printf(b, "\"><td class=\"state\"><span>%s</span></td>", state);
	html_cell(b, "device", d->device);
	html_cell(b, "type", d->type);
	html_cell(b, "meter", d->publisher ? "the gateway's publisher" : d->meter_id ? d->meter_id : "");
	char age[32] = "\xe2\x80\x93";
	if (d->seen_ms)
		format_age(age, sizeof age, age_s(d, c));
	html_cell(b, "time", d->time[0] ? d->time : "\xe2\x80\x93");
	html_cell(b, "age", age);
	if (d->publisher) {
		html_publisher_cells(b, d);
	} else {
		html_values(b, d);
		html_health(b, d);
	}
	buf_adds(b, "</tr>\n");
}

void exp_status_html(const struct devtable *t, const struct exp_clock *c, int refresh_s, struct buf *out)
{
	size_t count[4] = { 0 }, meters = 0;
	for (size_t i = 0; i < t->n; i++)
		if (!t->v[i]->publisher) {
			count[device_state(t, t->v[i], c->now_ms)]++;
			meters++;
		}
	char now[32];
	time_t secs = (time_t)(c->unix_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(now, sizeof now, "%Y-%m-%d %H:%M:%S UTC", &tm);
	buf_printf(out,
	           "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	           "<meta http-equiv=\"refresh\" content=\"%d\">"
	           "<meta name=\"viewport\" content=\"width=device-width\">"
	           "<title>meter2mqtt: %zu online, %zu stale, %zu offline</title><style>%s</style></head>\n<body>"
	           "<h1>meter2mqtt</h1><p class=\"summary\">%zu devices: %zu online, %zu stale, %zu offline, "
	           "%zu waiting. %s, every %d s.</p>\n",
	           refresh_s, count[DS_ONLINE], count[DS_STALE], count[DS_OFFLINE], page_style, meters, count[DS_ONLINE],
	           count[DS_STALE], count[DS_OFFLINE], count[DS_WAITING], now, refresh_s);
	buf_adds(out, "<table><thead><tr><th>State</th><th>Device</th><th>Type</th><th>Meter</th>"
	              "<th>Last reading</th><th>Age</th><th>Values</th><th>Dropped</th><th>Link</th></tr></thead>"
	              "<tbody>\n");
	for (size_t i = 0; i < t->n; i++)
		html_device(out, t, t->v[i], c);
	buf_adds(out, "</tbody></table>\n");
	unsigned long long rejected = 0;
	for (int r = 0; r < REJ_N; r++)
		rejected += t->rejected[r];
	buf_printf(out, "<p class=\"summary\">Messages rejected: <span id=\"rejected\">%llu</span>. "
	                "<a href=\"metrics\">metrics</a> &middot; <a href=\"api/devices\">api/devices</a></p>\n"
	                "</body></html>\n",
	           rejected);
}
