/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of dr_store: layout and schema, the recording life cycle, hashes
 * against an independent BLAKE2b, the append-only audit log, refusing a newer
 * catalogue, and a damaged catalogue that must never cost a recording.
 * (Read-only and full filesystems are in test_store_fs.c.)
 */
#include <stdbool.h>

#include "store_test_util.h"
#include "store/store_priv.h" /* dr_store_schema_latest() */

static struct dr_store *open_ok(const char *dir)
{
	struct dr_store *s = NULL;
	char err[512] = "";
	int r = dr_store_open(dir, &s, err, sizeof(err));
	if (r != 0)
		fail_msg("dr_store_open(%s) = %d: %s", dir, r, err);
	return s;
}

static void begin_ok(struct dr_store *s, char id[DR_STORE_ID_LEN + 1], char *path,
		     size_t pathlen)
{
	char err[512] = "";
	int r = dr_store_begin(s, "2024-05-01T10:00:00Z", 123456, id, path, pathlen, err,
			       sizeof(err));
	if (r != 0)
		fail_msg("dr_store_begin = %d: %s", r, err);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_open_layout_and_schema(void **state)
{
	(void)state;
	char dir[4096], p[4300];
	st_mkdtemp("store-open", dir, sizeof(dir));
	strcat(dir, "/data"); /* the data folder itself does not exist yet */
	int fds_before = count_fds();
	mode_t old = umask(022);
	struct dr_store *s = open_ok(dir);
	umask(old);
	assert_int_equal(dr_store_schema_version(s), dr_store_schema_latest());

	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(p, sizeof(p), "%s/recordings", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(p, sizeof(p), "%s/catalogue.sqlite", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600); /* never world-readable, whatever the umask */

	sqlite3 *db = st_raw_open(dir);
	char txt[128];
	st_q_text(db, "PRAGMA journal_mode", txt, sizeof(txt));
	assert_string_equal(txt, "wal");
	assert_int_equal(st_q_int(db, "PRAGMA user_version"), dr_store_schema_latest());
	st_q_text(db, "SELECT value FROM meta WHERE key = 'created_utc'", txt, sizeof(txt));
	assert_int_equal(strlen(txt), 24); /* 2024-05-01T10:00:00.000Z */
	assert_int_equal(txt[10], 'T');
	assert_int_equal(st_q_int(db, "SELECT count(*) FROM audit WHERE action = 'migrate'"),
			 dr_store_schema_latest());
	st_q_text(db, "SELECT detail FROM audit WHERE action = 'migrate' ORDER BY seq LIMIT 1", txt, sizeof(txt));
	assert_string_equal(txt, "{\"from\":0,\"to\":1}");
	/* the v1 tables and columns */
	assert_int_equal(st_q_int(db, "SELECT count(*) FROM pragma_table_info('recordings') WHERE "
				      "name IN ('id','state','file','start_utc','start_mono_ms',"
				      "'end_utc','duration_ms','size_bytes','blake2b','note',"
				      "'created_utc','updated_utc')"),
			 12);
	assert_int_equal(st_q_int(db, "SELECT count(*) FROM pragma_table_info('audit')"), 5);
	sqlite3_close(db);
	dr_store_close(s);

	/* reopen: same version, migrations are not run again, settings in force */
	s = open_ok(dir);
	assert_int_equal(dr_store_schema_version(s), dr_store_schema_latest());
	assert_int_equal(st_count(dir, "SELECT count(*) FROM audit WHERE action = 'migrate'"),
			 dr_store_schema_latest());
	uint64_t free_bytes = 0;
	assert_int_equal(dr_store_free_bytes(s, &free_bytes), 0);
	assert_true(free_bytes > 0);
	char id0[DR_STORE_ID_LEN + 1], path0[4096], err0[256];
	assert_int_equal(dr_store_begin(s, NULL, 0, id0, path0, sizeof(path0), err0, sizeof(err0)),
			 0);
	st_fake_recording(path0, 10, 1);
	assert_int_equal(dr_store_finish(s, id0, DR_REC_COMPLETE, 1, NULL, err0, sizeof(err0)), 0);
	dr_store_close(s);
	dr_store_close(NULL);
	assert_int_equal(count_fds(), fds_before); /* nothing leaked */

	/* a relative data folder gives absolute recording paths */
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	assert_int_equal(chdir(dir), 0);
	s = open_ok("data");
	char id[DR_STORE_ID_LEN + 1], path[4096];
	begin_ok(s, id, path, sizeof(path));
	assert_int_equal(path[0], '/');
	snprintf(p, sizeof(p), "%s/data/recordings/%s.opus.sealed", dir, id);
	char *real = realpath(dir, NULL);
	assert_non_null(real);
	snprintf(p, sizeof(p), "%s/data/recordings/%s.opus.sealed", real, id);
	free(real);
	assert_string_equal(path, p);
	dr_store_close(s);
	assert_int_equal(chdir(cwd), 0);
}

static void test_bad_folders(void **state)
{
	(void)state;
	char dir[4096], p[4300], err[512];
	st_mkdtemp("store-bad", dir, sizeof(dir));
	struct dr_store *s = NULL;

	assert_int_equal(dr_store_open(NULL, &s, err, sizeof(err)), -EINVAL);
	assert_int_equal(dr_store_open("", &s, err, sizeof(err)), -EINVAL);

	/* a missing parent is not created: it is usually an unmounted partition */
	snprintf(p, sizeof(p), "%s/not/mounted", dir);
	assert_int_equal(dr_store_open(p, &s, err, sizeof(err)), -ENOENT);
	assert_null(s);
	assert_non_null(strstr(err, "does not exist"));
	assert_false(st_exists(p));

	/* a file where the data folder should be */
	snprintf(p, sizeof(p), "%s/file", dir);
	st_write_file(p, "x", 1);
	assert_int_equal(dr_store_open(p, &s, err, sizeof(err)), -ENOTDIR);
	assert_null(s);
	assert_non_null(strstr(err, "is not a folder"));

	/* a file where the recordings folder should be */
	snprintf(p, sizeof(p), "%s/d2", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/d2/recordings", dir);
	st_write_file(p, "x", 1);
	snprintf(p, sizeof(p), "%s/d2", dir);
	assert_int_equal(dr_store_open(p, &s, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, "recordings folder"));

	/* a folder where the catalogue should be */
	snprintf(p, sizeof(p), "%s/d3", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/d3/catalogue.sqlite", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/d3", dir);
	assert_int_equal(dr_store_open(p, &s, err, sizeof(err)), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "not a regular file"));
}

static void test_round_trip(void **state)
{
	(void)state;
	char dir[4096], err[512];
	st_mkdtemp("store-rt", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);

	char id[DR_STORE_ID_LEN + 1], path[4096];
	begin_ok(s, id, path, sizeof(path));
	assert_int_equal(strlen(id), 32);
	assert_int_equal(strspn(id, "0123456789abcdef"), 32);
	char *real = realpath(dir, NULL);
	char want[4300];
	snprintf(want, sizeof(want), "%s/recordings/%s.opus.sealed", real, id);
	free(real);
	assert_string_equal(path, want);
	assert_false(st_exists(path)); /* the store names the file, the recorder writes it */

	/* the row is there, durable, before any audio is written */
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(s, id, &rec), 0);
	assert_int_equal(rec.state, DR_REC_RECORDING);
	assert_string_equal(rec.path, path);
	assert_string_equal(rec.start_utc, "2024-05-01T10:00:00Z");
	assert_string_equal(rec.blake2b, "");
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM recordings WHERE id = '%s' AND start_mono_ms = 123456 AND "
		 "file = 'recordings/%s.opus.sealed'",
		 id, id);
	assert_int_equal(st_count(dir, sql), 1);

	/* 300 kB: several hashing chunks */
	st_fake_recording(path, 300 * 1000 + 17, 1);
	assert_int_equal(dr_store_finish(s, id, DR_REC_COMPLETE, 61234, "a \"note\"", err,
					 sizeof(err)),
			 0);
	assert_int_equal(dr_store_get(s, id, &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);
	assert_int_equal(rec.duration_ms, 61234);
	assert_int_equal(rec.size, 300 * 1000 + 17);
	char hex[65];
	st_independent_b2(path, hex);
	assert_string_equal(rec.blake2b, hex);
	char h2[65];
	assert_int_equal(dr_hash_file(path, h2), 0);
	assert_string_equal(h2, hex);

	/* the audit trail, in order, with JSON details */
	sqlite3 *db = st_raw_open(dir);
	char txt[512];
	snprintf(sql, sizeof(sql),
		 "SELECT group_concat(action, ',') FROM (SELECT action FROM audit WHERE "
		 "recording_id = '%s' ORDER BY seq)",
		 id);
	st_q_text(db, sql, txt, sizeof(txt));
	assert_string_equal(txt, "begin,finish");
	snprintf(sql, sizeof(sql),
		 "SELECT json_extract(detail, '$.blake2b') || ' ' || json_extract(detail, "
		 "'$.note') || ' ' || json_extract(detail, '$.size_bytes') FROM audit WHERE "
		 "recording_id = '%s' AND action = 'finish'",
		 id);
	st_q_text(db, sql, txt, sizeof(txt));
	char expect[256];
	snprintf(expect, sizeof(expect), "%s a \"note\" 300017", hex);
	assert_string_equal(txt, expect);
	snprintf(sql, sizeof(sql), "SELECT end_utc IS NOT NULL FROM recordings WHERE id = '%s'", id);
	assert_int_equal(st_q_int(db, sql), 1);
	sqlite3_close(db);

	/* finishing twice, or finishing something unknown, is refused */
	assert_int_equal(dr_store_finish(s, id, DR_REC_COMPLETE, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "already complete"));
	assert_int_equal(dr_store_finish(s, "0123456789abcdef0123456789abcdef", DR_REC_COMPLETE, 1,
					 NULL, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(dr_store_finish(s, "../../etc/passwd", DR_REC_COMPLETE, 1, NULL, err,
					 sizeof(err)),
			 -EINVAL);
	/* a kept recording is never deleted by discard */
	assert_int_equal(dr_store_discard(s, id, "oops", err, sizeof(err)), -EPERM);
	assert_true(st_exists(path));
	assert_int_equal(dr_store_get(s, id, &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);

	/* a second recording, too short: discarded, file and leftovers gone */
	char id2[DR_STORE_ID_LEN + 1], path2[4096], repair[4200];
	begin_ok(s, id2, path2, sizeof(path2));
	assert_string_not_equal(id, id2);
	st_fake_recording(path2, 1000, 2);
	snprintf(repair, sizeof(repair), "%s.repair", path2);
	st_fake_recording(repair, 500, 3);
	assert_int_equal(dr_store_finish(s, id2, DR_REC_RECORDING, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(dr_store_finish(s, id2, DR_REC_DISCARDED, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(dr_store_discard(s, id2, "too short", err, sizeof(err)), 0);
	assert_false(st_exists(path2));
	assert_false(st_exists(repair));
	assert_int_equal(dr_store_get(s, id2, &rec), 0);
	assert_int_equal(rec.state, DR_REC_DISCARDED);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM audit WHERE recording_id = '%s' AND action = 'discard' AND "
		 "json_extract(detail, '$.reason') = 'too short'",
		 id2);
	assert_int_equal(st_count(dir, sql), 1);
	/* discarding again is harmless and not audited twice */
	assert_int_equal(dr_store_discard(s, id2, "again", err, sizeof(err)), 0);
	assert_int_equal(st_count(dir, sql), 1);
	assert_int_equal(dr_store_finish(s, id2, DR_REC_COMPLETE, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(dr_store_discard(s, "0123456789abcdef0123456789abcdef", NULL, err,
					  sizeof(err)),
			 -ENOENT);

	/* a third with no file at all: finish says so, the row is unchanged,
	 * discard (as recovery would) works without a file */
	char id3[DR_STORE_ID_LEN + 1], path3[4096];
	begin_ok(s, id3, path3, sizeof(path3));
	assert_int_equal(dr_store_finish(s, id3, DR_REC_INTERRUPTED, 1, NULL, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(dr_store_get(s, id3, &rec), 0);
	assert_int_equal(rec.state, DR_REC_RECORDING);
	assert_int_equal(dr_store_discard(s, id3, NULL, err, sizeof(err)), 0);

	/* everything survives a reopen */
	dr_store_close(s);
	s = open_ok(dir);
	assert_int_equal(dr_store_get(s, id, &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);
	assert_string_equal(rec.blake2b, hex);
	assert_int_equal(dr_store_get(s, id2, &rec), 0);
	assert_int_equal(rec.state, DR_REC_DISCARDED);
	assert_int_equal(dr_store_get(s, "0123456789abcdef0123456789abcdef", &rec), -ENOENT);
	assert_non_null(strstr(dr_store_errmsg(s), "no recording"));
	dr_store_close(s);
}

struct collect {
	char ids[16][DR_STORE_ID_LEN + 1];
	int n;
	int stop_after;
	struct dr_store *s;
	bool finish;
};

static int collect_fn(void *user, const struct dr_store_rec *rec)
{
	struct collect *c = user;
	memcpy(c->ids[c->n++], rec->id, DR_STORE_ID_LEN + 1);
	if (c->finish) {
		/* what recovery does: change the row while being handed it */
		st_fake_recording(rec->path, 100, 9);
		char err[256];
		int r = dr_store_finish(c->s, rec->id, DR_REC_INTERRUPTED, 5, "repaired", err,
					sizeof(err));
		if (r)
			return r;
	}
	return c->n == c->stop_after ? 77 : 0;
}

static void test_each(void **state)
{
	(void)state;
	char dir[4096];
	st_mkdtemp("store-each", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	char ids[5][DR_STORE_ID_LEN + 1], path[4096];
	for (int i = 0; i < 5; i++)
		begin_ok(s, ids[i], path, sizeof(path));
	struct collect c = {.stop_after = -1, .s = s};
	assert_int_equal(dr_store_each(s, DR_REC_COMPLETE, collect_fn, &c), 0);
	assert_int_equal(c.n, 0);
	/* oldest first */
	assert_int_equal(dr_store_each(s, DR_REC_RECORDING, collect_fn, &c), 0);
	assert_int_equal(c.n, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(c.ids[i], ids[i]);
	/* a non-zero return stops and is returned */
	c = (struct collect){.stop_after = 2, .s = s};
	assert_int_equal(dr_store_each(s, DR_REC_RECORDING, collect_fn, &c), 77);
	assert_int_equal(c.n, 2);
	/* the callback may change the rows it is handed */
	c = (struct collect){.stop_after = -1, .s = s, .finish = true};
	assert_int_equal(dr_store_each(s, DR_REC_RECORDING, collect_fn, &c), 0);
	assert_int_equal(c.n, 5);
	c = (struct collect){.stop_after = -1, .s = s};
	assert_int_equal(dr_store_each(s, DR_REC_INTERRUPTED, collect_fn, &c), 0);
	assert_int_equal(c.n, 5);
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(s, ids[3], &rec), 0);
	assert_int_equal(rec.state, DR_REC_INTERRUPTED);
	assert_int_equal(rec.size, 100);
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT end_utc IS NULL FROM recordings WHERE id = '%s'", ids[3]);
	assert_int_equal(st_count(dir, sql), 1); /* the end of a cut-off recording is unknown */
	assert_int_equal(dr_store_each(s, DR_REC_RECORDING, NULL, NULL), -EINVAL);
	dr_store_close(s);
}

static void test_ids(void **state)
{
	(void)state;
	char dir[4096];
	st_mkdtemp("store-ids", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	enum { N = 64 };
	char ids[N][DR_STORE_ID_LEN + 1], path[4096];
	for (int i = 0; i < N; i++) {
		begin_ok(s, ids[i], path, sizeof(path));
		assert_int_equal(strspn(ids[i], "0123456789abcdef"), 32);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ids[i], ids[j]);
	}
	/* not sequential: consecutive ids share no long common prefix */
	int shared = 0;
	for (int i = 1; i < N; i++)
		shared += strncmp(ids[i], ids[i - 1], 4) == 0;
	assert_true(shared < 3);
	/* a path buffer that is too small is refused, and nothing is inserted */
	char small[16], id[DR_STORE_ID_LEN + 1], err[256];
	assert_int_equal(dr_store_begin(s, NULL, 0, id, small, sizeof(small), err, sizeof(err)),
			 -ENAMETOOLONG);
	assert_int_equal(st_count(dir, "SELECT count(*) FROM recordings"), N);
	dr_store_close(s);
}

static void test_audit_append_only(void **state)
{
	(void)state;
	char dir[4096];
	st_mkdtemp("store-audit", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	assert_int_equal(dr_store_audit(s, NULL, "stick_inserted", "{\"label\":\"STAFF\"}"), 0);
	assert_int_equal(dr_store_audit(s, "0123456789abcdef0123456789abcdef", "export", NULL), 0);
	assert_int_equal(dr_store_audit(s, NULL, NULL, "x"), -EINVAL);
	assert_int_equal(dr_store_audit(s, NULL, "", "x"), -EINVAL);
	long long before = st_count(dir, "SELECT count(*) FROM audit");
	assert_int_equal(before, dr_store_schema_latest() + 2); /* one per migration + 2 */

	sqlite3 *db = st_raw_open(dir);
	static const char *const attacks[] = {
		"UPDATE audit SET action = 'nothing' WHERE action = 'export'",
		"UPDATE audit SET detail = NULL",
		"DELETE FROM audit WHERE seq = 2",
		"DELETE FROM audit",
		"INSERT OR REPLACE INTO audit (seq, at_utc, action) VALUES (2, 'x', 'forged')",
		"REPLACE INTO audit (seq, at_utc, action) VALUES (1, 'x', 'forged')",
		("INSERT INTO audit (seq, at_utc, action) VALUES (2, 'x', 'forged') "
		 "ON CONFLICT (seq) DO UPDATE SET action = 'forged'"),
		"PRAGMA recursive_triggers = ON; DELETE FROM audit WHERE seq = 1",
	};
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		char *msg = NULL;
		int rc = sqlite3_exec(db, attacks[i], NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			fail_msg("the catalogue accepted: %s", attacks[i]);
		assert_int_equal(rc & 0xff, SQLITE_CONSTRAINT);
		assert_non_null(msg);
		assert_non_null(strstr(msg, "append-only"));
		sqlite3_free(msg);
	}
	assert_int_equal(st_q_int(db, "SELECT count(*) FROM audit"), before);
	assert_int_equal(st_q_int(db, "SELECT count(*) FROM audit WHERE action = 'export' AND "
				      "recording_id = '0123456789abcdef0123456789abcdef'"),
			 1);
	char txt[128];
	st_q_text(db, "SELECT detail FROM audit WHERE action = 'stick_inserted'", txt, sizeof(txt));
	assert_string_equal(txt, "{\"label\":\"STAFF\"}");
	/* appending is still allowed */
	assert_int_equal(sqlite3_exec(db, "INSERT INTO audit (at_utc, action) VALUES ('t', 'ok')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	dr_store_close(s);
}

static void test_newer_schema_refused(void **state)
{
	(void)state;
	char dir[4096], err[512] = "";
	st_mkdtemp("store-newer", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	dr_store_close(s);
	sqlite3 *db = st_raw_open(dir);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 7", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	s = NULL;
	assert_int_equal(dr_store_open(dir, &s, err, sizeof(err)), -EPROTO);
	assert_null(s);
	assert_non_null(strstr(err, "schema version 7"));
	char latest[16];
	snprintf(latest, sizeof(latest), "(%d)", dr_store_schema_latest());
	assert_non_null(strstr(err, latest));
	assert_non_null(strstr(err, "newer"));
	/* left exactly as it was */
	assert_int_equal(st_count(dir, "PRAGMA user_version"), 7);
	assert_int_equal(st_count(dir, "SELECT count(*) FROM audit"), dr_store_schema_latest());
}

static void test_corrupt_catalogue(void **state)
{
	(void)state;
	char dir[4096], p[4300], err[512];
	st_mkdtemp("store-corrupt", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	char id[DR_STORE_ID_LEN + 1], path[4096];
	for (int i = 0; i < 40; i++) {
		begin_ok(s, id, path, sizeof(path));
		st_fake_recording(path, 2000, (uint32_t)i);
		char note[600];
		memset(note, 'n', sizeof(note) - 1);
		note[sizeof(note) - 1] = '\0';
		assert_int_equal(dr_store_finish(s, id, DR_REC_COMPLETE, 1000, note, err, sizeof(err)),
				 0);
	}
	dr_store_close(s); /* checkpoints: everything is in the main file now */
	char cat[4300];
	snprintf(cat, sizeof(cat), "%s/catalogue.sqlite", dir);
	char kept_hash[65];
	assert_int_equal(dr_hash_file(path, kept_hash), 0);

	/* 1. damage inside the file: a b-tree page overwritten */
	size_t len;
	unsigned char *orig = st_read_file(cat, &len);
	assert_true(len >= 4 * 4096);
	unsigned char *bad = malloc(len);
	assert_non_null(bad);
	memcpy(bad, orig, len);
	for (size_t off = 4096; off < len; off += 4096)
		memset(bad + off, 0xa5, 40); /* every page header after the first */
	st_write_file(cat, bad, len);
	s = NULL;
	err[0] = '\0';
	int r = dr_store_open(dir, &s, err, sizeof(err));
	assert_int_equal(r, -EIO);
	assert_null(s);
	assert_non_null(strstr(err, cat));
	assert_non_null(strstr(err, "damaged"));
	assert_non_null(strstr(err, "recordings"));
	/* the catalogue was not replaced or "repaired", no recording was touched */
	size_t len2;
	unsigned char *now = st_read_file(cat, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(now, bad, len);
	free(now);
	snprintf(p, sizeof(p), "%s/recordings", dir);
	DIR *d = opendir(p);
	assert_non_null(d);
	int files = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		files += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(files, 40);
	char h[65];
	assert_int_equal(dr_hash_file(path, h), 0);
	assert_string_equal(h, kept_hash);

	/* 2. not a database at all */
	memset(bad, 'z', len);
	st_write_file(cat, bad, len);
	s = NULL;
	assert_int_equal(dr_store_open(dir, &s, err, sizeof(err)), -EIO);
	assert_null(s);
	assert_non_null(strstr(err, "not a database"));
	assert_non_null(strstr(err, "left as it is"));
	now = st_read_file(cat, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(now, bad, len);
	free(now);
	assert_true(st_exists(path));

	/* 3. the original file opens again: nothing was lost */
	st_write_file(cat, orig, len);
	s = open_ok(dir);
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(s, id, &rec), 0);
	assert_string_equal(rec.blake2b, kept_hash);
	dr_store_close(s);
	free(bad);
	free(orig);
}

static void test_hash_file(void **state)
{
	(void)state;
	char dir[4096], p[4300], hex[65];
	st_mkdtemp("store-hash", dir, sizeof(dir));
	/* BLAKE2b-256 test vectors */
	snprintf(p, sizeof(p), "%s/empty", dir);
	st_write_file(p, "", 0);
	assert_int_equal(dr_hash_file(p, hex), 0);
	assert_string_equal(hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
	snprintf(p, sizeof(p), "%s/abc", dir);
	st_write_file(p, "abc", 3);
	assert_int_equal(dr_hash_file(p, hex), 0);
	assert_string_equal(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
	/* across chunk boundaries, against b2sum */
	static const size_t sizes[] = {65535, 65536, 65537, 200000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(p, sizeof(p), "%s/f%zu", dir, i);
		st_fake_recording(p, sizes[i], (uint32_t)i + 100);
		char want[65];
		st_independent_b2(p, want);
		assert_int_equal(dr_hash_file(p, hex), 0);
		assert_string_equal(hex, want);
	}
	snprintf(p, sizeof(p), "%s/missing", dir);
	assert_int_equal(dr_hash_file(p, hex), -ENOENT);
	assert_int_equal(dr_hash_file(NULL, hex), -EINVAL);
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(dr_rec_state_name(DR_REC_RECORDING), "recording");
	assert_string_equal(dr_rec_state_name(DR_REC_COMPLETE), "complete");
	assert_string_equal(dr_rec_state_name(DR_REC_INTERRUPTED), "interrupted");
	assert_string_equal(dr_rec_state_name(DR_REC_DISCARDED), "discarded");
	assert_string_equal(dr_rec_state_name((enum dr_rec_state)42), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_layout_and_schema),
		cmocka_unit_test(test_bad_folders),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_each),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_audit_append_only),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_corrupt_catalogue),
		cmocka_unit_test(test_hash_file),
		cmocka_unit_test(test_state_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
