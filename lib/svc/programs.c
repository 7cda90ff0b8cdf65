/* programs.c: see programs.h. */
#include "svc/programs.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/text.h"

bool program_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *path_absolute(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char cwd[PATH_MAX], *out;
	if (!getcwd(cwd, sizeof cwd) || asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

char *program_find(const char *self_dir, const char *name)
{
	char buf[PATH_MAX * 2];
	if (self_dir[0]) {
		snprintf(buf, sizeof buf, "%s/%s", self_dir, name);
		if (program_executable(buf))
			return strdup(buf);
	}
	const char *path = getenv("PATH");
	while (path && *path) {
		const char *colon = strchrnul(path, ':');
		snprintf(buf, sizeof buf, "%.*s/%s", (int)(colon - path), path, name);
		if (colon > path && program_executable(buf))
			return path_absolute(buf);
		path = *colon ? colon + 1 : colon;
	}
	return NULL;
}

char *path_beside(const char *file, const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	char *base = strdup(file), *slash = strrchr(base, '/'), *out;
	if (slash)
		*slash = '\0';
	int r = slash ? asprintf(&out, "%s/%s", base, p) : asprintf(&out, "%s", p);
	free(base);
	if (r < 0)
		return NULL;
	char *abs = path_absolute(out);
	free(out);
	return abs;
}

static const struct {
	const char *type, *program;
	long interval_s; /* the reader's default interval: a P1 meter sends every
	                    1 to 10 s, kmpread polls every 300 s */
} builtin_types[] = { { "dsmr", "p1read", 10 }, { "multical", "kmpread", 300 }, { "sml", "smlread", 10 } };

/* What every built-in reader is run with before the device's own options
 * (which come later and so win): a health line a minute, for mqttpub to
 * publish (meter2mqtt(7), HEALTH). */
static const char *const builtin_options[] = { "--health-interval=60", NULL };
static const char *const no_options[] = { NULL };

const char *const *reader_default_options(const char *reader)
{
	const char *slash = strrchr(reader, '/'), *name = slash ? slash + 1 : reader;
	for (size_t i = 0; i < sizeof builtin_types / sizeof *builtin_types; i++)
		if (strcmp(name, builtin_types[i].program) == 0)
			return builtin_options;
	return no_options;
}

long type_interval_s(const char *type)
{
	for (size_t i = 0; type && i < sizeof builtin_types / sizeof *builtin_types; i++)
		if (strcmp(type, builtin_types[i].type) == 0)
			return builtin_types[i].interval_s;
	return 0;
}

char *type_program(const struct base_conf *b, const char *config_path, const char *self_dir, const char *type)
{
	for (size_t i = 0; i < b->n_types; i++) {
		if (strcmp(b->types[i].name, type))
			continue;
		const char *p = b->types[i].program;
		return strchr(p, '/') ? path_beside(config_path, p) : program_find(self_dir, p);
	}
	for (size_t i = 0; i <= b->n_types_dirs; i++) {
		char *dir = i < b->n_types_dirs ? path_beside(config_path, b->types_dirs[i]) : strdup(M2M_LIBEXECDIR "/types");
		char *p = NULL;
		if (dir && asprintf(&p, "%s/%s", dir, type) >= 0 && !program_executable(p)) {
			free(p);
			p = NULL;
		}
		free(dir);
		if (p)
			return p;
	}
	for (size_t i = 0; i < sizeof builtin_types / sizeof *builtin_types; i++)
		if (!strcmp(builtin_types[i].type, type))
			return program_find(self_dir, builtin_types[i].program);
	return NULL;
}

void types_known(const struct base_conf *b, const char *config_path, struct strv *ns)
{
	for (size_t i = 0; i < sizeof builtin_types / sizeof *builtin_types; i++)
		strv_add(ns, builtin_types[i].type);
	for (size_t i = 0; i < b->n_types; i++)
		strv_add(ns, b->types[i].name);
	for (size_t i = 0; i <= b->n_types_dirs; i++) {
		char *dir = i < b->n_types_dirs ? path_beside(config_path, b->types_dirs[i]) : strdup(M2M_LIBEXECDIR "/types");
		DIR *d = dir ? opendir(dir) : NULL;
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char *p;
			if (!device_id_valid(e->d_name) || asprintf(&p, "%s/%s", dir, e->d_name) < 0)
				continue;
			if (program_executable(p))
				strv_add(ns, e->d_name);
			free(p);
		}
		if (d)
			closedir(d);
		free(dir);
	}
	strv_sort(ns);
}

