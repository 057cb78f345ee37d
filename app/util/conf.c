/* SPDX-License-Identifier: MIT */
/*
 * dr_conf: a small INI parser (see conf.h for the format).
 *
 * Entries are kept in file order (so errors and check_keys() report the first
 * offender as the user sees it) and indexed by an open-addressing hash table
 * on (section, key), so a large file with many keys stays linear to parse.
 */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DR_CONF_MAX_LINE 1023
#define DR_CONF_MAX_FILE (256 * 1024)

struct dr_conf_entry {
	char *section;
	char *key;
	char *value;
	unsigned line; /* 0: set with dr_conf_set() */
};

struct dr_conf_section {
	char *name;
	unsigned line;
};

struct dr_conf {
	char *name; /* file name for messages; NULL for dr_conf_new() */
	struct dr_conf_entry *ents;
	size_t n, cap;
	size_t *index; /* slots hold entry index + 1; 0 = empty */
	size_t index_cap; /* power of two, always > 2 * n */
	struct dr_conf_section *secs;
	size_t nsecs, secs_cap;
};

static void dr_conf_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void dr_conf_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool dr_conf_name_ok(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '.' || ch == '-'))
			return false;
	}
	return true;
}

static uint64_t dr_conf_hash(const char *section, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (const char *p = section; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull; /* separator no name can contain */
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	return h;
}

static size_t *dr_conf_slot(const struct dr_conf *c, const char *section, const char *key)
{
	size_t mask = c->index_cap - 1;
	for (size_t i = dr_conf_hash(section, key) & mask;; i = (i + 1) & mask) {
		size_t *slot = &c->index[i];
		if (*slot == 0)
			return slot;
		const struct dr_conf_entry *e = &c->ents[*slot - 1];
		if (strcmp(e->section, section) == 0 && strcmp(e->key, key) == 0)
			return slot;
	}
}

static struct dr_conf_entry *dr_conf_find(const struct dr_conf *c, const char *section,
					  const char *key)
{
	if (!c || !c->index)
		return NULL;
	size_t *slot = dr_conf_slot(c, section ? section : "", key);
	return *slot ? &c->ents[*slot - 1] : NULL;
}

static int dr_conf_reindex(struct dr_conf *c)
{
	size_t cap = c->index_cap ? c->index_cap : 16;
	while (cap <= 2 * (c->n + 1))
		cap *= 2;
	if (cap == c->index_cap)
		return 0;
	size_t *idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	free(c->index);
	c->index = idx;
	c->index_cap = cap;
	for (size_t i = 0; i < c->n; i++)
		*dr_conf_slot(c, c->ents[i].section, c->ents[i].key) = i + 1;
	return 0;
}

static char *dr_conf_strndup(const char *s, size_t len)
{
	char *d = malloc(len + 1);
	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

/* Records that a section exists (for check_sections); returns its stored name. */
static int dr_conf_add_section(struct dr_conf *c, const char *name, size_t len, unsigned line,
			       const char **stored)
{
	for (size_t i = 0; i < c->nsecs; i++) {
		if (strlen(c->secs[i].name) == len && memcmp(c->secs[i].name, name, len) == 0) {
			*stored = c->secs[i].name;
			return 0;
		}
	}
	if (c->nsecs == c->secs_cap) {
		size_t cap = c->secs_cap ? c->secs_cap * 2 : 8;
		struct dr_conf_section *ns = realloc(c->secs, cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		c->secs = ns;
		c->secs_cap = cap;
	}
	char *copy = dr_conf_strndup(name, len);
	if (!copy)
		return -ENOMEM;
	c->secs[c->nsecs++] = (struct dr_conf_section){.name = copy, .line = line};
	*stored = copy;
	return 0;
}

/* Adds a new entry (the caller has checked it is not present). Takes a copy of
 * key and value; section must be a stored section name (shared, not copied). */
static int dr_conf_add(struct dr_conf *c, const char *section, const char *key, size_t keylen,
		       const char *value, size_t vallen, unsigned line)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct dr_conf_entry *ne = realloc(c->ents, cap * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		c->ents = ne;
		c->cap = cap;
	}
	int r = dr_conf_reindex(c);
	if (r < 0)
		return r;
	char *k = dr_conf_strndup(key, keylen);
	char *v = dr_conf_strndup(value, vallen);
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	c->ents[c->n] = (struct dr_conf_entry){.section = (char *)section, .key = k, .value = v,
					       .line = line};
	*dr_conf_slot(c, section, k) = c->n + 1;
	c->n++;
	return 0;
}

int dr_conf_new(struct dr_conf **out)
{
	struct dr_conf *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	const char *top;
	int r = dr_conf_add_section(c, "", 0, 0, &top);
	if (r < 0) {
		free(c);
		return r;
	}
	*out = c;
	return 0;
}

void dr_conf_free(struct dr_conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->ents[i].key);
		free(c->ents[i].value);
	}
	for (size_t i = 0; i < c->nsecs; i++)
		free(c->secs[i].name);
	free(c->ents);
	free(c->secs);
	free(c->index);
	free(c->name);
	free(c);
}

static bool dr_conf_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static void dr_conf_trim(const char **s, size_t *len)
{
	while (*len && dr_conf_blank(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && dr_conf_blank((*s)[*len - 1]))
		(*len)--;
}

/* One line (without its newline; a trailing CR already removed). */
static int dr_conf_parse_line(struct dr_conf *c, const char *name, unsigned lineno,
			      const char *s, size_t len, const char **section, char *err,
			      size_t errlen)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			dr_conf_err(err, errlen, "%s:%u: control character (byte 0x%02x) in line", name,
				    lineno, ch);
			return -EINVAL;
		}
	}
	dr_conf_trim(&s, &len);
	if (len == 0 || s[0] == '#' || s[0] == ';')
		return 0;

	if (s[0] == '[') {
		if (s[len - 1] != ']') {
			dr_conf_err(err, errlen, "%s:%u: section header must end with ']'", name,
				    lineno);
			return -EINVAL;
		}
		const char *sec = s + 1;
		size_t seclen = len - 2;
		dr_conf_trim(&sec, &seclen);
		if (!dr_conf_name_ok(sec, seclen)) {
			dr_conf_err(err, errlen,
				    "%s:%u: bad section name '%.*s' (use letters, digits, '_', '.', '-')",
				    name, lineno, (int)seclen, sec);
			return -EINVAL;
		}
		return dr_conf_add_section(c, sec, seclen, lineno, section);
	}

	const char *eq = memchr(s, '=', len);
	if (!eq) {
		dr_conf_err(err, errlen, "%s:%u: expected 'key = value' or '[section]'", name,
			    lineno);
		return -EINVAL;
	}
	const char *key = s;
	size_t keylen = (size_t)(eq - s);
	dr_conf_trim(&key, &keylen);
	if (!dr_conf_name_ok(key, keylen)) {
		dr_conf_err(err, errlen, "%s:%u: bad key '%.*s' (use letters, digits, '_', '.', '-')",
			    name, lineno, (int)keylen, key);
		return -EINVAL;
	}
	const char *val = eq + 1;
	size_t vallen = len - (size_t)(val - s);
	dr_conf_trim(&val, &vallen);
	if (vallen && val[0] == '"') {
		if (vallen < 2 || val[vallen - 1] != '"') {
			dr_conf_err(err, errlen, "%s:%u: unterminated quoted value for '%.*s'", name,
				    lineno, (int)keylen, key);
			return -EINVAL;
		}
		val++;
		vallen -= 2;
	}

	char keybuf[DR_CONF_MAX_LINE + 1];
	memcpy(keybuf, key, keylen);
	keybuf[keylen] = '\0';
	const struct dr_conf_entry *prev = dr_conf_find(c, *section, keybuf);
	if (prev) {
		dr_conf_err(err, errlen, "%s:%u: duplicate key '%s' in %s%s%s (first set on line %u)",
			    name, lineno, keybuf, **section ? "[" : "the top level", *section,
			    **section ? "]" : "", prev->line);
		return -EINVAL;
	}
	return dr_conf_add(c, *section, key, keylen, val, vallen, lineno);
}

int dr_conf_parse(const char *name, const char *text, size_t len, struct dr_conf **out,
		  char *err, size_t errlen)
{
	if (!name)
		name = "(config)";
	if (len > DR_CONF_MAX_FILE) {
		dr_conf_err(err, errlen, "%s: file is %zu bytes, more than the limit of %d", name, len,
			    DR_CONF_MAX_FILE);
		return -EFBIG;
	}
	if (!text && len) {
		dr_conf_err(err, errlen, "%s: no text", name);
		return -EINVAL;
	}
	struct dr_conf *c;
	int r = dr_conf_new(&c);
	if (r < 0) {
		dr_conf_err(err, errlen, "%s: out of memory", name);
		return r;
	}
	c->name = strdup(name);
	if (!c->name) {
		r = -ENOMEM;
		dr_conf_err(err, errlen, "%s: out of memory", name);
		goto err_free_conf;
	}

	const char *section = c->secs[0].name; /* "" */
	unsigned lineno = 0;
	size_t pos = 0;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3; /* a UTF-8 byte order mark, as some Windows editors write */
	while (pos < len) {
		lineno++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t linelen = nl ? (size_t)(nl - (text + pos)) : len - pos;
		const char *line = text + pos;
		pos += linelen + (nl ? 1 : 0);
		if (linelen && line[linelen - 1] == '\r')
			linelen--;
		if (linelen > DR_CONF_MAX_LINE) {
			dr_conf_err(err, errlen, "%s:%u: line is longer than %d bytes", name, lineno,
				    DR_CONF_MAX_LINE);
			r = -EINVAL;
			goto err_free_conf;
		}
		r = dr_conf_parse_line(c, name, lineno, line, linelen, &section, err, errlen);
		if (r == -ENOMEM)
			dr_conf_err(err, errlen, "%s:%u: out of memory", name, lineno);
		if (r < 0)
			goto err_free_conf;
	}
	*out = c;
	return 0;

err_free_conf:
	dr_conf_free(c);
	return r;
}

int dr_conf_load(const char *path, struct dr_conf **out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		dr_conf_err(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		dr_conf_err(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		dr_conf_err(err, errlen, "%s: is a directory, not a config file", path);
		return -EISDIR;
	}
	/* Read at most one byte more than the limit: that is enough to know the
	 * file is too big, also for pipes and files that grow while we read. */
	char *buf = malloc(DR_CONF_MAX_FILE + 1);
	if (!buf) {
		close(fd);
		dr_conf_err(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	size_t len = 0;
	while (len < DR_CONF_MAX_FILE + 1) {
		ssize_t n = read(fd, buf + len, DR_CONF_MAX_FILE + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			close(fd);
			dr_conf_err(err, errlen, "%s: read error: %s", path, strerror(e));
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	int r = dr_conf_parse(path, buf, len, out, err, errlen);
	free(buf);
	return r;
}

int dr_conf_set(struct dr_conf *c, const char *dotted, const char *value)
{
	if (!c || !dotted || !value)
		return -EINVAL;
	const char *dot = strrchr(dotted, '.');
	const char *sec = "", *key = dotted;
	size_t seclen = 0;
	if (dot) {
		sec = dotted;
		seclen = (size_t)(dot - dotted);
		key = dot + 1;
		if (!dr_conf_name_ok(sec, seclen))
			return -EINVAL;
	}
	size_t keylen = strlen(key);
	if (!dr_conf_name_ok(key, keylen))
		return -EINVAL;
	const char *stored;
	int r = dr_conf_add_section(c, sec, seclen, 0, &stored);
	if (r < 0)
		return r;
	struct dr_conf_entry *e = dr_conf_find(c, stored, key);
	if (e) {
		char *v = strdup(value);
		if (!v)
			return -ENOMEM;
		free(e->value);
		e->value = v;
		e->line = 0;
		return 0;
	}
	return dr_conf_add(c, stored, key, keylen, value, strlen(value), 0);
}

const char *dr_conf_get(const struct dr_conf *c, const char *section, const char *key)
{
	if (!key)
		return NULL;
	const struct dr_conf_entry *e = dr_conf_find(c, section, key);
	return e ? e->value : NULL;
}

const char *dr_conf_get_str(const struct dr_conf *c, const char *section, const char *key,
			    const char *def)
{
	const char *v = dr_conf_get(c, section, key);
	return v ? v : def;
}

/* "file:12: [audio] rate" or "--set: [audio] rate" for messages. */
static void dr_conf_where(const struct dr_conf *c, const struct dr_conf_entry *e, char *buf,
			  size_t buflen)
{
	const char *sec = e->section;
	if (e->line)
		snprintf(buf, buflen, "%s:%u: %s%s%s%s", c->name ? c->name : "(config)", e->line,
			 *sec ? "[" : "", sec, *sec ? "] " : "", e->key);
	else
		snprintf(buf, buflen, "--set %s%s%s", sec, *sec ? "." : "", e->key);
}

int dr_conf_get_int(const struct dr_conf *c, const char *section, const char *key, long def,
		    long min, long max, long *out, char *err, size_t errlen)
{
	const struct dr_conf_entry *e = key ? dr_conf_find(c, section, key) : NULL;
	if (!e) {
		*out = def;
		return 0;
	}
	const char *v = e->value;
	char *end = NULL;
	errno = 0;
	long n = strtol(v, &end, 10);
	bool ok = *v && (*v == '-' || *v == '+' || (*v >= '0' && *v <= '9')) && end && *end == '\0' &&
		  errno == 0;
	if (!ok || n < min || n > max) {
		char where[600];
		dr_conf_where(c, e, where, sizeof(where));
		dr_conf_err(err, errlen, "%s = '%s': must be a whole number from %ld to %ld", where, v,
			    min, max);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

int dr_conf_get_bool(const struct dr_conf *c, const char *section, const char *key, bool def,
		     bool *out, char *err, size_t errlen)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	const struct dr_conf_entry *e = key ? dr_conf_find(c, section, key) : NULL;
	if (!e) {
		*out = def;
		return 0;
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(e->value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(e->value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	char where[600];
	dr_conf_where(c, e, where, sizeof(where));
	dr_conf_err(err, errlen, "%s = '%s': must be yes or no (also true/false, on/off, 1/0)",
		    where, e->value);
	return -EINVAL;
}

static bool dr_conf_in_list(const char *s, const char *const *list)
{
	for (; list && *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

int dr_conf_check_keys(const struct dr_conf *c, const char *section, const char *const *known,
		       char *err, size_t errlen)
{
	if (!c)
		return 0;
	if (!section)
		section = "";
	for (size_t i = 0; i < c->n; i++) {
		const struct dr_conf_entry *e = &c->ents[i];
		if (strcmp(e->section, section) != 0 || dr_conf_in_list(e->key, known))
			continue;
		char where[600];
		dr_conf_where(c, e, where, sizeof(where));
		dr_conf_err(err, errlen, "%s: unknown key (a typo?)", where);
		return -EINVAL;
	}
	return 0;
}

int dr_conf_check_sections(const struct dr_conf *c, const char *const *known, char *err,
			   size_t errlen)
{
	if (!c)
		return 0;
	for (size_t i = 0; i < c->nsecs; i++) {
		const struct dr_conf_section *s = &c->secs[i];
		if (s->name[0] == '\0' || dr_conf_in_list(s->name, known))
			continue;
		if (s->line)
			dr_conf_err(err, errlen, "%s:%u: unknown section [%s] (a typo?)",
				    c->name ? c->name : "(config)", s->line, s->name);
		else
			dr_conf_err(err, errlen, "--set: unknown section [%s] (a typo?)", s->name);
		return -EINVAL;
	}
	return 0;
}
