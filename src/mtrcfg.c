/* mtrcfg: config.yaml + config.d/<id>.yaml -> one supervised service per
 * meter (runit or s6), kept in step with the files.
 *
 * One reconcile pass: load the base config, load every device file, find
 * each device's reader, validate the device with `reader --check` (cached
 * by a key stored in the service dir), generate its service in memory and
 * compare checksums with what the scan directory holds: install the new,
 * update the changed, remove the gone, leave the rest alone.  A device
 * whose file is broken keeps its last good service. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "svc/config.h"
#include "base/err.h"
#include "svc/svcdir.h"
#include "base/util.h"

extern char **environ;

#define USAGE                                                                                                   \
	"usage: mtrcfg [-c config.yaml] [-d config.d] [--check | --list-types]\n"                                  \
	"       mtrcfg [-c config.yaml] [-d config.d] -o scandir [-s runit|s6] [-l logdir] [-w [--debounce ms]]\n"

static const char *config_path, *config_dir, *scan_dir, *log_dir_opt;
static enum supervisor sup = SUP_RUNIT;
static bool sup_given;
static long debounce_ms = 1000;
static char self_dir[PATH_MAX];

/* ---- programs ---- */

static bool executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static char *absolute(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char cwd[PATH_MAX], *out;
	if (!getcwd(cwd, sizeof cwd) || asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

/* name beside mtrcfg itself first (the build tree, or the install's
 * bindir), then along PATH. */
static char *find_program(const char *name)
{
	char buf[PATH_MAX * 2];
	if (self_dir[0]) {
		snprintf(buf, sizeof buf, "%s/%s", self_dir, name);
		if (executable(buf))
			return strdup(buf);
	}
	const char *path = getenv("PATH");
	while (path && *path) {
		const char *colon = strchrnul(path, ':');
		snprintf(buf, sizeof buf, "%.*s/%s", (int)(colon - path), path, name);
		if (colon > path && executable(buf))
			return absolute(buf);
		path = *colon ? colon + 1 : colon;
	}
	return NULL;
}

/* A path in config.yaml, relative to the directory config.yaml is in. */
static char *config_relative(const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	char *base = strdup(config_path), *slash = strrchr(base, '/'), *out;
	if (slash)
		*slash = '\0';
	int r = slash ? asprintf(&out, "%s/%s", base, p) : asprintf(&out, "%s", p);
	free(base);
	if (r < 0)
		return NULL;
	char *abs = absolute(out);
	free(out);
	return abs;
}

static const struct {
	const char *type, *program;
} builtin_types[] = { { "dsmr", "p1read" }, { "multical", "kmpread" } };

/* The reader of a type: config.yaml's types: map, then TYPE in a types
 * directory, then the built-in types. */
static char *type_program(const struct base_conf *b, const char *type)
{
	for (size_t i = 0; i < b->n_types; i++) {
		if (strcmp(b->types[i].name, type))
			continue;
		const char *p = b->types[i].program;
		return strchr(p, '/') ? config_relative(p) : find_program(p);
	}
	for (size_t i = 0; i <= b->n_types_dirs; i++) {
		char *dir = i < b->n_types_dirs ? config_relative(b->types_dirs[i]) : strdup(M2M_LIBEXECDIR "/types");
		char *p = NULL;
		if (dir && asprintf(&p, "%s/%s", dir, type) >= 0 && !executable(p)) {
			free(p);
			p = NULL;
		}
		free(dir);
		if (p)
			return p;
	}
	for (size_t i = 0; i < sizeof builtin_types / sizeof *builtin_types; i++)
		if (!strcmp(builtin_types[i].type, type))
			return find_program(builtin_types[i].program);
	return NULL;
}

/* Every type name known, for --list-types and did-you-mean. */
struct names {
	char **v;
	size_t n;
};

static void names_add(struct names *ns, const char *s)
{
	for (size_t i = 0; i < ns->n; i++)
		if (!strcmp(ns->v[i], s))
			return;
	char **g = realloc(ns->v, (ns->n + 1) * sizeof *g);
	if (!g)
		return;
	ns->v = g;
	ns->v[ns->n++] = strdup(s);
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	ns->v = NULL;
	ns->n = 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void known_types(const struct base_conf *b, struct names *ns)
{
	for (size_t i = 0; i < sizeof builtin_types / sizeof *builtin_types; i++)
		names_add(ns, builtin_types[i].type);
	for (size_t i = 0; i < b->n_types; i++)
		names_add(ns, b->types[i].name);
	for (size_t i = 0; i <= b->n_types_dirs; i++) {
		char *dir = i < b->n_types_dirs ? config_relative(b->types_dirs[i]) : strdup(M2M_LIBEXECDIR "/types");
		DIR *d = dir ? opendir(dir) : NULL;
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char *p;
			if (!device_id_valid(e->d_name) || asprintf(&p, "%s/%s", dir, e->d_name) < 0)
				continue;
			if (executable(p))
				names_add(ns, e->d_name);
			free(p);
		}
		if (d)
			closedir(d);
		free(dir);
	}
	qsort(ns->v, ns->n, sizeof *ns->v, cmp_str);
}

/* ---- running helpers (reader --check, --list-options) ---- */

struct job {
	char **argv;
	pid_t pid;
	int out;          /* memfd: stdout and stderr */
	int64_t deadline;
	int timeout_ms;   /* 0: JOB_TIMEOUT_MS */
	int status;       /* exit code, or -1 when it did not exit normally */
	char *output;
};

#define MAX_PARALLEL 8
#define JOB_TIMEOUT_MS 10000

static int job_start(struct job *j)
{
	j->out = memfd_create("mtrcfg-check", MFD_CLOEXEC);
	if (j->out < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, j->out, 1);
	posix_spawn_file_actions_adddup2(&fa, j->out, 2);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	int r = posix_spawn(&j->pid, j->argv[0], &fa, &at, j->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r) {
		close(j->out);
		j->out = -1;
		errno = r;
		return -1;
	}
	j->deadline = mono_ms() + (j->timeout_ms ? j->timeout_ms : JOB_TIMEOUT_MS);
	return 0;
}

static void job_finish(struct job *j, int wstatus)
{
	j->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
	off_t len = lseek(j->out, 0, SEEK_END);
	if (len > 4096)
		len = 4096;
	j->output = calloc(1, (size_t)(len > 0 ? len : 0) + 1);
	if (j->output && len > 0 && pread(j->out, j->output, (size_t)len, 0) < 0)
		j->output[0] = '\0';
	close(j->out);
	j->out = -1;
	j->pid = 0;
}

/* Runs every job, MAX_PARALLEL at a time, each killed after
 * JOB_TIMEOUT_MS.  SIGCHLD is blocked throughout (see main). */
static void run_jobs(struct job *jobs, size_t n)
{
	size_t next = 0, running = 0;
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	while (next < n || running) {
		while (next < n && running < MAX_PARALLEL) {
			struct job *j = &jobs[next++];
			if (job_start(j) < 0) {
				j->status = 127;
				if (asprintf(&j->output, "cannot run %s: %s", j->argv[0], strerror(errno)) < 0)
					j->output = NULL;
				continue;
			}
			running++;
		}
		if (!running)
			break;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		sigtimedwait(&chld, NULL, &ts);
		int ws;
		pid_t pid;
		while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
			for (size_t i = 0; i < next; i++)
				if (jobs[i].pid == pid) {
					job_finish(&jobs[i], ws);
					running--;
					break;
				}
		}
		int64_t now = mono_ms();
		for (size_t i = 0; i < next; i++)
			if (jobs[i].pid > 0 && now > jobs[i].deadline)
				kill(jobs[i].pid, SIGKILL);
	}
}

/* `reader --list-options`: the option names it accepts, or none when it
 * does not tell. */
struct optlist {
	char *program;
	uint64_t stamp;   /* the binary it came from: asked again when it changes */
	struct names names;
	bool known;
};

static struct optlist *optlists;
static size_t n_optlists;

static uint64_t file_stamp(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	long long parts[] = { (long long)st.st_dev, (long long)st.st_ino, (long long)st.st_size,
		              (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec };
	return fnv1a(FNV_INIT, parts, sizeof parts);
}

/* Asked once per binary (the answers are kept across --watch passes); a
 * reader that ignores the option gets a short time to answer. */
static struct optlist *reader_options(const char *program)
{
	uint64_t stamp = file_stamp(program);
	struct optlist *o = NULL;
	for (size_t i = 0; i < n_optlists && !o; i++)
		if (!strcmp(optlists[i].program, program))
			o = &optlists[i];
	if (o && o->stamp == stamp)
		return o;
	if (!o) {
		struct optlist *g = realloc(optlists, (n_optlists + 1) * sizeof *g);
		if (!g)
			return NULL;
		optlists = g;
		o = &optlists[n_optlists++];
		memset(o, 0, sizeof *o);
		o->program = strdup(program);
	} else {
		names_free(&o->names);
		o->known = false;
	}
	o->stamp = stamp;
	char *argv[] = { o->program, "--list-options", NULL };
	struct job j = { .argv = argv, .out = -1, .timeout_ms = 2000 };
	run_jobs(&j, 1);
	if (j.status == 0 && j.output && *j.output) {
		char *save, *line;
		for (line = strtok_r(j.output, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			while (*line == '-')
				line++;
			/* p1read --list-options says poll-interval; files say poll_interval */
			for (char *p = line; *p; p++)
				if (*p == '-')
					*p = '_';
			if (*line)
				names_add(&o->names, line);
		}
		o->known = o->names.n > 0;
	}
	free(j.output);
	return o;
}

static void optlists_free(void)
{
	for (size_t i = 0; i < n_optlists; i++) {
		free(optlists[i].program);
		names_free(&optlists[i].names);
	}
	free(optlists);
	optlists = NULL;
	n_optlists = 0;
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
};

static void argv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static char **argv_new(size_t cap) { return calloc(cap + 1, sizeof(char *)); }

/* reader [--check] --device=ID --key=value... */
static char **reader_argv(const struct dev *d, bool check)
{
	char **v = argv_new(d->conf.n_opts + 3);
	size_t n = 0;
	if (!v)
		return NULL;
	v[n++] = strdup(d->reader);
	if (check)
		v[n++] = strdup("--check");
	if (asprintf(&v[n++], "--device=%s", d->id) < 0)
		v[n - 1] = NULL;
	for (size_t i = 0; i < d->conf.n_opts; i++)
		if (d->conf.opts[i].arg)
			v[n++] = strdup(d->conf.opts[i].arg);
	return v;
}

/* The validation key: the exact reader binary and the exact options. */
static uint64_t validation_key(const struct dev *d)
{
	uint64_t stamp = file_stamp(d->reader), h = fnv1a(FNV_INIT, &stamp, sizeof stamp);
	for (size_t i = 0; d->check_argv[i]; i++)
		h = fnv1a(h, d->check_argv[i], strlen(d->check_argv[i]) + 1);
	return h | 1; /* never 0, which means "never validated" */
}

static void add_arg(char ***v, size_t *n, const char *a, const char *b)
{
	char **g = realloc(*v, (*n + 3) * sizeof **v);
	if (!g)
		return;
	*v = g;
	g[(*n)++] = strdup(a);
	if (b)
		g[(*n)++] = strdup(b);
	g[*n] = NULL;
}

/* mqttpub's command line for one device (never the password). */
static char **pub_argv(const struct base_conf *b, const char *mqttpub, const char *type, const char *id)
{
	const struct mqtt_conf *m = &b->mqtt;
	char **v = NULL, num[32];
	size_t n = 0;
	add_arg(&v, &n, mqttpub, NULL);
	add_arg(&v, &n, "-h", m->host ? m->host : "localhost");
	if (m->port) {
		snprintf(num, sizeof num, "%ld", m->port);
		add_arg(&v, &n, "-p", num);
	}
	if (m->topic_prefix)
		add_arg(&v, &n, "-t", m->topic_prefix);
	if (m->client_id) {
		/* one client id per device: two connections with the same id
		 * would throw each other off the broker */
		char *cid;
		if (asprintf(&cid, "%s-%s", m->client_id, id) >= 0) {
			add_arg(&v, &n, "-i", cid);
			free(cid);
		}
	}
	if (m->qos >= 0) {
		snprintf(num, sizeof num, "%ld", m->qos);
		add_arg(&v, &n, "-q", num);
	}
	if (m->retain == 0)
		add_arg(&v, &n, "--no-retain", NULL);
	if (m->keepalive) {
		snprintf(num, sizeof num, "%ld", m->keepalive);
		add_arg(&v, &n, "-k", num);
	}
	if (m->protocol)
		add_arg(&v, &n, "-V", m->protocol);
	if (m->username)
		add_arg(&v, &n, "-u", m->username);
	if (m->password_file) {
		char *p = config_relative(m->password_file);
		add_arg(&v, &n, "--password-file", p ? p : m->password_file);
		free(p);
	}
	const char *tls_files[][2] = { { "--cafile", m->ca_file },
		                       { "--capath", m->ca_path },
		                       { "--cert", m->cert_file },
		                       { "--key", m->key_file } };
	bool any_tls_file = false;
	for (size_t i = 0; i < 4; i++)
		if (tls_files[i][1]) {
			char *p = config_relative(tls_files[i][1]);
			add_arg(&v, &n, tls_files[i][0], p ? p : tls_files[i][1]);
			free(p);
			any_tls_file = true;
		}
	if (m->tls && !any_tls_file)
		add_arg(&v, &n, "--tls", NULL);
	if (m->tls_version)
		add_arg(&v, &n, "--tls-version", m->tls_version);
	if (m->tls_insecure)
		add_arg(&v, &n, "--insecure-skip-verify", NULL);
	/* so that its status topic is right before the first reading */
	add_arg(&v, &n, "--type", type);
	add_arg(&v, &n, "--device", id);
	if (b->ha_enabled) {
		add_arg(&v, &n, "--homeassistant", NULL);
		if (b->ha_prefix)
			add_arg(&v, &n, "--ha-prefix", b->ha_prefix);
	}
	return v;
}

struct pass {
	struct base_conf base;
	bool base_ok;
	struct cfg_diag diag;
	struct dev *devs;
	size_t n_devs;
	int scanfd;
	bool check_only;
	int errors;     /* config errors */
	int failures;   /* runtime failures */
};

static bool yaml_name(const char *name)
{
	size_t l = strlen(name);
	return name[0] != '.' && l > 5 && !strcmp(name + l - 5, ".yaml");
}

static int cmp_dev(const void *a, const void *b) { return strcmp(((const struct dev *)a)->id, ((const struct dev *)b)->id); }

static void load_base(struct pass *p)
{
	char *buf = NULL;
	size_t len = 0;
	if (read_file(config_path, &buf, &len) < 0) {
		if (errno != ENOENT) {
			diag_add(&p->diag, config_path, 0, 0, "cannot read: %s", strerror(errno));
			p->errors++;
			return;
		}
		logmsg(LOG_DEBUG, "%s: not found; using the defaults", config_path);
		buf = strdup("");
	}
	p->base_ok = config_load_base(config_path, buf, len, &p->base, &p->diag) == 0;
	if (!p->base_ok)
		p->errors++;
	free(buf);
}

static void load_devices(struct pass *p)
{
	DIR *d = opendir(config_dir);
	if (!d) {
		if (errno != ENOENT) {
			diag_add(&p->diag, config_dir, 0, 0, "cannot read the directory: %s", strerror(errno));
			p->errors++;
		}
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!yaml_name(e->d_name))
			continue;
		struct dev *g = realloc(p->devs, (p->n_devs + 1) * sizeof *g);
		if (!g)
			break;
		p->devs = g;
		struct dev *dv = &p->devs[p->n_devs++];
		memset(dv, 0, sizeof *dv);
		dv->id = strndup(e->d_name, strlen(e->d_name) - 5);
		if (asprintf(&dv->file, "%s/%s", config_dir, e->d_name) < 0)
			dv->file = NULL;
	}
	closedir(d);
	if (p->n_devs)
		qsort(p->devs, p->n_devs, sizeof *p->devs, cmp_dev);
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev *dv = &p->devs[i];
		char *buf;
		size_t len;
		if (!dv->file || read_file(dv->file, &buf, &len) < 0) {
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

/* Type -> reader; unknown keys against `reader --list-options`. */
static void resolve_readers(struct pass *p)
{
	struct names types = { 0 };
	known_types(&p->base, &types);
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev *dv = &p->devs[i];
		if (!dv->valid)
			continue;
		dv->reader = type_program(&p->base, dv->conf.type);
		if (!dv->reader) {
			const char *s = did_you_mean(dv->conf.type, (const char *const *)types.v, types.n);
			char hint[128] = "";
			if (s)
				snprintf(hint, sizeof hint, " (did you mean '%s'?)", s);
			bool known = false;
			for (size_t k = 0; k < types.n; k++)
				known |= !strcmp(types.v[k], dv->conf.type);
			dev_error(p, dv, dv->conf.type_line, dv->conf.type_col,
			          known ? "the reader of type '%s' is not installed%s" : "unknown device type '%s'%s",
			          dv->conf.type, hint);
			continue;
		}
		struct optlist *ol = reader_options(dv->reader);
		for (size_t k = 0; ol && ol->known && k < dv->conf.n_opts; k++) {
			const struct dev_opt *o = &dv->conf.opts[k];
			char norm[72];
			snprintf(norm, sizeof norm, "%s", o->key);
			for (char *c = norm; *c; c++)
				if (*c == '-')
					*c = '_';
			bool ok = false;
			for (size_t n = 0; n < ol->names.n && !ok; n++)
				ok = !strcmp(ol->names.v[n], norm);
			if (ok)
				continue;
			const char *s = did_you_mean(norm, (const char *const *)ol->names.v, ol->names.n);
			char hint[128] = "";
			if (s)
				snprintf(hint, sizeof hint, " (did you mean '%s'?)", s);
			dev_error(p, dv, o->line, o->col, "unknown key '%s'%s", o->key, hint);
		}
	}
	names_free(&types);
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
		/* Validated before, by this very reader with these very options. */
		if (dv->state.generated && dv->state.validated == dv->vkey)
			continue;
		dv->needs_check = true;
		jobs[n].argv = dv->check_argv;
		jobs[n].out = -1;
		n++;
	}
	run_jobs(jobs, n);
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

static char *device_log_dir(const struct pass *p, const char *id)
{
	const char *base = log_dir_opt ? log_dir_opt : p->base.log_dir ? p->base.log_dir : "/var/log/meter2mqtt";
	char *abs = log_dir_opt ? absolute(base) : config_relative(base), *out;
	if (!abs || asprintf(&out, "%s/%s", abs, id) < 0)
		out = NULL;
	free(abs);
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
	run_jobs(&j, 1);
	bool ok = j.status == 0;
	if (!ok) {
		char *m = j.output ? j.output : "";
		m[strcspn(m, "\n")] = '\0';
		diag_add(&p->diag, config_path, 1, 1, "mqttpub rejects the mqtt settings: %s", m);
		p->errors++;
	}
	free(j.output);
	free(v);
	return ok;
}

/* The one log every device writes to (logging.dir/devices), installed
 * before the devices that need it.  True when newly installed. */
static bool sync_shared_log(struct pass *p)
{
	char err[512], *dir = device_log_dir(p, "devices");
	struct svc s;
	bool started = false;
	if (!dir || svc_generate_log(sup, dir, &s) < 0) {
		free(dir);
		warnx("%s: out of memory", SVC_LOG);
		p->failures++;
		return false;
	}
	struct svc_state st;
	svc_read_state(p->scanfd, SVC_LOG, &st);
	int r = 0;
	if (st.exists && !st.generated)
		warnx("%s/%s exists and was not made by mtrcfg: leaving it alone", scan_dir, SVC_LOG);
	else if (!st.exists && (r = svc_install(p->scanfd, &s, err, sizeof err)) == 0)
		started = true;
	else if (st.exists && st.checksum != s.checksum)
		r = svc_update(p->scanfd, &s, sup, err, sizeof err);
	if (r < 0) {
		warnx("%s", err);
		p->failures++;
	}
	svc_free(&s);
	free(dir);
	return started;
}

static void sync_services(struct pass *p)
{
	char err[512];
	const char *pp = p->base.mqttpub;
	char *mqttpub = !pp ? find_program("mqttpub") : strchr(pp, '/') ? config_relative(pp) : find_program(pp);
	if (!mqttpub) {
		diag_add(&p->diag, config_path, 1, 1, "mqttpub is not installed (looked beside mtrcfg and along PATH)");
		p->errors++;
		return;
	}
	bool checked_pub = false, pub_good = true, started = sync_shared_log(p);
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev *dv = &p->devs[i];
		if (!dv->valid)
			continue;
		char **rargv = reader_argv(dv, false), **pargv = pub_argv(&p->base, mqttpub, dv->conf.type, dv->id);
		struct svc_spec spec = { .id = dv->id,
			                 .type = dv->conf.type,
			                 .source = dv->file,
			                 .sup = sup,
			                 .reader_argv = rargv,
			                 .pub_argv = pargv,
			                 .password = p->base.mqtt.password,
			                 .log_level = p->base.log_level };
		struct svc s;
		if (rargv && pargv && svc_generate(&spec, &s) == 0) {
			s.validated = dv->vkey;
			const struct svc_state *st = &dv->state;
			bool changes = !st->exists || (st->generated && st->checksum != s.checksum);
			if (changes && !checked_pub) {
				pub_good = mqttpub_ok(p, pargv);
				checked_pub = true;
			}
			if (st->exists && !st->generated) {
				warnx("%s/%s exists and was not made by mtrcfg: leaving it alone", scan_dir, dv->id);
				p->failures++;
			} else if (changes && !pub_good) {
				/* reported once by mqttpub_ok */
			} else if (!st->exists) {
				if (svc_install(p->scanfd, &s, err, sizeof err) < 0) {
					warnx("%s", err);
					p->failures++;
				} else {
					logmsg(LOG_INFO, "Started device: %s (%s)", dv->id, dv->conf.type);
					started = true;
				}
			} else if (st->checksum != s.checksum) {
				logmsg(LOG_INFO, "Reloading device %s (config changed)", dv->id);
				if (svc_update(p->scanfd, &s, sup, err, sizeof err) < 0) {
					warnx("%s", err);
					p->failures++;
				}
			} else if (st->validated != s.validated && svc_write_marker(p->scanfd, &s, err, sizeof err) < 0) {
				warnx("%s", err);
				p->failures++;
			}
			svc_free(&s);
		} else {
			warnx("%s: out of memory", dv->id);
			p->failures++;
		}
		argv_free(rargv);
		argv_free(pargv);
	}
	free(mqttpub);
	if (started && sup == SUP_S6)
		s6_scan(p->scanfd, false);
}

static bool device_file_present(const struct pass *p, const char *id)
{
	for (size_t i = 0; i < p->n_devs; i++)
		if (!strcmp(p->devs[i].id, id))
			return p->devs[i].loaded;
	return false;
}

/* Generated services whose device file is gone. */
static void remove_stale(struct pass *p)
{
	DIR *d = svc_scan_open(p->scanfd);
	if (!d)
		return;
	struct names gone = { 0 };
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, SVC_LOG) || device_file_present(p, e->d_name))
			continue;
		struct svc_state st;
		svc_read_state(p->scanfd, e->d_name, &st);
		if (st.generated)
			names_add(&gone, e->d_name);
	}
	closedir(d);
	char err[512];
	for (size_t i = 0; i < gone.n; i++) {
		if (svc_remove(p->scanfd, gone.v[i], sup, 3000, err, sizeof err) < 0) {
			warnx("%s", err);
			p->failures++;
		} else {
			logmsg(LOG_INFO, "Stopped device: %s", gone.v[i]);
		}
	}
	names_free(&gone);
}

static void pass_free(struct pass *p)
{
	for (size_t i = 0; i < p->n_devs; i++) {
		struct dev *dv = &p->devs[i];
		free(dv->id);
		free(dv->file);
		free(dv->reader);
		argv_free(dv->check_argv);
		device_conf_free(&dv->conf);
	}
	free(p->devs);
	base_conf_free(&p->base);
	diag_free(&p->diag);
}

/* Returns the exit status: 0, 1 (could not write) or 2 (config errors). */
static int reconcile(int scanfd, bool check_only)
{
	struct pass p = { .scanfd = scanfd, .check_only = check_only };
	load_base(&p);
	if (p.base_ok) {
		load_devices(&p);
		resolve_readers(&p);
		validate(&p);
		if (!check_only && scanfd >= 0) {
			svc_collect(scanfd);
			sync_services(&p);
			remove_stale(&p);
		}
	} else if (!check_only) {
		warnx("%s is invalid: every service is left as it is", config_path);
	}
	for (size_t i = 0; i < p.diag.n; i++)
		fprintf(stderr, "%s: %s\n", prog_name, p.diag.msgs[i]);
	int rc = p.failures ? EXIT_RUNTIME : p.errors ? EXIT_USAGE : EXIT_OK;
	pass_free(&p);
	return rc;
}

/* ---- --list-types ---- */

static int list_types(void)
{
	struct pass p = { .scanfd = -1 };
	load_base(&p);
	int rc = EXIT_OK;
	if (!p.base_ok) {
		for (size_t i = 0; i < p.diag.n; i++)
			fprintf(stderr, "%s: %s\n", prog_name, p.diag.msgs[i]);
		rc = EXIT_USAGE;
	} else {
		struct names types = { 0 };
		known_types(&p.base, &types);
		for (size_t i = 0; i < types.n; i++) {
			char *prog = type_program(&p.base, types.v[i]);
			printf("%s\t%s\n", types.v[i], prog ? prog : "(not installed)");
			free(prog);
		}
		names_free(&types);
	}
	pass_free(&p);
	return rc;
}

/* ---- --watch ---- */

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static int watch(int scanfd)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (sfd < 0 || ifd < 0)
		die_errno(EXIT_RUNTIME, "cannot watch");
	const uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB;
	int wd_dir = inotify_add_watch(ifd, config_dir, mask);
	if (wd_dir < 0)
		die_errno(EXIT_RUNTIME, "cannot watch %s", config_dir);
	/* config.yaml is watched through its directory: editors replace it. */
	char *cdir = strdup(config_path), *slash = strrchr(cdir, '/');
	if (slash)
		*slash = '\0';
	int wd_base = inotify_add_watch(ifd, slash ? (cdir[0] ? cdir : "/") : ".", mask);
	if (wd_base < 0)
		warn_errno("cannot watch the directory of %s", config_path);
	free(cdir);
	const char *dir_label = base_name(config_dir), *cfg_name = base_name(config_path);
	logmsg(LOG_INFO, "Watching %s and %s", config_dir, config_path);
	reconcile(scanfd, false);
	int64_t due = -1;
	char last_name[NAME_MAX + 1] = "";
	const char *last_what = "";
	for (;;) {
		int timeout = -1;
		if (due >= 0) {
			int64_t left = due - mono_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		struct pollfd fds[2] = { { sfd, POLLIN, 0 }, { ifd, POLLIN, 0 } };
		int r = poll(fds, 2, timeout);
		if (r < 0 && errno != EINTR)
			die_errno(EXIT_RUNTIME, "poll");
		if (r > 0 && (fds[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si) {
				if (si.ssi_signo == SIGHUP) {
					due = mono_ms();
				} else {
					logmsg(LOG_INFO, "Stopping the watch (signal %u); services keep running", si.ssi_signo);
					close(ifd);
					close(sfd);
					return EXIT_OK;
				}
			}
		}
		if (r > 0 && (fds[1].revents & POLLIN)) {
			char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
			ssize_t n;
			while ((n = read(ifd, buf, sizeof buf)) > 0) {
				for (char *q = buf; q < buf + n;) {
					const struct inotify_event *ev = (const struct inotify_event *)q;
					q += sizeof *ev + ev->len;
					if (!ev->len)
						continue;
					bool device = ev->wd == wd_dir && yaml_name(ev->name);
					bool base = ev->wd == wd_base && !strcmp(ev->name, cfg_name);
					if (!device && !base)
						continue;
					const char *what = ev->mask & (IN_CREATE | IN_MOVED_TO)   ? "created"
					                   : ev->mask & (IN_DELETE | IN_MOVED_FROM) ? "deleted"
					                                                            : "changed";
					/* One line per file and burst: a new file is "created",
					 * not also "changed" by the write that fills it. */
					bool again = !strcmp(last_name, ev->name) &&
					             (last_what == what || (!strcmp(last_what, "created") && !strcmp(what, "changed")));
					if (!again && device)
						logmsg(LOG_INFO, "Config file %s: %s/%s", what, dir_label, ev->name);
					else if (!again)
						logmsg(LOG_INFO, "Config file %s: %s", what, ev->name);
					snprintf(last_name, sizeof last_name, "%s", ev->name);
					if (!again)
						last_what = what;
					due = mono_ms() + debounce_ms; /* a burst: wait for quiet */
				}
			}
		}
		if (due >= 0 && mono_ms() >= due) {
			due = -1;
			last_name[0] = '\0';
			reconcile(scanfd, false);
		}
	}
}

/* ---- main ---- */

static _Noreturn void usage(int code)
{
	fputs(USAGE, code ? stderr : stdout);
	exit(code);
}

static int open_scan_dir(void)
{
	int fd = open(scan_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die_errno(EXIT_RUNTIME, "%s", scan_dir);
	/* One mtrcfg per scan directory at a time. */
	int lk = openat(fd, ".m2m-lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lk < 0 || flock(lk, LOCK_EX) < 0)
		die_errno(EXIT_RUNTIME, "%s/.m2m-lock", scan_dir);
	if (!sup_given) {
		struct stat st;
		if (fstatat(fd, ".s6-svscan", &st, 0) == 0)
			sup = SUP_S6;
	}
	return fd;
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	enum { OPT_CHECK = 256, OPT_LIST_TYPES, OPT_DEBOUNCE, OPT_VERSION };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },   { "config-dir", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },   { "supervisor", required_argument, NULL, 's' },
		{ "log-dir", required_argument, NULL, 'l' },  { "watch", no_argument, NULL, 'w' },
		{ "debounce", required_argument, NULL, OPT_DEBOUNCE },
		{ "check", no_argument, NULL, OPT_CHECK },    { "list-types", no_argument, NULL, OPT_LIST_TYPES },
		{ "help", no_argument, NULL, 'h' },           { "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	bool check = false, list = false, watching = false;
	int c;
	while ((c = getopt_long(argc, argv, "c:d:o:s:l:wh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'd': config_dir = optarg; break;
		case 'o': scan_dir = optarg; break;
		case 'l': log_dir_opt = optarg; break;
		case 'w': watching = true; break;
		case 's':
			if (!strcmp(optarg, "runit"))
				sup = SUP_RUNIT;
			else if (!strcmp(optarg, "s6"))
				sup = SUP_S6;
			else {
				warnx("-s: unknown supervisor '%s' (runit or s6)", optarg);
				usage(EXIT_USAGE);
			}
			sup_given = true;
			break;
		case OPT_DEBOUNCE:
			if (parse_long(optarg, 0, 600000, &debounce_ms) < 0) {
				warnx("--debounce: '%s' is not a number of milliseconds (0-600000)", optarg);
				usage(EXIT_USAGE);
			}
			break;
		case OPT_CHECK: check = true; break;
		case OPT_LIST_TYPES: list = true; break;
		case OPT_VERSION: print_version();
		case 'h': usage(EXIT_OK);
		default: usage(EXIT_USAGE);
		}
	}
	if (optind < argc) {
		warnx("unexpected argument '%s'", argv[optind]);
		usage(EXIT_USAGE);
	}
	if ((check || list) + (scan_dir != NULL) > 1 || (check && list) || (watching && !scan_dir)) {
		warnx("choose one of --check, --list-types, -o scandir (with -w to keep watching)");
		usage(EXIT_USAGE);
	}
	if (!check && !list && !scan_dir) {
		warnx("nothing to do: give -o scandir, --check or --list-types");
		usage(EXIT_USAGE);
	}
	if (!config_path)
		config_path = getenv("METER2MQTT_CONFIG");
	if (!config_path || !*config_path)
		config_path = M2M_SYSCONFDIR "/meter2mqtt/config.yaml";
	char *default_dir = NULL;
	if (!config_dir)
		config_dir = getenv("METER2MQTT_CONFIG_DIR");
	if (!config_dir || !*config_dir) {
		/* config.d beside config.yaml */
		const char *slash = strrchr(config_path, '/');
		if (asprintf(&default_dir, "%.*sconfig.d", slash ? (int)(slash - config_path + 1) : 0, config_path) < 0)
			die(EXIT_RUNTIME, "out of memory");
		config_dir = default_dir;
	}
	ssize_t sl = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
	if (sl > 0) {
		self_dir[sl] = '\0';
		char *s = strrchr(self_dir, '/');
		if (s)
			*s = '\0';
	} else {
		self_dir[0] = '\0';
	}
	/* reader --check children are collected with sigtimedwait. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	signal(SIGPIPE, SIG_IGN);

	int rc;
	if (list)
		rc = list_types();
	else if (check)
		rc = reconcile(-1, true);
	else if (watching)
		rc = watch(open_scan_dir());
	else
		rc = reconcile(open_scan_dir(), false);
	optlists_free();
	free(default_dir);
	if (fflush(stdout) == EOF || ferror(stdout))
		die_errno(EXIT_RUNTIME, "stdout");
	return rc;
}
