/* SPDX-License-Identifier: MIT */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"

#define MOD "privdrop"

/* The one capability kept, as the two 32-bit words of capability version 3. */
static const uint32_t kept[2] = {CAP_TO_INDEX(CAP_SYS_TIME) == 0 ? CAP_TO_MASK(CAP_SYS_TIME) : 0,
				 CAP_TO_INDEX(CAP_SYS_TIME) == 1 ? CAP_TO_MASK(CAP_SYS_TIME) : 0};

static int fail(char *err, size_t errlen, int r, const char *user, const char *what)
{
	snprintf(err, errlen, "[daemon] user = %s: %s", user, what);
	return r;
}

/* A system call just failed: its errno, with what was being done. */
static int sys_fail(char *err, size_t errlen, const char *user, const char *what)
{
	int e = errno;
	snprintf(err, errlen, "[daemon] user = %s: %s: %s", user, what, strerror(e));
	return -e;
}

/* 0, or -1 with errno set. */
static int caps_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	memset(data, 0, 2 * sizeof(*data));
	return (int)syscall(SYS_capget, &h, data);
}

/* CAP_SYS_TIME alone, permitted and effective; nothing inheritable. */
static int caps_set_kept(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	for (int i = 0; i < 2; i++)
		data[i] = (struct __user_cap_data_struct){
			.effective = kept[i], .permitted = kept[i], .inheritable = 0};
	return (int)syscall(SYS_capset, &h, data);
}

int drd_privdrop_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	if (!user || !*user || !uid || !gid)
		return -EINVAL;
	int r = getpwnam_r(user, &pw, buf, sizeof(buf), &found);
	if (r != 0) {
		snprintf(err, errlen, "[daemon] user = %s: cannot read the password database: %s", user,
			 strerror(r));
		return -r;
	}
	if (!found) {
		snprintf(err, errlen, "[daemon] user = %s: no such user (see /etc/passwd)", user);
		return -ENOENT;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return 0;
}

/* After the drop: root cannot come back and only CAP_SYS_TIME is left. */
static int verify(const char *user, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return sys_fail(err, errlen, user, "getresuid");
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		return fail(err, errlen, -EPERM, user, "the user and group ids did not all change");
	if (setuid(0) == 0)
		return fail(err, errlen, -EPERM, user, "root could be regained (setuid(0) succeeded)");
	if (gid != 0 && setgid(0) == 0)
		return fail(err, errlen, -EPERM, user,
			    "group root could be regained (setgid(0) succeeded)");
	struct __user_cap_data_struct c[2];
	if (caps_get(c) < 0)
		return sys_fail(err, errlen, user, "capget");
	for (int i = 0; i < 2; i++)
		if (c[i].effective != kept[i] || c[i].permitted != kept[i] || c[i].inheritable != 0)
			return fail(err, errlen, -EPERM, user,
				    "the capabilities left are not exactly CAP_SYS_TIME");
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return fail(err, errlen, -EPERM, user, "no_new_privs is not set");
	return 0;
}

int drd_privdrop(const char *user, char *err, size_t errlen)
{
	uid_t uid;
	gid_t gid;
	int r;

	if (!user || !*user)
		return 0;
	if ((r = drd_privdrop_lookup(user, &uid, &gid, err, errlen)) < 0)
		return r;
	if (getuid() == uid && geteuid() == uid) {
		DR_LOG_DEBUG(MOD, "already running as %s (uid %u)", user, (unsigned)uid);
		return 0;
	}
	if (geteuid() != 0) {
		snprintf(err, errlen,
			 "[daemon] user = %s: running as uid %u, not as root: cannot become another user",
			 user, (unsigned)geteuid());
		return -EPERM;
	}

	if (initgroups(user, gid) < 0)
		return sys_fail(err, errlen, user, "initgroups");
	if (setresgid(gid, gid, gid) < 0)
		return sys_fail(err, errlen, user, "setresgid");
	/* No ambient capabilities (if the kernel has them: 4.3 and later). */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return sys_fail(err, errlen, user, "clearing ambient capabilities");
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return sys_fail(err, errlen, user, "PR_SET_KEEPCAPS");
	if (setresuid(uid, uid, uid) < 0)
		return sys_fail(err, errlen, user, "setresuid");
	/* The permitted set survived the change of uid (keepcaps); the
	 * effective set was cleared. Keep CAP_SYS_TIME alone, in both. */
	if (caps_set_kept() < 0)
		return sys_fail(err, errlen, user, "cannot keep CAP_SYS_TIME (to set the clock)");
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return sys_fail(err, errlen, user, "prctl");
	if ((r = verify(user, uid, gid, err, errlen)) < 0)
		return r;
	DR_LOG_DEBUG(MOD, "now %s (uid %u, gid %u), keeping CAP_SYS_TIME", user, (unsigned)uid,
		     (unsigned)gid);
	return 0;
}
