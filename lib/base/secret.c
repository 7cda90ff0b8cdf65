#include "base/secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"

char *secret_from_file(const char *option, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die_errno(EXIT_USAGE, "%s: %s", option, path);
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IROTH))
		warnx("warning: %s %s is readable by every user", option, path);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	fclose(f);
	if (n <= 0) {
		free(line);
		die(EXIT_USAGE, "%s: %s is empty", option, path);
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

char *secret_get(const char *option, const char *file, const char *env)
{
	if (file)
		return secret_from_file(option, file);
	const char *v = getenv(env);
	return v && *v ? strdup(v) : NULL;
}
