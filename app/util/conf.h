/* SPDX-License-Identifier: MIT */
/*
 * dr_conf: the INI-style key/value files diaryroom reads (board files and the
 * daemon config).
 *
 *   # comment            ; comment
 *   [section]
 *   key = value          (value runs to end of line, surrounding blanks trimmed;
 *                         "double quotes" keep blanks; no escapes)
 *
 * Keys before any [section] belong to section "". Keys and sections are
 * [A-Za-z0-9_.-]+. A repeated key in the same section is an error (it is
 * almost always a mistake in a hand-edited file). Lines are at most 1023 bytes;
 * the file at most 256 KiB. Every error message names "path:line: what".
 *
 * Ownership: a dr_conf owns copies of all its strings; strings returned by the
 * getters live until dr_conf_free(). dr_conf_free(NULL) is a no-op.
 * Errors are negative errno values; err/errlen (may be NULL/0) receive a
 * human-readable message.
 */
#ifndef DR_CONF_H
#define DR_CONF_H

#include <stdbool.h>
#include <stddef.h>

struct dr_conf;

/* An empty configuration (everything at defaults). */
int dr_conf_new(struct dr_conf **out);
/* Parse a file. -ENOENT if missing, -EINVAL for a syntax error, -EFBIG if too big. */
int dr_conf_load(const char *path, struct dr_conf **out, char *err, size_t errlen);
/* Parse a buffer (name is used in error messages). Same rules as dr_conf_load. */
int dr_conf_parse(const char *name, const char *text, size_t len, struct dr_conf **out,
		  char *err, size_t errlen);
void dr_conf_free(struct dr_conf *c);

/* Set (or override) "section.key" = value, e.g. from --set on the command
 * line. The section is everything before the LAST dot; a key with no dot goes
 * to section "". -EINVAL on a malformed name. */
int dr_conf_set(struct dr_conf *c, const char *dotted, const char *value);

/* NULL when absent. */
const char *dr_conf_get(const struct dr_conf *c, const char *section, const char *key);
const char *dr_conf_get_str(const struct dr_conf *c, const char *section, const char *key,
			    const char *def);
/* Integer in [min,max]; def when absent. -EINVAL (with message naming the key
 * and the allowed range) when present but not a whole number in range. */
int dr_conf_get_int(const struct dr_conf *c, const char *section, const char *key, long def,
		    long min, long max, long *out, char *err, size_t errlen);
/* yes/no/true/false/on/off/1/0; -EINVAL otherwise. */
int dr_conf_get_bool(const struct dr_conf *c, const char *section, const char *key, bool def,
		     bool *out, char *err, size_t errlen);

/* Every key present in `section` must be in `known` (NULL-terminated list).
 * -EINVAL naming the first unknown key (catches typos in hand-edited files). */
int dr_conf_check_keys(const struct dr_conf *c, const char *section, const char *const *known,
		       char *err, size_t errlen);
/* Every section present must be in `known` (NULL-terminated; "" is the
 * top-level section and is always allowed). */
int dr_conf_check_sections(const struct dr_conf *c, const char *const *known, char *err,
			   size_t errlen);

#endif
