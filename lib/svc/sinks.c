/* sinks.c: see sinks.h. */
#include "svc/sinks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strv.h"
#include "sink/mqttset.h"
#include "svc/programs.h"

static void add_opt(const char *opt, const char *value, void *ctx) { argv_add(ctx, opt, value); }

/* A file named in config.yaml, beside config.yaml. */
static void add_file(struct argv_build *a, const char *opt, const char *config_path, const char *file)
{
	char *p = path_beside(config_path, file);
	argv_add(a, opt, p ? p : file);
	free(p);
}

struct mqtt_settings service_mqtt(const struct mqtt_conf *m, const char *config_path, const char *client_suffix,
                                  char *keep[SERVICE_MQTT_KEEP])
{
	struct mqtt_settings s = m->s;
	memset(keep, 0, SERVICE_MQTT_KEEP * sizeof *keep);
	if (s.client_id && asprintf(&keep[0], "%s-%s", s.client_id, client_suffix) >= 0)
		s.client_id = keep[0];
	const char **files[] = { &s.password_file, &s.cafile, &s.capath, &s.cert, &s.key };
	for (size_t i = 0; i < 5; i++)
		if (*files[i] && (keep[i + 1] = path_beside(config_path, *files[i])))
			*files[i] = keep[i + 1];
	return s;
}

void service_mqtt_free(char *keep[SERVICE_MQTT_KEEP])
{
	for (size_t i = 0; i < SERVICE_MQTT_KEEP; i++)
		free(keep[i]);
}

void service_broker_args(struct argv_build *a, const struct base_conf *b, const char *config_path,
                         const char *client_suffix, bool publisher)
{
	char *keep[SERVICE_MQTT_KEEP];
	struct mqtt_settings s = service_mqtt(&b->mqtt, config_path, client_suffix, keep);
	mqtt_settings_render(&s, publisher, add_opt, a);
	service_mqtt_free(keep);
	if (b->mqtt.topic_prefix)
		argv_add(a, "-t", b->mqtt.topic_prefix);
}

static char **influx_argv(const struct base_conf *b, const char *config_path, const char *program)
{
	const struct influx_conf *c = &b->influx;
	struct argv_build a = { 0 };
	argv_add(&a, program, NULL);
	service_broker_args(&a, b, config_path, "influxdb", false);
	argv_add(&a, "-w", c->url ? c->url : "http://localhost:8086");
	const char *text[][2] = { { "-d", c->database },        { "--org", c->org },
		                  { "--bucket", c->bucket },     { "--influx-user", c->username },
		                  { "--measurement", c->measurement } };
	for (size_t i = 0; i < sizeof text / sizeof *text; i++)
		if (text[i][1])
			argv_add(&a, text[i][0], text[i][1]);
	if (c->password_file)
		add_file(&a, "--influx-password-file", config_path, c->password_file);
	if (c->token_file)
		add_file(&a, "--token-file", config_path, c->token_file);
	if (c->batch_size)
		argv_add_long(&a, "--batch-size", c->batch_size);
	if (c->batch_time_ms)
		argv_add_long(&a, "--batch-time", c->batch_time_ms);
	return argv_built(&a);
}

static char **http_argv(const struct base_conf *b, const char *config_path, const char *program)
{
	const struct http_conf *c = &b->http;
	struct argv_build a = { 0 };
	argv_add(&a, program, NULL);
	service_broker_args(&a, b, config_path, "http", false);
	if (c->listen)
		argv_add(&a, "-l", c->listen);
	if (c->stale_s)
		argv_add_long(&a, "--stale", c->stale_s);
	if (c->refresh_s)
		argv_add_long(&a, "--refresh", c->refresh_s);
	return argv_built(&a);
}

size_t sinks_build(const struct base_conf *b, const char *config_path, const char *self_dir, struct sink *out)
{
	size_t n = 0;
	if (b->influx.present) {
		char *prog = program_find(self_dir, "influxpub");
		out[n] = (struct sink){ "sink.influxdb", "influxpub", prog ? influx_argv(b, config_path, prog) : NULL,
			                b->influx.password, b->influx.token };
		free(prog);
		n++;
	}
	if (b->http.present) {
		char *prog = program_find(self_dir, "mtrexport");
		out[n] = (struct sink){ "sink.http", "mtrexport", prog ? http_argv(b, config_path, prog) : NULL, NULL,
			                NULL };
		free(prog);
		n++;
	}
	return n;
}

void sinks_free(struct sink *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		argv_free(s[i].argv);
}

char **sink_env(const struct sink *s, const char *mqtt_password)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 4, sizeof *env);
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "MQTT_PASSWORD=", 14) && strncmp(environ[i], "INFLUX_PASSWORD=", 16) &&
		    strncmp(environ[i], "INFLUX_TOKEN=", 13))
			if ((env[k] = strdup(environ[i])))
				k++;
	const char *secrets[][2] = { { "MQTT_PASSWORD", mqtt_password },
		                     { "INFLUX_PASSWORD", s->influx_password },
		                     { "INFLUX_TOKEN", s->influx_token } };
	for (size_t i = 0; i < 3; i++)
		if (secrets[i][1] && asprintf(&env[k], "%s=%s", secrets[i][0], secrets[i][1]) >= 0)
			k++;
	return env;
}

void sink_env_free(char **env) { argv_free(env); }
