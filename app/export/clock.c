/* SPDX-License-Identifier: MIT */
/*
 * The clock rule: how far the box believes a signed time (export.h, "The
 * clock rule"; docs/stick-format.md, "The clock"). Pure functions: no I/O,
 * no clock; the record of time comes from the catalogue (dr_store_clock_get).
 */
#include <string.h>

#include "export/export.h"

static int64_t since_s(uint64_t run_ms, uint64_t then_ms)
{
	return run_ms > then_ms ? (int64_t)((run_ms - then_ms) / 1000u) : 0;
}

int64_t dr_export_clock_justified(const struct dr_store_clock *c, bool lower)
{
	if (lower && c->prev)
		return c->prev_utc + since_s(c->run_ms, c->prev_run_ms);
	if (c->trusted)
		return c->trusted_utc + since_s(c->run_ms, c->trusted_run_ms);
	return DR_EXPORT_CLOCK_FLOOR + since_s(c->run_ms, 0);
}

static bool same_anchors(const struct dr_store_clock *a, const struct dr_store_clock *b)
{
	return a->trusted == b->trusted && a->trusted_utc == b->trusted_utc &&
	       a->trusted_run_ms == b->trusted_run_ms && a->prev == b->prev &&
	       (!a->prev || (a->prev_utc == b->prev_utc && a->prev_run_ms == b->prev_run_ms));
}

void dr_export_clock_judge(const struct dr_store_clock *c, int64_t s, const uint64_t *export_run_ms,
			   struct dr_clock_judgement *j)
{
	memset(j, 0, sizeof(*j));
	int64_t allowance = c->trusted ? DR_EXPORT_CLOCK_ALLOWANCE_S : DR_EXPORT_CLOCK_FIRST_ALLOWANCE_S;
	j->justified = dr_export_clock_justified(c, false);
	j->lower = dr_export_clock_justified(c, true);
	j->bound = j->justified + allowance;
	j->after = *c;
	struct dr_store_clock *a = &j->after;
	/* a receipt was signed after the export it answers: the time the box
	 * believed then is a bound the signer's clock must pass */
	bool receipt = export_run_ms != NULL;
	int64_t at_export = receipt ? j->justified - since_s(c->run_ms, *export_run_ms) : 0;
	if (s > j->bound) {
		j->verdict = DR_CLOCK_AHEAD;
	} else if (s > j->justified + DR_EXPORT_CLOCK_SLACK_S) {
		/* forward: keep the anchor from before the first unconfirmed
		 * move, the time the box can justify without it */
		j->verdict = DR_CLOCK_FORWARD;
		if (!c->prev) {
			a->prev = true;
			a->prev_utc = c->trusted ? c->trusted_utc : DR_EXPORT_CLOCK_FLOOR;
			a->prev_run_ms = c->trusted ? c->trusted_run_ms : 0;
		}
		a->trusted = true;
		a->trusted_utc = s;
		a->trusted_run_ms = c->run_ms;
	} else if (s >= j->justified - DR_EXPORT_CLOCK_TOLERANCE_S) {
		j->verdict = DR_CLOCK_AGREE;
		/* a newer signed time agrees: the forward move was right */
		if (c->prev && c->trusted && s > c->trusted_utc)
			a->prev = false;
		if (!c->trusted || s > j->justified) {
			a->trusted = true;
			a->trusted_utc = s;
			a->trusted_run_ms = c->run_ms;
		}
	} else if (receipt && c->prev && s < at_export - DR_EXPORT_CLOCK_TOLERANCE_S &&
		   s >= j->lower - DR_EXPORT_CLOCK_TOLERANCE_S) {
		/* signed "before" the export it answers, by the box's time, after
		 * a forward move no one confirmed, and consistent with the time
		 * before that move: the move was wrong */
		j->verdict = DR_CLOCK_BACK;
		a->trusted = true;
		a->trusted_utc = s > j->lower ? s : j->lower;
		a->trusted_run_ms = c->run_ms;
		a->prev = false;
	} else if (receipt && c->prev && s >= at_export - DR_EXPORT_CLOCK_TOLERANCE_S &&
		   s > c->trusted_utc) {
		/* signed after that export by the box's time too, and newer than
		 * the move: another clock agrees with it */
		j->verdict = DR_CLOCK_OLD;
		a->prev = false;
	} else if (s < j->lower - allowance) {
		j->verdict = DR_CLOCK_BEHIND;
	} else {
		j->verdict = DR_CLOCK_OLD;
	}
	if (!a->prev) {
		a->prev_utc = 0;
		a->prev_run_ms = 0;
	}
	j->changed = !same_anchors(c, a);
}
