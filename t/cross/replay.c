/* replay: runs a libFuzzer harness (t/fuzz/NAME.c) over files without
 * libFuzzer, so its seeds can be replayed where there is no clang fuzzer
 * runtime: a cross-compiled build run under qemu-user (make cross).  The
 * harness aborts when an invariant breaks; otherwise each file gives one
 * line "FILE: SIZE bytes: ok".
 *
 *   replay-NAME FILE... */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		warn_errno("%s", path);
		return -1;
	}
	size_t cap = 1 << 16, n = 0, got;
	uint8_t *buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			uint8_t *bigger = realloc(buf, cap *= 2);
			if (!bigger) {
				free(buf);
				buf = NULL;
			} else {
				buf = bigger;
			}
		}
	}
	int bad = ferror(f);
	fclose(f);
	if (!buf || bad) {
		warnx("%s: cannot read", path);
		free(buf);
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	printf("%s: %zu bytes: ok\n", path, n);
	return 0;
}

int main(int argc, char **argv)
{
	err_init(argv[0]);
	int status = EXIT_OK;
	for (int i = 1; i < argc; i++)
		if (replay_file(argv[i]) < 0)
			status = EXIT_RUNTIME;
	return status;
}
