/* fanin.h: mqttpub's input when its standard input is a directory (the
 * fan-in of a gateway of many meters, mqttpub(1)): every FIFO in it
 * carries one reader's lines.
 *
 * Each FIFO is opened read-write, so that it never ends and its writer
 * (which opens it read-write too) neither blocks in open nor gets SIGPIPE
 * while mqttpub restarts: its lines wait in the FIFO.  Each is read when
 * it becomes readable and split into lines on its own, so that one
 * reader's lines are never mixed with another's.  inotify tells of a FIFO
 * added (a new device) or removed (mtrcfg removed the device): a removed
 * FIFO is read to its last whole line, then closed. */
#ifndef M2M_FANIN_H
#define M2M_FANIN_H

#include <stdbool.h>
#include <stddef.h>

#include "line/linein.h"

struct fan_src {
	char *name;               /* the FIFO's name (mtrcfg: the device id) */
	int fd;
	struct linein in;
	unsigned long bad_lines;  /* counted by the caller */
};

struct fanin {
	int dirfd;                /* the directory (mqttpub's stdin) */
	int epfd;                 /* what the caller polls: readable when a FIFO or the directory has news */
	int inofd;                /* inotify on the directory */
	size_t line_max;
	struct fan_src **v;
	size_t n;
	struct fan_src *current;  /* the source of the line being handed over */
	/* A source was removed and closed (name still valid during the call). */
	void (*on_gone)(void *arg, struct fan_src *src);
};

/* Opens every FIFO in the directory dirfd (taken over) and watches it for
 * more.  Returns 0, or -1 with the reason in why. */
int fanin_open(struct fanin *f, int dirfd, size_t line_max, char *why, size_t whylen);
/* Reads what is there without waiting: every whole line to fn (with
 * current set to its source), FIFOs added and removed.  Returns 0, or -1
 * with errno when the directory can no longer be watched. */
int fanin_read(struct fanin *f, line_fn *fn, void *arg);
/* The source named name, or NULL. */
struct fan_src *fanin_find(const struct fanin *f, const char *name);
void fanin_close(struct fanin *f);

#endif
