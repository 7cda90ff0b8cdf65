/* reconcile.c: one pass of mtrcfg: config.yaml and config.d in, every
 * device's reader found and its options checked (by the reader itself),
 * then the scan directory made to match.  See reconcile.h. */
#include "svc/reconcile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/util.h"
#include "base/files.h"
#include "base/strv.h"
#include "base/text.h"
#include "meter/port.h"
#include "svc/config.h"
#include "svc/devconf.h"
#include "svc/programs.h"
#include "svc/sinks.h"
#include "svc/spawn.h"

/* `reader --list-options`: the option names it accepts, or none when it
 * does not tell. */
struct optlist {
	char *program;
	uint64_t stamp;   /* the binary it came from: asked again when it changes */
	struct strv names;
	bool known;
};

static uint64_t file_stamp(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	long long parts[] = { (long long)st.st_dev, (long long)st.st_ino, (long long)st.st_size,
		              (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec };
	return fnv1a64(FNV1A64_INIT, parts, sizeof parts);
}

/* Asked once per binary (the answers are kept across --watch passes); a
 * reader that ignores the option gets a short time to answer. */
static struct optlist *reader_options(struct reconcile_env *e, const char *program)
{
	uint64_t stamp = file_stamp(program);
	struct optlist *o = NULL;
	for (size_t i = 0; i < e->n_optlists && !o; i++)
		if (!strcmp(e->optlists[i].program, program))
			o = &e->optlists[i];
	if (o && o->stamp == stamp)
		return o;
	if (!o) {
		struct optlist *g = realloc(e->optlists, (e->n_optlists + 1) * sizeof *g);
		if (!g)
			return NULL;
		e->optlists = g;
		o = &e->optlists[e->n_optlists++];
		memset(o, 0, sizeof *o);
		o->program = strdup(program);
	} else {
		strv_free(&o->names);
		o->known = false;
	}
	o->stamp = stamp;
	char *argv[] = { o->program, "--list-options", NULL };
	struct job j = { .argv = argv, .out = -1, .timeout_ms = 2000 };
	jobs_run(&j, 1);
	if (j.status == 0 && j.output && *j.output) {
		char *save, *line;
		for (line = strtok_r(j.output, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char name[72];
			while (*line == '-')
				line++;
			/* p1read --list-options says poll-interval; files say poll_interval */
			if (*line && opt_name_spell(name, sizeof name, line, false))
				strv_add(&o->names, name);
		}
		o->known = o->names.n > 0;
	}
	free(j.output);
	return o;
}

void reconcile_env_free(struct reconcile_env *e)
{
	for (size_t i = 0; i < e->n_optlists; i++) {
		free(e->optlists[i].program);
		strv_free(&e->optlists[i].names);
	}
	free(e->optlists);
	e->optlists = NULL;
	e->n_optlists = 0;
}

/* ---- one reconcile pass ---- */

struct dev {
	char *id;
	char *file;
	bool loaded;    /* the file exists (valid or not) */
	bool valid;
	struct device_conf conf;
	char *reader;
	char **check_argv;  /* reader --check --device=ID options... */
	uint64_t vkey;      /* validation key */
	struct svc_state state;
	struct job job;
	bool needs_check;
	char *key, *auth_key;  /* secrets for env/, never on a command line */
	bool grouped;          /* read by the shared reader (SVC_P1), no service of its own */
};

/* Device keys that are secrets (an encrypted meter's keys): they go to the
 * service's env/ (mode 0600), never onto a command line. */
static bool is_secret(const char *key)
{
	return !strcmp(key, "key") || !strcmp(key, "key_file") || !strcmp(key, "auth_key") ||
	       !strcmp(key, "auth_key_file");
}

/* reader [--check] --device=ID [defaults] --key=value... */
static char **reader_argv(const struct dev *d, bool check)
{
	const char *const *defaults = reader_default_options(d->reader);
	size_t ndefaults = 0;
	while (defaults[ndefaults])
		ndefaults++;
	char **v = argv_new(d->conf.n_opts + ndefaults + 3);
	size_t n = 0;
	if (!v)
		return NULL;
	v[n++] = strdup(d->reader);
	if (check)
		v[n++] = strdup("--check");
	if (asprintf(&v[n++], "--device=%s", d->id) < 0)
		v[n - 1] = NULL;
	for (size_t i = 0; i < ndefaults; i++)
		v[n++] = strdup(defaults[i]);
	for (size_t i = 0; i < d->conf.n_opts; i++)
		if (d->conf.opts[i].arg && !is_secret(d->conf.opts[i].key))
			v[n++] = strdup(d->conf.opts[i].arg);
	return v;
}

/* The validation key: the exact reader binary and the exact options. */
static uint64_t validation_key(const struct dev *d)
{
	uint64_t stamp = file_stamp(d->reader), h = fnv1a64(FNV1A64_INIT, &stamp, sizeof stamp);
	for (size_t i = 0; d->check_argv[i]; i++)
		h = fnv1a64(h, d->check_argv[i], strlen(d->check_argv[i]) + 1);
	return h | 1; /* never 0, which means "never validated" */
}

/* Home Assistant's expire_after for a device: three of its intervals (a
 * late or lost reading is no outage), a minute at least.  The interval is
 * the device's poll_interval or interval, else its built-in type's; 0 (no
 * expiry) when neither says. */
static long expire_after_s(const struct device_conf *c)
{
	static const char *const keys[] = { "poll_interval", "interval" };
	long interval = 0;
	for (size_t i = 0; i < 2 && !interval; i++) {
		const char *v = device_opt_value(c, keys[i]);
		if (v && parse_long(v, 1, 86400, &interval) < 0)
			interval = 0;
	}
	if (!interval)
		interval = type_interval_s(c->type);
	return interval == 0 ? 0 : interval * 3 < 60 ? 60 : interval * 3;
}

/* mqttpub's command line for one device, or with type NULL for the
 * gateway's shared one (client id suffix id; never the password). */
static char **pub_argv(const struct base_conf *b, const char *config_path, const char *mqttpub, const char *type,
                       const char *id, long expire_after, const char *spool)
{
	struct argv_build a = { 0 };
	argv_add(&a, mqttpub, NULL);
	service_broker_args(&a, b, config_path, id, true);
	/* so that its status topic is right before the first reading */
	if (type) {
		argv_add(&a, "--type", type);
		argv_add(&a, "--device", id);
	}
	/* the sinks take the whole reading from PREFIX/TYPE/DEVICE */
	if (b->influx.present || b->http.present)
		argv_add(&a, "--reading", NULL);
	if (spool)
		argv_add(&a, "--spool", spool);
	if (b->ha_enabled) {
		argv_add(&a, "--homeassistant", NULL);
		if (b->ha_prefix)
			argv_add(&a, "--ha-prefix", b->ha_prefix);
		if (expire_after > 0)
			argv_add_long(&a, "--expire-after", expire_after);
	}
	return argv_built(&a);
}

struct pass {
	struct reconcile_env *env;
	struct base_conf base;
	bool base_ok;
	struct cfg_diag diag;
	struct dev *devs;
	size_t n_devs;
	int scanfd;
	bool check_only;
	int errors;     /* config errors */
	int failures;   /* runtime failures */
	struct sink sinks[SINK_MAX];
	size_t n_sinks;
	bool sinks_ok;  /* every sink's program took its options */
	bool shared_log; /* the services write to SVC_LOG (logging: dir not "-") */
};

bool device_file_name(const char *name)
{
	size_t l = strlen(name);
	return name[0] != '.' && l > 5 && !strcmp(name + l - 5, ".yaml");
}

static int cmp_dev(const void *a, const void *b) { return strcmp(((const struct dev *)a)->id, ((const struct dev *)b)->id); }

static void load_base(struct pass *p)
{
	char *buf = NULL;
	size_t len = 0;
	if (read_file(p->env->config_path, CONFIG_MAX_BYTES, &buf, &len) < 0) {
		if (errno != ENOENT) {
			diag_add(&p->diag, p->env->config_path, 0, 0, "cannot read: %s", strerror(errno));
			p->errors++;
			return;
		}
		logmsg(LOG_DEBUG, "%s: not found; using the defaults", p->env->config_path);
		buf = strdup("");
	}
	p->base_ok = config_load_base(p->env->config_path, buf, len, &p->base, &p->diag) == 0;
	free(buf);
	if (p->base_ok) {
		/* the files as mqttpub will open them, beside config.yaml */
		char *keep[SERVICE_MQTT_KEEP], why[512];
		struct mqtt_settings s = service_mqtt(&p->base.mqtt, p->env->config_path, "", keep);
		if (mqtt_settings_files_check(&s, why, sizeof why) < 0) {
			diag_add(&p->diag, p->env->config_path, 0, 0, "'mqtt': %s", why);
			p->base_ok = false;
		}
		service_mqtt_free(keep);
	}
	if (!p->base_ok)
		p->errors++;
}

static void load_devices(struct pass *p)
{
	DIR *d = opendir(p->env->config_dir);
	if (!d) {
		if (errno != ENOENT) {
			diag_add(&p->diag, p->env->config_dir, 0, 0, "cannot read the directory: %s", strerror(errno));
			p->errors++;
		}
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!device_file_name(e->d_name))
			continue;
		struct dev *g = realloc(p->devs, (p->n_devs + 1) * sizeof *g);
		if (!g)
			break;
		p->devs = g;
		struct dev *dv = &p->devs[p->n_devs++];
		memset(dv, 0, sizeof *dv);
		dv->id = strndup(e->d_name, strlen(e->d_name) - 5);
		if (asprintf(&dv->file, "%s/%s", p->env->config_dir, e->d_name) < 0)
			dv->file = NULL;
	}
	closedir(d);
	if (p->n_devs)
		qsort(p->devs, p->n_devs, sizeof *p->devs, cmp_dev);
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev *dv = &p->devs[i];
		char *buf;
		size_t len;
		if (!dv->file || read_file(dv->file, CONFIG_MAX_BYTES, &buf, &len) < 0) {
			if (errno == ENOENT)
				continue; /* gone since readdir */
			diag_add(&p->diag, dv->file ? dv->file : dv->id, 0, 0, "cannot read: %s", strerror(errno));
			dv->loaded = true;
			p->errors++;
			continue;
		}
		dv->loaded = true;
		dv->valid = config_load_device(dv->file, dv->id, buf, len, &dv->conf, &p->diag) == 0;
		free(buf);
		if (!dv->valid)
			p->errors++;
	}
}

static void dev_error(struct pass *p, struct dev *dv, int line, int col, const char *fmt, const char *a,
                      const char *b)
{
	diag_add(&p->diag, dv->file, line, col, fmt, a, b);
	dv->valid = false;
	p->errors++;
}

/* 32 hex digits (spaces allowed), or why not: never quoting the key. */
static const char *key_problem(const char *v)
{
	int digits = 0;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
			continue;
		if (hex_digit_value((unsigned char)*v) < 0)
			return "not hex digits (expected 32)";
		digits++;
	}
	return digits == 32 ? NULL : "not 32 hex digits";
}

/* key:, key_file:, auth_key:, auth_key_file: into dv->key, dv->auth_key.
 * A key in a file others can read is refused: it would not stay secret. */
static void load_secrets(struct pass *p, struct dev *dv)
{
	struct stat st;
	for (size_t k = 0; k < dv->conf.n_opts; k++) {
		const struct dev_opt *o = &dv->conf.opts[k];
		if (!is_secret(o->key) || !o->arg || !strchr(o->arg, '='))
			continue;
		const char *v = strchr(o->arg, '=') + 1;
		char *text = NULL, *path = NULL;
		size_t len;
		bool from_file = strstr(o->key, "_file") != NULL;
		if (from_file) {
			path = path_beside(p->env->config_path, v);
			if (!path || read_file(path, 4096, &text, &len) < 0) {
				dev_error(p, dv, o->line, o->col, "%s: cannot read %s", o->key, v);
				free(path);
				continue;
			}
		}
		const char *shown = from_file ? path : dv->file;
		if (stat(shown, &st) == 0 && (st.st_mode & 077))
			dev_error(p, dv, o->line, o->col, "%s: %s can be read by others: chmod 600 it", o->key, shown);
		const char *why = key_problem(from_file ? text : v);
		if (why)
			dev_error(p, dv, o->line, o->col, "%s: malformed key: %s", o->key, why);
		char **slot = !strncmp(o->key, "auth_", 5) ? &dv->auth_key : &dv->key;
		if (!why) {
			free(*slot);
			*slot = strdup(from_file ? text : v);
			for (char *c = *slot; c && *c; c++)
				if (*c == '\n' || *c == '\r')
					*c = '\0';
		}
		free(text);
		free(path);
	}
}

/* Type -> reader; unknown keys against `reader --list-options`. */
static void resolve_readers(struct pass *p)
{
	struct strv types = { 0 };
	types_known(&p->base, p->env->config_path, &types);
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev *dv = &p->devs[i];
		if (!dv->valid)
			continue;
		dv->reader = type_program(&p->base, p->env->config_path, p->env->self_dir, dv->conf.type);
		if (!dv->reader) {
			char hint[128];
			did_you_mean_hint(hint, sizeof hint, dv->conf.type, (const char *const *)types.v, types.n);
			bool known = false;
			for (size_t k = 0; k < types.n; k++)
				known |= !strcmp(types.v[k], dv->conf.type);
			dev_error(p, dv, dv->conf.type_line, dv->conf.type_col,
			          known ? "the reader of type '%s' is not installed%s" : "unknown device type '%s'%s",
			          dv->conf.type, hint);
			continue;
		}
		load_secrets(p, dv);
		struct optlist *ol = reader_options(p->env, dv->reader);
		for (size_t k = 0; ol && ol->known && k < dv->conf.n_opts; k++) {
			const struct dev_opt *o = &dv->conf.opts[k];
			if (is_secret(o->key))
				continue;
			char norm[72];
			if (!opt_name_spell(norm, sizeof norm, o->key, false))
				norm[0] = '\0';
			bool ok = false;
			for (size_t n = 0; n < ol->names.n && !ok; n++)
				ok = !strcmp(ol->names.v[n], norm);
			if (ok)
				continue;
			char hint[128];
			did_you_mean_hint(hint, sizeof hint, norm, (const char *const *)ol->names.v, ol->names.n);
			dev_error(p, dv, o->line, o->col, "unknown key '%s'%s", o->key, hint);
		}
	}
	strv_free(&types);
}

/* The reader's complaint, with the position of the key it names. */
static void report_check(struct pass *p, struct dev *dv)
{
	char *msg = dv->job.output ? dv->job.output : "";
	size_t l = strlen(msg);
	while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
		msg[--l] = '\0';
	int line = 1, col = 1;
	for (size_t k = 0; k < dv->conf.n_opts; k++) {
		const char *arg = dv->conf.opts[k].arg;
		if (!arg)
			continue;
		size_t nl = strcspn(arg, "=");
		char name[80];
		snprintf(name, sizeof name, "%.*s", (int)nl, arg);
		if (strstr(msg, name) || strstr(msg, dv->conf.opts[k].key)) {
			line = dv->conf.opts[k].line;
			col = dv->conf.opts[k].col;
			break;
		}
	}
	char what[PATH_MAX + 64];
	const char *slash = strrchr(dv->reader, '/');
	if (dv->job.status < 0)
		snprintf(what, sizeof what, "%s --check did not finish", slash ? slash + 1 : dv->reader);
	else
		snprintf(what, sizeof what, "%s --check rejects the device (exit %d)", slash ? slash + 1 : dv->reader,
		         dv->job.status);
	dev_error(p, dv, line, col, "%s: %s", what, *msg ? msg : "(no message)");
}

static size_t mark_grouped(struct pass *p);

/* The shared reader's devices have no marker of their own: its marker
 * holds this key of them all (each one's validation key, in order). */
static uint64_t group_key(const struct pass *p)
{
	uint64_t h = FNV1A64_INIT;
	for (size_t i = 0; i < p->n_devs; i++)
		if (p->devs[i].grouped)
			h = fnv1a64(h, &p->devs[i].vkey, sizeof p->devs[i].vkey);
	return h | 1;
}

static void validate(struct pass *p)
{
	struct job *jobs = calloc(p->n_devs + 1, sizeof *jobs);
	size_t n = 0;
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev *dv = &p->devs[i];
		if (!dv->valid)
			continue;
		dv->check_argv = reader_argv(dv, true);
		dv->vkey = validation_key(dv);
		if (p->scanfd >= 0)
			svc_read_state(p->scanfd, dv->id, &dv->state);
	}
	/* The shared reader's devices, checked before as they are now. */
	bool group_checked = false;
	if (p->scanfd >= 0 && mark_grouped(p)) {
		struct svc_state group;
		svc_read_state(p->scanfd, SVC_P1, &group);
		group_checked = group.generated && group.validated == group_key(p);
	}
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev *dv = &p->devs[i];
		if (!dv->valid)
			continue;
		/* Validated before, by this very reader with these very options. */
		if ((dv->grouped && group_checked) || (dv->state.generated && dv->state.validated == dv->vkey))
			continue;
		dv->needs_check = true;
		jobs[n].argv = dv->check_argv;
		jobs[n].out = -1;
		n++;
	}
	jobs_run(jobs, n);
	size_t k = 0;
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev *dv = &p->devs[i];
		if (!dv->needs_check)
			continue;
		dv->job = jobs[k++];
		if (dv->job.status != 0)
			report_check(p, dv);
		free(dv->job.output);
		dv->job.output = NULL;
	}
	free(jobs);
}

/* logging: dir (or -l): "-" for no log of our own, each program's
 * messages going to the supervisor's output (under systemd, the journal). */
static const char *log_base(const struct pass *p)
{
	return p->env->log_dir ? p->env->log_dir : p->base.log_dir ? p->base.log_dir : "/var/log/meter2mqtt";
}

/* The shared log's directory: <logging.dir>/devices. */
static char *shared_log_dir(const struct pass *p)
{
	const char *base = log_base(p);
	char *abs = p->env->log_dir ? path_absolute(base) : path_beside(p->env->config_path, base), *out;
	if (!abs || asprintf(&out, "%s/devices", abs) < 0)
		out = NULL;
	free(abs);
	return out;
}

/* <state_dir>/<id>, the device's spool: made here (mqttpub would make
 * the last level itself, not the parents). */
static char *device_state_dir(const struct pass *p, const char *id)
{
	const char *base = p->base.state_dir ? p->base.state_dir : "/var/lib/meter2mqtt";
	char *abs = path_beside(p->env->config_path, base), *out;
	if (asprintf(&out, "%s/%s", abs ? abs : base, id) < 0)
		out = NULL;
	free(abs);
	if (out) {
		for (char *s = out + 1; (s = strchr(s, '/')); s++) {
			*s = '\0';
			mkdir(out, 0755);
			*s = '/';
		}
		if (mkdir(out, 0700) < 0 && errno != EEXIST)
			warnx("cannot create %s (mqttpub's spool for %s): %s", out, id, strerror(errno));
	}
	return out;
}

static bool mqttpub_ok(struct pass *p, char **argv)
{
	size_t n = 0;
	while (argv[n])
		n++;
	char **v = argv_new(n + 1);
	v[0] = argv[0];
	v[1] = "--check";
	for (size_t i = 1; i < n; i++)
		v[i + 1] = argv[i];
	struct job j = { .argv = v, .out = -1 };
	jobs_run(&j, 1);
	bool ok = j.status == 0;
	if (!ok) {
		char *m = j.output ? j.output : "";
		m[strcspn(m, "\n")] = '\0';
		diag_add(&p->diag, p->env->config_path, 1, 1, "mqttpub rejects the mqtt settings: %s", m);
		p->errors++;
	}
	free(j.output);
	free(v);
	return ok;
}

/* Puts the service s where the scan directory has st: installs it, updates
 * it (the supervisor restarts it), or rewrites its marker; leaves alone what
 * mtrcfg did not make, and anything when its check failed (good false,
 * reported by the check).  kind and what name it in the log (NULL: said
 * nowhere).  True when it was installed. */
static bool apply_service(struct pass *p, const struct svc *s, const struct svc_state *st, bool good,
                          const char *kind, const char *what)
{
	char err[512];
	if (st->exists && !st->generated) {
		warnx("%s/%s exists and was not made by mtrcfg: leaving it alone", p->env->scan_dir, s->id);
		p->failures++;
	} else if (!good) {
		/* reported by the check */
	} else if (!st->exists) {
		if (svc_install(p->scanfd, s, err, sizeof err) < 0) {
			warnx("%s", err);
			p->failures++;
		} else {
			if (kind)
				logmsg(LOG_INFO, "Started %s: %s (%s)", kind, s->id, what);
			return true;
		}
	} else if (st->checksum != s->checksum) {
		if (kind)
			logmsg(LOG_INFO, "Reloading %s %s (config changed)", kind, s->id);
		if (svc_update(p->scanfd, s, p->env->sup, err, sizeof err) < 0) {
			warnx("%s", err);
			p->failures++;
		}
	} else if (st->validated != s->validated && svc_write_marker(p->scanfd, s, err, sizeof err) < 0) {
		warnx("%s", err);
		p->failures++;
	}
	return false;
}

/* The one log every service writes to (SVC_LOG, into logging.dir/devices),
 * installed before the services that need it; with logging: dir "-", none
 * (and remove_stale removes one made before). */
static void sync_shared_log(struct pass *p)
{
	p->shared_log = strcmp(log_base(p), "-") != 0;
	if (!p->shared_log)
		return;
	char *dir = shared_log_dir(p);
	struct svc s;
	if (!dir || svc_generate_log(p->env->sup, dir, &s) < 0) {
		warnx("%s: out of memory", SVC_LOG);
		p->failures++;
		free(dir);
		return;
	}
	free(dir);
	struct svc_state st;
	svc_read_state(p->scanfd, SVC_LOG, &st);
	/* Not announced: it comes and goes with the first device and -l. */
	if (apply_service(p, &s, &st, true, NULL, NULL) && p->env->sup == SUP_S6)
		s6_scan(p->scanfd, false);
	svc_free(&s);
}

/* The sinks' programs check their own options (--check), with the
 * secrets they will have in env/. */
static void check_sinks(struct pass *p)
{
	p->sinks_ok = true;
	for (size_t i = 0; i < p->n_sinks; i++) {
		const struct sink *k = &p->sinks[i];
		const char *section = !strcmp(k->program, "influxpub") ? "influxdb" : "http";
		if (!k->argv) {
			diag_add(&p->diag, p->env->config_path, 0, 0, "'%s': %s is not installed (looked beside mtrcfg "
			         "and along PATH)", section, k->program);
			p->errors++;
			p->sinks_ok = false;
			continue;
		}
		size_t n = 0;
		while (k->argv[n])
			n++;
		char **v = argv_new(n + 1);
		char **env = sink_env(k, p->base.mqtt.password);
		if (!v || !env) {
			free(v);
			sink_env_free(env);
			p->failures++;
			continue;
		}
		v[0] = k->argv[0];
		v[1] = "--check";
		for (size_t j = 1; j < n; j++)
			v[j + 1] = k->argv[j];
		struct job j = { .argv = v, .envp = env, .out = -1 };
		jobs_run(&j, 1);
		if (j.status != 0) {
			char *m = j.output ? j.output : "";
			m[strcspn(m, "\n")] = '\0';
			diag_add(&p->diag, p->env->config_path, 0, 0, "'%s': %s --check rejects it: %s", section,
			         k->program, m);
			p->errors++;
			p->sinks_ok = false;
		}
		free(j.output);
		free(v);
		sink_env_free(env);
	}
}

static void sync_sinks(struct pass *p)
{
	for (size_t i = 0; i < p->n_sinks; i++) {
		const struct sink *k = &p->sinks[i];
		if (!k->argv)
			continue;
		struct svc_spec spec = { .id = k->id,
			                 .type = k->program,
			                 .source = p->env->config_path,
			                 .sup = p->env->sup,
			                 .pub_argv = k->argv,
			                 .shared_log = p->shared_log,
			                 .password = p->base.mqtt.password,
			                 .influx_password = k->influx_password,
			                 .influx_token = k->influx_token,
			                 .log_level = p->base.log_level };
		struct svc s;
		if (svc_generate(&spec, &s) == 0) {
			struct svc_state st;
			svc_read_state(p->scanfd, k->id, &st);
			if (apply_service(p, &s, &st, p->sinks_ok, "service", k->program) && p->env->sup == SUP_S6)
				s6_scan(p->scanfd, false);
			svc_free(&s);
		} else {
			warnx("%s: out of memory", k->id);
			p->failures++;
		}
	}
}

/* publisher: shared: one mqttpub for the gateway (SVC_PUB), reading every
 * device's FIFO (mqttpub(1), fan-in), installed before the devices that
 * write into it.  Home Assistant's expire_after is the longest any device
 * asks for: no entity goes unavailable sooner than under its own mqttpub. */
static void sync_shared_publisher(struct pass *p, const char *mqttpub)
{
	long expire = 0;
	for (size_t i = 0; i < p->n_devs; i++)
		if (p->devs[i].valid && expire_after_s(&p->devs[i].conf) > expire)
			expire = expire_after_s(&p->devs[i].conf);
	char *statedir = device_state_dir(p, SVC_PUB);
	char **pargv = pub_argv(&p->base, p->env->config_path, mqttpub, NULL, "pub", expire, statedir);
	free(statedir);
	struct svc_spec spec = { .id = SVC_PUB,
		                 .type = "mqttpub",
		                 .source = p->env->config_path,
		                 .sup = p->env->sup,
		                 .pub_argv = pargv,
		                 .shared_log = p->shared_log,
		                 .fan_in = true,
		                 .password = p->base.mqtt.password,
		                 .log_level = p->base.log_level };
	struct svc s;
	if (!pargv || svc_generate(&spec, &s) < 0) {
		warnx("%s: out of memory", SVC_PUB);
		p->failures++;
		argv_free(pargv);
		return;
	}
	struct svc_state st;
	svc_read_state(p->scanfd, SVC_PUB, &st);
	bool changes = !st.exists || (st.generated && st.checksum != s.checksum);
	bool good = !changes || mqttpub_ok(p, pargv);
	if (apply_service(p, &s, &st, good, "service", "mqttpub") && p->env->sup == SUP_S6)
		s6_scan(p->scanfd, false);
	svc_free(&s);
	argv_free(pargv);
}

/* readers: shared: whether the gateway's one p1read --meters reads this
 * device: the built-in P1 reader, options without a line break, a port
 * that comes back after a loss (serial, TCP: the only kinds --meters
 * takes), and no key (an encrypted
 * meter's keys stay in its own service's env/, never in a shared file). */
static bool groupable(const struct pass *p, const struct dev *dv)
{
	if (!p->base.shared_readers || !dv->valid || !dv->conf.type || strcmp(dv->conf.type, "dsmr") || dv->key ||
	    dv->auth_key)
		return false;
	const char *slash = strrchr(dv->reader, '/');
	if (strcmp(slash ? slash + 1 : dv->reader, "p1read"))
		return false;
	/* A meter is one line of the meters file. */
	for (size_t i = 0; dv->check_argv && dv->check_argv[i]; i++)
		if (strpbrk(dv->check_argv[i], "\r\n"))
			return false;
	const struct device_conf *c = &dv->conf;
	char spec[512], why[256];
	struct port port;
	if (port_options_check(device_opt_value(c, "port"), device_opt_value(c, "connection"),
	                       device_opt_value(c, "host"), spec, sizeof spec, why, sizeof why) < 0 || !spec[0] ||
	    port_init(&port, spec, NULL, why, sizeof why) < 0)
		return false;
	return port_can_reconnect(&port);
}

static size_t mark_grouped(struct pass *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n_devs; i++)
		if ((p->devs[i].grouped = groupable(p, &p->devs[i])))
			n++;
	return n;
}

/* The shared reader: one line of ./meters a grouped device, its reader's
 * options as its own service would run them (validated the same way). */
static void sync_shared_reader(struct pass *p)
{
	char *meters = NULL, *reader = NULL;
	size_t len = 0;
	bool oom = false;
	for (size_t i = 0; i < p->n_devs && !oom; i++) {
		struct dev *dv = &p->devs[i];
		if (!dv->grouped)
			continue;
		char **rargv = reader_argv(dv, false);
		oom = !rargv || sh_line(&meters, &len, rargv + 1) < 0;
		if (!reader)
			reader = dv->reader;
		argv_free(rargv);
	}
	char *argv[] = { reader, (char *)"--meters", (char *)"meters", NULL };
	struct svc_spec spec = { .id = SVC_P1,
		                 .type = "dsmr",
		                 .source = p->env->config_path,
		                 .sup = p->env->sup,
		                 .reader_argv = argv,
		                 .shared_log = p->shared_log,
		                 .fan_in = true,
		                 .log_level = p->base.log_level,
		                 .meters = meters };
	struct svc s;
	if (oom || svc_generate(&spec, &s) < 0) {
		warnx("%s: out of memory", SVC_P1);
		p->failures++;
		free(meters);
		return;
	}
	s.validated = group_key(p);
	struct svc_state st;
	svc_read_state(p->scanfd, SVC_P1, &st);
	if (apply_service(p, &s, &st, true, "service", "p1read --meters") && p->env->sup == SUP_S6)
		s6_scan(p->scanfd, false);
	svc_free(&s);
	free(meters);
}

static void sync_services(struct pass *p)
{
	const char *pp = p->base.mqttpub;
	char *mqttpub = !pp ? program_find(p->env->self_dir, "mqttpub") : strchr(pp, '/') ? path_beside(p->env->config_path, pp) : program_find(p->env->self_dir, pp);
	if (!mqttpub) {
		diag_add(&p->diag, p->env->config_path, 1, 1, "mqttpub is not installed (looked beside mtrcfg and along PATH)");
		p->errors++;
		return;
	}
	bool checked_pub = false, pub_good = true, started = false, shared = p->base.shared_publisher;
	if (shared)
		sync_shared_publisher(p, mqttpub);
	/* Marked again: a device that failed its check (validate) is out. */
	if (mark_grouped(p))
		sync_shared_reader(p);
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev *dv = &p->devs[i];
		if (!dv->valid || dv->grouped)
			continue;
		char *statedir = shared ? NULL : device_state_dir(p, dv->id);
		char **rargv = reader_argv(dv, false),
		     **pargv = shared ? NULL
		                      : pub_argv(&p->base, p->env->config_path, mqttpub, dv->conf.type, dv->id,
		                                 expire_after_s(&dv->conf), statedir);
		free(statedir);
		/* Under the shared publisher the reader alone: the broker's
		 * password is the publisher's. */
		struct svc_spec spec = { .id = dv->id,
			                 .type = dv->conf.type,
			                 .source = dv->file,
			                 .sup = p->env->sup,
			                 .reader_argv = rargv,
			                 .pub_argv = pargv,
			                 .shared_log = p->shared_log,
			                 .fan_in = shared,
			                 .password = shared ? NULL : p->base.mqtt.password,
			                 .p1_key = dv->key,
			                 .p1_auth_key = dv->auth_key,
			                 .log_level = p->base.log_level };
		struct svc s;
		if (rargv && (pargv || shared) && svc_generate(&spec, &s) == 0) {
			s.validated = dv->vkey;
			const struct svc_state *st = &dv->state;
			bool changes = !st->exists || (st->generated && st->checksum != s.checksum);
			if (changes && !checked_pub && !shared) {
				pub_good = mqttpub_ok(p, pargv);
				checked_pub = true;
			}
			if (apply_service(p, &s, st, !changes || pub_good, "device", dv->conf.type))
				started = true;
			svc_free(&s);
		} else {
			warnx("%s: out of memory", dv->id);
			p->failures++;
		}
		argv_free(rargv);
		argv_free(pargv);
	}
	free(mqttpub);
	if (started && p->env->sup == SUP_S6)
		s6_scan(p->scanfd, false);
}

/* A device with a service (and, under the shared publisher, a FIFO) of its
 * own: its file is there and the shared reader does not read it. */
static bool device_has_own(const struct pass *p, const char *id)
{
	for (size_t i = 0; i < p->n_devs; i++)
		if (!strcmp(p->devs[i].id, id))
			return p->devs[i].loaded && !p->devs[i].grouped;
	return false;
}

static bool shared_reader_on(const struct pass *p)
{
	for (size_t i = 0; i < p->n_devs; i++)
		if (p->devs[i].grouped)
			return true;
	return false;
}

static bool sink_configured(const struct pass *p, const char *id)
{
	for (size_t i = 0; i < p->n_sinks; i++)
		if (!strcmp(p->sinks[i].id, id))
			return true;
	return false;
}

/* Generated services whose device file, or config.yaml section, is gone. */
static void remove_stale(struct pass *p)
{
	DIR *d = svc_scan_open(p->scanfd);
	if (!d)
		return;
	struct strv gone = { 0 };
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || device_has_own(p, e->d_name) || sink_configured(p, e->d_name) ||
		    (p->shared_log && !strcmp(e->d_name, SVC_LOG)) ||
		    (p->base.shared_publisher && !strcmp(e->d_name, SVC_PUB)) ||
		    (shared_reader_on(p) && !strcmp(e->d_name, SVC_P1)))
			continue;
		struct svc_state st;
		svc_read_state(p->scanfd, e->d_name, &st);
		if (st.generated)
			strv_add(&gone, e->d_name);
	}
	closedir(d);
	char err[512];
	for (size_t i = 0; i < gone.n; i++) {
		if (svc_remove(p->scanfd, gone.v[i], p->env->sup, 3000, err, sizeof err) < 0) {
			warnx("%s", err);
			p->failures++;
		} else {
			logmsg(LOG_INFO, "Stopped %s: %s", strchr(gone.v[i], '.') ? "service" : "device", gone.v[i]);
		}
	}
	strv_free(&gone);
}

/* Under the shared publisher: the FIFO of a device that is gone (its
 * service stopped above) is removed, and the publisher, told by inotify,
 * reads its last lines and says the device offline. */
static void remove_stale_fifos(struct pass *p)
{
	int fd = openat(p->scanfd, SVC_PUB_IN, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && !device_has_own(p, e->d_name) &&
		    !(shared_reader_on(p) && !strcmp(e->d_name, SVC_P1)) && unlinkat(fd, e->d_name, 0) < 0)
			warn_errno("%s/%s/%s: cannot remove", p->env->scan_dir, SVC_PUB_IN, e->d_name);
	closedir(d);
}

static void pass_free(struct pass *p)
{
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev *dv = &p->devs[i];
		free(dv->id);
		free(dv->file);
		free(dv->reader);
		free(dv->key);
		free(dv->auth_key);
		argv_free(dv->check_argv);
		device_conf_free(&dv->conf);
	}
	free(p->devs);
	sinks_free(p->sinks, p->n_sinks);
	base_conf_free(&p->base);
	diag_free(&p->diag);
}

int reconcile(struct reconcile_env *e, int scanfd, bool check_only)
{
	struct pass p = { .env = e, .scanfd = scanfd, .check_only = check_only };
	load_base(&p);
	if (p.base_ok) {
		load_devices(&p);
		resolve_readers(&p);
		validate(&p);
		p.n_sinks = sinks_build(&p.base, e->config_path, e->self_dir, p.sinks);
		check_sinks(&p);
	}
	/* A sink's section is config.yaml's, and the devices' publishers
	 * depend on it (--reading): refused, it leaves everything as it is. */
	if (p.base_ok && p.sinks_ok) {
		if (!check_only && scanfd >= 0) {
			svc_collect(scanfd);
			sync_shared_log(&p);
			sync_services(&p);
			sync_sinks(&p);
			remove_stale(&p);
			if (p.base.shared_publisher)
				remove_stale_fifos(&p);
		}
	} else if (!check_only) {
		warnx("%s is invalid: every service is left as it is", e->config_path);
	}
	for (size_t i = 0; i < p.diag.n; i++)
		fprintf(stderr, "%s: %s\n", prog_name, p.diag.msgs[i]);
	int rc = p.failures ? EXIT_RUNTIME : p.errors ? EXIT_USAGE : EXIT_OK;
	pass_free(&p);
	return rc;
}

int list_types(struct reconcile_env *e)
{
	struct pass p = { .env = e, .scanfd = -1 };
	load_base(&p);
	int rc = EXIT_OK;
	if (!p.base_ok) {
		for (size_t i = 0; i < p.diag.n; i++)
			fprintf(stderr, "%s: %s\n", prog_name, p.diag.msgs[i]);
		rc = EXIT_USAGE;
	} else {
		struct strv types = { 0 };
		types_known(&p.base, p.env->config_path, &types);
		for (size_t i = 0; i < types.n; i++) {
			char *prog = type_program(&p.base, p.env->config_path, p.env->self_dir, types.v[i]);
			printf("%s\t%s\n", types.v[i], prog ? prog : "(not installed)");
			free(prog);
		}
		strv_free(&types);
	}
	pass_free(&p);
	return rc;
}

