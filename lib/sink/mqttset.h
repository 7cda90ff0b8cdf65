/* mqttset.h: the MQTT connection settings, one structure with one check
 * for every program that talks to the broker (mqttpub, influxpub,
 * mtrexport) and for config.yaml's mqtt: section, which mtrcfg renders
 * as mqttpub's options with the same code.  No libmosquitto here.
 *
 * A setting is set by its option: the getopt code of a broker option and
 * its text, whether the text comes from a command line or from a YAML
 * scalar.  So a value mtrcfg --check accepts is a value mqttpub accepts,
 * and the message that refuses it is the same. */
#ifndef M2M_MQTTSET_H
#define M2M_MQTTSET_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

/* The protocol levels of MQTT 3.1.1 and 5, as CONNECT carries them. */
enum { MQTT_V311 = 4, MQTT_V5 = 5 };

struct mqtt_settings {
	const char *host;      /* NULL: localhost */
	int port;              /* 0: 1883, or 8883 with TLS */
	const char *client_id; /* NULL: the program's own default */
	int keepalive;         /* seconds */
	int protocol;          /* MQTT_V311 or MQTT_V5 */
	bool protocol_given;   /* by an option: rendered even when the default */
	int qos;
	int max_inflight;      /* QoS 1/2 messages unacknowledged at most; 0: 20
	                        * under 3.1.1, the broker's receive maximum under 5 */
	bool retain;
	const char *username;
	const char *password_file; /* the password's file, when not $MQTT_PASSWORD */
	const char *password;      /* read by mqtt_settings_password, never an option */
	bool password_given;       /* one waits elsewhere: $MQTT_PASSWORD, or
	                            * config.yaml's password: (checked: it needs
	                            * a user name) */
	const char *cafile, *capath, *cert, *key, *tls_version;
	bool tls, insecure;
};

/* The broker options' getopt codes: the letters mosquitto_pub uses, and
 * codes above any program's own for the long-only ones. */
enum {
	MQTT_OPT_HOST = 'h',
	MQTT_OPT_PORT = 'p',
	MQTT_OPT_URL = 'L',
	MQTT_OPT_CLIENT_ID = 'i',
	MQTT_OPT_KEEPALIVE = 'k',
	MQTT_OPT_PROTOCOL = 'V',
	MQTT_OPT_QOS = 'q',
	MQTT_OPT_USERNAME = 'u',
	MQTT_OPT_PASSWORD_FILE = 0x1000,
	MQTT_OPT_TLS,
	MQTT_OPT_CAFILE,
	MQTT_OPT_CAPATH,
	MQTT_OPT_CERT,
	MQTT_OPT_KEY,
	MQTT_OPT_TLS_VERSION,
	MQTT_OPT_INSECURE,
	MQTT_OPT_NO_RETAIN,
	MQTT_OPT_MAX_INFLIGHT,
};

/* The connection's options, for every program's long_options table (and
 * "h:p:L:i:k:V:u:" in its optstring); the publisher adds MQTT_PUB_OPTIONS
 * ("q:"). */
#define MQTT_CONN_SHORT "h:p:L:i:k:V:u:"
#define MQTT_CONN_OPTIONS                                                        \
	{ "host", required_argument, NULL, MQTT_OPT_HOST },                      \
	{ "port", required_argument, NULL, MQTT_OPT_PORT },                      \
	{ "url", required_argument, NULL, MQTT_OPT_URL },                        \
	{ "client-id", required_argument, NULL, MQTT_OPT_CLIENT_ID },            \
	{ "keepalive", required_argument, NULL, MQTT_OPT_KEEPALIVE },            \
	{ "protocol", required_argument, NULL, MQTT_OPT_PROTOCOL },              \
	{ "username", required_argument, NULL, MQTT_OPT_USERNAME },              \
	{ "password-file", required_argument, NULL, MQTT_OPT_PASSWORD_FILE },    \
	{ "tls", no_argument, NULL, MQTT_OPT_TLS },                              \
	{ "cafile", required_argument, NULL, MQTT_OPT_CAFILE },                  \
	{ "capath", required_argument, NULL, MQTT_OPT_CAPATH },                  \
	{ "cert", required_argument, NULL, MQTT_OPT_CERT },                      \
	{ "key", required_argument, NULL, MQTT_OPT_KEY },                        \
	{ "tls-version", required_argument, NULL, MQTT_OPT_TLS_VERSION },        \
	{ "insecure-skip-verify", no_argument, NULL, MQTT_OPT_INSECURE }
#define MQTT_PUB_SHORT "q:"
#define MQTT_PUB_OPTIONS                                                         \
	{ "qos", required_argument, NULL, MQTT_OPT_QOS },                        \
	{ "no-retain", no_argument, NULL, MQTT_OPT_NO_RETAIN },                  \
	{ "max-inflight", required_argument, NULL, MQTT_OPT_MAX_INFLIGHT }

/* The connection options' lines of a program's -h text (its synopsis
 * says MQTT_CONN_SYNOPSIS); the program adds its -i line. */
#define MQTT_CONN_USAGE                                                                                  \
	"Broker options:\n"                                                                              \
	"  -h, --host HOST            broker host (default localhost)\n"                                 \
	"  -p, --port PORT            broker port (default 1883, 8883 with TLS)\n"                       \
	"  -L, --url URL              mqtt://[USER@]HOST[:PORT] or mqtts://...\n"                        \
	"  -k, --keepalive SEC        keepalive interval (default 60)\n"                                 \
	"  -V, --protocol 311|5       MQTT 3.1.1 (default) or 5\n"                                       \
	"  -u, --username USER        user name; the password comes from $MQTT_PASSWORD\n"               \
	"      --password-file FILE   or from the first line of FILE\n"                                  \
	"      --tls                  TLS, trusting the system's CA store\n"                             \
	"      --cafile FILE          TLS, trusting the CAs in FILE\n"                                   \
	"      --capath DIR           TLS, trusting the CAs in DIR\n"                                    \
	"      --cert FILE, --key FILE  client certificate and its key\n"                                \
	"      --tls-version V        tlsv1.3, tlsv1.2 (default: either) or tlsv1.1\n"                   \
	"      --insecure-skip-verify TLS without checking the broker's certificate\n"
#define MQTT_CONN_SYNOPSIS "[BROKER OPTIONS]"

/* The defaults: localhost, QoS 1, retained, keepalive 60, MQTT 3.1.1. */
void mqtt_settings_init(struct mqtt_settings *s);

/* Sets what the broker option code says from its text arg (NULL for an
 * option without a value).  arg must outlive s.  Returns 1 when code is no
 * broker option, 0 when set, -1 when arg is refused: then why (n bytes)
 * says why, beginning with the option's name ("--port: ..."). */
int mqtt_settings_option(struct mqtt_settings *s, int code, const char *arg, char *why, size_t n);

/* The rules between options (a certificate needs its key and a CA, a
 * password file needs a user name, TLS options mean TLS).  0, or -1 with
 * why. */
int mqtt_settings_check(struct mqtt_settings *s, char *why, size_t n);
/* The host and port when not given: localhost, 1883 or 8883 with TLS. */
void mqtt_settings_defaults(struct mqtt_settings *s);

/* The files named (password, CA, certificate, key) can be read.  0, or
 * -1 with why. */
int mqtt_settings_files_check(const struct mqtt_settings *s, char *why, size_t n);

/* The password, from the password file or else $MQTT_PASSWORD when there
 * is a user name; $MQTT_PASSWORD is then removed from the environment, so
 * nothing this program starts sees it.  Dies (exit 2) when the file
 * cannot be read. */
void mqtt_settings_password(struct mqtt_settings *s);

/* For a program's getopt loop: sets the broker option c, or dies with a
 * usage error (exit 2) when its value is refused or c is no option at
 * all (getopt's ':' and '?' included). */
void mqtt_settings_getopt(struct mqtt_settings *s, int c, const char *usage, char *const *argv);
/* After the loop: the check (a usage error), the files (exit 2), the
 * defaults and the password. */
void mqtt_settings_finish(struct mqtt_settings *s, const char *usage);

/* Every setting that is not the default, as options (never the
 * password): calls add(option, value or NULL, ctx) for each, in a fixed
 * order; the publisher's too (QoS, retain, in flight) when publisher.
 * What the program then parses is s again. */
typedef void mqtt_arg_fn(const char *opt, const char *value, void *ctx);
void mqtt_settings_render(const struct mqtt_settings *s, bool publisher, mqtt_arg_fn *add, void *ctx);

#endif
