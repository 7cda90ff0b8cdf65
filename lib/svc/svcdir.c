/* svcdir.c: writing, replacing and removing generated service dirs. */
#include "svc/svcdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/files.h"
#include "base/text.h"
#include "base/util.h"

/* ---- building text ---- */

struct sbuf {
	char *s;
	size_t len;
	int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	char *g = realloc(b->s, b->len + n + 1);
	if (!g) {
		b->oom = 1;
		return;
	}
	b->s = g;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

int sh_quote(char **buf, size_t *len, const char *s)
{
	struct sbuf b = { *buf, *len, 0 };
	sb_add(&b, "'", 1);
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			sb_add(&b, "'\\''", 4);
		else
			sb_add(&b, p, 1);
	}
	sb_add(&b, "'", 1);
	*buf = b.s;
	*len = b.len;
	return b.oom ? -1 : 0;
}

static void sb_quote(struct sbuf *b, const char *s)
{
	if (!b->oom && sh_quote(&b->s, &b->len, s) < 0)
		b->oom = 1;
}

static void sb_argv(struct sbuf *b, char *const *argv)
{
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			sb_str(b, " ");
		sb_quote(b, argv[i]);
	}
}

int sh_line(char **buf, size_t *len, char *const *argv)
{
	struct sbuf b = { *buf, *len, 0 };
	sb_argv(&b, argv);
	sb_str(&b, "\n");
	*buf = b.s;
	*len = b.len;
	return b.oom ? -1 : 0;
}

/* A path in a comment: a newline there would end the comment and start a
 * command, so everything outside printable ASCII becomes '?'. */
static void sb_comment_text(struct sbuf *b, const char *s)
{
	for (const char *p = s; *p; p++)
		sb_add(b, (*p >= 0x20 && *p < 0x7f) ? p : "?", 1);
}

/* ---- the service ---- */

/* The lines that send a script's stderr to the shared log (the fifo of
 * the SVC_LOG service, up from the script's directory by `up`).  Opened
 * read-write: a writer never meets a fifo without a reader, so a
 * restarting logger costs no SIGPIPE, only a wait once 64 KiB are queued.
 * Until the log service has made its fifo, <> would make a plain file:
 * the script fails instead, and the supervisor tries again a second later.
 * Without a shared log (logging: dir "-"), stderr stays the supervisor's
 * own (under systemd, the journal). */
static void sb_to_shared_log(struct sbuf *b, const struct svc_spec *sp, const char *up)
{
	if (!sp->shared_log)
		return;
	sb_str(b, "[ -p ");
	sb_str(b, up);
	sb_str(b, SVC_LOG "/fifo ] || { echo 'waiting for ");
	sb_str(b, up);
	sb_str(b, SVC_LOG "/fifo' >&2; exit 1; }\nexec 2<> ");
	sb_str(b, up);
	sb_str(b, SVC_LOG "/fifo\n");
}

/* exec envdir-loader ENVDIR prog args: no shell stays behind. */
static void sb_exec_with_env(struct sbuf *b, enum supervisor sup, const char *envdir, char *const *argv)
{
	sb_str(b, sup == SUP_RUNIT ? "exec chpst -e " : "exec s6-envdir ");
	sb_str(b, envdir);
	sb_str(b, " ");
	sb_argv(b, argv);
	sb_str(b, "\n");
}

/* What the run script is and where it comes from. */
static void sb_header(struct sbuf *b, const struct svc_spec *sp)
{
	bool device = sp->reader_argv != NULL && !sp->meters;
	sb_str(b, device ? "#!/bin/sh\n# meter2mqtt device " : "#!/bin/sh\n# meter2mqtt service ");
	sb_comment_text(b, sp->id);
	sb_str(b, device ? " (type " : " (");
	sb_comment_text(b, sp->type);
	sb_str(b, ") from ");
	sb_comment_text(b, sp->source);
	sb_str(b, device ? ".\n# Written by mtrcfg(1): edit the device file, not this one.\n"
	                 : ".\n# Written by mtrcfg(1): edit config.yaml, not this one.\n");
}

static char *sb_done(struct sbuf *b)
{
	if (b->oom) {
		free(b->s);
		return NULL;
	}
	return b->s;
}

/* A gateway-wide service (a sink, or the shared publisher): one program,
 * its secrets from ./env, its output with its messages.  The shared
 * publisher's stdin is the directory of the devices' FIFOs (mqttpub(1),
 * fan-in), made here: the devices wait for it. */
static char *sink_run_script(const struct svc_spec *sp)
{
	struct sbuf b = { 0 };
	sb_header(&b, sp);
	sb_to_shared_log(&b, sp, "../");
	sb_str(&b, "exec >&2\n");
	if (sp->fan_in)
		sb_str(&b, "# The gateway's one publisher: every device's reader writes into its\n"
		           "# FIFO in ./in, and mqttpub reads them all (its stdin is ./in).\n"
		           "mkdir -p -m 0700 in || exit 1\nexec <in\n");
	sb_exec_with_env(&b, sp->sup, "./env", sp->pub_argv);
	return sb_done(&b);
}

/* run of a device under the shared publisher: the reader, its stdout its
 * FIFO in SVC_PUB_IN, opened read-write: it never blocks in open nor gets
 * SIGPIPE while the publisher restarts, and what it writes meanwhile
 * waits in the FIFO.  The id is [A-Za-z0-9_-]: nothing to quote. */
static char *fan_in_run_script(const struct svc_spec *sp)
{
	struct sbuf b = { 0 };
	sb_header(&b, sp);
	sb_str(&b, sp->meters ? "# The P1 meters' one reader (readers: shared in config.yaml), one meter\n"
	                        "# a line of ./meters, into the gateway's one publisher.\n"
	                      : "# The reader, into the gateway's one publisher (publisher: shared in\n"
	                        "# config.yaml).  Secrets come from ./env, never from a command line.\n");
	sb_to_shared_log(&b, sp, "../");
	sb_str(&b, "[ -d ../" SVC_PUB_IN " ] || { echo 'waiting for ../" SVC_PUB_IN "' >&2; exit 1; }\n"
	           "[ -p ../" SVC_PUB_IN "/");
	sb_str(&b, sp->id);
	sb_str(&b, " ] || mkfifo -m 0600 ../" SVC_PUB_IN "/");
	sb_str(&b, sp->id);
	sb_str(&b, " || exit 1\n");
	sb_str(&b, sp->sup == SUP_RUNIT ? "exec chpst -e ./env " : "exec s6-envdir ./env ");
	sb_argv(&b, sp->reader_argv);
	sb_str(&b, " 1<> ../" SVC_PUB_IN "/");
	sb_str(&b, sp->id);
	sb_str(&b, "\n");
	return sb_done(&b);
}

/* run: the reader.  Its stdout is the supervisor's pipe to log/run. */
static char *run_script(const struct svc_spec *sp)
{
	if (!sp->reader_argv)
		return sink_run_script(sp);
	if (sp->fan_in)
		return fan_in_run_script(sp);
	struct sbuf b = { 0 };
	sb_header(&b, sp);
	sb_str(&b, "# The reader: the supervisor pipes its readings to log/run (mqttpub) and\n"
	           "# holds that pipe across restarts of either side.  Secrets come from\n"
	           "# ./env, never from a command line.\n");
	sb_to_shared_log(&b, sp, "../");
	sb_exec_with_env(&b, sp->sup, "./env", sp->reader_argv);
	return sb_done(&b);
}

/* log/run: mqttpub, reading the pipe. */
static char *log_script(const struct svc_spec *sp)
{
	struct sbuf b = { 0 };
	sb_header(&b, sp);
	sb_str(&b, "# The publisher: reads the readings ../run writes (the supervisor's pipe).\n");
	sb_to_shared_log(&b, sp, "../../");
	sb_exec_with_env(&b, sp->sup, "../env", sp->pub_argv);
	return sb_done(&b);
}

/* The shared log's run: makes the fifo every service writes to, and reads
 * it into one logger.  Lines name their device: prog[device]: ... */
static char *shared_log_script(enum supervisor sup, const char *log_dir)
{
	struct sbuf b = { 0 };
	sb_str(&b, "#!/bin/sh\n# The log of every meter2mqtt service in this scan directory: their\n"
	           "# programs write to ./fifo, each line tagged prog[device].\n"
	           "# Written by mtrcfg(1).\nexec 2>&1\nmkdir -p -m 0750 ");
	sb_quote(&b, log_dir);
	sb_str(&b, " || exit 1\n[ -p fifo ] || mkfifo -m 0600 fifo || exit 1\n");
	sb_str(&b, sup == SUP_RUNIT ? "exec svlogd -tt " : "exec s6-log -b n10 s1000000 T ");
	sb_quote(&b, log_dir);
	sb_str(&b, " <> fifo\n");
	return sb_done(&b);
}

static int add_file(struct svc *s, const char *path, char *content, mode_t mode)
{
	if (!content || s->n == SVC_MAX_FILES) {
		free(content);
		return -1;
	}
	s->files[s->n++] = (struct svc_file){ path, content, mode };
	return 0;
}

/* envdir files: the first line is the value. */
static char *env_value(const char *v)
{
	char *s;
	return asprintf(&s, "%s\n", v) < 0 ? NULL : s;
}

static void checksum(struct svc *s)
{
	uint64_t h = fnv1a64(FNV1A64_INIT, s->id, strlen(s->id) + 1);
	for (size_t i = 0; i < s->n; i++) {
		h = fnv1a64(h, s->files[i].path, strlen(s->files[i].path) + 1);
		h = fnv1a64(h, &s->files[i].mode, sizeof s->files[i].mode);
		h = fnv1a64(h, s->files[i].content, strlen(s->files[i].content) + 1);
	}
	s->checksum = s->log_dir ? fnv1a64(h, s->log_dir, strlen(s->log_dir) + 1) : h;
}

int svc_generate(const struct svc_spec *sp, struct svc *out)
{
	memset(out, 0, sizeof *out);
	out->id = strdup(sp->id);
	int r = add_file(out, "run", run_script(sp), 0755);
	if (sp->reader_argv && !sp->fan_in)
		r |= add_file(out, "log/run", log_script(sp), 0755);
	if (sp->meters)
		r |= add_file(out, "meters", strdup(sp->meters), 0644);
	r |= add_file(out, "env/METER2MQTT_LOG_TAG", env_value(sp->id), 0600);
	if (sp->password)
		r |= add_file(out, "env/MQTT_PASSWORD", env_value(sp->password), 0600);
	if (sp->log_level)
		r |= add_file(out, "env/METER2MQTT_LOG_LEVEL", env_value(sp->log_level), 0600);
	if (sp->p1_key)
		r |= add_file(out, "env/P1_KEY", env_value(sp->p1_key), 0600);
	if (sp->p1_auth_key)
		r |= add_file(out, "env/P1_AUTH_KEY", env_value(sp->p1_auth_key), 0600);
	if (sp->influx_password)
		r |= add_file(out, "env/INFLUX_PASSWORD", env_value(sp->influx_password), 0600);
	if (sp->influx_token)
		r |= add_file(out, "env/INFLUX_TOKEN", env_value(sp->influx_token), 0600);
	if (r || !out->id) {
		svc_free(out);
		return -1;
	}
	checksum(out);
	return 0;
}

int svc_generate_log(enum supervisor sup, const char *log_dir, struct svc *out)
{
	memset(out, 0, sizeof *out);
	out->id = strdup(SVC_LOG);
	out->log_dir = strdup(log_dir);
	int r = add_file(out, "run", shared_log_script(sup, log_dir), 0755);
	if (r || !out->id || !out->log_dir) {
		svc_free(out);
		return -1;
	}
	checksum(out);
	return 0;
}

void svc_free(struct svc *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->files[i].content);
	free(s->id);
	free(s->log_dir);
	memset(s, 0, sizeof *s);
}

/* ---- the file system ---- */

static int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	int e = errno;
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", msg, strerror(e));
	return -1;
}

static int write_at(int dirfd, const char *path, const char *content, mode_t mode)
{
	unlinkat(dirfd, path, 0);
	int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -1;
	if (write_all(fd, content, strlen(content), -1) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	/* The umask must not widen or narrow what we mean: 0600 stays 0600. */
	if (fchmod(fd, mode) < 0 || close(fd) < 0)
		return -1;
	return 0;
}

int rm_tree(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)
			rm_tree(fd, e->d_name);
		else
			unlinkat(fd, e->d_name, 0);
	}
	closedir(d);
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
}

static char *marker_text(const struct svc *s)
{
	char *t;
	if (asprintf(&t,
	             "# Generated by mtrcfg(1); it replaces or removes this directory.\n"
	             "checksum %016" PRIx64 "\nvalidated %016" PRIx64 "\n",
	             s->checksum, s->validated) < 0)
		return NULL;
	return t;
}

static const char *file_content(const struct svc *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->files[i].path, path))
			return s->files[i].content;
	return NULL;
}

static bool has_env(const struct svc *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strncmp(s->files[i].path, "env/", 4))
			return true;
	return false;
}

/* Writes every file of s below dirfd/base ("" for dirfd itself). */
static int write_tree(int dirfd, const struct svc *s, char *err, size_t errlen)
{
	/* Only the subdirectories that hold files: an empty log/ would have
	 * the supervisor look for a logger there. */
	if (file_content(s, "log/run") && mkdirat(dirfd, "log", 0755) < 0 && errno != EEXIST)
		return errf(err, errlen, "%s: mkdir log", s->id);
	if (has_env(s)) {
		if (mkdirat(dirfd, "env", 0700) < 0 && errno != EEXIST)
			return errf(err, errlen, "%s: mkdir env", s->id);
		if (fchmodat(dirfd, "env", 0700, 0) < 0)
			return errf(err, errlen, "%s: chmod env", s->id);
	}
	for (size_t i = 0; i < s->n; i++)
		if (write_at(dirfd, s->files[i].path, s->files[i].content, s->files[i].mode) < 0)
			return errf(err, errlen, "%s: write %s", s->id, s->files[i].path);
	char *m = marker_text(s);
	int r = m ? write_at(dirfd, SVC_MARKER, m, 0644) : -1;
	free(m);
	if (r < 0)
		return errf(err, errlen, "%s: write %s", s->id, SVC_MARKER);
	return 0;
}

void svc_read_state(int scanfd, const char *id, struct svc_state *st)
{
	memset(st, 0, sizeof *st);
	struct stat sb;
	if (fstatat(scanfd, id, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	st->exists = true;
	if (!S_ISDIR(sb.st_mode))
		return;
	char path[128];
	snprintf(path, sizeof path, "%s/" SVC_MARKER, id);
	int fd = openat(scanfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	st->generated = true;
	char buf[512];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return; /* an empty marker (a crash): ours, to be rewritten */
	buf[n] = '\0';
	const char *c = strstr(buf, "\nchecksum "), *v = strstr(buf, "\nvalidated ");
	if (c)
		st->checksum = strtoull(c + 10, NULL, 16);
	if (v)
		st->validated = strtoull(v + 11, NULL, 16);
}

int svc_install(int scanfd, const struct svc *s, char *err, size_t errlen)
{
	char tmp[128];
	snprintf(tmp, sizeof tmp, ".m2m-new-%s", s->id);
	rm_tree(scanfd, tmp);
	if (mkdirat(scanfd, tmp, 0755) < 0)
		return errf(err, errlen, "%s: mkdir", tmp);
	int fd = openat(scanfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errf(err, errlen, "%s: open", tmp);
	int r = write_tree(fd, s, err, errlen);
	close(fd);
	/* NOREPLACE: a directory that appeared meanwhile is not ours to clobber. */
	if (r == 0 && renameat2(scanfd, tmp, scanfd, s->id, RENAME_NOREPLACE) < 0)
		r = errf(err, errlen, "%s: rename into place", s->id);
	if (r < 0)
		rm_tree(scanfd, tmp);
	return r;
}

static bool same_content(int dirfd, const char *path, const char *want)
{
	char *have;
	size_t len;
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	bool same = false;
	if (fstat(fd, &st) == 0 && (size_t)st.st_size == strlen(want) && (have = malloc(st.st_size + 1))) {
		len = (size_t)read(fd, have, st.st_size);
		same = len == (size_t)st.st_size && memcmp(have, want, len) == 0;
		free(have);
	}
	close(fd);
	return same;
}

/* True once the supervisor says the service is down: runit writes "down"
 * into supervise/stat; s6's supervise/status holds the pid (8 bytes, big
 * endian, at offset 24), 0 when down. */
static bool service_down(int dirfd, enum supervisor sup)
{
	unsigned char b[64];
	int fd = openat(dirfd, sup == SUP_RUNIT ? "supervise/stat" : "supervise/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	ssize_t n = read(fd, b, sizeof b);
	close(fd);
	if (sup == SUP_RUNIT)
		return n >= 4 && memcmp(b, "down", 4) == 0;
	if (n < 32)
		return true;
	for (int i = 24; i < 32; i++)
		if (b[i])
			return false;
	return true;
}

/* Down, then up once really down: both supervisors hold back a respawn
 * for a second after a death, but start at once on request. */
static void svc_restart(int dirfd, enum supervisor sup)
{
	if (svc_control(dirfd, ".", "d") < 0)
		return; /* not supervised (yet): it starts with the new files */
	int64_t end = mono_ms() + 5000;
	while (!service_down(dirfd, sup) && mono_ms() < end)
		nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
	svc_control(dirfd, ".", "u");
}

/* Whether the service gains or loses its log/ (a sink made before the
 * shared log had a logger of its own): the supervisor looks for one only
 * when it starts supervising a directory. */
static bool log_shape_changed(int scanfd, const struct svc *s)
{
	char path[160];
	snprintf(path, sizeof path, "%s/log/run", s->id);
	bool had = faccessat(scanfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	return had != (file_content(s, "log/run") != NULL);
}

int svc_update(int scanfd, const struct svc *s, enum supervisor sup, char *err, size_t errlen)
{
	if (log_shape_changed(scanfd, s)) {
		if (svc_remove(scanfd, s->id, sup, 3000, err, errlen) < 0 || svc_install(scanfd, s, err, errlen) < 0)
			return -1;
		if (sup == SUP_S6)
			s6_scan(scanfd, false);
		return 0;
	}
	int dirfd = openat(scanfd, s->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dirfd < 0)
		return errf(err, errlen, "%s: open", s->id);
	const char *tmp = ".m2m-new";
	rm_tree(dirfd, tmp);
	int r = -1, tmpfd = -1;
	if (mkdirat(dirfd, tmp, 0700) < 0 || (tmpfd = openat(dirfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		errf(err, errlen, "%s/%s: mkdir", s->id, tmp);
		goto out;
	}
	if (write_tree(tmpfd, s, err, errlen) < 0)
		goto out;
	const char *log_run = file_content(s, "log/run");
	bool run_changed = !same_content(dirfd, "run", file_content(s, "run"));
	bool log_changed = log_run && !same_content(dirfd, "log/run", log_run);
	/* Neither script: then env/, which both read. */
	bool env_changed = !run_changed && !log_changed;
	/* env/ first (the scripts read it), by one exchange; then log/run, run,
	 * and the marker last: a crash in between leaves a stale checksum, so
	 * the next run redoes the update. */
	if (log_run && mkdirat(dirfd, "log", 0755) < 0 && errno != EEXIST) {
		errf(err, errlen, "%s: mkdir log", s->id);
		goto out;
	}
	if (has_env(s) && renameat2(dirfd, ".m2m-new/env", dirfd, "env", RENAME_EXCHANGE) < 0 &&
	    renameat(dirfd, ".m2m-new/env", dirfd, "env") < 0) {
		errf(err, errlen, "%s: replace env", s->id);
		goto out;
	}
	/* The shared reader's meters (read by run when it starts: the restart
	 * below, as for env/). */
	if ((file_content(s, "meters") && renameat(dirfd, ".m2m-new/meters", dirfd, "meters") < 0) ||
	    (log_run && renameat(dirfd, ".m2m-new/log/run", dirfd, "log/run") < 0) ||
	    renameat(dirfd, ".m2m-new/run", dirfd, "run") < 0 ||
	    renameat(dirfd, ".m2m-new/" SVC_MARKER, dirfd, SVC_MARKER) < 0) {
		errf(err, errlen, "%s: rename into place", s->id);
		goto out;
	}
	r = 0;
	/* Each side restarts alone, the pipe between them stays: a new
	 * mqttpub picks up the readings the reader wrote meanwhile. */
	if (run_changed || env_changed)
		svc_restart(dirfd, sup);
	if (log_changed || (log_run && env_changed))
		svc_control(dirfd, "log", "t");
out:
	if (tmpfd >= 0)
		close(tmpfd);
	rm_tree(dirfd, tmp);
	close(dirfd);
	return r;
}

int svc_write_marker(int scanfd, const struct svc *s, char *err, size_t errlen)
{
	char path[160], tmp[176];
	snprintf(path, sizeof path, "%s/" SVC_MARKER, s->id);
	snprintf(tmp, sizeof tmp, "%s.new", path);
	char *m = marker_text(s);
	int r = m ? write_at(scanfd, tmp, m, 0644) : -1;
	free(m);
	if (r < 0 || renameat(scanfd, tmp, scanfd, path) < 0)
		return errf(err, errlen, "%s: write marker", s->id);
	return 0;
}

int svc_control(int dirfd, const char *dir, const char *cmds)
{
	char path[160];
	snprintf(path, sizeof path, "%s/supervise/control", dir);
	/* Non-blocking: ENXIO tells that no supervisor reads the fifo. */
	int fd = openat(dirfd, path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t w = cmds[0] ? write(fd, cmds, strlen(cmds)) : 0;
	close(fd);
	return w < 0 ? -1 : 0;
}

void s6_scan(int scanfd, bool prune)
{
	int fd = openat(scanfd, ".s6-svscan/control", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, prune ? "an" : "a", prune ? 2 : 1) < 0) {
		/* nobody to tell: nothing to do */
	}
	close(fd);
}

static bool supervised(int dirfd, const char *dir)
{
	char sub[160];
	snprintf(sub, sizeof sub, "%s/log", dir);
	return svc_control(dirfd, dir, "") == 0 || svc_control(dirfd, sub, "") == 0;
}

int svc_remove(int scanfd, const char *id, enum supervisor sup, int wait_ms, char *err, size_t errlen)
{
	char aside[160];
	struct stat st;
	for (int i = 0;; i++) {
		snprintf(aside, sizeof aside, ".m2m-old-%s.%d", id, i);
		if (fstatat(scanfd, aside, &st, AT_SYMLINK_NOFOLLOW) < 0)
			break;
	}
	if (renameat(scanfd, id, scanfd, aside) < 0)
		return errf(err, errlen, "%s: move aside", id);
	char logdir[176];
	snprintf(logdir, sizeof logdir, "%s/log", aside);
	svc_control(scanfd, aside, "dx");
	svc_control(scanfd, logdir, "dx");
	if (sup == SUP_S6)
		s6_scan(scanfd, true);
	int64_t end = mono_ms() + wait_ms;
	while (supervised(scanfd, aside) && mono_ms() < end)
		nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
	if (!supervised(scanfd, aside))
		rm_tree(scanfd, aside);
	return 0;
}

DIR *svc_scan_open(int scanfd)
{
	int fd = dup(scanfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	rewinddir(d); /* the dup shares scanfd's offset */
	return d;
}

void svc_collect(int scanfd)
{
	DIR *d = svc_scan_open(scanfd);
	if (!d)
		return;
	char names[64][96];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64) {
		if (strncmp(e->d_name, ".m2m-old-", 9) && strncmp(e->d_name, ".m2m-new-", 9))
			continue;
		if (strlen(e->d_name) < sizeof names[0])
			strcpy(names[n++], e->d_name);
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		if (!supervised(scanfd, names[i]))
			rm_tree(scanfd, names[i]);
}
