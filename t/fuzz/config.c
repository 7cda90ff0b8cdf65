/* Fuzz harness for the config loaders: any bytes, as config.yaml and as a
 * device file, must load or be refused with positioned messages, never
 * crash; every option a device file yields must be one --name[=value]
 * word; and every value quoted for a run script must read back, by the
 * shell's single-quote rules, as exactly itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svc/config.h"
#include "svc/devconf.h"
#include "base/files.h"
#include "svc/svcdir.h"

/* Undoes sh_quote by POSIX rules: '...' literal, \' outside quotes. */
static char *sh_unquote(const char *q)
{
	char *out = malloc(strlen(q) + 1), *o = out;
	int in = 0;
	for (const char *p = q; *p; p++) {
		if (in) {
			if (*p == '\'')
				in = 0;
			else
				*o++ = *p;
		} else if (*p == '\'') {
			in = 1;
		} else if (*p == '\\' && p[1]) {
			*o++ = *++p;
		} else {
			abort(); /* an unquoted character: the shell would interpret it */
		}
	}
	if (in)
		abort();
	*o = '\0';
	return out;
}

static void check_quote(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	if (sh_quote(&buf, &len, s) < 0)
		return;
	char *back = sh_unquote(buf);
	if (strcmp(back, s))
		abort();
	free(back);
	free(buf);
}

static void check_diag(const struct cfg_diag *d, const char *file)
{
	for (size_t i = 0; i < d->n; i++)
		if (strncmp(d->msgs[i], file, strlen(file)) || d->msgs[i][strlen(file)] != ':')
			abort(); /* every message names the file first */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';

	struct cfg_diag d = { 0 };
	struct base_conf b;
	int r = config_load_base("config.yaml", buf, size, &b, &d);
	check_diag(&d, "config.yaml");
	if (r == 0 && d.n)
		abort(); /* success with errors */
	base_conf_free(&b);
	diag_free(&d);

	struct device_conf c;
	r = config_load_device("dev.yaml", "dev", buf, size, &c, &d);
	check_diag(&d, "dev.yaml");
	if (r == 0) {
		if (d.n || !c.type)
			abort();
		for (size_t i = 0; i < c.n_opts; i++) {
			const char *a = c.opts[i].arg;
			if (a && strncmp(a, "--", 2))
				abort();
			if (a)
				check_quote(a);
		}
	}
	device_conf_free(&c);
	diag_free(&d);
	check_quote(buf);
	free(buf);
	return 0;
}
