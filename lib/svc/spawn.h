/* spawn.h: running short child programs (a reader's --check or
 * --list-options, mqttpub --check) a few at a time, each with a deadline,
 * their output (stdout and stderr together, the first 4 KiB) kept. */
#ifndef M2M_SPAWN_H
#define M2M_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct job {
	char **argv;
	char **envp;      /* NULL: this program's environment */
	pid_t pid;
	int out;          /* memfd: stdout and stderr */
	int64_t deadline;
	int timeout_ms;   /* 0: JOB_TIMEOUT_MS */
	int status;       /* exit code, or -1 when it did not exit normally */
	char *output;
};

/* Runs every job, 8 at a time, each killed after its timeout.  The caller
 * blocks SIGCHLD throughout (children are collected with sigtimedwait);
 * the children start with no signal blocked and /dev/null as stdin. */
void jobs_run(struct job *jobs, size_t n);

#endif
