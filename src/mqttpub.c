/* mqttpub: reads reading lines on stdin and publishes them to MQTT.
 *
 * The options; the work is sink/publisher's (one poll loop over stdin and
 * the broker, the queue in memory or on disk, Home Assistant discovery,
 * health). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/text.h"
#include "line/reading.h"
#include "sink/mqttconn.h"
#include "sink/publisher.h"

static const char usage_text[] =
	"usage: mqttpub " MQTT_CONN_SYNOPSIS " [-t PREFIX] [-q 0|1|2] [--no-retain] [--max-inflight N]\n"
	"               [--json | --json-values] [--reading] [--health-interval SEC]\n"
	"               [--homeassistant] [--ha-prefix P] [--expire-after SEC] [--one-shot]\n"
	"               [--type TYPE --device ID]\n"
	"               [--queue-max N] [--queue-bytes N] [--drain-timeout SEC]\n"
	"               [--spool DIR [--spool-max N] [--spool-sync SEC]]\n"
	"               [--line-max N] [--check]\n"
	"\n"
	"Reads reading lines on stdin and publishes every value to\n"
	"PREFIX/TYPE/DEVICE/PARAMETER, with a retained PREFIX/TYPE/DEVICE/status\n"
	"(online, or offline as the will and on exit).\n"
	"\n"
	MQTT_CONN_USAGE
	"  -i, --client-id ID         client id (default m2m-DEVICE-HASH, unique per host\n"
	"                             and device)\n"
	"\n"
	"  -t, --prefix PREFIX        first topic levels (default meters)\n"
	"  -q, --qos 0|1|2            quality of service (default 1)\n"
	"      --no-retain            do not retain the values\n"
	"      --max-inflight N       QoS 1/2 messages unacknowledged at most (MQTT 3.1.1: 20;\n"
	"                             MQTT 5: what the broker says it takes)\n"
	"      --json                 the whole reading as one message on PREFIX/TYPE/DEVICE\n"
	"      --json-values          per parameter {\"value\":..,\"unit\":..,\"time\":..}\n"
	"      --reading              also the whole reading as one message on PREFIX/TYPE/DEVICE\n"
	"                             (for influxpub and mtrexport)\n"
	"      --health-interval SEC  health on PREFIX/TYPE/DEVICE/health this often (60; 0: never)\n"
	"      --homeassistant        Home Assistant MQTT discovery\n"
	"      --ha-prefix P          discovery prefix (default homeassistant)\n"
	"      --expire-after SEC     Home Assistant shows an entity unavailable after SEC\n"
	"                             seconds without a value (default 0: never)\n"
	"      --one-shot             at the end of input leave the status online (for a\n"
	"                             poll from cron; needs --expire-after)\n"
	"      --type TYPE, --device ID  the device, to connect before the first line\n"
	"      --queue-max N          messages held while the broker is away (100000)\n"
	"      --queue-bytes N        bytes held (default 16M; k, M, G allowed)\n"
	"      --spool DIR            keep the queue on disk in DIR: nothing queued is lost\n"
	"                             by a crash, a restart or a power cut\n"
	"      --spool-max N          bytes the spool holds at most (default 64M)\n"
	"      --spool-sync SEC       sync the spool at most this often (default 1; 0: always)\n"
	"      --drain-timeout SEC    at end of input, wait this long to deliver (10)\n"
	"      --line-max N           longest input line (default 1M)\n"
	"      --check                check the options, connect to nothing, exit 0 or 2\n"
	"      --help                 this text (also -h alone)\n"
	"      --version              the program's version\n";

enum {
	OPT_JSON = 256, OPT_JSON_VALUES, OPT_READING, OPT_HEALTH_INTERVAL, OPT_HA, OPT_HA_PREFIX, OPT_EXPIRE_AFTER,
	OPT_ONE_SHOT, OPT_QUEUE_MAX, OPT_QUEUE_BYTES, OPT_DRAIN_TIMEOUT, OPT_SPOOL, OPT_SPOOL_MAX, OPT_SPOOL_SYNC,
	OPT_LINE_MAX, OPT_CHECK, OPT_TYPE, OPT_DEVICE, OPT_HELP, OPT_VERSION,
};

static const struct option long_options[] = {
	MQTT_CONN_OPTIONS,
	MQTT_PUB_OPTIONS,
	{ "prefix", required_argument, NULL, 't' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "json-values", no_argument, NULL, OPT_JSON_VALUES },
	{ "reading", no_argument, NULL, OPT_READING },
	{ "health-interval", required_argument, NULL, OPT_HEALTH_INTERVAL },
	{ "homeassistant", no_argument, NULL, OPT_HA },
	{ "ha-prefix", required_argument, NULL, OPT_HA_PREFIX },
	{ "expire-after", required_argument, NULL, OPT_EXPIRE_AFTER },
	{ "one-shot", no_argument, NULL, OPT_ONE_SHOT },
	{ "queue-max", required_argument, NULL, OPT_QUEUE_MAX },
	{ "queue-bytes", required_argument, NULL, OPT_QUEUE_BYTES },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "spool-max", required_argument, NULL, OPT_SPOOL_MAX },
	{ "spool-sync", required_argument, NULL, OPT_SPOOL_SYNC },
	{ "line-max", required_argument, NULL, OPT_LINE_MAX },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* The most --queue-bytes may be: what memory can hold, 1 TiB at most. */
#define QUEUE_BYTES_MAX ((int64_t)(SIZE_MAX / 2 < (1ULL << 40) ? SIZE_MAX / 2 : (1ULL << 40)))

struct options {
	struct pub_settings pub;
	bool check;
};

/* 16M, 512k, 1G, or plain bytes: 64 bits, also on a 32-bit system. */
static int64_t size_arg(const char *name, const char *s, int64_t min, int64_t max)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	int64_t mult = 1;
	if (end != s && end[0] && !end[1])
		mult = *end == 'k' || *end == 'K' ? 1024 : *end == 'M' ? 1024 * 1024 : *end == 'G' ? 1024 * 1024 * 1024 : 0;
	else if (end == s || *end)
		mult = 0;
	if (mult == 0 || errno || v < 0 || v > max / mult || v * mult < min)
		usage_die(usage_text, "%s: not a size from %lld to %lld bytes (k, M, G allowed): %s", name, (long long)min,
		            (long long)max, s);
	return v * mult;
}

static void parse_options(struct options *o, int argc, char **argv)
{
	struct pub_settings *s = &o->pub;
	pub_settings_init(s);
	/* -h means the host, as in mosquitto_pub; alone it asks for help. */
	if (argc >= 2 && strcmp(argv[argc - 1], "-h") == 0) {
		fputs(usage_text, stdout);
		exit_listed();
	}
	bool json = false, json_values = false;
	int c;
	while ((c = getopt_long(argc, argv, ":" MQTT_CONN_SHORT MQTT_PUB_SHORT "t:", long_options, NULL)) != -1) {
		switch (c) {
		case 't':
			s->mm.prefix = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_JSON_VALUES:
			json_values = true;
			break;
		case OPT_READING:
			s->whole_reading = true;
			break;
		case OPT_HEALTH_INTERVAL:
			s->health_interval_s = arg_long("--health-interval", optarg, 0, 86400, NULL);
			break;
		case OPT_HA:
			s->homeassistant = true;
			break;
		case OPT_HA_PREFIX:
			s->mm.ha_prefix = optarg;
			break;
		case OPT_EXPIRE_AFTER:
			s->expire_after_s = arg_long("--expire-after", optarg, 0, 31 * 86400, NULL);
			break;
		case OPT_ONE_SHOT:
			s->one_shot = true;
			break;
		case OPT_QUEUE_MAX:
			s->queue_max = arg_long("--queue-max", optarg, 1, 100000000, NULL);
			break;
		case OPT_QUEUE_BYTES:
			s->queue_bytes = size_arg("--queue-bytes", optarg, 4096, QUEUE_BYTES_MAX);
			break;
		case OPT_SPOOL:
			if (!*optarg)
				usage_die(usage_text, "--spool: an empty directory name");
			s->spool = optarg;
			break;
		case OPT_SPOOL_MAX:
			s->spool_max = size_arg("--spool-max", optarg, 1024 * 1024, (int64_t)1 << 40);
			break;
		case OPT_SPOOL_SYNC:
			s->spool_sync_ms = (int)(arg_double("--spool-sync", optarg, 0, 3600, "seconds from 0 to 3600") * 1000);
			break;
		case OPT_DRAIN_TIMEOUT:
			s->drain_timeout_s = arg_long("--drain-timeout", optarg, 0, 86400, NULL);
			break;
		case OPT_LINE_MAX:
			s->line_max = size_arg("--line-max", optarg, 1024, 256L * 1024 * 1024);
			break;
		case OPT_CHECK:
			o->check = true;
			break;
		case OPT_TYPE:
			s->type = optarg;
			break;
		case OPT_DEVICE:
			s->device = optarg;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			exit_listed();
		case OPT_VERSION:
			print_version(argc);
		default:
			mqtt_settings_getopt(&s->mq, c, usage_text, argv);
		}
	}
	if (optind < argc)
		usage_die(usage_text, "unexpected argument %s (mqttpub reads stdin)", argv[optind]);

	const char *why;
	if (!mm_prefix_valid(s->mm.prefix, &why))
		usage_die(usage_text, "--prefix %s: %s", s->mm.prefix, why);
	if (!mm_prefix_valid(s->mm.ha_prefix, &why))
		usage_die(usage_text, "--ha-prefix %s: %s", s->mm.ha_prefix, why);
	if (json && json_values)
		usage_die(usage_text, "--json and --json-values exclude each other");
	s->mm.mode = json ? MM_JSON_READING : json_values ? MM_JSON_VALUES : MM_RAW;
	if (!s->type != !s->device)
		usage_die(usage_text, "--type and --device go together");
	if (s->one_shot && s->expire_after_s == 0)
		usage_die(usage_text, "--one-shot needs --expire-after: without it a meter that stops being polled stays "
		            "available forever");
	if (s->device && !device_id_valid(s->device))
		usage_die(usage_text, "--device %s: not [A-Za-z0-9_-]{1,64}", s->device);
	if (s->type && !topic_level_valid(s->type, strlen(s->type), &why))
		usage_die(usage_text, "--type %s: %s", s->type, why);
	mqtt_settings_finish(&s->mq, usage_text);
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	/* Static: the settings (some of their strings allocated) live as
	 * long as the process, which the publisher relies on. */
	static struct options opt;
	parse_options(&opt, argc, argv);
	if (opt.check)
		return EXIT_OK;
	if (opt.pub.mq.insecure)
		warnx("WARNING: --insecure-skip-verify: the broker's certificate is NOT checked; anyone on the path "
		      "can read and change what is published");
	mc_lib_init();
	reading_use_arena();
	struct publisher pub;
	pub_start(&pub, &opt.pub);
	int rc = pub_run(&pub);
	pub_free(&pub);
	arena_release();
	mc_lib_cleanup();
	return rc;
}
