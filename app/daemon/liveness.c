/* SPDX-License-Identifier: MIT */
#include "liveness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"

#define MOD "liveness"

struct drd_liveness {
	int sock;                 /* AF_UNIX datagram socket, or -1 */
	struct sockaddr_un addr;  /* $NOTIFY_SOCKET */
	socklen_t addr_len;
	bool watchdog;            /* $WATCHDOG_USEC applies to us: send WATCHDOG=1 */
	int file;                 /* the heartbeat file, or -1 */
	int timer;                /* timerfd, or -1 */
	uint32_t interval_ms;
};

/* $NOTIFY_SOCKET: "/path" or "@abstract". 0, or -EINVAL if malformed. */
static int parse_socket(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || n < 2 || n >= sizeof(sa->sun_path))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@') {
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

/* $WATCHDOG_USEC (and $WATCHDOG_PID): the interval the service manager
 * wants, in microseconds, or 0 when the watchdog is not ours. */
static uint64_t watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	char *end;
	if (!usec || !*usec)
		return 0;
	errno = 0;
	unsigned long long v = strtoull(usec, &end, 10);
	if (errno || *end || v == 0)
		return 0;
	if (pid && *pid) {
		long p = strtol(pid, &end, 10);
		if (*end || p != (long)getpid())
			return 0;
	}
	return v;
}

int drd_liveness_open(const char *heartbeat, struct drd_liveness **out)
{
	struct drd_liveness *l = calloc(1, sizeof(*l));
	int r;
	if (!l)
		return -ENOMEM;
	l->sock = l->file = l->timer = -1;
	l->interval_ms = DRD_LIVENESS_DEFAULT_MS;

	const char *ns = getenv("NOTIFY_SOCKET");
	if (ns && *ns) {
		r = parse_socket(ns, &l->addr, &l->addr_len);
		if (r < 0) {
			DR_LOG_DEBUG(MOD, "NOTIFY_SOCKET=%s: not a socket name", ns);
			goto err_free;
		}
		l->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (l->sock < 0) {
			r = -errno;
			goto err_free;
		}
		uint64_t usec = watchdog_usec();
		if (usec) {
			l->watchdog = true;
			/* beat twice per period, as systemd advises */
			uint64_t half_ms = usec / 2000;
			if (half_ms < 10)
				half_ms = 10;
			if (half_ms < l->interval_ms)
				l->interval_ms = (uint32_t)half_ms;
		}
	}
	if (heartbeat && *heartbeat) {
		l->file = open(heartbeat, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY,
			       0644);
		if (l->file < 0) {
			r = -errno;
			DR_LOG_DEBUG(MOD, "cannot open %s: %s", heartbeat, strerror(errno));
			goto err_free;
		}
	}
	if (l->sock >= 0 || l->file >= 0) {
		l->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (l->timer < 0) {
			r = -errno;
			goto err_free;
		}
	}
	*out = l;
	return 0;

err_free:
	drd_liveness_free(l);
	return r;
}

int drd_liveness_fd(const struct drd_liveness *l)
{
	return l ? l->timer : -1;
}

uint32_t drd_liveness_interval_ms(const struct drd_liveness *l)
{
	return l && l->timer >= 0 ? l->interval_ms : 0;
}

static int notify(struct drd_liveness *l, const char *msg)
{
	if (l->sock < 0)
		return 0;
	if (sendto(l->sock, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&l->addr,
		   l->addr_len) < 0) {
		int r = -errno;
		DR_LOG_DEBUG(MOD, "notify %s: %s", msg, strerror(errno));
		return r;
	}
	return 0;
}

static int touch(struct drd_liveness *l)
{
	if (l->file < 0)
		return 0;
	if (futimens(l->file, NULL) < 0)
		return -errno;
	return 0;
}

int drd_liveness_beat(struct drd_liveness *l)
{
	if (!l)
		return 0;
	if (l->timer >= 0) {
		uint64_t n;
		while (read(l->timer, &n, sizeof(n)) > 0)
			;
	}
	int r1 = l->watchdog ? notify(l, "WATCHDOG=1") : 0;
	int r2 = touch(l);
	return r1 < 0 ? r1 : r2;
}

int drd_liveness_ready(struct drd_liveness *l)
{
	if (!l || l->timer < 0)
		return 0;
	int r1 = notify(l, "READY=1");
	int r2 = drd_liveness_beat(l);
	struct itimerspec its = {
		.it_interval = {.tv_sec = l->interval_ms / 1000, .tv_nsec = (long)(l->interval_ms % 1000) * 1000000L},
	};
	its.it_value = its.it_interval;
	if (timerfd_settime(l->timer, 0, &its, NULL) < 0)
		return -errno;
	return r1 < 0 ? r1 : r2;
}

int drd_liveness_stopping(struct drd_liveness *l)
{
	return l ? notify(l, "STOPPING=1") : 0;
}

void drd_liveness_free(struct drd_liveness *l)
{
	if (!l)
		return;
	if (l->sock >= 0)
		close(l->sock);
	if (l->file >= 0)
		close(l->file);
	if (l->timer >= 0)
		close(l->timer);
	free(l);
}
