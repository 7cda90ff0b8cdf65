/* config.h: config.yaml and config.d/<id>.yaml, loaded with libyaml.
 *
 * Loading never stops at the first problem: every error is collected as
 * "file:line:column: what is wrong" so that one run of mtrcfg --check names
 * them all.  The loaders take the file's bytes (not a path) so that the
 * fuzz harness can call them directly. */
#ifndef M2M_CONFIG_H
#define M2M_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Files larger than this are refused: no meter needs more. */
#define CONFIG_MAX_BYTES (1 << 20)

struct cfg_diag {
	char **msgs;
	size_t n;
};
void diag_add(struct cfg_diag *d, const char *file, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void diag_free(struct cfg_diag *d);

struct mqtt_conf {
	char *host, *topic_prefix, *username, *password, *password_file, *client_id, *protocol;
	long port;           /* 0: mqttpub's default */
	long qos;            /* -1: mqttpub's default */
	int retain;          /* -1 unset, 0, 1 */
	long keepalive;      /* 0: mqttpub's default */
	bool tls;            /* tls: true, or a tls: mapping */
	char *ca_file, *ca_path, *cert_file, *key_file, *tls_version;
	bool tls_insecure;
};

struct type_program {
	char *name, *program;
};

struct base_conf {
	struct mqtt_conf mqtt;
	char *log_level;     /* NULL: info */
	char *log_dir;       /* logging: dir */
	bool ha_enabled;
	char *ha_prefix;
	char **types_dirs;
	size_t n_types_dirs;
	struct type_program *types;
	size_t n_types;
	char *mqttpub;       /* the publisher program, when not the usual one */
	char *state_dir;     /* where each device's spool lives (<state_dir>/<id>) */
};

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

/* Both return 0 when the file is valid, -1 after adding errors to d.  An
 * empty config.yaml is valid (every default applies).  file is the name
 * used in messages. */
int config_load_base(const char *file, const char *buf, size_t len, struct base_conf *out, struct cfg_diag *d);
int config_load_device(const char *file, const char *id, const char *buf, size_t len, struct device_conf *out,
                       struct cfg_diag *d);
void base_conf_free(struct base_conf *c);
void device_conf_free(struct device_conf *c);

/* Finds the option a device key became, or NULL. */
const struct dev_opt *device_opt(const struct device_conf *c, const char *key);

/* Levenshtein distance, capped: returns at most cap + 1. */
int edit_distance(const char *a, const char *b, int cap);
/* The candidate closest to word when it is close enough to be a likely
 * typo (distance <= 2, and less than half the word), else NULL. */
const char *did_you_mean(const char *word, const char *const *cands, size_t n);

/* Reads a whole file (at most CONFIG_MAX_BYTES) into a NUL-terminated
 * buffer.  Returns 0, or -1 with errno set (EFBIG when too large). */
int read_file(const char *path, char **buf, size_t *len);

#endif
