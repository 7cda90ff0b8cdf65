/* arena.h: a bump allocator emptied all at once.
 *
 * For memory that lives exactly as long as one input line: arena_alloc
 * hands out blocks from 64 KiB chunks, arena_reset forgets them all (the
 * first chunk is kept for the next line).  Nothing is freed one by one.
 * One arena per process (mqttpub reads one line at a time).  Under ASan
 * (ARENA_ENABLED 0) callers should use malloc, so that the sanitizer still
 * sees every block. */
#ifndef M2M_ARENA_H
#define M2M_ARENA_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ENABLED 0
#endif
#endif
#ifndef ARENA_ENABLED
#define ARENA_ENABLED 1
#endif

/* A block of n bytes aligned for any type, or NULL when memory ran out. */
void *arena_alloc(size_t n);
/* Does nothing: blocks go all at once, in arena_reset. */
void arena_free(void *p);
/* Forgets every block. */
void arena_reset(void);
/* Gives everything back (at exit, for leak checkers). */
void arena_release(void);

#endif
