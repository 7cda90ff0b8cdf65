/* svcdir.h: one runit or s6 service directory per device, written whole
 * and swapped in with rename(2), never half-written.
 *
 * A generated directory holds run, log/run, env/ (mode 0700, files 0600)
 * and .m2m-generated: the checksum of everything generated plus the key of
 * the last successful validation.  Only directories with that marker are
 * ever changed or removed; supervise/ belongs to the supervisor and is never
 * touched. */
#ifndef M2M_SVCDIR_H
#define M2M_SVCDIR_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SVC_MARKER ".m2m-generated"
/* The devices' shared log service: not a device id (those have no dot),
 * nor a name a scanner skips (those start with one). */
#define SVC_LOG "meter2mqtt.log"
/* The gateway's one publisher (config.yaml's publisher: shared), and the
 * directory in it of the devices' FIFOs, one named after each device. */
#define SVC_PUB "meter2mqtt.pub"
#define SVC_PUB_IN SVC_PUB "/in"
/* The gateway's one P1 reader (config.yaml's readers: shared): p1read
 * --meters over its file "meters", into its FIFO in SVC_PUB_IN. */
#define SVC_P1 "meter2mqtt.p1read"

enum supervisor { SUP_RUNIT, SUP_S6 };

struct svc_file {
	const char *path; /* relative to the service dir: run, log/run, env/X */
	char *content;
	mode_t mode;
};

#define SVC_MAX_FILES 8

struct svc {
	char *id;
	struct svc_file files[SVC_MAX_FILES];
	size_t n;
	uint64_t checksum;
	uint64_t validated; /* validation key, stored beside the checksum */
	char *log_dir;      /* the shared log's directory; NULL for a device */
};

/* A device's service runs its reader (run) piped into its publisher
 * (log/run); a gateway-wide one (a sink: reader_argv NULL) runs pub_argv
 * alone. */
struct svc_spec {
	const char *id, *type, *source;
	enum supervisor sup;
	char *const *reader_argv;  /* absolute program path first */
	char *const *pub_argv;     /* likewise */
	const char *influx_password, *influx_token; /* a sink's secrets */
	bool shared_log;           /* stderr into SVC_LOG's fifo; false: the supervisor's */
	bool fan_in;               /* a device: its reader writes into SVC_PUB_IN/<id>, no log/;
	                              a gateway service: pub_argv reads SVC_PUB_IN (its stdin) */
	const char *password;      /* NULL: none */
	const char *p1_key;        /* an encrypted meter's keys, NULL: none */
	const char *p1_auth_key;
	const char *log_level;     /* NULL: none */
	const char *meters;        /* the shared reader's meters file (SVC_P1), NULL: none */
};

/* Appends s to buf as one shell word in single quotes ('it'\''s'), so that
 * nothing in it (quotes, $(..), backticks, ;, newlines) is ever run. */
int sh_quote(char **buf, size_t *len, const char *s);
/* Appends argv to buf as one line of such words, space-separated. */
int sh_line(char **buf, size_t *len, char *const *argv);

/* Builds the files in memory.  Returns 0, or -1 when out of memory.
 * A device's run execs the reader, its log/run execs mqttpub: the
 * supervisor's service-to-logger pipe carries the readings and outlives
 * either side, and no shell stays behind.  Both write their messages to
 * the shared log service (svc_generate_log), tagged with the device id. */
int svc_generate(const struct svc_spec *spec, struct svc *out);
/* The shared log service SVC_LOG, writing into log_dir. */
int svc_generate_log(enum supervisor sup, const char *log_dir, struct svc *out);
void svc_free(struct svc *s);

/* What the scan directory holds for id. */
struct svc_state {
	bool exists;     /* SCANDIR/id exists */
	bool generated;  /* and carries our marker */
	uint64_t checksum, validated;
};
void svc_read_state(int scanfd, const char *id, struct svc_state *st);
/* A directory stream over the scan directory, from its start (the caller
 * closes it); NULL on failure. */
DIR *svc_scan_open(int scanfd);

/* A new device: builds SCANDIR/.m2m-new-<id>, renames it to SCANDIR/<id>.
 * Returns 0, or -1 with a message in err. */
int svc_install(int scanfd, const struct svc *s, char *err, size_t errlen);
/* A changed device: writes the new files beside the old ones inside the
 * service dir and renames each over its old self (env/ by an exchange),
 * the marker last; then asks the supervisor to restart the service (and
 * the logger when log/run changed). */
int svc_update(int scanfd, const struct svc *s, enum supervisor sup, char *err, size_t errlen);
/* Rewrites only the marker (same services, new validation key). */
int svc_write_marker(int scanfd, const struct svc *s, char *err, size_t errlen);
/* A removed device: moves it aside under a dot name (which no scanner
 * looks at), tells its supervisor to stop it and exit, and deletes it
 * once the supervisor is gone (waiting at most wait_ms; later calls of
 * svc_collect finish what is left). */
int svc_remove(int scanfd, const char *id, enum supervisor sup, int wait_ms, char *err, size_t errlen);
/* Deletes directories set aside by svc_remove whose supervisors have gone. */
void svc_collect(int scanfd);

/* Writes cmds into DIR/supervise/control when a supervisor listens there.
 * Returns 0 when written, -1 when nobody listens. */
int svc_control(int dirfd, const char *dir, const char *cmds);
/* Asks s6-svscan to rescan (and with prune, to drop vanished services);
 * does nothing when no s6-svscan runs on the scan directory. */
void s6_scan(int scanfd, bool prune);
/* Removes a directory tree below dirfd. */
int rm_tree(int dirfd, const char *name);

#endif
