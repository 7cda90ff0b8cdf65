#include "sink/publisher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/text.h"
#include "base/util.h"
#include "line/reading.h"
#include "sink/fanin.h"

#ifndef M2M_VERSION
#define M2M_VERSION "unknown"
#endif

void pub_settings_init(struct pub_settings *s)
{
	memset(s, 0, sizeof *s);
	mqtt_settings_init(&s->mq);
	s->mm = (struct mm_opts){ .prefix = "meters", .mode = MM_RAW, .ha_prefix = "homeassistant" };
	s->queue_max = 100000;
	s->queue_bytes = 16L * 1024 * 1024;
	s->line_max = 1024L * 1024;
	s->drain_timeout_s = 10;
	s->spool_max = SPOOL_MAX_DEFAULT;
	s->spool_sync_ms = 1000;
	s->health_interval_s = 60;
}

/* ---- the device and its client id ---- */

/* m2m-<device>-<hash of host, prefix, type, device>: two gateways (or two
 * devices on one gateway) never share an id and kick each other off, and
 * the id stays within the 23 characters MQTT 3.1.1 brokers must accept. */
static char *default_client_id(const char *prefix, const char *type, const char *device)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	uint32_t h = FNV1A32_INIT;
	const char *parts[] = { host, prefix, type, device };
	for (size_t i = 0; i < 4; i++)
		h = fnv1a32(h, parts[i], strlen(parts[i]) + 1);
	char id[32];
	snprintf(id, sizeof id, "m2m-%.10s-%08x", device, (unsigned)h);
	return strdup(id);
}

static void set_device(struct publisher *p, const char *type, const char *device)
{
	const struct pub_settings *s = p->set;
	p->type = strdup(type);
	p->device = strdup(device);
	p->status_topic = mm_topic(s->mm.prefix, type, device, "status");
	p->health_topic = mm_topic(s->mm.prefix, type, device, "health");
	p->client_id = s->mq.client_id ? strdup(s->mq.client_id) : default_client_id(s->mm.prefix, type, device);
	if (!p->type || !p->device || !p->status_topic || !p->health_topic || !p->client_id)
		die(EXIT_RUNTIME, "out of memory");
	/* Every device on this stdin shares the connection, and so its will:
	 * all their entities go unavailable when the pipeline dies. */
	p->ha_set = (struct ha_settings){ p->status_topic, s->expire_after_s, M2M_VERSION, p->fan != NULL };
	mc_start(&p->conn, p->client_id, p->status_topic);
	p->health_due_ms = mono_ms() + s->health_interval_s * 1000;
}

/* Without --type and --device, the device of what an earlier run left in
 * the spool (PREFIX/TYPE/DEVICE[/PARAM]): it is to be sent now, before any
 * line names the device. */
static void device_from_spool(struct publisher *p)
{
	const char *prefix = p->set->mm.prefix;
	size_t pn = strlen(prefix);
	for (struct qmsg *m = p->out.q.head; m; m = m->next) {
		if (strncmp(m->data, prefix, pn) != 0 || m->data[pn] != '/')
			continue;
		char *type = strdup(m->data + pn + 1);
		char *slash = type ? strchr(type, '/') : NULL;
		if (slash) {
			char *device = slash + 1;
			*slash = '\0';
			device[strcspn(device, "/")] = '\0';
			if (*type && *device)
				set_device(p, type, device);
		}
		free(type);
		return;
	}
}

/* ---- Home Assistant discovery ---- */

static void ha_emit(const struct mm_msg *config, void *arg)
{
	struct publisher *p = arg;
	outbox_push(&p->out, config->topic, config->payload, config->payload_len, true);
}

/* Retained configs may be gone (a broker without persistence), and Home
 * Assistant asks for them again when it restarts. */
static void ha_again(void *arg)
{
	struct publisher *p = arg;
	ha_resend_all(&p->ha, ha_emit, p);
}

static void devices_online(struct publisher *p);

static void count_connect(void *arg)
{
	struct publisher *p = arg;
	p->connects++;
	if (p->connects > 1)
		devices_online(p);
	if (p->set->homeassistant)
		ha_again(p);
}

/* ---- the whole reading, and health ---- */

/* The line itself, byte for byte, on PREFIX/TYPE/DEVICE: the sinks read
 * the reading with the reader's digits. */
static void push_reading(struct publisher *p, const struct reading *r, const char *line, size_t len)
{
	char *topic = mm_topic(p->set->mm.prefix, r->type, r->device, NULL);
	if (!topic) {
		warnx("out of memory: the whole reading not published");
		return;
	}
	outbox_push(&p->out, topic, line, len, p->set->mq.retain);
	free(topic);
}

static void publish_devices_health(struct publisher *p);

/* Retained on PREFIX/TYPE/DEVICE/health: the reader's last report as it
 * gave it, and our own counters (meter2mqtt(7), HEALTH). */
static void publish_health(struct publisher *p)
{
	const struct queue *q = &p->out.q;
	publish_devices_health(p);
	struct pub_counters c = {
		.published = outbox_delivered(&p->out),
		.queued = q->count,
		.dropped = q->dropped,
		.reconnects = p->connects ? p->connects - 1 : 0,
		.bad_lines = p->bad_lines,
	};
	if (p->out.spooling) {
		const struct spool *sp = &p->out.spool;
		c.spooling = true;
		c.spool_bytes = sp->disk_bytes;
		c.spool_replayed = sp->replayed;
		c.spool_dropped = sp->dropped;
		c.spool_torn = sp->torn;
	}
	size_t len;
	char *msg = pubhealth_message(&p->health, p->type, p->device, &c, &len);
	if (msg)
		outbox_push(&p->out, p->health_topic, msg, len, true);
	free(msg);
	p->health_due_ms = mono_ms() + p->set->health_interval_s * 1000;
}

/* ---- fan-in: many readers, one connection (sink/fanin, sink/pubdev) ---- */

/* A device's health: its reader's report, its own messages' counts, the
 * connection's reconnects and its FIFO's bad lines. */
static void publish_device_health(struct publisher *p, const struct pubdev *d)
{
	const struct fan_src *src = d->source ? fanin_find(p->fan, d->source) : NULL;
	struct pub_counters c = {
		.published = d->published,
		.queued = d->queued,
		.dropped = d->dropped,
		.reconnects = p->connects ? p->connects - 1 : 0,
		.bad_lines = src ? src->bad_lines : 0,
	};
	size_t len;
	char *msg = pubhealth_message(&d->health, d->type, d->device, &c, &len);
	if (msg)
		outbox_push(&p->out, d->health_topic, msg, len, true);
	free(msg);
}

static void publish_devices_health(struct publisher *p)
{
	for (size_t i = 0; p->fan && i < p->devs.n; i++)
		if (p->devs.v[i]->source)
			publish_device_health(p, p->devs.v[i]);
}

static void device_status(struct publisher *p, const struct pubdev *d, const char *status)
{
	outbox_push(&p->out, d->status_topic, status, strlen(status), true);
}

/* The device of a line from a FIFO: new, or seen from another FIFO, it
 * says online (retained) before its first value. */
static struct pubdev *line_device(struct publisher *p, const struct reading *r)
{
	bool added;
	struct pubdev *d = pubdevs_get(&p->devs, r->type, r->device, &added);
	const char *src = p->fan->current ? p->fan->current->name : NULL;
	if (!d || !src || (d->source && strcmp(d->source, src) == 0))
		return d;
	free(d->source);
	d->source = strdup(src);
	device_status(p, d, "online");
	return d;
}

/* Its FIFO removed (mtrcfg removed the device): its last lines are read,
 * its status says offline, it is forgotten. */
static void source_gone(void *arg, struct fan_src *src)
{
	struct publisher *p = arg;
	for (size_t i = p->devs.n; i-- > 0;) {
		struct pubdev *d = p->devs.v[i];
		if (d->source && strcmp(d->source, src->name) == 0) {
			device_status(p, d, "offline");
			logmsg(LOG_INFO, "fan-in: %s removed: device %s offline", src->name, d->device);
			pubdevs_remove(&p->devs, d);
		}
	}
}

/* On every connect: a broker that lost its retained messages gets them
 * again. */
static void devices_online(struct publisher *p)
{
	for (size_t i = 0; p->fan && i < p->devs.n; i++)
		if (p->devs.v[i]->source)
			device_status(p, p->devs.v[i], "online");
}

/* Stopping: every device it published for goes offline (its will covers
 * only its own status). */
static void devices_offline(struct publisher *p)
{
	for (size_t i = 0; p->fan && i < p->devs.n; i++)
		if (p->devs.v[i]->source)
			device_status(p, p->devs.v[i], "offline");
}

/* The publisher's own device when no --type/--device names it:
 * meter2mqtt/<host name>, every other byte than [A-Za-z0-9_-] as '_'. */
static void set_self(struct publisher *p)
{
	char host[65] = "";
	gethostname(host, sizeof host - 1);
	for (char *c = host; *c; c++)
		if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') && !(*c >= '0' && *c <= '9') && *c != '-')
			*c = '_';
	set_device(p, PUBLISHER_TYPE, host[0] ? host : "gateway");
}

/* stdin is a directory: fan-in. */
static void fan_in_start(struct publisher *p)
{
	const struct pub_settings *s = p->set;
	char why[256];
	int dirfd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
	p->fan = calloc(1, sizeof *p->fan);
	if (dirfd < 0 || !p->fan || fanin_open(p->fan, dirfd, (size_t)s->line_max, why, sizeof why) < 0)
		die(EXIT_RUNTIME, "stdin (a directory, for fan-in): %s", dirfd < 0 || !p->fan ? strerror(errno) : why);
	p->fan->on_gone = source_gone;
	if (s->type)
		set_device(p, s->type, s->device);
	else
		set_self(p);
	char *self;
	if (asprintf(&self, "%s/%s", p->type, p->device) < 0)
		die(EXIT_RUNTIME, "out of memory");
	p->devs_self = self;
	pubdevs_init(&p->devs, s->mm.prefix, self);
	/* What the spool replays is counted for its devices, and so is all
	 * that comes after. */
	for (const struct qmsg *m = p->out.q.head; m; m = m->next)
		pubdevs_count(&p->devs, m, QUEUE_IN);
	p->out.q.watch = pubdevs_count;
	p->out.q.watch_arg = &p->devs;
	logmsg(LOG_INFO, "fan-in: publishing the lines of %zu FIFOs (and those added) as %s", p->fan->n, self);
}

/* "line N", or in fan-in "FIFO, line N": where a bad line came from. */
static const char *line_where(const struct publisher *p, unsigned long lineno)
{
	static char where[160];
	if (p->fan && p->fan->current)
		snprintf(where, sizeof where, "%s, line %lu", p->fan->current->name, lineno);
	else
		snprintf(where, sizeof where, "line %lu", lineno);
	return where;
}

static void count_bad_line(struct publisher *p)
{
	p->bad_lines++;
	if (p->fan && p->fan->current)
		p->fan->current->bad_lines++;
}

/* A reader's health line: kept for the next health message, which goes
 * out at once when the link state changed (or on the first report). */
static void take_reader_health(struct publisher *p, const struct reading *r, const struct jv *health)
{
	const char *why;
	struct pubdev *d = p->fan ? line_device(p, r) : NULL;
	if (p->fan && !d) {
		warnx("out of memory: the health of %s not kept", r->device);
		return;
	}
	int due = pubhealth_take(d ? &d->health : &p->health, health, &why);
	if (due < 0)
		warn_limited(&p->bad_line_rl, "health: %s: skipped", why);
	else if (due && p->set->health_interval_s && d)
		publish_device_health(p, d);
	else if (due && p->set->health_interval_s)
		publish_health(p);
}

/* ---- input ---- */

void pub_handle_line(const char *line, size_t len, unsigned long lineno, void *arg)
{
	struct publisher *p = arg;
	const struct pub_settings *s = p->set;
	if (p->fan)
		p->in.lineno++; /* all FIFOs together, for the count at the end */
	if (!line) {
		count_bad_line(p);
		warn_limited(&p->bad_line_rl, "%s: longer than %lld bytes: skipped", line_where(p, lineno),
		             (long long)s->line_max);
		return;
	}
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	size_t lead = 0;
	while (lead < len && (line[lead] == ' ' || line[lead] == '\t'))
		lead++;
	if (lead == len)
		return; /* a blank line says nothing */

	struct reading r;
	char why[256];
	int rc = reading_parse(line, len, &r, why, sizeof why);
	if (rc < 0) {
		arena_reset();
		count_bad_line(p);
		warn_limited(&p->bad_line_rl, "%s: %s: skipped", line_where(p, lineno), why);
		return;
	}
	if (p->conn.state == MC_IDLE)
		set_device(p, r.type, r.device);
	const struct jv *health = jv_get(&r.root, "health");
	if (health && health->type == JV_OBJECT) {
		take_reader_health(p, &r, health);
		reading_free(&r);
		arena_reset();
		return;
	}
	if (p->fan && !line_device(p, &r))
		warnx("out of memory: %s counted with no device", r.device);
	if (s->homeassistant)
		ha_announce(&p->ha, &s->mm, &p->ha_set, &r, ha_emit, p);

	struct mm_result res;
	if (mm_build(&s->mm, &r, line, len, s->mq.retain, &p->msgs, &res) < 0)
		warnx("%s: out of memory: skipped", line_where(p, lineno));
	for (size_t i = 0; i < p->msgs.n; i++)
		outbox_push(&p->out, p->msgs.v[i].topic, p->msgs.v[i].payload, p->msgs.v[i].payload_len,
		            p->msgs.v[i].retain);
	if (s->whole_reading && s->mm.mode != MM_JSON_READING)
		push_reading(p, &r, line + lead, len - lead);
	for (int i = 0; i < res.nproblems; i++)
		warn_limited(&p->bad_line_rl, "%s: parameter %s: %s: skipped", line_where(p, lineno),
		             res.problems[i].param, res.problems[i].why);
	p->bad_params += (unsigned long)res.skipped;
	mm_list_clear(&p->msgs);
	reading_free(&r);
	arena_reset();
	outbox_report_drops(&p->out, false);
}

/* ---- start and finish ---- */

void pub_start(struct publisher *p, const struct pub_settings *s)
{
	memset(p, 0, sizeof *p);
	p->set = s;
	p->bad_line_rl = (struct ratelimit)RATELIMIT_INIT(10, 20);
	if (linein_init(&p->in, (size_t)s->line_max) < 0)
		die(EXIT_RUNTIME, "out of memory");
	mc_init(&p->conn, &s->mq, &p->out.q);
	if (s->spool) {
		char why[256];
		if (outbox_open_spool(&p->out, s->spool, s->spool_max, s->spool_sync_ms, why, sizeof why) < 0)
			die(EXIT_RUNTIME, "--spool %s: %s", s->spool, why);
		p->conn.spool_dir = s->spool;
	} else {
		outbox_open_memory(&p->out, (size_t)s->queue_max, (size_t)s->queue_bytes);
	}
	p->conn.arg = p;
	if (s->homeassistant) {
		if (asprintf(&p->ha_status, "%s/status", s->mm.ha_prefix) < 0)
			die(EXIT_RUNTIME, "out of memory");
		p->conn.subscribe = p->ha_status;
		p->conn.on_birth = ha_again;
	}
	p->conn.on_connected = count_connect;
	struct stat st;
	if (fstat(STDIN_FILENO, &st) == 0 && S_ISDIR(st.st_mode))
		fan_in_start(p);
	else if (s->type)
		set_device(p, s->type, s->device);
	else if (p->out.spooling)
		device_from_spool(p);
}

int pub_finish(struct publisher *p, bool interrupted)
{
	const struct queue *q = &p->out.q;
	outbox_report_drops(&p->out, true);
	unsigned long undelivered = q->count, lost = q->count + q->dropped + p->conn.rejected;
	/* A poll from cron ends here every time: the status stays online and
	 * the entities expire (--expire-after) only when the polls stop. */
	p->conn.stay_online = p->set->one_shot && !interrupted && undelivered == 0;
	mc_goodbye(&p->conn, mono_ms() + 2000);
	if (p->bad_lines || p->bad_params)
		warnx("%lu lines read, %lu bad lines and %lu bad parameters skipped", p->in.lineno, p->bad_lines,
		      p->bad_params);
	if (p->out.spooling) {
		/* What is still queued stays in the spool for the next run. */
		if (undelivered)
			warnx("%lu messages kept in the spool %s for the next run%s", undelivered, p->set->spool,
			      interrupted ? " (interrupted)" : "");
		lost -= undelivered;
		undelivered = 0;
	}
	if (lost == 0)
		return EXIT_OK;
	warnx("%lu messages lost: %lu not delivered%s, %lu dropped from a full %s, %lu refused by the broker", lost,
	      undelivered, interrupted ? " (interrupted)" : " within --drain-timeout", q->dropped,
	      p->out.spooling ? "spool" : "queue", p->conn.rejected);
	return EXIT_RUNTIME;
}

void pub_free(struct publisher *p)
{
	if (p->fan) {
		p->out.q.watch = NULL;
		fanin_close(p->fan);
		free(p->fan);
		pubdevs_free(&p->devs);
		free(p->devs_self);
	}
	mc_free(&p->conn);
	outbox_close(&p->out);
	ha_registry_free(&p->ha);
	pubhealth_free(&p->health);
	free(p->type);
	free(p->device);
	free(p->status_topic);
	free(p->health_topic);
	free(p->client_id);
	free(p->ha_status);
	linein_free(&p->in);
	mm_list_free(&p->msgs);
}

/* ---- the loop ---- */

/* A signal handler has no context to be given: these two are all it
 * touches, and the loop reads them. */
static volatile sig_atomic_t signals, last_signal;

static void on_signal(int sig)
{
	signals++;
	last_signal = sig;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* After a stop signal, how long the input is still read. */
#define STOP_READ_MS 1000

/* A message is in the spool before it goes to the broker. */
static void pump(struct publisher *p, int64_t now)
{
	outbox_flush(&p->out, now);
	mc_pump(&p->conn);
}

/* SIGTERM and SIGINT end the input; they are let through only while the
 * loop sleeps (ppoll with orig), so that none is missed. */
static void catch_signals(sigset_t *orig)
{
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, orig);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int pub_run(struct publisher *p)
{
	const struct pub_settings *s = p->set;
	const struct queue *q = &p->out.q;
	sigset_t orig;
	catch_signals(&orig);

	bool draining = false;
	int64_t drain_deadline = 0, stop_read_end = 0;
	for (;;) {
		int64_t now = mono_ms();
		/* A stop reaches the reader too (one process group): what it
		 * writes on its way out is read until the input ends, for
		 * STOP_READ_MS at most, so that nothing in the pipe is lost. */
		if (signals && !p->in.eof && !stop_read_end) {
			logmsg(LOG_INFO, "%s: delivering what is queued, then exiting", strsignal(last_signal));
			stop_read_end = now + STOP_READ_MS;
			/* Is the broker back?  One attempt now, not at the end of
			 * the backoff: it decides whether to wait for it. */
			if (p->conn.state == MC_WAIT)
				p->conn.next_attempt_ms = now;
		}
		if (stop_read_end && now >= stop_read_end)
			p->in.eof = true;
		if (signals > 1)
			return pub_finish(p, true); /* asked twice: now */
		if (p->in.eof && !draining) {
			draining = true;
			devices_offline(p);
			drain_deadline = now + s->drain_timeout_s * 1000;
		}
		if (draining) {
			if (p->conn.state == MC_IDLE || q->count == 0)
				return pub_finish(p, false);
			/* Stopped with the broker away (the attempt made at the stop
			 * failed too): the spool keeps it all, and the next run (a
			 * reload's new pipeline) needs its lock now. */
			if (signals && p->out.spooling && p->conn.state == MC_WAIT &&
			    p->conn.next_attempt_ms > stop_read_end - STOP_READ_MS)
				return pub_finish(p, true);
			if (now >= drain_deadline)
				return pub_finish(p, signals != 0);
		}
		if (s->health_interval_s && p->health_topic && now >= p->health_due_ms)
			publish_health(p);
		mc_tick(&p->conn, now);
		pump(p, now);

		struct pollfd fds[2];
		nfds_t nfds = 0;
		int in_idx = -1, mq_idx = -1;
		/* While connected and half full, let the pipe hold the rest
		 * (the broker is taking messages); while disconnected keep
		 * reading, so that the reader never blocks. */
		bool busy = p->conn.state == MC_CONNECTED &&
		            (q->count >= q->max_count / 2 || q->bytes >= q->max_bytes / 2);
		if (!p->in.eof && !busy) {
			in_idx = (int)nfds;
			fds[nfds++] = (struct pollfd){ p->fan ? p->fan->epfd : STDIN_FILENO, POLLIN, 0 };
		}
		if (mc_pollfd(&p->conn, &fds[nfds]))
			mq_idx = (int)nfds++;

		/* Sleep until something happens or a deadline comes: idle
		 * costs nothing but a keepalive check now and then. */
		int64_t wake = min64(mc_wake(&p->conn, now), outbox_wake(&p->out));
		if (s->health_interval_s && p->health_topic)
			wake = min64(wake, p->health_due_ms);
		if (draining)
			wake = min64(wake, drain_deadline);
		else if (stop_read_end)
			wake = min64(wake, stop_read_end);
		struct timespec ts = { 0, 0 };
		if (wake > now) {
			ts.tv_sec = (wake - now) / 1000;
			ts.tv_nsec = (wake - now) % 1000 * 1000000;
		}
		int n = ppoll(fds, nfds, &ts, &orig);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die_errno(EXIT_RUNTIME, "poll");
		}
		if (mq_idx >= 0)
			mc_io(&p->conn, fds[mq_idx].revents);
		if (in_idx >= 0 && (fds[in_idx].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    (p->fan ? fanin_read(p->fan, pub_handle_line, p) : linein_read(&p->in, STDIN_FILENO, pub_handle_line, p)) < 0)
			warn_errno("stdin");
		pump(p, mono_ms());
	}
}
