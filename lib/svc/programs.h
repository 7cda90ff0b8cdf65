/* programs.h: finding the programs mtrcfg runs: the reader of each device
 * type and mqttpub, beside mtrcfg itself first, then along PATH; paths in
 * config.yaml are relative to config.yaml's directory. */
#ifndef M2M_PROGRAMS_H
#define M2M_PROGRAMS_H

#include <stdbool.h>

#include "base/strv.h"
#include "svc/config.h"

/* A regular file we may execute. */
bool program_executable(const char *path);
/* path made absolute against the working directory (malloc'd). */
char *path_absolute(const char *path);
/* name in self_dir (mtrcfg's own directory: the build tree, or the
 * install's bindir; "" for none), then along PATH; NULL when not found. */
char *program_find(const char *self_dir, const char *name);
/* p relative to the directory of file, made absolute (p as is when
 * absolute). */
char *path_beside(const char *file, const char *p);

/* The reader of a type: config.yaml's types: map, then TYPE in a types
 * directory, then the built-in types (dsmr: p1read, multical: kmpread,
 * sml: smlread).
 * NULL when none is installed. */
char *type_program(const struct base_conf *b, const char *config_path, const char *self_dir, const char *type);
/* A built-in type's default reading interval in seconds; 0 when the type
 * is not built in. */
long type_interval_s(const char *type);

/* The options mtrcfg puts before a device's own on the command line of
 * reader (a path): for the built-in readers, by their name,
 * --health-interval=60; for any other, none.  NULL-terminated. */
const char *const *reader_default_options(const char *reader);

/* Every type name known, sorted: for --list-types and did-you-mean. */
void types_known(const struct base_conf *b, const char *config_path, struct strv *out);

#endif
