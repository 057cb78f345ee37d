/* SPDX-License-Identifier: MIT */
/*
 * diaryroom-admin: the office PC's tool for the staff sticks.
 *
 *   init-org          --org DIR [--kdf interactive|moderate|sensitive]
 *   provision-device  --org DIR --out DIR
 *   make-stick        --org DIR --stick MOUNT --name NAME [--days N]
 *   revoke            --org DIR (--stick-id ID | --stick MOUNT)
 *   collect           --org DIR --stick MOUNT --archive DIR [--changes FILE]
 *                     [--retention-days N]
 *   unlock            --org DIR --archive DIR --receipt NNNN [--share yes|no] [--box ID]
 *   open              --org DIR [--archive DIR] SEALED OUT
 *   audit             --archive DIR [--verify]
 *   find              --archive DIR --receipt NNNN [--box ID] [--from DATE] [--to DATE]
 *   export            --archive DIR --receipt NNNN [--box ID] [--from DATE] [--to DATE]
 *                     [--org DIR] OUTDIR
 *   manifest          --org DIR --stick MOUNT
 *
 * Every command takes --now ISO-TIME (tests: the PC's clock). The
 * passphrase comes from DIARYROOM_PASSPHRASE_FD / DIARYROOM_PASSPHRASE or
 * a prompt. See docs/stick-format.md and docs/staff-stick.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "admin.h"
#include "serve.h"
#include "audit_cmd.h"
#include "rights.h"
#include "report.h"
#include "share.h"

struct opts {
	const char *org, *out, *stick, *name, *stick_id, *archive, *changes, *kdf;
	const char *receipt, *share, *box;
	const char *from, *to;
	long days, retention_days;
	bool verify;
	bool no_wait;
	int64_t now;
};

static int usage_to(FILE *f)
{
	fprintf(f,
		"usage: diaryroom-admin COMMAND [options]\n"
		"  init-org         --org DIR [--kdf interactive|moderate|sensitive]\n"
		"  provision-device --org DIR --out DIR\n"
		"  make-stick       --org DIR --stick MOUNT --name NAME [--days N]\n"
		"  revoke           --org DIR (--stick-id ID | --stick MOUNT)\n"
		"  collect          --org DIR --stick MOUNT --archive DIR [--changes FILE]\n"
		"                   (every recording is kept as the box sealed it, <id>.opus.sealed,\n"
		"                   which nothing can play; only those staff may hear are also\n"
		"                   opened to <id>.opus)\n"
		"                   --retention-days N (1..3650, default 30): a sealed recording\n"
		"                   still locked that started more than N days ago is deleted from\n"
		"                   the archive (all boxes; the sheet says expired). Use the same\n"
		"                   value as the boxes' [consent] retention_days.\n"
		"                   One collect, unlock or repair writes an archive at a time: a\n"
		"                   second waits for it, or with --no-wait refuses.\n"
		"  check            --archive DIR\n"
		"                   the catalogue, every file and its hash agree (no key needed)\n"
		"  repair           --org DIR --archive DIR [--no-wait]\n"
		"                   rebuilds the catalogue from the kept manifests and the files,\n"
		"                   saying what it could not\n"
		"  list             --archive DIR [--box ID]\n"
		"                   what the archive's catalogue holds, as JSON\n"
		"  unlock           --org DIR --archive DIR --receipt NNNN [--share yes|no] [--box ID]\n"
		"                   a resident consents later to staff listening: opens their sealed\n"
		"                   recording to <id>.opus (checked against the box's hash) and\n"
		"                   records the consent; the box learns it at the next collect.\n"
		"                   --share: may it also be shared outside the team (default no)\n"
		"  open             --org DIR [--archive DIR] SEALED OUT\n"
		"                   opens one recording sealed by a box (<id>.opus.sealed, or a\n"
		"                   video's <id>.mkv.sealed, from the box's data folder, a stick or\n"
		"                   the archive) with the\n"
		"                   organisation's key into the playable file OUT (made new; a\n"
		"                   recording cut off by a power failure is finished first);\n"
		"                   recorded in the archive's audit log (--archive, or the archive\n"
		"                   that keeps SEALED)\n"
		"  audit            --archive DIR [--verify]\n"
		"                   prints the archive's audit log (who imported, opened, changed,\n"
		"                   exported or deleted what, and when); --verify checks its hash\n"
		"                   chain and says at which entry it was broken\n"
		"  find             --archive DIR --receipt NNNN [--box ID] [--from DATE] [--to DATE]\n"
		"                   everything the archive holds about a resident, by their receipt\n"
		"                   number: recordings, consent history, what was done to them and\n"
		"                   who opened them (JSON). DATE: YYYY-MM-DD, the recording's start\n"
		"  export           --archive DIR --receipt NNNN [--box ID] [--from DATE] [--to DATE]\n"
		"                   [--org DIR] OUTDIR\n"
		"                   a copy of it for a subject access request into OUTDIR (new, or an\n"
		"                   empty folder of yours): each recording held (with --org, locked\n"
		"                   ones opened too) and record.json; recorded in the audit log\n"
		"  report           --archive DIR [--from DATE] [--to DATE]\n"
		"                   the engagement report: recordings per month and per box,\n"
		"                   consent rates, lengths, sound and video; counts under 5 hidden\n"
		"  share            --archive DIR --receipt NNNN [--box ID] [--disguise] [--staff NAME]\n"
		"                   a podcast-ready copy (-16 LUFS; --disguise: the voice disguised)\n"
		"                   of a recording that may be shared, in <archive>/shares; audited\n"
		"  manifest         --org DIR --stick MOUNT\n"
		"                   prints what each box's export on the stick lists (its sealed\n"
		"                   part opened with the organisation's key), as JSON\n"
		"  (the passphrase: DIARYROOM_PASSPHRASE_FD or DIARYROOM_PASSPHRASE, else asked)\n"
		"  (all: --now YYYY-MM-DDTHH:MM:SSZ to use another time than the PC's clock)\n");
	return 2;
}

static int usage(void)
{
	return usage_to(stderr);
}

int adm_write_signed(int dirfd, const char *base, const char *json, const uint8_t sk[64])
{
	uint8_t sig[64];
	char e[384], n[128];
	dr_stick_sign((const uint8_t *)json, strlen(json), sig, sk);
	adm_fmt(n, sizeof(n), "%s.json", base);
	int r = dr_stick_write_atomic(dirfd, n, json, strlen(json), e, sizeof(e));
	adm_fmt(n, sizeof(n), "%s.sig", base);
	if (r == 0)
		r = dr_stick_write_atomic(dirfd, n, sig, sizeof(sig), e, sizeof(e));
	if (r < 0)
		fprintf(stderr, "diaryroom-admin: %s\n", e);
	return r;
}

static char *json_text(struct json_object *o)
{
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(t);
	char *s = malloc(n + 2);
	if (s) {
		memcpy(s, t, n);
		s[n] = '\n';
		s[n + 1] = '\0';
	}
	return s;
}

static int mkdir_p(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int cmd_init_org(const struct opts *o)
{
	if (!o->org)
		return usage();
	int r = mkdir_p(o->org, 0700);
	char *pass = NULL;
	struct adm_org org = {0};
	if (r == 0)
		r = adm_passphrase(&pass, true);
	if (r == 0)
		r = adm_org_create(o->org, o->kdf, pass, &org);
	adm_secret_free(pass);
	char p[4200];
	adm_fmt(p, sizeof(p), "%s/devices", o->org);
	if (r == 0)
		r = mkdir_p(p, 0700);
	adm_fmt(p, sizeof(p), "%s/sticks", o->org);
	if (r == 0)
		r = mkdir_p(p, 0700);
	if (r < 0) {
		fprintf(stderr, "diaryroom-admin: init-org failed: %s\n", strerror(-r));
		adm_org_free(&org);
		return 1;
	}
	/* an empty revocation list, serial 1, signed with the key just made */
	struct json_object *j = json_object_new_object();
	char t[32];
	dr_stick_time_format(o->now, t);
	json_object_object_add(j, "format", json_object_new_string("diaryroom-revocations"));
	json_object_object_add(j, "version", json_object_new_int(DR_STICK_REVOKED_VERSION));
	json_object_object_add(j, "serial", json_object_new_int64(1));
	json_object_object_add(j, "issued_utc", json_object_new_string(t));
	json_object_object_add(j, "revoked", json_object_new_array());
	char *text = json_text(j);
	json_object_put(j);
	int dfd = open(o->org, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = text && dfd >= 0 ? adm_write_signed(dfd, "revoked", text, org.sk) : -EIO;
	free(text);
	if (dfd >= 0)
		close(dfd);
	adm_org_free(&org);
	if (r < 0) {
		fprintf(stderr, "diaryroom-admin: init-org failed: cannot write revoked.json\n");
		return 1;
	}
	printf("organisation created in %s (keep org.key and its passphrase safe; copy org.pub "
	       "to every box)\n", o->org);
	return 0;
}

static int cmd_provision(const struct opts *o)
{
	if (!o->org || !o->out)
		return usage();
	struct adm_org org;
	if (adm_org_load(o->org, false, &org) < 0)
		return 1;
	uint8_t pk[32], sk[64];
	crypto_sign_keypair(pk, sk);
	char id[DR_DEVICE_ID_HEX + 1], p[4200];
	dr_stick_device_id(pk, id);
	int r = mkdir_p(o->out, 0700);
	adm_fmt(p, sizeof(p), "%s/device.key", o->out);
	if (r == 0)
		r = adm_write_file(p, sk, sizeof(sk), 0600);
	sodium_memzero(sk, sizeof(sk));
	adm_fmt(p, sizeof(p), "%s/device.pub", o->out);
	if (r == 0)
		r = adm_write_file(p, pk, sizeof(pk), 0644);
	adm_fmt(p, sizeof(p), "%s/org.pub", o->out);
	if (r == 0)
		r = adm_write_file(p, org.pk, sizeof(org.pk), 0644);
	adm_fmt(p, sizeof(p), "%s/devices/%s.pub", o->org, id);
	if (r == 0)
		r = adm_write_file(p, pk, sizeof(pk), 0644);
	if (r < 0) {
		fprintf(stderr, "diaryroom-admin: provision-device failed: %s\n", strerror(-r));
		return 1;
	}
	printf("device %s: copy %s/device.key and org.pub into the box's key folder\n", id, o->out);
	return 0;
}

/* Copies the organisation's current signed revocation list to the stick. */
static int copy_revocations(const char *org, int topfd)
{
	char p[4200], *b;
	size_t len;
	const char *names[] = {"revoked.json", "revoked.sig"};
	for (int i = 0; i < 2; i++) {
		adm_fmt(p, sizeof(p), "%s/%s", org, names[i]);
		if (adm_read_file(p, DR_STICK_REVOKED_MAX, &b, &len) < 0)
			return -ENOENT;
		char e[384];
		int r = dr_stick_write_atomic(topfd, names[i], b, len, e, sizeof(e));
		free(b);
		if (r < 0) {
			fprintf(stderr, "diaryroom-admin: %s\n", e);
			return r;
		}
	}
	return 0;
}

static int open_top(const char *stick, bool create)
{
	int mfd = open(stick, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0) {
		fprintf(stderr, "diaryroom-admin: cannot open the stick at %s: %s\n", stick,
			strerror(errno));
		return -1;
	}
	int fd;
	char e[384];
	int r = dr_stick_subdir(mfd, DR_STICK_TOP, create, &fd, e, sizeof(e));
	close(mfd);
	if (r < 0) {
		fprintf(stderr, "diaryroom-admin: %s\n", e);
		return -1;
	}
	return fd;
}

static int cmd_make_stick(const struct opts *o)
{
	if (!o->org || !o->stick || !o->name || !o->name[0] ||
	    strlen(o->name) > DR_STICK_NAME_MAX || o->days <= 0 || o->days > 3660)
		return usage();
	struct adm_org org;
	if (adm_org_load(o->org, true, &org) < 0) {
		adm_org_free(&org);
		return 1;
	}
	uint8_t raw[16];
	char id[DR_STICK_ID_HEX + 1], iss[32], exp[32];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(id, sizeof(id), raw, sizeof(raw));
	dr_stick_time_format(o->now, iss);
	dr_stick_time_format(o->now + (int64_t)o->days * 86400, exp);
	struct json_object *j = json_object_new_object();
	json_object_object_add(j, "format", json_object_new_string("diaryroom-token"));
	json_object_object_add(j, "version", json_object_new_int(DR_STICK_TOKEN_VERSION));
	json_object_object_add(j, "stick_id", json_object_new_string(id));
	json_object_object_add(j, "name", json_object_new_string(o->name));
	json_object_object_add(j, "issued_utc", json_object_new_string(iss));
	json_object_object_add(j, "expires_utc", json_object_new_string(exp));
	char *text = json_text(j);
	json_object_put(j);
	int top = open_top(o->stick, true);
	int r = text && top >= 0 ? adm_write_signed(top, "token", text, org.sk) : -EIO;
	if (r == 0)
		r = copy_revocations(o->org, top);
	if (top >= 0)
		close(top);
	/* the register of sticks issued */
	char p[4200];
	adm_fmt(p, sizeof(p), "%s/sticks/%s.json", o->org, id);
	if (r == 0 && text)
		r = adm_write_file(p, text, strlen(text), 0600);
	free(text);
	adm_org_free(&org);
	if (r < 0) {
		fprintf(stderr, "diaryroom-admin: make-stick failed\n");
		return 1;
	}
	printf("staff stick %s for %s, valid until %s\n", id, o->name, exp);
	return 0;
}

static int cmd_revoke(const struct opts *o)
{
	if (!o->org || (!o->stick_id && !o->stick))
		return usage();
	char id[DR_STICK_ID_HEX + 1] = "";
	if (o->stick_id)
		adm_fmt(id, sizeof(id), "%s", o->stick_id);
	if (o->stick) {
		int top = open_top(o->stick, false);
		char *b, e[384];
		size_t len;
		struct dr_token t;
		if (top < 0 || dr_stick_read(top, "token.json", DR_STICK_TOKEN_MAX, &b, &len, e, sizeof(e)) < 0) {
			fprintf(stderr, "diaryroom-admin: no token on %s\n", o->stick);
			if (top >= 0)
				close(top);
			return 1;
		}
		close(top);
		int r = dr_token_parse(b, len, &t, e, sizeof(e));
		free(b);
		if (r < 0) {
			fprintf(stderr, "diaryroom-admin: %s\n", e);
			return 1;
		}
		memcpy(id, t.stick_id, sizeof(id));
	}
	if (!dr_stick_hex_ok(id, DR_STICK_ID_HEX)) {
		fprintf(stderr, "diaryroom-admin: a stick id is 32 lowercase hex characters\n");
		return 2;
	}
	struct adm_org org;
	if (adm_org_load(o->org, true, &org) < 0) {
		adm_org_free(&org);
		return 1;
	}
	int dfd = open(o->org, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *b, e[384];
	size_t len;
	struct dr_revocations *rv = NULL;
	int r = dfd >= 0 ? dr_stick_read_signed(dfd, "revoked", DR_STICK_REVOKED_MAX, org.pk, &b,
						&len, e, sizeof(e))
			 : -errno;
	if (r == 0) {
		r = dr_revocations_parse(b, len, &rv, e, sizeof(e));
		free(b);
	}
	if (r < 0) {
		fprintf(stderr, "diaryroom-admin: the organisation's revocation list: %s\n", e);
		if (dfd >= 0)
			close(dfd);
		adm_org_free(&org);
		return 1;
	}
	struct json_object *j = json_object_new_object();
	struct json_object *a = json_object_new_array();
	bool already = false;
	for (size_t i = 0; i < rv->n; i++) {
		already = already || !strcmp(rv->ids[i], id);
		json_object_array_add(a, json_object_new_string(rv->ids[i]));
	}
	if (!already)
		json_object_array_add(a, json_object_new_string(id));
	char t[32];
	dr_stick_time_format(o->now, t);
	json_object_object_add(j, "format", json_object_new_string("diaryroom-revocations"));
	json_object_object_add(j, "version", json_object_new_int(DR_STICK_REVOKED_VERSION));
	json_object_object_add(j, "serial", json_object_new_int64(rv->serial + 1));
	json_object_object_add(j, "issued_utc", json_object_new_string(t));
	json_object_object_add(j, "revoked", a);
	dr_revocations_free(rv);
	char *text = json_text(j);
	json_object_put(j);
	r = text ? adm_write_signed(dfd, "revoked", text, org.sk) : -ENOMEM;
	free(text);
	close(dfd);
	adm_org_free(&org);
	if (r < 0)
		return 1;
	printf("stick %s revoked; boxes learn it from the next staff stick made or collected\n", id);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage_to(stdout);
		return 0;
	}
	if (sodium_init() < 0)
		return 1;
	if (!strcmp(argv[1], "serve"))
		return adm_serve_main(argc, argv);
	if (!strcmp(argv[1], "report")) /* report.c */
		return adm_report_main(argc, argv);
	if (!strcmp(argv[1], "share")) /* share.c */
		return adm_share_main(argc, argv);
	const char *cmd = argv[1];
	struct opts o = {.days = 365, .retention_days = 30, .now = (int64_t)time(NULL)};
	static const struct option lo[] = {
		{"org", required_argument, NULL, 'o'},	   {"out", required_argument, NULL, 'O'},
		{"stick", required_argument, NULL, 's'},   {"name", required_argument, NULL, 'n'},
		{"days", required_argument, NULL, 'd'},	   {"stick-id", required_argument, NULL, 'i'},
		{"archive", required_argument, NULL, 'a'}, {"changes", required_argument, NULL, 'c'},
		{"kdf", required_argument, NULL, 'k'},	   {"now", required_argument, NULL, 'N'},
		{"receipt", required_argument, NULL, 'r'}, {"share", required_argument, NULL, 'S'},
		{"box", required_argument, NULL, 'b'},	   {"help", no_argument, NULL, 'h'},
		{"retention-days", required_argument, NULL, 'R'},
		{"verify", no_argument, NULL, 'V'},
		{"no-wait", no_argument, NULL, 'W'},
		{"from", required_argument, NULL, 'F'},
		{"to", required_argument, NULL, 'T'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'o': o.org = optarg; break;
		case 'O': o.out = optarg; break;
		case 's': o.stick = optarg; break;
		case 'n': o.name = optarg; break;
		case 'd': o.days = strtol(optarg, NULL, 10); break;
		case 'i': o.stick_id = optarg; break;
		case 'a': o.archive = optarg; break;
		case 'c': o.changes = optarg; break;
		case 'k': o.kdf = optarg; break;
		case 'r': o.receipt = optarg; break;
		case 'S': o.share = optarg; break;
		case 'b': o.box = optarg; break;
		case 'V': o.verify = true; break;
		case 'W': o.no_wait = true; break;
		case 'F': o.from = optarg; break;
		case 'T': o.to = optarg; break;
		case 'R': {
			char *end;
			errno = 0;
			o.retention_days = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || o.retention_days < 1 ||
			    o.retention_days > 3650) {
				fprintf(stderr, "--retention-days is a number of days, 1 to 3650\n");
				return usage();
			}
			break;
		}
		case 'h': usage_to(stdout); return 0;
		case 'N':
			if (dr_stick_time_parse(optarg, &o.now) < 0)
				return usage();
			break;
		default: return usage();
		}
	}
	if (optind != argc && strcmp(cmd, "open") && strcmp(cmd, "export"))
		return usage();
	if (!strcmp(cmd, "init-org"))
		return cmd_init_org(&o);
	if (!strcmp(cmd, "provision-device"))
		return cmd_provision(&o);
	if (!strcmp(cmd, "make-stick"))
		return cmd_make_stick(&o);
	if (!strcmp(cmd, "revoke"))
		return cmd_revoke(&o);
	if (!strcmp(cmd, "collect")) {
		if (!o.org || !o.stick || !o.archive)
			return usage();
		struct adm_org org;
		if (adm_org_load(o.org, true, &org) < 0) {
			adm_org_free(&org);
			return 1;
		}
		int r = adm_collect(&org, o.stick, o.archive, o.changes, o.now, o.retention_days,
				    !o.no_wait);
		adm_org_free(&org);
		return r < 0 ? 1 : r;
	}
	if (!strcmp(cmd, "unlock")) {
		if (!o.org || !o.archive || !o.receipt)
			return usage();
		struct adm_org org;
		if (adm_org_load(o.org, false, &org) < 0)
			return 1;
		int r = adm_unlock(&org, o.archive, o.receipt, o.share ? o.share : "no", o.box, o.now,
				   !o.no_wait);
		adm_org_free(&org);
		return r < 0 ? 1 : 0;
	}
	if (!strcmp(cmd, "repair")) {
		if (!o.org || !o.archive)
			return usage();
		struct adm_org org;
		if (adm_org_load(o.org, true, &org) < 0) {
			adm_org_free(&org);
			return 1;
		}
		int r = adm_repair(&org, o.archive, o.now, !o.no_wait);
		adm_org_free(&org);
		return r < 0 ? 1 : r;
	}
	if (!strcmp(cmd, "check"))
		return o.archive ? adm_check(o.archive) : usage();
	if (!strcmp(cmd, "list")) {
		if (!o.archive)
			return usage();
		return adm_list(o.archive, o.box) < 0 ? 1 : 0;
	}
	if (!strcmp(cmd, "find") || !strcmp(cmd, "export")) {
		struct adm_rights_query q = {.receipt = o.receipt, .box = o.box, .from = o.from,
					     .to = o.to};
		if (!o.archive || !o.receipt)
			return usage();
		if (!strcmp(cmd, "find"))
			return adm_find(o.archive, &q) < 0 ? 1 : 0;
		if (argc - optind != 1)
			return usage();
		struct adm_org org = {0};
		if (o.org && adm_org_load(o.org, true, &org) < 0) {
			adm_org_free(&org);
			return 1;
		}
		int r = adm_rights_export(o.org ? &org : NULL, o.archive, &q, argv[optind]);
		adm_org_free(&org);
		return r < 0 ? 1 : 0;
	}
	if (!strcmp(cmd, "manifest")) {
		if (!o.org || !o.stick)
			return usage();
		struct adm_org org;
		if (adm_org_load(o.org, true, &org) < 0) {
			adm_org_free(&org);
			return 1;
		}
		int r = adm_show_manifests(&org, o.stick);
		adm_org_free(&org);
		return r < 0 ? 1 : r;
	}
	if (!strcmp(cmd, "audit"))
		return o.archive ? adm_audit_cmd(o.archive, o.verify) : usage();
	if (!strcmp(cmd, "open")) {
		if (!o.org || argc - optind != 2)
			return usage();
		struct adm_org org;
		if (adm_org_load(o.org, true, &org) < 0) {
			adm_org_free(&org);
			return 1;
		}
		int r = adm_open(&org, argv[optind], argv[optind + 1], o.archive);
		adm_org_free(&org);
		return r < 0 ? 1 : 0;
	}
	return usage();
}
