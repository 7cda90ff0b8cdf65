/* secret.h: passwords and tokens, from a file or the environment only,
 * never from the command line (where every user sees them in ps). */
#ifndef M2M_SECRET_H
#define M2M_SECRET_H

/* The first line of path (without its line end); warns when the file is
 * readable by every user; dies with exit 2 naming option when it cannot be
 * read or is empty. */
char *secret_from_file(const char *option, const char *path);
/* From file when given, else $env, else NULL. */
char *secret_get(const char *option, const char *file, const char *env);

#endif
