#!/usr/bin/python3
"""The staff's page, `diaryroom-admin serve` (docs/staff-page.md), over real
HTTP on 127.0.0.1:

- without a session every URL answers 401 and nothing else (no recording
  bytes, no names); a wrong passphrase gets no session;
- signed in, the recordings page lists the box's recordings with consent;
  the locked one is listed as sealed with no player, and its URL is refused;
- no URL reaches a file outside what the catalogue names: traversal in the
  path or the ids (.., %2e%2e, %252e, absolute paths, NUL, overlong) is 404;
  a symlink put in place of a recording is refused;
- byte ranges on every edge (0-, -1, the last byte, past the end, an empty
  and a 1-byte file) answer 206 with Content-Range, or 416;
- a play is in the audit log with the staff member's name; sign-out needs
  the form's CSRF token; a Host header but 127.0.0.1:port (DNS rebinding) is
  refused;
- a resident's wishes, unlock and subject access copies from the page
  (test_wishes), every audit entry they cause in the staff member's name;

The filters, the address it listens on and the desktop launcher are
test_staff_page_filters.py's; collecting a stick from the page is
test_staff_page_collect.py's.

About 3 s (one Argon2id "interactive" sign-in per session, plus the seeds)."""
import datetime
import http.client
import fcntl
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sqlite3
import urllib.parse

from drtest import BUILD, log, run, speak, tmpdir

ADMIN = os.path.join(BUILD, "bin", "diaryroom-admin")
STICK = os.path.join(BUILD, "bin", "diaryroom-stick")
SEED = os.path.join(BUILD, "bin", "diaryroom-seed")
PASS = "a long passphrase for tests"
ENV = dict(os.environ, DIARYROOM_PASSPHRASE=PASS)


def admin(*args):
    p = subprocess.run([ADMIN] + list(args), capture_output=True, text=True, env=ENV)
    log(f"admin {args[0]}: rc {p.returncode}\n{p.stderr}".rstrip())
    assert p.returncode == 0, p.stderr


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class World:
    def __init__(self, seconds="2,1", collect=True):
        self.dir = tmpdir("staffpage")
        self.org, self.keys, self.stick, self.data, self.archive = (
            os.path.join(self.dir, n) for n in ("org", "keys", "stick", "data", "archive"))
        os.makedirs(self.stick)
        admin("init-org", "--org", self.org, "--kdf", "interactive")
        admin("provision-device", "--org", self.org, "--out", self.keys)
        admin("make-stick", "--org", self.org, "--stick", self.stick, "--name", "Sam Staff")
        wav = speak(os.path.join(self.dir, "speech.wav"),
                    "What I want to say about the service, and about the staff who work here.")
        p = subprocess.run([SEED, "--data", self.data, "--org-pub",
                            os.path.join(self.keys, "org.pub"), "--wav", wav,
                            "--seconds", seconds, "--consent", "yes/no,no/no"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        self.recs = [l.split()[:2] for l in p.stdout.splitlines()]  # (id, receipt)
        p = subprocess.run([STICK, "insert", "--data", self.data, "--keys", self.keys,
                            "--stick", self.stick], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        if not collect:
            return
        admin("collect", "--org", self.org, "--stick", self.stick, "--archive", self.archive)
        self.box = next(d for d in os.listdir(self.archive)
                        if len(d) == 16 and all(c in "0123456789abcdef" for c in d))


class Server:
    def __init__(self, w, sticks=None, env=None):
        self.port = free_port()
        self.exports = os.path.join(w.dir, "exports")
        self.p = subprocess.Popen([ADMIN, "serve", "--archive", w.archive, "--org", w.org,
                                   "--port", str(self.port), "--exports", self.exports] +
                                  (["--sticks", sticks] if sticks else []),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=dict(os.environ, **(env or {})))
        line = self.p.stdout.readline()
        assert "http://127.0.0.1:" in line, (line, self.p.stderr.read())
        self.cookie = None

    def req(self, method, url, body=None, headers=None, cookie=True):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if cookie and self.cookie:
            h["Cookie"] = self.cookie
        if body is not None:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        c.request(method, url, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r, data

    def raw(self, line):
        """a request line sent as bytes, as no client library would"""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        s.sendall(line + b"\r\nHost: 127.0.0.1:%d\r\nCookie: " % self.port + (self.cookie or "").encode() +
                  b"\r\nConnection: close\r\n\r\n")
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
        s.close()
        return out

    def signin(self, staff, pw=PASS):
        r, _ = self.req("POST", "/signin", f"staff={staff.replace(' ', '+')}&pass={pw.replace(' ', '+')}")
        sc = r.getheader("Set-Cookie") or ""
        if r.status == 303:
            assert "HttpOnly" in sc and "SameSite=Strict" in sc, sc
            self.cookie = sc.split(";")[0]
        return r.status

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=10)
        assert rc == 0, (rc, self.p.stderr.read()[-4000:])


def audit_entries(w):
    with open(os.path.join(w.archive, "audit.log")) as f:
        return [json.loads(l) for l in f if l.strip()]


def staff_entries(w, before, actions):
    """the audit entries written since before: every one in the staff
    member's name (the OS account kept beside it), with each of actions"""
    new = audit_entries(w)[before:]
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert new and all(e["actor"] == "Pat Staff" and e["os_user"] == me for e in new), new
    assert set(actions) <= {e["action"] for e in new}, (actions, new)
    return new


def test_page(w):
    (open_id, open_r), (locked_id, locked_r) = w.recs
    play = f"/play?box={w.box}&id={open_id}"
    locked = f"/play?box={w.box}&id={locked_id}"
    s = Server(w)
    try:
        # no session: nothing
        for url in ("/", play, locked, "/anything", f"/?receipt={open_r}"):
            r, data = s.req("GET", url)
            assert r.status == 401 and open_id.encode() not in data and \
                w.box.encode() not in data and b"OggS" not in data, (url, r.status, data[:200])
        assert s.signin("Sam Staff", "not the passphrase") == 403 and s.cookie is None
        s.cookie = "dr_session=" + "0" * 64
        r, _ = s.req("GET", play)
        assert r.status == 401
        s.cookie = None
        assert s.signin("Pat Staff") == 303
        # another name for this computer (DNS rebinding): refused
        for host in ("evil.example:%d" % s.port, "127.0.0.1", "127.0.0.1:1"):
            r, data = s.req("GET", play, headers={"Host": host})
            assert r.status == 421 and b"OggS" not in data, (host, r.status)

        # the page: both listed, the locked one sealed without a player
        r, page = s.req("GET", "/")
        page = page.decode()
        assert r.status == 200 and open_id in page and f"receipt {locked_r}" in page, page
        assert locked_id not in page, "the locked recording's id is in a URL on the page"
        assert "Sealed: no one may listen" in page
        # with the date its retention ends: start + 30 days (serve's default,
        # collect's rule)
        db = sqlite3.connect(f"file:{w.archive}/catalogue.sqlite?mode=ro", uri=True)
        start = db.execute("SELECT start_utc FROM recordings WHERE id = ?", (locked_id,)).fetchone()[0]
        db.close()
        ends = (datetime.datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ") +
                datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert f"Sealed: no one may listen; its retention ends {ends} (30 days after it started)" \
            in page, (ends, page)
        assert "Audit log: intact." in page
        # a player fetches nothing until pressed: a listing is not a play
        assert page.count("<audio") == 1 and page.count('preload="none"') == 1
        # the consent next to the player, its history under it
        sec = next(x for x in page.split('<section class="rec">') if "<audio" in x)
        assert re.search(r"Consent: staff yes, share no\.</p><audio ", sec) and \
            "<summary>Consent history</summary><ul><li>" in sec and ": staff yes, share no (" in sec, sec
        r, found = s.req("GET", f"/?receipt={locked_r}")
        found = found.decode()
        assert f"receipt {locked_r}" in found and f"receipt {open_r}" not in found, found
        assert "<audio" not in found
        r, found = s.req("GET", f"/?receipt={open_r}&box={w.box}")
        assert open_id in found.decode() and r.status == 200

        # the locked recording is not served, whatever the URL, even with a
        # playable file left beside it
        stale = os.path.join(w.archive, w.box, locked_id + ".opus")
        with open(stale, "wb") as f:
            f.write(b"OggS stale copy")
        for url in (locked, locked + "&x=1", f"/play?id={locked_id}&box={w.box}"):
            r, data = s.req("GET", url)
            assert r.status == 403 and b"OggS" not in data, (url, r.status)
        os.unlink(stale)

        # traversal: nothing outside the catalogue's own files
        enc = {"..": "..", "%2e%2e": "%2e%2e", "%252e%252e": "%252e%252e"}
        bad = [f"/play?box={w.box}&id=../../org/org.key", f"/play?box=..&id={open_id}",
               f"/play?box={w.box}/..&id={open_id}", "/play?box=/etc&id=passwd",
               f"/play?box={w.box}&id={open_id}%00.opus", f"/play?box={w.box}%00&id={open_id}",
               f"/play?box={w.box}&id={open_id}{'a' * 5000}", "/../org/org.key",
               "/%2e%2e/org/org.key", "/%252e%252e/org/org.key", "//etc/passwd",
               "/etc/passwd", f"/{w.box}/{open_id}.opus", "/play/../../org/org.key"]
        bad += [f"/play?box={w.box}&id={e}/{e}/org/org.key" for e in enc.values()]
        for url in bad:
            r, data = s.req("GET", url)
            assert r.status in (400, 404, 414), (url, r.status)
            assert b"OggS" not in data and b"diaryroom-org-key" not in data.lower(), url
        for line in (b"GET /../../org/org.key HTTP/1.1", b"GET /play?box=" + w.box.encode() +
                     b"&id=\x00" + open_id.encode() + b" HTTP/1.1",
                     b"GET /play?box=" + w.box.encode() + b"\x00/../../org&id=" +
                     open_id.encode() + b" HTTP/1.1",
                     b"GET " + b"/" * 70000 + b" HTTP/1.1"):
            out = s.raw(line)
            assert b" 200 " not in out.split(b"\r\n")[0] and b"OggS" not in out, out[:200]

        # a play, audited with the staff member's name (a HEAD is not a play)
        before = len(audit_entries(w))
        r, _ = s.req("HEAD", play)
        assert r.status == 200 and len(audit_entries(w)) == before
        r, whole = s.req("GET", play)
        assert r.status == 200 and whole.startswith(b"OggS") and \
            r.getheader("Accept-Ranges") == "bytes"
        size = len(whole)
        plays = [e for e in audit_entries(w)[before:] if e["action"] == "play"]
        assert len(plays) == 1 and plays[0]["actor"] == "Pat Staff" and \
            plays[0]["recording"] == open_id, plays

        # ranges on every edge
        def rng(h, status, body=None, cr=None):
            r, data = s.req("GET", play, headers={"Range": h})
            assert r.status == status, (h, r.status)
            if body is not None:
                assert data == body, (h, len(data))
            if cr is not None:
                assert r.getheader("Content-Range") == cr, (h, r.getheader("Content-Range"))
        rng("bytes=0-", 206, whole, f"bytes 0-{size - 1}/{size}")
        rng("bytes=-1", 206, whole[-1:], f"bytes {size - 1}-{size - 1}/{size}")
        rng(f"bytes={size - 1}-", 206, whole[-1:], f"bytes {size - 1}-{size - 1}/{size}")
        rng(f"bytes=10-{size + 100}", 206, whole[10:], f"bytes 10-{size - 1}/{size}")
        rng(f"bytes=-{size + 5}", 206, whole)
        rng("bytes=100-199", 206, whole[100:200], f"bytes 100-199/{size}")
        rng(f"bytes={size}-", 416, cr=f"bytes */{size}")
        rng(f"bytes={size + 1000}-{size + 2000}", 416)
        rng("bytes=-0", 416)
        rng("bytes=0-1,5-6", 200, whole)   # several ranges: the whole file
        rng("bytes=5-2", 200, whole)       # invalid: ignored
        rng("items=0-1", 200, whole)

        # the file changed under the catalogue: empty, 1 byte, a symlink
        path = os.path.join(w.archive, w.box, open_id + ".opus")
        os.rename(path, path + ".keep")
        try:
            open(path, "wb").close()
            rng("bytes=0-", 416, cr="bytes */0")
            r, data = s.req("GET", play)
            assert r.status == 200 and data == b""
            with open(path, "wb") as f:
                f.write(b"x")
            rng("bytes=0-", 206, b"x", "bytes 0-0/1")
            rng("bytes=-1", 206, b"x", "bytes 0-0/1")
            rng("bytes=1-", 416, cr="bytes */1")
            os.unlink(path)
            os.symlink(os.path.join(w.org, "org.key"), path)
            r, data = s.req("GET", play)
            assert r.status == 404 and b"org" not in data.lower()[:0] and len(data) < 100, r.status
        finally:
            if os.path.lexists(path):
                os.unlink(path)
            os.rename(path + ".keep", path)

        # a log edited behind the archive's back shows as broken on the page
        log_path = os.path.join(w.archive, "audit.log")
        with open(log_path) as f:
            text = f.read()
        with open(log_path, "w") as f:
            f.write(text.replace('"Pat Staff"', '"Someone Else"', 1))
        r, broken = s.req("GET", "/")
        assert b"Audit log: BROKEN" in broken, broken[:400]
        with open(log_path, "w") as f:
            f.write(text)

        # sign-out needs the page's CSRF token
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
        r, _ = s.req("POST", "/signout", "csrf=" + "1" * 64)
        assert r.status == 403
        r, _ = s.req("GET", "/")
        assert r.status == 200
        r, _ = s.req("POST", "/signout", "csrf=" + csrf)
        assert r.status == 303
        r, _ = s.req("GET", "/")
        assert r.status == 401
    finally:
        s.stop()


def form(**kw):
    return "&".join(f"{k}={urllib.parse.quote_plus(v)}" for k, v in kw.items())


def insert(w):
    """the stick back in the box: what the box did with the receipt"""
    p = subprocess.run([STICK, "insert", "--data", w.data, "--keys", w.keys, "--stick",
                        w.stick], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def box_rows(w):
    db = sqlite3.connect(f"file:{w.data}/catalogue.sqlite?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT id, state FROM recordings"))
    finally:
        db.close()


def test_wishes(w):
    """a resident's wishes, unlock, a subject access copy and the audit log,
    from the page (docs/staff-page.md)"""
    (open_id, open_r), (locked_id, locked_r) = w.recs
    a = os.path.join(w.archive, w.box)
    s = Server(w)
    try:
        s.signin("Pat Staff")
        r, page = s.req("GET", "/")
        page = page.decode()
        refs = dict((m[1], m[0]) for m in re.findall(
            r'href="/wish\?(box=[0-9a-f]{16}&amp;receipt=(\d{4})&amp;start=[0-9TZ:-]+)"', page))
        ref = {r: dict(kv.split("=") for kv in q.split("&amp;")) for r, q in refs.items()}
        op, lk = ref[open_r], ref[locked_r]
        assert locked_id not in page
        s.req("POST", "/signout", "csrf=" + re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1))
        s.cookie = None
        wish = dict(**op, what="withdraw")
        posts = [("/wish/confirm", wish), ("/wish/do", wish),
                 ("/wish/do", dict(**lk, what="listen", **{"pass": PASS})),
                 ("/export", dict(**op))]
        # no session: nothing, and nothing changes
        before = len(audit_entries(w))
        for url in ("/wish?" + urllib.parse.urlencode(op), "/audit",
                    "/verify?" + urllib.parse.urlencode(op)):
            r, data = s.req("GET", url)
            assert r.status == 401 and open_id.encode() not in data, (url, r.status)
        for url, f in posts:
            r, _ = s.req("POST", url, form(**f, csrf="0" * 64))
            assert r.status == 401, (url, r.status)
        assert s.signin("Pat Staff") == 303
        r, page = s.req("GET", f"/?receipt={open_r}")
        page = page.decode()
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
        assert "Checked when collected" in page
        # signed in, but without the page's CSRF token: refused, nothing changes
        for url, f in posts:
            for bad in ({}, {"csrf": "1" * 64}):
                r, _ = s.req("POST", url, form(**f, **bad))
                assert r.status == 403, (url, bad, r.status)
        assert len(audit_entries(w)) == before
        assert os.path.exists(os.path.join(a, open_id + ".opus"))
        assert not os.path.exists(os.path.join(a, locked_id + ".opus"))
        assert not os.path.exists(s.exports)

        # each recording says how it was verified; a file altered is found
        r, v = s.req("GET", "/verify?" + urllib.parse.urlencode(op))
        assert r.status == 200 and b"Sound." in v and v.count(b"matches its hash") == 2, v
        sealed = os.path.join(a, open_id + ".opus.sealed")
        with open(sealed, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 1]))
        r, v = s.req("GET", "/verify?" + urllib.parse.urlencode(op))
        assert b"DOES NOT MATCH" in v and b"Not sound" in v, v
        with open(sealed, "r+b") as f:
            f.seek(100)
            f.write(b)

        # a subject access copy: a new folder holding exactly that receipt's
        before = len(audit_entries(w))
        r, p = s.req("POST", "/export", form(**op, csrf=csrf))
        p = p.decode()
        assert r.status == 200, p
        folders = os.listdir(s.exports)
        assert len(folders) == 1 and folders[0] in p, (folders, p)
        got = sorted(os.listdir(os.path.join(s.exports, folders[0])))
        assert got == sorted([f"{w.box}-{open_id}.opus", "record.json"]), got
        ex = staff_entries(w, before, ["export"])
        assert all(e["action"] == "export" for e in ex) and len(ex) == 2 and \
            folders[0] in ex[-1]["detail"], ex
        # a locked recording is copied sealed, or opened with the passphrase
        # (a wrong one makes no copy)
        r, p = s.req("POST", "/export", form(**lk, csrf=csrf, **{"pass": "not it"}))
        assert r.status == 403 and len(os.listdir(s.exports)) == 1
        for extra, name in (({}, f"{w.box}-{locked_id}.opus.sealed"),
                            ({"pass": PASS}, f"{w.box}-{locked_id}.opus")):
            have = set(os.listdir(s.exports))
            r, p = s.req("POST", "/export", form(**lk, csrf=csrf, **extra))
            new = set(os.listdir(s.exports)) - have
            assert r.status == 200 and len(new) == 1, (r.status, p)
            folder = os.path.join(s.exports, new.pop())
            got = sorted(os.listdir(folder))
            assert got == sorted([name, "record.json"]), got
        with open(os.path.join(folder, f"{w.box}-{locked_id}.opus"), "rb") as f:
            assert f.read(4) == b"OggS"

        # may share: recorded as a consent change; refused while another
        # diaryroom-admin (a collect) writes the archive
        share = dict(**op, what="share-yes", csrf=csrf)
        with open(os.path.join(w.archive, ".lock"), "a") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            r, p = s.req("POST", "/wish/do", form(**share))
            assert r.status == 409 and b"Nothing changed" in p, (r.status, p)
        r, p = s.req("POST", "/wish/do", form(**share))
        assert r.status == 200 and b"Recorded for receipt" in p, p
        sh = [e for e in audit_entries(w) if e["action"] == "consent" and e["actor"] == "Pat Staff"]
        assert len(sh) == 1 and "share yes" in sh[0]["detail"], sh
        r, p = s.req("POST", "/wish/do", form(**share))   # now not offered
        assert r.status == 400, r.status
        r, p = s.req("GET", "/?" + urllib.parse.urlencode({"receipt": open_r}))
        assert b"share yes" in p

        # unlock: the passphrase is asked again, and a wrong one changes nothing
        r, p = s.req("POST", "/wish/confirm", form(**lk, what="listen", csrf=csrf))
        assert r.status == 200 and b'type="password"' in p and b"You are about to record" in p
        r, p = s.req("POST", "/wish/do", form(**lk, what="listen", csrf=csrf))
        assert r.status == 403 and not os.path.exists(os.path.join(a, locked_id + ".opus"))
        r, p = s.req("POST", "/wish/do", form(**lk, what="listen", csrf=csrf,
                                              **{"pass": "not the passphrase"}))
        assert r.status == 403 and not os.path.exists(os.path.join(a, locked_id + ".opus"))
        before = len(audit_entries(w))
        r, p = s.req("POST", "/wish/do", form(**lk, what="listen", csrf=csrf,
                                              **{"pass": PASS}))
        assert r.status == 200 and b"Recorded for receipt" in p, p
        assert os.path.exists(os.path.join(a, locked_id + ".opus"))
        un = [e for e in staff_entries(w, before, ["unlock"]) if e["action"] == "unlock"]
        assert len(un) == 1 and un[0]["recording"] == locked_id, un

        # a withdrawal: a summary to confirm first, then done
        r, p = s.req("POST", "/wish/confirm", form(**wish, csrf=csrf))
        assert r.status == 200 and b"You are about to record" in p and b"Withdraw" in p
        assert os.path.exists(os.path.join(a, open_id + ".opus"))
        before = len(audit_entries(w))
        r, p = s.req("POST", "/wish/do", form(**wish, csrf=csrf))
        assert r.status == 200 and b"Recorded for receipt" in p, p
        assert not [f for f in os.listdir(a) if f.startswith(open_id)], os.listdir(a)
        new = staff_entries(w, before, ["change", "withdraw", "delete"])
        log("withdrawal on the page: " + ", ".join(e["action"] for e in new))
        wd = [e for e in new if e["action"] == "withdraw"]
        assert len(wd) == 1 and wd[0]["recording"] == open_id and wd[0]["receipt"] == open_r, wd
        # the audit page: newest first, with who, and the chain intact
        r, au = s.req("GET", "/audit")
        au = au.decode()
        assert r.status == 200 and "The audit log is intact" in au, au[:500]
        rows = re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>", au)
        top = rows[:len(new)]
        assert all(x[1].startswith("Pat Staff") for x in top) and \
            sorted(x[2] for x in top) == sorted(e["action"] for e in new), rows[:5]
        seqs = [int(x[0]) for x in rows]
        assert seqs == sorted(seqs, reverse=True) and len(seqs) == len(audit_entries(w)), seqs
        log_path = os.path.join(w.archive, "audit.log")
        with open(log_path) as f:
            text = f.read()
        with open(log_path, "w") as f:
            f.write(text.replace('"Pat Staff"', '"Someone Else"', 1))
        r, au = s.req("GET", "/audit")
        assert b"The audit log is BROKEN" in au and b"broken at line" in au, au[:600]
        with open(log_path, "w") as f:
            f.write(text)
    finally:
        s.stop()
    # the next collect sends it to the box, which withdraws its copy
    assert box_rows(w)[open_id] != "withdrawn"
    admin("collect", "--org", w.org, "--stick", w.stick, "--archive", w.archive)
    evs = insert(w)
    rc = [e for e in evs if e.get("ev") == "receipt"]
    log("insert: " + json.dumps(rc))
    # the withdrawal, the unlock and the may-share change
    assert rc and rc[0]["withdrawn"] == 1 and rc[0]["consent_changed"] >= 1, rc
    assert box_rows(w)[open_id] == "withdrawn", box_rows(w)


def stick_world(cli=True):
    """a box's export on a staff stick, plugged in at <media>/<label> where
    the page looks for sticks, and an empty archive; with cli, copies of the
    stick and box (cli["stick"], cli["data"]) and the command line's collect
    of them into cli["archive"], which started as empty"""
    w = World(collect=False)
    cli = {n: os.path.join(w.dir, "cli-" + n) for n in ("stick", "data", "archive")} if cli else {}
    if cli:
        shutil.copytree(w.stick, cli["stick"], symlinks=True)
        shutil.copytree(w.data, cli["data"], symlinks=True)
    # an empty archive (a collect of a stick no box has written makes one,
    # and says there was nothing to collect)
    empty = os.path.join(w.dir, "empty-stick")
    os.makedirs(empty)
    admin("make-stick", "--org", w.org, "--stick", empty, "--name", "Nobody")
    for a in [w.archive] + ([cli["archive"]] if cli else []):
        subprocess.run([ADMIN, "collect", "--org", w.org, "--stick", empty, "--archive", a],
                       capture_output=True, env=ENV)
        assert os.path.exists(os.path.join(a, "catalogue.sqlite"))
    if cli:
        admin("collect", "--org", w.org, "--stick", cli["stick"], "--archive", cli["archive"])
    media = os.path.join(w.dir, "media")
    os.makedirs(media)
    os.makedirs(os.path.join(media, "not a stick"))
    label = "STAFF STICK"
    os.rename(w.stick, os.path.join(media, label))
    w.stick = os.path.join(media, label)
    return w, cli, media, label


def main():
    w = World()
    test_page(w)
    test_wishes(w)
    log("staff page: OK")


if __name__ == "__main__":
    run([main])
