/* SPDX-License-Identifier: MIT */
/*
 * The catalogue knows what each recording holds (schema v5): a video is
 * named <id>.mkv.sealed, sound only <id>.opus.sealed, and every path the
 * store gives (begin, get, finish's hash, discard's delete) follows it.
 */
#include "store_test_util.h"

static struct dr_store *open_ok(const char *dir)
{
	struct dr_store *s = NULL;
	char err[512] = "";
	int r = dr_store_open(dir, &s, err, sizeof(err));
	if (r != 0)
		fail_msg("dr_store_open(%s) = %d: %s", dir, r, err);
	return s;
}

static void begin(struct dr_store *s, enum dr_media m, char id[DR_STORE_ID_LEN + 1], char *path,
		  size_t len)
{
	char err[512] = "";
	int r = dr_store_begin_media(s, m, "2026-12-04T12:00:00Z", 1, id, path, len, err,
				     sizeof(err));
	if (r)
		fail_msg("dr_store_begin_media = %d: %s", r, err);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);
	return a >= b && strcmp(s + a - b, tail) == 0;
}

static void test_video_and_audio_names(void **state)
{
	(void)state;
	char dir[4096], err[512];
	st_mkdtemp("store-media", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	char vid[DR_STORE_ID_LEN + 1], vpath[4096], aid[DR_STORE_ID_LEN + 1], apath[4096];
	begin(s, DR_MEDIA_VIDEO, vid, vpath, sizeof(vpath));
	begin(s, DR_MEDIA_AUDIO, aid, apath, sizeof(apath));
	assert_true(ends_with(vpath, ".mkv.sealed"));
	assert_true(ends_with(apath, ".opus.sealed"));
	assert_string_equal(dr_media_ext(DR_MEDIA_VIDEO), ".mkv");
	assert_string_equal(dr_media_name(DR_MEDIA_AUDIO), "audio");

	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(s, vid, &rec), 0);
	assert_int_equal(rec.media, DR_MEDIA_VIDEO);
	assert_string_equal(rec.path, vpath);
	assert_int_equal(dr_store_get(s, aid, &rec), 0);
	assert_int_equal(rec.media, DR_MEDIA_AUDIO);
	assert_string_equal(rec.path, apath);

	/* finish hashes the video's own file; discard deletes it */
	st_write_file(vpath, "matroska", 8);
	assert_int_equal(dr_store_finish(s, vid, DR_REC_COMPLETE, 1000, NULL, err, sizeof(err)), 0);
	assert_int_equal(dr_store_get(s, vid, &rec), 0);
	assert_int_equal(rec.size, 8);
	assert_int_equal(strlen(rec.blake2b), 64);
	st_write_file(apath, "ogg", 3);
	assert_int_equal(dr_store_discard(s, aid, "too short", err, sizeof(err)), 0);
	struct stat stb;
	assert_int_equal(stat(apath, &stb), -1);
	assert_int_equal(stat(vpath, &stb), 0);
	char vid2[DR_STORE_ID_LEN + 1], vpath2[4096];
	begin(s, DR_MEDIA_VIDEO, vid2, vpath2, sizeof(vpath2));
	st_write_file(vpath2, "x", 1);
	assert_int_equal(dr_store_discard(s, vid2, "too short", err, sizeof(err)), 0);
	assert_int_equal(stat(vpath2, &stb), -1);

	/* the begin audit says which */
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM audit WHERE recording_id = '%s' AND action = 'begin' AND "
		 "json_extract(detail, '$.media') = 'video'",
		 vid);
	assert_int_equal(st_count(dir, sql), 1);
	/* the column refuses anything else */
	char db_path[4200];
	snprintf(db_path, sizeof(db_path), "%s/catalogue.sqlite", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "UPDATE recordings SET media = 'film' WHERE id = '%s'", vid);
	assert_int_not_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(dr_store_begin_media(s, (enum dr_media)7, NULL, 1, vid2, vpath2,
					      sizeof(vpath2), err, sizeof(err)),
			 -EINVAL);
	dr_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_video_and_audio_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
