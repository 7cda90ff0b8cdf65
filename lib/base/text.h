/* text.h: the byte-level rules every part of the toolkit shares, written
 * once: UTF-8, FNV-1a, hex digits, the id character set and the spelling
 * of option names.  Nothing here allocates or does I/O. */
#ifndef M2M_TEXT_H
#define M2M_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the well-formed UTF-8 sequence at s, which holds n > 0
 * bytes, or 0 when it is not one: no overlong forms, no surrogates,
 * nothing above U+10FFFF (RFC 3629).  cp, when not NULL, gets the code
 * point. */
size_t utf8_seq(const void *s, size_t n, uint32_t *cp);
/* Well-formed UTF-8 throughout. */
bool utf8_valid(const void *s, size_t n);

/* FNV-1a, for checksums and hash sets (not a security boundary).  Chain
 * calls: h = fnv1a64(fnv1a64(FNV1A64_INIT, a, na), b, nb). */
#define FNV1A64_INIT 0xcbf29ce484222325ULL
uint64_t fnv1a64(uint64_t h, const void *data, size_t n);
/* The 32-bit variant, for short printed ids. */
#define FNV1A32_INIT 2166136261u
uint32_t fnv1a32(uint32_t h, const void *data, size_t n);

/* The value of one hex digit (either case), or -1. */
int hex_digit_value(int c);

/* [A-Za-z0-9_-]: what a device id, a type name and a Home Assistant id are
 * made of (an id becomes an MQTT topic level and a directory name). */
bool is_id_char(int c);
/* A device id is [A-Za-z0-9_-]{1,64}. */
bool device_id_valid(const char *id);
/* Splits s in place into words as sh splits the lines mtrcfg writes
 * (svc/svcdir.h, sh_line): blanks between words, '...' quoting anything,
 * a backslash quoting the next character, # outside a word ending the
 * line.  Returns the count, or -1 (an unclosed quote, more than max). */
int words_split(char *s, char **words, int max);

/* Option names are spelt with '-' on command lines (--poll-interval) and
 * with '_' in YAML files (poll_interval).  Copies name into out (at most
 * n bytes with the NUL) with every '-' turned into '_' ('_' into '-' when
 * to_dash); returns false when it did not fit. */
bool opt_name_spell(char *out, size_t n, const char *name, bool to_dash);

#endif
