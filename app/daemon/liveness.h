/* SPDX-License-Identifier: MIT */
/*
 * drd_liveness: the daemon tells its supervisor that its event loop is
 * alive. Beats come only from the main poll loop (a CLOCK_MONOTONIC timerfd
 * polled with everything else), so a loop that is stuck or deadlocked stops
 * them and the supervisor kills and restarts it.
 *
 * Two supervisors are served, either or both:
 *   - systemd (firmware/rpi-os/diaryroomd.service, Type=notify): the notify
 *     protocol, written by hand (no libsystemd): a datagram to the AF_UNIX
 *     socket named by $NOTIFY_SOCKET ("/path" or "@abstract"). READY=1 when
 *     start-up is done, WATCHDOG=1 on each beat when $WATCHDOG_USEC is set
 *     (and $WATCHDOG_PID, if set, is this process), STOPPING=1 at shutdown.
 *   - the firmware image's watchdog script: a heartbeat file whose mtime is
 *     set to now (futimens on a file descriptor kept open) on each beat.
 *
 * The beat interval is 5 s, or half of $WATCHDOG_USEC if that is shorter.
 * Nothing here logs above debug; errors are negative errno.
 */
#ifndef DRD_LIVENESS_H
#define DRD_LIVENESS_H

#include <stdint.h>

struct drd_liveness;

#define DRD_LIVENESS_DEFAULT_MS 5000u

/* Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID and opens (creating
 * it if need be, mode 0644) the heartbeat file `heartbeat` (NULL or "": none).
 * The timer is not started until drd_liveness_ready(). On success *out is a
 * new handle the caller frees with drd_liveness_free(); with neither a
 * socket nor a file it does nothing (drd_liveness_fd() is -1). */
int drd_liveness_open(const char *heartbeat, struct drd_liveness **out);

/* The timerfd to poll (POLLIN: call drd_liveness_beat()), or -1 when there
 * is nothing to beat for. */
int drd_liveness_fd(const struct drd_liveness *l);

/* Milliseconds between beats (0 when there is nothing to beat for). */
uint32_t drd_liveness_interval_ms(const struct drd_liveness *l);

/* Start-up is done: READY=1, a first beat, and the timer starts. */
int drd_liveness_ready(struct drd_liveness *l);

/* The timer expired: drains it, WATCHDOG=1 and the heartbeat file's mtime.
 * Returns the first error of the two (both are always attempted). */
int drd_liveness_beat(struct drd_liveness *l);

/* Shutdown has begun: STOPPING=1 (beats carry on until the loop ends). */
int drd_liveness_stopping(struct drd_liveness *l);

/* Closes the socket, the file and the timer. Accepts NULL. The heartbeat
 * file is left where it is (its mtime stops advancing). */
void drd_liveness_free(struct drd_liveness *l);

#endif
