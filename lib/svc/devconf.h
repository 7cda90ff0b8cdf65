/* devconf.h: config.d/<id>.yaml, one device a file: its type and the
 * reader options its keys become ("poll_interval: 10" is
 * --poll-interval=10; meter2mqtt(5)).  Errors are collected as in
 * config.h; the loader takes bytes so that the fuzz harness can call it. */
#ifndef M2M_DEVCONF_H
#define M2M_DEVCONF_H

#include <stddef.h>

#include "base/strv.h"

/* One device key turned into one reader option by the documented rule. */
struct dev_opt {
	char *key;           /* as written in the file */
	char *arg;           /* the whole option: --poll-interval=10 */
	int line, col;
};

struct device_conf {
	char *id;            /* the file name without .yaml */
	char *file;          /* the path shown in messages */
	char *type;
	int type_line, type_col;
	struct dev_opt *opts;
	size_t n_opts;
};

/* Returns 0 when the file is valid, -1 after adding errors to d.  id is the
 * file name without .yaml; file is the name used in messages. */
int config_load_device(const char *file, const char *id, const char *buf, size_t len, struct device_conf *out,
                       struct cfg_diag *d);
void device_conf_free(struct device_conf *c);

/* Finds the option a device key became, or NULL. */
const struct dev_opt *device_opt(const struct device_conf *c, const char *key);
/* The value of a device option ("--port=/dev/ttyUSB0": "/dev/ttyUSB0"), or
 * NULL when the key is absent or a bare flag. */
const char *device_opt_value(const struct device_conf *c, const char *key);

#endif
