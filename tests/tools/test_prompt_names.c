/* SPDX-License-Identifier: MIT */
/* The prompt names agree everywhere they are written down:
 *  - the code: dr_prompt_name() over enum dr_prompt (app/core/session.c,
 *    session.h), which is what the loader (app/media/prompts.c) asks for;
 *  - app/prompts/en/phrases.txt (the English pack, and what
 *    tools/replace-prompt accepts);
 *  - DR_PROMPT_NAMES in app/prompts/CMakeLists.txt (what the build expects
 *    make-prompts to produce);
 *  - tests/data/prompts-short.txt (the short pack of the simulated-board
 *    tests);
 *  - docs/prompts.md (the table of phrases; the digits as digit_0..digit_9).
 * A phrase missing from one of them is a box that refuses to start, a pack
 * that does not build, or a phrase an organisation cannot replace. On a
 * mismatch the message says which name is missing from which place. */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/session.h"

#define MAX_NAMES 128
#define NAME_LEN 64

struct names {
	const char *place;
	char v[MAX_NAMES][NAME_LEN];
	int n;
	char problems[2048]; /* duplicates, bad names */
};

static char *slurp(const char *rel)
{
	const char *src = getenv("DR_SOURCE_DIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", src && *src ? src : ".", rel);
	FILE *f = fopen(path, "re");
	if (!f)
		fail_msg("cannot read %s: %s", path, strerror(errno));
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t k = fread(buf + len, 1, cap - len - 1, f);
		len += k;
		if (k == 0)
			break;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static bool has(const struct names *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], name))
			return true;
	return false;
}

static void add(struct names *s, const char *name, size_t len)
{
	char n[NAME_LEN];
	size_t l = strlen(s->problems);
	if (len == 0 || len >= sizeof(n)) {
		snprintf(s->problems + l, sizeof(s->problems) - l, " a name of %zu characters;", len);
		return;
	}
	memcpy(n, name, len);
	n[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (!(islower((unsigned char)n[i]) || isdigit((unsigned char)n[i]) || n[i] == '_')) {
			snprintf(s->problems + l, sizeof(s->problems) - l,
				 " '%s' is not a file name make-prompts takes ([a-z0-9_]);", n);
			return;
		}
	if (has(s, n)) {
		snprintf(s->problems + l, sizeof(s->problems) - l, " '%s' twice;", n);
		return;
	}
	assert_true(s->n < MAX_NAMES);
	strcpy(s->v[s->n++], n);
}

/* "<name> | <text>" lines; '#' starts a comment line. */
static void from_phrases(struct names *s, const char *rel)
{
	char *text = slurp(rel);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		while (isspace((unsigned char)*line))
			line++;
		char *bar = strchr(line, '|');
		if (*line == '#' || !bar)
			continue;
		char *end = bar;
		while (end > line && isspace((unsigned char)end[-1]))
			end--;
		add(s, line, (size_t)(end - line));
	}
	free(text);
}

/* set(DR_PROMPT_NAMES a b c ...) */
static void from_cmake(struct names *s, const char *rel)
{
	char *text = slurp(rel);
	const char *key = "set(DR_PROMPT_NAMES";
	char *p = strstr(text, key);
	if (!p)
		fail_msg("%s has no %s ...)", rel, key);
	p += strlen(key);
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == ')' || !*p)
			break;
		char *t = p;
		while (*p && !isspace((unsigned char)*p) && *p != ')')
			p++;
		add(s, t, (size_t)(p - t));
	}
	free(text);
}

static void from_code(struct names *s)
{
	for (int id = 0; id < DR_PROMPT_COUNT; id++) {
		const char *n = dr_prompt_name((enum dr_prompt)id);
		if (!n || !strcmp(n, "?")) {
			size_t l = strlen(s->problems);
			snprintf(s->problems + l, sizeof(s->problems) - l,
				 " enum dr_prompt value %d has no name in dr_prompt_name();", id);
			continue;
		}
		add(s, n, strlen(n));
	}
}

/* The docs name each phrase in backticks, the digits as a range. */
static void from_docs(struct names *s, const char *rel, const struct names *all, int nall)
{
	char *text = slurp(rel);
	for (int k = 0; k < nall; k++)
		for (int i = 0; i < all[k].n; i++) {
			const char *n = all[k].v[i];
			char quoted[NAME_LEN + 2];
			snprintf(quoted, sizeof(quoted), "`%s`", n);
			bool digit = !strncmp(n, "digit_", 6);
			if (!has(s, n) && (strstr(text, quoted) || (digit && strstr(text, "`digit_0`..`digit_9`"))))
				add(s, n, strlen(n));
		}
	free(text);
}

static void test_every_place_knows_the_same_prompts(void **state)
{
	(void)state;
	static struct names places[5];
	memset(places, 0, sizeof(places));
	places[0].place = "the code (enum dr_prompt in app/core/session.h, dr_prompt_name() in app/core/session.c)";
	from_code(&places[0]);
	places[1].place = "app/prompts/en/phrases.txt";
	from_phrases(&places[1], places[1].place);
	places[2].place = "DR_PROMPT_NAMES in app/prompts/CMakeLists.txt";
	from_cmake(&places[2], "app/prompts/CMakeLists.txt");
	places[3].place = "tests/data/prompts-short.txt";
	from_phrases(&places[3], places[3].place);
	places[4].place = "the table in docs/prompts.md";
	from_docs(&places[4], "docs/prompts.md", places, 4);

	char report[8192] = "";
	size_t l = 0;
	for (int k = 0; k < 5; k++)
		if (places[k].problems[0])
			l += (size_t)snprintf(report + l, sizeof(report) - l, "\n  %s:%s", places[k].place,
					      places[k].problems);
	/* Every name any place has, and where it is missing. */
	for (int k = 0; k < 4 && l < sizeof(report); k++)
		for (int i = 0; i < places[k].n && l < sizeof(report); i++) {
			const char *n = places[k].v[i];
			bool seen_before = false;
			for (int j = 0; j < k; j++)
				seen_before = seen_before || has(&places[j], n);
			if (seen_before)
				continue;
			for (int j = 0; j < 5 && l < sizeof(report); j++)
				if (!has(&places[j], n))
					l += (size_t)snprintf(report + l, sizeof(report) - l,
							      "\n  '%s' is missing from %s", n, places[j].place);
		}
	for (int k = 0; k < 5; k++)
		print_message("%2d names in %s\n", places[k].n, places[k].place);
	if (report[0])
		fail_msg("the prompt names do not agree:%s", report);
	assert_int_equal(places[0].n, DR_PROMPT_COUNT);
}

/* The warning comes [session] warning_s before the limit, and warning_s
 * can be set to anything below the limit: so the built-in words must not
 * promise an amount of time ("about one minute" with warning_s = 300 is
 * a lie to the resident). Checked in the English pack and the short test
 * pack. */
static void check_warning_names_no_time(const char *rel)
{
	static const char *const words[] = {"minute", "second", "hour", "one", "two", "three",
					    "four", "five", "ten", "half", NULL};
	char *text = slurp(rel);
	char *line = NULL;
	for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, "warning", 7) && (l[7] == ' ' || l[7] == '\t' || l[7] == '|'))
			line = l;
	if (!line)
		fail_msg("%s has no warning phrase", rel);
	char *end = strchr(line, '\n');
	if (end)
		*end = '\0';
	for (char *c = line; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	const char *said = strchr(line, '|');
	assert_non_null(said);
	for (const char *w = said; *w;) {
		size_t k = 0;
		while (isalpha((unsigned char)w[k]))
			k++;
		for (int i = 0; k && words[i]; i++) {
			size_t wl = strlen(words[i]);
			if ((k == wl || (k == wl + 1 && w[wl] == 's')) && !strncmp(w, words[i], wl))
				fail_msg("%s: the warning \"%s\" names a time (\"%s\"), but warning_s "
					 "is configurable", rel, said + 1, words[i]);
		}
		w += k ? k : 1;
	}
	for (const char *c = said; *c; c++)
		if (isdigit((unsigned char)*c))
			fail_msg("%s: the warning \"%s\" names a number", rel, said + 1);
	free(text);
}

static void test_warning_fits_any_warning_s(void **state)
{
	(void)state;
	check_warning_names_no_time("app/prompts/en/phrases.txt");
	check_warning_names_no_time("tests/data/prompts-short.txt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_place_knows_the_same_prompts),
		cmocka_unit_test(test_warning_fits_any_warning_s),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
