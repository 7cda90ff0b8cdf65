/* mtrexport: subscribes to the readings, health and status of every
 * device on the broker and serves them over HTTP: /metrics for
 * Prometheus, /api/devices as JSON, and / a status page.
 *
 * One poll loop over the broker's socket and libmicrohttpd's epoll fd,
 * no thread: a page is rendered from the device table (lib/sink/devtable.c)
 * by lib/sink/httpexp.c while no message is being taken. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/util.h"
#include "line/jsonw.h"
#include "sink/devtable.h"
#include "sink/httpexp.h"
#include "sink/mqttmsg.h"
#include "sink/mqttsub.h"

static const char usage_text[] =
	"usage: mtrexport " MQTT_CONN_SYNOPSIS " [-t PREFIX] [-l ADDRESS:PORT] [--stale SEC]\n"
	"                 [--refresh SEC] [--max-devices N] [--check]\n"
	"\n"
	"Subscribes to PREFIX/TYPE/DEVICE (readings, mqttpub --reading), .../health and\n"
	".../status, and serves /metrics (Prometheus), /api/devices (JSON) and / (a\n"
	"status page) over HTTP.\n"
	"\n"
	MQTT_CONN_USAGE
	"  -i, --client-id ID         client id (default: chosen by the library)\n"
	"\n"
	"  -t, --prefix PREFIX        the readings' first topic levels (default meters)\n"
	"  -l, --listen ADDR:PORT     where to serve HTTP (default 127.0.0.1:9643)\n"
	"      --stale SEC            a device without a reading this long is stale\n"
	"                             (default: twice its reading interval, plus 1 s)\n"
	"      --refresh SEC          how often the status page reloads (default 5)\n"
	"      --max-devices N        devices kept at most (default 10000)\n"
	"      --check                check the options, connect to nothing, exit 0 or 2\n"
	"      --help                 this text (also -h alone)\n"
	"      --version              the program's version\n";

enum {
	OPT_STALE = 256,
	OPT_REFRESH,
	OPT_MAX_DEVICES,
	OPT_CHECK,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_options[] = {
	MQTT_CONN_OPTIONS,
	{ "prefix", required_argument, NULL, 't' },
	{ "listen", required_argument, NULL, 'l' },
	{ "stale", required_argument, NULL, OPT_STALE },
	{ "refresh", required_argument, NULL, OPT_REFRESH },
	{ "max-devices", required_argument, NULL, OPT_MAX_DEVICES },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* The largest message taken; a reading of a big meter is a few kB. */
#define MAX_PAYLOAD (1024 * 1024)

static struct {
	struct mqtt_settings mq;
	struct mqttsub_settings mqtt;
	const char *prefix;
	struct sockaddr_in listen;
	const char *listen_text;
	long stale_s, refresh_s, max_devices;
	bool check;
} opt;

static struct {
	struct devtable table;
	struct buf page;
	struct jw json;
	volatile sig_atomic_t stop;
} g;


/* ADDRESS:PORT, an IPv4 address (loopback unless the user says so). */
static void listen_arg(const char *s)
{
	const char *colon = strrchr(s, ':');
	size_t len = colon ? (size_t)(colon - s) : strlen(s);
	char addr[64];
	if (!colon || len >= sizeof addr)
		usage_die(usage_text, "--listen: not ADDRESS:PORT: %s", s);
	snprintf(addr, sizeof addr, "%.*s", (int)len, s);
	opt.listen.sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &opt.listen.sin_addr) != 1)
		usage_die(usage_text, "--listen: not an IPv4 address: %s", addr);
	opt.listen.sin_port = htons((uint16_t)arg_long("--listen port", colon + 1, 0, 65535, NULL));
	opt.listen_text = s;
}

static void parse_options(int argc, char **argv)
{
	mqtt_settings_init(&opt.mq);
	opt.mqtt = (struct mqttsub_settings){ .mq = &opt.mq };
	opt.prefix = "meters";
	opt.refresh_s = 5;
	opt.max_devices = 10000;
	listen_arg("127.0.0.1:9643");
	if (argc >= 2 && strcmp(argv[argc - 1], "-h") == 0) {
		fputs(usage_text, stdout);
		exit(EXIT_OK);
	}
	int c;
	while ((c = getopt_long(argc, argv, ":" MQTT_CONN_SHORT "t:l:", long_options, NULL)) != -1) {
		switch (c) {
		case 't': opt.prefix = optarg; break;
		case 'l': listen_arg(optarg); break;
		case OPT_STALE: opt.stale_s = arg_long("--stale", optarg, 1, 86400 * 366, NULL); break;
		case OPT_REFRESH: opt.refresh_s = arg_long("--refresh", optarg, 1, 86400, NULL); break;
		case OPT_MAX_DEVICES: opt.max_devices = arg_long("--max-devices", optarg, 1, 10000000, NULL); break;
		case OPT_CHECK: opt.check = true; break;
		case OPT_HELP: fputs(usage_text, stdout); exit_listed();
		case OPT_VERSION: print_version(argc);
		default: mqtt_settings_getopt(&opt.mq, c, usage_text, argv);
		}
	}
	if (optind < argc)
		usage_die(usage_text, "unexpected argument: %s", argv[optind]);
	const char *why;
	if (!mm_prefix_valid(opt.prefix, &why))
		usage_die(usage_text, "--prefix: %s", why);
	mqtt_settings_finish(&opt.mq, usage_text);
}

/* ---- HTTP ---- */

static int64_t unix_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type, char *body,
                               size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	/* The page needs nothing but its own inline style. */
	MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
	(void)cls, (void)version, (void)upload, (void)upload_size, (void)state;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static char text[] = "only GET\n";
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", text, sizeof text - 1);
	}
	struct exp_clock clock = { mono_ms(), unix_ms() };
	buf_reset(&g.page);
	if (strcmp(url, "/metrics") == 0) {
		exp_metrics(&g.table, &clock, &g.page);
		if (!g.page.oom)
			return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", g.page.p, g.page.len);
	} else if (strcmp(url, "/api/devices") == 0) {
		exp_devices_json(&g.table, &clock, &g.json);
		if (!g.json.oom)
			return respond(conn, MHD_HTTP_OK, "application/json", g.json.buf, g.json.len);
	} else if (strcmp(url, "/") == 0) {
		exp_status_html(&g.table, &clock, (int)opt.refresh_s, &g.page);
		if (!g.page.oom)
			return respond(conn, MHD_HTTP_OK, "text/html; charset=utf-8", g.page.p, g.page.len);
	} else {
		static char text[] = "not found: try /, /metrics or /api/devices\n";
		return respond(conn, MHD_HTTP_NOT_FOUND, "text/plain", text, sizeof text - 1);
	}
	static char oom[] = "out of memory\n";
	return respond(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", oom, sizeof oom - 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	vlogmsg(LOG_WARN, fmt, ap);
}

static struct MHD_Daemon *http_start(void)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, NULL,
	                                        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&opt.listen,
	                                        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	                                        MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT,
	                                        10u, MHD_OPTION_END);
	if (!d)
		die_errno(EXIT_RUNTIME, "cannot listen on %s", opt.listen_text);
	return d;
}

/* ---- the loop ---- */

static void on_message(const char *topic, const char *payload, size_t len, void *arg)
{
	(void)arg;
	devtable_message(&g.table, opt.prefix, topic, payload, len, mono_ms(), unix_ms());
}

static void on_signal(int sig) { g.stop = sig; }

static void run(struct mqttsub *sub, struct MHD_Daemon *httpd)
{
	sigset_t block, orig;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info)
		die(EXIT_RUNTIME, "libmicrohttpd has no epoll descriptor");
	while (!g.stop) {
		int64_t now = mono_ms();
		mqttsub_tick(sub, now);
		struct pollfd p[2];
		mqttsub_pollfd(sub, &p[0], true);
		p[1] = (struct pollfd){ .fd = info->epoll_fd, .events = POLLIN };
		int64_t wake = mqttsub_wake(sub, now);
		MHD_UNSIGNED_LONG_LONG mhd_ms;
		if (MHD_get_timeout(httpd, &mhd_ms) == MHD_YES && now + (int64_t)mhd_ms < wake)
			wake = now + (int64_t)mhd_ms;
		struct timespec ts = { 0, 0 };
		if (wake > now)
			ts = (struct timespec){ (wake - now) / 1000, (wake - now) % 1000 * 1000000 };
		int n = ppoll(p, 2, &ts, &orig);
		if (n < 0 && errno != EINTR)
			die_errno(EXIT_RUNTIME, "poll");
		if (n > 0 && p[0].revents)
			mqttsub_io(sub, p[0].revents);
		MHD_run(httpd);
	}
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	parse_options(argc, argv);
	if (opt.check)
		return EXIT_OK;
	char topics_buf[3][1024];
	const char *topics[3];
	static const char *const patterns[] = { "%s/+/+", "%s/+/+/health", "%s/+/+/status" };
	for (int i = 0; i < 3; i++) {
		snprintf(topics_buf[i], sizeof topics_buf[i], patterns[i], opt.prefix);
		topics[i] = topics_buf[i];
	}
	opt.mqtt.topics = topics;
	opt.mqtt.ntopics = 3;
	devtable_init(&g.table, (size_t)opt.max_devices, MAX_PAYLOAD, opt.stale_s * 1000);
	buf_init(&g.page);
	jw_init(&g.json);
	struct MHD_Daemon *httpd = http_start();
	struct mqttsub *sub = mqttsub_new(&opt.mqtt, on_message, NULL);
	run(sub, httpd);
	MHD_stop_daemon(httpd);
	mqttsub_free(sub);
	devtable_free(&g.table);
	buf_free(&g.page);
	jw_free(&g.json);
	return EXIT_OK;
}
