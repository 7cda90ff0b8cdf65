/* config.h: config.yaml, loaded with libyaml (config.d/<id>.yaml: devconf.h).
 *
 * Loading never stops at the first problem: every error is collected as
 * "file:line:column: what is wrong" so that one run of mtrcfg --check names
 * them all.  The loaders take the file's bytes (not a path) so that the
 * fuzz harness can call them directly. */
#ifndef M2M_CONFIG_H
#define M2M_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strv.h"
#include "sink/mqttset.h"

/* Files larger than this are refused: no meter needs more. */
#define CONFIG_MAX_BYTES (1 << 20)

/* config.yaml's mqtt: section: the settings mqttpub's options take
 * (sink/mqttset.h, one parser and one check for both), and what is not
 * an option: the prefix and the password itself (which goes to env/). */
struct mqtt_conf {
	struct mqtt_settings s; /* its strings are in strs */
	char *topic_prefix, *password;
	char *strs[24];
	size_t nstrs;
};

/* influxdb: the InfluxDB writer's service (influxpub(1)); the options
 * are its own, checked by running it with --check. */
struct influx_conf {
	bool present;
	char *url, *database, *username, *password, *password_file;
	char *org, *bucket, *token, *token_file, *measurement;
	long batch_size, batch_time_ms, sessions; /* 0: influxpub's default */
};

/* http: the exporter and status page's service (mtrexport(1)). */
struct http_conf {
	bool present;
	char *listen;
	long stale_s, refresh_s; /* 0: mtrexport's default */
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
	bool shared_publisher; /* publisher: shared: one mqttpub for every device (fan-in) */
	bool shared_readers;   /* readers: shared: one p1read --meters for the P1 meters it can take */
	int readers_line, readers_col;
	struct influx_conf influx;
	struct http_conf http;
};

/* Returns 0 when the file is valid, -1 after adding errors to d.  An
 * empty config.yaml is valid (every default applies).  file is the name
 * used in messages. */
int config_load_base(const char *file, const char *buf, size_t len, struct base_conf *out, struct cfg_diag *d);
void base_conf_free(struct base_conf *c);

#endif
