/* mtrcfg: config.yaml + config.d/<id>.yaml -> one supervised service per
 * meter (runit or s6), kept in step with the files.
 *
 * This file is the options, the scan directory, the watch loop and main;
 * one reconcile pass (load, find readers, check, write services) is
 * lib/svc/reconcile.c.  A device whose file is broken keeps its last good
 * service. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/util.h"
#include "svc/reconcile.h"

#define USAGE                                                                                                   \
	"usage: mtrcfg [-c config.yaml] [-d config.d] [--check | --list-types]\n"                                  \
	"       mtrcfg [-c config.yaml] [-d config.d] -o scandir [-s runit|s6] [-l logdir] [-w [--debounce ms]]\n"

/* ---- --watch ---- */

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static int watch(struct reconcile_env *e, int scanfd, long debounce_ms)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (sfd < 0 || ifd < 0)
		die_errno(EXIT_RUNTIME, "cannot watch");
	const uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB;
	int wd_dir = inotify_add_watch(ifd, e->config_dir, mask);
	if (wd_dir < 0)
		die_errno(EXIT_RUNTIME, "cannot watch %s", e->config_dir);
	/* config.yaml is watched through its directory: editors replace it. */
	char *cdir = strdup(e->config_path), *slash = strrchr(cdir, '/');
	if (slash)
		*slash = '\0';
	int wd_base = inotify_add_watch(ifd, slash ? (cdir[0] ? cdir : "/") : ".", mask);
	if (wd_base < 0)
		warn_errno("cannot watch the directory of %s", e->config_path);
	free(cdir);
	const char *dir_label = base_name(e->config_dir), *cfg_name = base_name(e->config_path);
	logmsg(LOG_INFO, "Watching %s and %s", e->config_dir, e->config_path);
	reconcile(e, scanfd, false);
	int64_t due = -1;
	char last_name[NAME_MAX + 1] = "";
	const char *last_what = "";
	for (;;) {
		int timeout = -1;
		if (due >= 0) {
			int64_t left = due - mono_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		struct pollfd fds[2] = { { sfd, POLLIN, 0 }, { ifd, POLLIN, 0 } };
		int r = poll(fds, 2, timeout);
		if (r < 0 && errno != EINTR)
			die_errno(EXIT_RUNTIME, "poll");
		if (r > 0 && (fds[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si) {
				if (si.ssi_signo == SIGHUP) {
					due = mono_ms();
				} else {
					logmsg(LOG_INFO, "Stopping the watch (signal %u); services keep running", si.ssi_signo);
					close(ifd);
					close(sfd);
					return EXIT_OK;
				}
			}
		}
		if (r > 0 && (fds[1].revents & POLLIN)) {
			char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
			ssize_t n;
			while ((n = read(ifd, buf, sizeof buf)) > 0) {
				for (char *q = buf; q < buf + n;) {
					const struct inotify_event *ev = (const struct inotify_event *)q;
					q += sizeof *ev + ev->len;
					if (!ev->len)
						continue;
					bool device = ev->wd == wd_dir && device_file_name(ev->name);
					bool base = ev->wd == wd_base && !strcmp(ev->name, cfg_name);
					if (!device && !base)
						continue;
					const char *what = ev->mask & (IN_CREATE | IN_MOVED_TO)   ? "created"
					                   : ev->mask & (IN_DELETE | IN_MOVED_FROM) ? "deleted"
					                                                            : "changed";
					/* One line per file and burst: a new file is "created",
					 * not also "changed" by the write that fills it. */
					bool again = !strcmp(last_name, ev->name) &&
					             (last_what == what || (!strcmp(last_what, "created") && !strcmp(what, "changed")));
					if (!again && device)
						logmsg(LOG_INFO, "Config file %s: %s/%s", what, dir_label, ev->name);
					else if (!again)
						logmsg(LOG_INFO, "Config file %s: %s", what, ev->name);
					snprintf(last_name, sizeof last_name, "%s", ev->name);
					if (!again)
						last_what = what;
					due = mono_ms() + debounce_ms; /* a burst: wait for quiet */
				}
			}
		}
		if (due >= 0 && mono_ms() >= due) {
			due = -1;
			last_name[0] = '\0';
			reconcile(e, scanfd, false);
		}
	}
}

/* ---- main ---- */

/* Opens and locks the scan directory; without -s, one that s6-svscan
 * runs on means s6. */
static int open_scan_dir(struct reconcile_env *e, bool sup_given)
{
	const char *scan_dir = e->scan_dir;
	int fd = open(scan_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die_errno(EXIT_RUNTIME, "%s", scan_dir);
	/* One mtrcfg per scan directory at a time. */
	int lk = openat(fd, ".m2m-lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lk < 0 || flock(lk, LOCK_EX) < 0)
		die_errno(EXIT_RUNTIME, "%s/.m2m-lock", scan_dir);
	if (!sup_given) {
		struct stat st;
		if (fstatat(fd, ".s6-svscan", &st, 0) == 0)
			e->sup = SUP_S6;
	}
	return fd;
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	enum { OPT_CHECK = 256, OPT_LIST_TYPES, OPT_DEBOUNCE, OPT_VERSION };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },   { "config-dir", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },   { "supervisor", required_argument, NULL, 's' },
		{ "log-dir", required_argument, NULL, 'l' },  { "watch", no_argument, NULL, 'w' },
		{ "debounce", required_argument, NULL, OPT_DEBOUNCE },
		{ "check", no_argument, NULL, OPT_CHECK },    { "list-types", no_argument, NULL, OPT_LIST_TYPES },
		{ "help", no_argument, NULL, 'h' },           { "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *config_dir = NULL, *scan_dir = NULL, *log_dir_opt = NULL;
	enum supervisor sup = SUP_RUNIT;
	bool sup_given = false, check = false, list = false, watching = false;
	long debounce_ms = 1000;
	static char self_dir[PATH_MAX];
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:d:o:s:l:wh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'd': config_dir = optarg; break;
		case 'o': scan_dir = optarg; break;
		case 'l': log_dir_opt = optarg; break;
		case 'w': watching = true; break;
		case 's':
			if (!strcmp(optarg, "runit"))
				sup = SUP_RUNIT;
			else if (!strcmp(optarg, "s6"))
				sup = SUP_S6;
			else
				usage_die(USAGE, "-s: unknown supervisor '%s' (runit or s6)", optarg);
			sup_given = true;
			break;
		case OPT_DEBOUNCE:
			debounce_ms = arg_long("--debounce", optarg, 0, 600000, "milliseconds, 0 to 600000");
			break;
		case OPT_CHECK: check = true; break;
		case OPT_LIST_TYPES: list = true; break;
		case OPT_VERSION: print_version(argc);
		case 'h': fputs(USAGE, stdout); exit_listed();
		default: usage_bad_option(USAGE, c, argv);
		}
	}
	if (optind < argc)
		usage_die(USAGE, "unexpected argument '%s'", argv[optind]);
	if ((check || list) + (scan_dir != NULL) > 1 || (check && list) || (watching && !scan_dir))
		usage_die(USAGE, "choose one of --check, --list-types, -o scandir (with -w to keep watching)");
	if (!check && !list && !scan_dir)
		usage_die(USAGE, "nothing to do: give -o scandir, --check or --list-types");
	if (!config_path)
		config_path = getenv("METER2MQTT_CONFIG");
	if (!config_path || !*config_path)
		config_path = M2M_SYSCONFDIR "/meter2mqtt/config.yaml";
	char *default_dir = NULL;
	if (!config_dir)
		config_dir = getenv("METER2MQTT_CONFIG_DIR");
	if (!config_dir || !*config_dir) {
		/* config.d beside config.yaml */
		const char *slash = strrchr(config_path, '/');
		if (asprintf(&default_dir, "%.*sconfig.d", slash ? (int)(slash - config_path + 1) : 0, config_path) < 0)
			die(EXIT_RUNTIME, "out of memory");
		config_dir = default_dir;
	}
	ssize_t sl = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
	if (sl > 0) {
		self_dir[sl] = '\0';
		char *s = strrchr(self_dir, '/');
		if (s)
			*s = '\0';
	} else {
		self_dir[0] = '\0';
	}
	/* reader --check children are collected with sigtimedwait. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct reconcile_env env = { .config_path = config_path,
		                     .config_dir = config_dir,
		                     .scan_dir = scan_dir,
		                     .log_dir = log_dir_opt,
		                     .self_dir = self_dir,
		                     .sup = sup };
	int rc;
	if (list)
		rc = list_types(&env);
	else if (check)
		rc = reconcile(&env, -1, true);
	else if (watching)
		rc = watch(&env, open_scan_dir(&env, sup_given), debounce_ms);
	else
		rc = reconcile(&env, open_scan_dir(&env, sup_given), false);
	reconcile_env_free(&env);
	free(default_dir);
	if (fflush(stdout) == EOF || ferror(stdout))
		die_errno(EXIT_RUNTIME, "stdout");
	return rc;
}
