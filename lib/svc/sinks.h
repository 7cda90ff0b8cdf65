/* sinks.h: the gateway-wide services config.yaml asks for besides the
 * devices: influxdb: runs influxpub(1), http: runs mtrexport(1), one
 * service each, supervised like the devices'.
 *
 * Their names hold a dot, which no device id may, so a device can never
 * take a sink's directory.  The options a section holds are the sink's
 * own: the sink checks them (--check), mtrcfg never restates its rules. */
#ifndef M2M_SINKS_H
#define M2M_SINKS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strv.h"

#include "svc/config.h"

#define SINK_MAX 2

struct sink {
	const char *id;      /* the service directory: sink.influxdb, sink.http */
	const char *program; /* influxpub, mtrexport */
	char **argv;         /* the program's path first; NULL: not installed */
	const char *influx_password, *influx_token; /* for env/, never argv */
};

/* The sinks b configures, into out (at most SINK_MAX); returns how many.
 * Programs are looked up as the readers are (programs.h); a sink whose
 * program is not installed has argv NULL. */
size_t sinks_build(const struct base_conf *b, const char *config_path, const char *self_dir, struct sink *out);
void sinks_free(struct sink *s, size_t n);

/* The mqtt: settings as one service takes them: a client id of its own
 * (<client_id>-<client_suffix>: two connections with one id throw each
 * other off the broker) and files named beside config.yaml.  The strings
 * made live in keep until service_mqtt_free. */
#define SERVICE_MQTT_KEEP 6
struct mqtt_settings service_mqtt(const struct mqtt_conf *m, const char *config_path, const char *client_suffix,
                                  char *keep[SERVICE_MQTT_KEEP]);
void service_mqtt_free(char *keep[SERVICE_MQTT_KEEP]);

/* The broker's options as a service of this gateway takes them (the
 * publisher's too when publisher), then -t PREFIX. */
void service_broker_args(struct argv_build *a, const struct base_conf *b, const char *config_path,
                         const char *client_suffix, bool publisher);

/* The environment the sink runs with: ours, its secrets and the broker
 * password added (for its --check).  Free with sink_env_free. */
char **sink_env(const struct sink *s, const char *mqtt_password);
void sink_env_free(char **env);

#endif
