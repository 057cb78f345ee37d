/* SPDX-License-Identifier: MIT */
/*
 * drd: the running daemon. One thread runs one poll() loop over
 *   signalfd (SIGTERM, SIGINT), a timerfd for the core's deadline, a timerfd
 *   for the storage check, the button, the lights' blink timer, the speaker's
 *   completions, the recorder's completions and the liveness timer (liveness.h:
 *   READY=1 / WATCHDOG=1 to systemd, the heartbeat file),
 * feeds what happens to the session core (core/session.h) and carries out the
 * actions it returns. Media work happens in the recorder's and the speaker's
 * own threads; the catalogue's commits during a session (the next
 * recording's row and file; with [daemon] commits_in_thread, the default,
 * also the finish and receipt number after it, and consent) in one
 * long-lived thread of its own, one at a time, so no sync holds up this
 * loop; its other users wait while one runs (drd.h).
 */
#ifndef DRD_DAEMON_H
#define DRD_DAEMON_H

#include "settings.h"

/* Opens everything, recovers interrupted recordings, runs until SIGTERM or
 * SIGINT, finalises and returns the exit status (0 clean, 1 failed to start,
 * 2 a fatal error while running). Messages go to stderr. */
int drd_run(const struct drd_settings *s);

#endif
