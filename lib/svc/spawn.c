/* spawn.c: see spawn.h. */
#include "svc/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

extern char **environ;

#define MAX_PARALLEL 8
#define JOB_TIMEOUT_MS 10000

static int job_start(struct job *j)
{
	j->out = memfd_create("mtrcfg-check", MFD_CLOEXEC);
	if (j->out < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, j->out, 1);
	posix_spawn_file_actions_adddup2(&fa, j->out, 2);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	int r = posix_spawn(&j->pid, j->argv[0], &fa, &at, j->argv, j->envp ? j->envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r) {
		close(j->out);
		j->out = -1;
		errno = r;
		return -1;
	}
	j->deadline = mono_ms() + (j->timeout_ms ? j->timeout_ms : JOB_TIMEOUT_MS);
	return 0;
}

static void job_finish(struct job *j, int wstatus)
{
	j->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
	off_t len = lseek(j->out, 0, SEEK_END);
	if (len > 4096)
		len = 4096;
	j->output = calloc(1, (size_t)(len > 0 ? len : 0) + 1);
	if (j->output && len > 0 && pread(j->out, j->output, (size_t)len, 0) < 0)
		j->output[0] = '\0';
	close(j->out);
	j->out = -1;
	j->pid = 0;
}

/* Runs every job, MAX_PARALLEL at a time, each killed after
 * JOB_TIMEOUT_MS.  SIGCHLD is blocked throughout (see main). */
void jobs_run(struct job *jobs, size_t n)
{
	size_t next = 0, running = 0;
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	while (next < n || running) {
		while (next < n && running < MAX_PARALLEL) {
			struct job *j = &jobs[next++];
			if (job_start(j) < 0) {
				j->status = 127;
				if (asprintf(&j->output, "cannot run %s: %s", j->argv[0], strerror(errno)) < 0)
					j->output = NULL;
				continue;
			}
			running++;
		}
		if (!running)
			break;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		sigtimedwait(&chld, NULL, &ts);
		int ws;
		pid_t pid;
		while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
			for (size_t i = 0; i < next; i++)
				if (jobs[i].pid == pid) {
					job_finish(&jobs[i], ws);
					running--;
					break;
				}
		}
		int64_t now = mono_ms();
		for (size_t i = 0; i < next; i++)
			if (jobs[i].pid > 0 && now > jobs[i].deadline)
				kill(jobs[i].pid, SIGKILL);
	}
}

