/* reconcile.h: one pass of mtrcfg.  Load config.yaml and config.d/<id>.yaml
 * (every error named with its position), find each device's reader, check
 * the device with `reader --check` (skipped when this very reader already
 * passed these very options), then, unless only checking, write new
 * services, replace changed ones and remove those whose file is gone: a
 * broken device file leaves its running service alone. */
#ifndef M2M_RECONCILE_H
#define M2M_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>

#include "svc/svcdir.h"

struct optlist;

/* What a pass works on, set once by mtrcfg's main. */
struct reconcile_env {
	const char *config_path;   /* config.yaml */
	const char *config_dir;    /* config.d */
	const char *scan_dir;      /* for messages; NULL with --check */
	const char *log_dir;       /* -l, or NULL: config.yaml's logging: dir */
	const char *self_dir;      /* mtrcfg's own directory, "" when unknown */
	enum supervisor sup;
	/* Kept across the passes of --watch: each reader's --list-options,
	 * asked again when its binary changes. */
	struct optlist *optlists;
	size_t n_optlists;
};

/* One pass over the scan directory scanfd (-1 with check_only).  Messages
 * go to stderr.  Returns 0, 1 (a service could not be written) or 2
 * (configuration errors). */
int reconcile(struct reconcile_env *e, int scanfd, bool check_only);
/* --list-types: "type<TAB>program" on stdout.  Returns 0, or 2. */
int list_types(struct reconcile_env *e);
void reconcile_env_free(struct reconcile_env *e);

/* A device file's name: NAME.yaml, not hidden. */
bool device_file_name(const char *name);

#endif
