/* SPDX-License-Identifier: MIT */
/*
 * drd_privdrop: the daemon started as root becomes an unprivileged user
 * ([daemon] user), keeping only CAP_SYS_TIME: the one privilege it needs,
 * to set the clock from the organisation's signed time on a staff stick
 * (a box has no real-time clock; export.h, "The clock rule").
 *
 * Called once, single-threaded, after the settings are read and before
 * anything else is opened. Returns 0 or a negative errno with a human
 * message in err. No logging above debug.
 */
#ifndef DRD_PRIVDROP_H
#define DRD_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/* Looks the user up in the password database: its uid and primary gid.
 * -ENOENT (with a message) if there is no such user. */
int drd_privdrop_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* user "" or NULL: nothing to do (0). Otherwise:
 *  - running as root: takes the user's supplementary groups (initgroups),
 *    its gid and uid (real, effective, saved), keeping exactly CAP_SYS_TIME
 *    permitted and effective (nothing inheritable, no ambient), then sets
 *    no_new_privs; then checks that root cannot be regained (setuid(0)
 *    fails) and that the effective set is exactly CAP_SYS_TIME;
 *  - already running as that user (real and effective): 0, nothing done;
 *  - running as another user: -EPERM.
 * Any failure leaves the process unfit to continue: the caller exits. */
int drd_privdrop(const char *user, char *err, size_t errlen);

#endif
