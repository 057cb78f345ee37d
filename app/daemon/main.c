/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "daemon.h"
#include "privdrop.h"
#include "settings.h"
#include "util/log.h"

int main(int argc, char **argv)
{
	struct drd_settings s;
	char err[1024] = "";

	int r = drd_settings_load(&s, argc, argv, err, sizeof(err));
	if (r == 1)
		return 0;
	if (r < 0) {
		fprintf(stderr, "diaryroomd: %s\n", err);
		return 1;
	}
	dr_log_set_level(s.log_level);
	/* Before anything else is opened: become [daemon] user, keeping only
	 * CAP_SYS_TIME (the clock from a staff stick). --check only looks the
	 * user up. */
	if (s.user[0]) {
		uid_t uid;
		gid_t gid;
		r = s.check_only ? drd_privdrop_lookup(s.user, &uid, &gid, err, sizeof(err))
				 : drd_privdrop(s.user, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "diaryroomd: %s; not starting\n", err);
			drd_settings_free(&s);
			return 1;
		}
	}
	if (s.check_only) {
		printf("diaryroomd: settings are valid (board %s, data %s)\n", s.board_dir, s.data_dir);
		drd_settings_free(&s);
		return 0;
	}
	r = drd_run(&s);
	drd_settings_free(&s);
	return r;
}
