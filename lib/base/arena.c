#include "base/arena.h"

#include <stddef.h>
#include <stdlib.h>

#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	max_align_t data[];
};

static struct arena_chunk *arena_head, *arena_cur;

void *arena_alloc(size_t n)
{
	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (!arena_cur || arena_cur->size - arena_cur->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		struct arena_chunk *c = malloc(sizeof *c + size);
		if (!c)
			return NULL;
		c->next = NULL;
		c->size = size;
		c->used = 0;
		if (arena_cur)
			arena_cur->next = c;
		else
			arena_head = c;
		arena_cur = c;
	}
	void *p = (char *)arena_cur->data + arena_cur->used;
	arena_cur->used += n;
	return p;
}

void arena_free(void *p) { (void)p; }

void arena_reset(void)
{
	if (!arena_head)
		return;
	for (struct arena_chunk *c = arena_head->next, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	arena_head->next = NULL;
	arena_head->used = 0;
	arena_cur = arena_head;
}

void arena_release(void)
{
	arena_reset();
	free(arena_head);
	arena_head = arena_cur = NULL;
}
