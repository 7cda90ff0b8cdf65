/* mqttset.c: the MQTT settings' one parser, one check and one rendering. */
#include "sink/mqttset.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/secret.h"
#include "base/util.h"

void mqtt_settings_init(struct mqtt_settings *s)
{
	*s = (struct mqtt_settings){ .keepalive = 60, .protocol = MQTT_V311, .qos = 1, .retain = true };
}

static int refuse(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -1;
}

static int number_option(const char *name, const char *arg, long lo, long hi, int *out, char *why, size_t n)
{
	long v;
	if (parse_long(arg, lo, hi, &v) < 0)
		return refuse(why, n, "%s must be a whole number from %ld to %ld, not '%s'", name, lo, hi, arg);
	*out = (int)v;
	return 0;
}

/* An option's value that names something: never empty. */
static int text_option(const char *name, const char *arg, const char **out, char *why, size_t n)
{
	if (!*arg)
		return refuse(why, n, "%s must not be empty", name);
	*out = arg;
	return 0;
}

/* mqtt[s]://[USER@]HOST[:PORT][/]: the pieces point into a copy that
 * lives as long as the program (the settings keep pointers). */
static int url_option(struct mqtt_settings *s, const char *url, char *why, size_t n)
{
	const char *rest;
	if (!strncmp(url, "mqtt://", 7))
		rest = url + 7;
	else if (!strncmp(url, "mqtts://", 8))
		rest = url + 8, s->tls = true;
	else
		return refuse(why, n, "--url: not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]: %s", url);
	char *copy = strdup(rest);
	if (!copy)
		return refuse(why, n, "--url: out of memory");
	char *host = copy, *at = strchr(copy, '@');
	if (at) {
		if (memchr(copy, ':', (size_t)(at - copy)))
			return free(copy), refuse(why, n, "--url: a password does not belong on the command line, where "
			                                  "every user sees it: use $MQTT_PASSWORD or --password-file");
		*at = '\0';
		s->username = copy;
		host = at + 1;
	}
	char *after;
	if (*host == '[') {
		char *close = strchr(host, ']');
		if (!close)
			return free(copy), refuse(why, n, "--url: unclosed '[' in %s", url);
		*close = '\0';
		after = close + 1;
		host++;
	} else {
		after = host + strcspn(host, ":/");
	}
	char sep = *after;
	*after = '\0';
	if (!*host)
		return free(copy), refuse(why, n, "--url: no host in %s", url);
	s->host = host;
	const char *path = after + (sep != '\0');
	if (sep == ':') {
		char *port = after + 1, *slash = strchr(port, '/');
		path = slash ? slash : "";
		if (slash)
			*slash = '\0';
		if (number_option("--url's port", port, 1, 65535, &s->port, why, n) < 0)
			return -1; /* copy stays: s->host points into it */
		if (slash)
			*slash = '/';
	} else if (sep == '/') {
		path = "/";
	}
	if (*path && strcmp(path, "/"))
		return refuse(why, n, "--url: a path (%s) is not used: the topic prefix is --prefix", path);
	return 0;
}

int mqtt_settings_option(struct mqtt_settings *s, int code, const char *value, char *why, size_t n)
{
	const char *arg = value ? value : ""; /* a flag has none */
	switch (code) {
	case MQTT_OPT_HOST:
		return text_option("--host", arg, &s->host, why, n);
	case MQTT_OPT_PORT:
		return number_option("--port", arg, 1, 65535, &s->port, why, n);
	case MQTT_OPT_URL:
		return url_option(s, arg, why, n);
	case MQTT_OPT_CLIENT_ID:
		if (strlen(arg) > 65535)
			return refuse(why, n, "--client-id must be at most 65535 bytes long");
		return text_option("--client-id", arg, &s->client_id, why, n);
	case MQTT_OPT_KEEPALIVE:
		return number_option("--keepalive", arg, 5, 65535, &s->keepalive, why, n);
	case MQTT_OPT_PROTOCOL:
		if (!strcmp(arg, "311") || !strcmp(arg, "mqttv311"))
			s->protocol = MQTT_V311;
		else if (!strcmp(arg, "5") || !strcmp(arg, "mqttv5"))
			s->protocol = MQTT_V5;
		else
			return refuse(why, n, "--protocol must be 311 or 5, not '%s'", arg);
		s->protocol_given = true;
		return 0;
	case MQTT_OPT_QOS:
		return number_option("--qos", arg, 0, 2, &s->qos, why, n);
	case MQTT_OPT_NO_RETAIN:
		s->retain = false;
		return 0;
	case MQTT_OPT_MAX_INFLIGHT:
		return number_option("--max-inflight", arg, 1, 65535, &s->max_inflight, why, n);
	case MQTT_OPT_USERNAME:
		return text_option("--username", arg, &s->username, why, n);
	case MQTT_OPT_PASSWORD_FILE:
		return text_option("--password-file", arg, &s->password_file, why, n);
	case MQTT_OPT_TLS:
		s->tls = true;
		return 0;
	case MQTT_OPT_CAFILE:
		return text_option("--cafile", arg, &s->cafile, why, n);
	case MQTT_OPT_CAPATH:
		return text_option("--capath", arg, &s->capath, why, n);
	case MQTT_OPT_CERT:
		return text_option("--cert", arg, &s->cert, why, n);
	case MQTT_OPT_KEY:
		return text_option("--key", arg, &s->key, why, n);
	case MQTT_OPT_TLS_VERSION:
		if (strcmp(arg, "tlsv1.3") && strcmp(arg, "tlsv1.2") && strcmp(arg, "tlsv1.1"))
			return refuse(why, n, "--tls-version must be tlsv1.3, tlsv1.2 or tlsv1.1, not '%s'", arg);
		s->tls_version = arg;
		return 0;
	case MQTT_OPT_INSECURE:
		s->insecure = true;
		return 0;
	default:
		return 1;
	}
}

int mqtt_settings_check(struct mqtt_settings *s, char *why, size_t n)
{
	if (!s->cert != !s->key)
		return refuse(why, n, "--cert and --key go together");
	if (s->cert && !s->cafile && !s->capath)
		return refuse(why, n, "--cert needs --cafile or --capath");
	/* a broker is sent a password only with a user name: without one the
	 * password the user meant to give would be dropped in silence */
	if (s->password_file && !s->username)
		return refuse(why, n, "--password-file needs --username");
	if (s->password_given && !s->username)
		return refuse(why, n, "a password ($MQTT_PASSWORD, or password: in config.yaml) needs --username "
		                      "(username:): a broker is sent a password only with a user name");
	if (s->cafile || s->capath || s->cert || s->insecure || s->tls_version)
		s->tls = true;
	return 0;
}

void mqtt_settings_defaults(struct mqtt_settings *s)
{
	if (!s->host)
		s->host = "localhost";
	if (!s->port)
		s->port = s->tls ? 8883 : 1883;
}

static int readable(const char *option, const char *path, bool dir, char *why, size_t n)
{
	struct stat st;
	if (stat(path, &st) < 0 || access(path, R_OK) < 0)
		return refuse(why, n, "%s: %s: %s", option, path, strerror(errno));
	if (dir != !!S_ISDIR(st.st_mode))
		return refuse(why, n, "%s: %s is %sa directory", option, path, dir ? "not " : "");
	return 0;
}

int mqtt_settings_files_check(const struct mqtt_settings *s, char *why, size_t n)
{
	const struct {
		const char *option, *path;
		bool dir;
	} files[] = { { "--password-file", s->password_file, false },
		      { "--cafile", s->cafile, false },
		      { "--capath", s->capath, true },
		      { "--cert", s->cert, false },
		      { "--key", s->key, false } };
	for (size_t i = 0; i < sizeof files / sizeof *files; i++)
		if (files[i].path && readable(files[i].option, files[i].path, files[i].dir, why, n) < 0)
			return -1;
	return 0;
}

void mqtt_settings_password(struct mqtt_settings *s)
{
	if (s->password_file)
		s->password = secret_from_file("--password-file", s->password_file);
	else if (s->username)
		s->password = secret_get("--password-file", NULL, "MQTT_PASSWORD");
	/* Not passed on to anything we might start. */
	unsetenv("MQTT_PASSWORD");
}

void mqtt_settings_getopt(struct mqtt_settings *s, int c, const char *usage, char *const *argv)
{
	char why[256];
	int r = mqtt_settings_option(s, c, optarg, why, sizeof why);
	if (r < 0)
		usage_die(usage, "%s", why);
	if (r > 0)
		usage_bad_option(usage, c, argv);
}

void mqtt_settings_finish(struct mqtt_settings *s, const char *usage)
{
	char why[512];
	const char *pw = getenv("MQTT_PASSWORD");
	s->password_given = pw && *pw;
	if (mqtt_settings_check(s, why, sizeof why) < 0)
		usage_die(usage, "%s", why);
	if (mqtt_settings_files_check(s, why, sizeof why) < 0)
		die(EXIT_USAGE, "%s", why);
	mqtt_settings_defaults(s);
	mqtt_settings_password(s);
}

void mqtt_settings_render(const struct mqtt_settings *s, bool publisher, mqtt_arg_fn *add, void *ctx)
{
	struct mqtt_settings d;
	mqtt_settings_init(&d);
	char num[16];
	if (s->host)
		add("-h", s->host, ctx);
	if (s->port) {
		snprintf(num, sizeof num, "%d", s->port);
		add("-p", num, ctx);
	}
	if (s->client_id)
		add("-i", s->client_id, ctx);
	if (s->keepalive != d.keepalive) {
		snprintf(num, sizeof num, "%d", s->keepalive);
		add("-k", num, ctx);
	}
	if (s->protocol != d.protocol || s->protocol_given)
		add("-V", s->protocol == MQTT_V5 ? "5" : "311", ctx);
	if (publisher && s->qos != d.qos) {
		snprintf(num, sizeof num, "%d", s->qos);
		add("-q", num, ctx);
	}
	if (publisher && !s->retain)
		add("--no-retain", NULL, ctx);
	if (publisher && s->max_inflight) {
		snprintf(num, sizeof num, "%d", s->max_inflight);
		add("--max-inflight", num, ctx);
	}
	if (s->username)
		add("-u", s->username, ctx);
	if (s->password_file)
		add("--password-file", s->password_file, ctx);
	const char *files[][2] = {
		{ "--cafile", s->cafile }, { "--capath", s->capath }, { "--cert", s->cert }, { "--key", s->key }
	};
	bool any_file = false;
	for (size_t i = 0; i < 4; i++)
		if (files[i][1]) {
			add(files[i][0], files[i][1], ctx);
			any_file = true;
		}
	if (s->tls && !any_file)
		add("--tls", NULL, ctx);
	if (s->tls_version)
		add("--tls-version", s->tls_version, ctx);
	if (s->insecure)
		add("--insecure-skip-verify", NULL, ctx);
}
