/* files.h: whole-file reads and whole writes, with the EINTR and short
 * write loops written once. */
#ifndef M2M_FILES_H
#define M2M_FILES_H

#include <stddef.h>

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer the
 * caller frees.  Returns 0, or -1 with errno set (EFBIG when larger). */
int read_file(const char *path, size_t max, char **buf, size_t *len);

/* Writes all n bytes of buf to fd: short writes continue, EINTR retries,
 * and on a non-blocking fd EAGAIN waits for room up to timeout_ms (-1: as
 * long as it takes).  Returns 0, or -1 with errno (ETIMEDOUT when the wait
 * ran out). */
int write_all(int fd, const void *buf, size_t n, int timeout_ms);

#endif
