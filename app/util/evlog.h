/* SPDX-License-Identifier: MIT */
/*
 * dr_evlog: the JSON-lines event log. One object per line:
 *
 *   {"t_us":1234567,"ev":"state","from":"idle","to":"welcome"}
 *
 * t_us is CLOCK_MONOTONIC in microseconds (the same clock tests read with
 * time.monotonic()). Every line is written with a single write(2) to a file
 * opened O_APPEND, so a reader tailing the file never sees half a line.
 * The log is for tests, tools and the staff-facing status; it never contains
 * what a resident said.
 *
 * Thread-safe (a mutex around the write). dr_evlog_free(NULL) is a no-op.
 */
#ifndef DR_EVLOG_H
#define DR_EVLOG_H

#include <stdint.h>

struct dr_evlog;

/* path "-" means stderr. NULL path gives a log that discards everything. */
int dr_evlog_open(const char *path, struct dr_evlog **out);
void dr_evlog_free(struct dr_evlog *l);

/*
 * Emit {"t_us":<now>,"ev":"<ev>"<fields>}. `fields` is a printf format for
 * extra members, each starting with a comma, e.g.
 *   dr_evlog_emit(l, "light", ",\"pattern\":\"%s\"", name);
 * Strings placed in fields must be JSON-safe; use dr_evlog_str() for any
 * string that is not a compile-time constant. Returns 0 or -errno.
 */
int dr_evlog_emit(struct dr_evlog *l, const char *ev, const char *fields, ...)
	__attribute__((format(printf, 3, 4)));
/* Same with an explicit timestamp (CLOCK_MONOTONIC, microseconds). */
int dr_evlog_emit_at(struct dr_evlog *l, uint64_t t_us, const char *ev, const char *fields, ...)
	__attribute__((format(printf, 4, 5)));

/* Escape s as the inside of a JSON string into buf (always NUL-terminated,
 * truncated if needed). Returns buf. */
const char *dr_evlog_str(const char *s, char *buf, unsigned long buflen);

/* CLOCK_MONOTONIC now, in microseconds / milliseconds. */
uint64_t dr_mono_us(void);
uint64_t dr_mono_ms(void);

#endif
