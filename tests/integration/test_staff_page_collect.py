#!/usr/bin/python3
"""The staff's page, `diaryroom-admin serve` (docs/staff-page.md): a staff
stick collected from the page gives the same archive and receipt as the
command line's collect, its progress reaches 100 %, one collect runs at a
time, and it is refused without a session or CSRF token. (World, Server
and stick_world are test_staff_page.py's.)

About 2 s (a seeded box, two collects, one Argon2id sign-in)."""
import fcntl
import hashlib
import json
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from drtest import log, run  # noqa: E402
from test_staff_page import PASS, Server, audit_entries, form, insert, staff_entries, stick_world  # noqa: E402


def archive_state(archive):
    """what an archive holds, but for the times it was done at: every file
    of every box (its bytes' hash) and the catalogue's recordings"""
    files = {}
    for box in sorted(os.listdir(archive)):
        top = os.path.join(archive, box)
        if len(box) != 16 or not os.path.isdir(top):
            continue
        for d, _, names in os.walk(top):
            for n in names:
                with open(os.path.join(d, n), "rb") as f:
                    files[os.path.relpath(os.path.join(d, n), archive)] = \
                        hashlib.blake2b(f.read()).hexdigest()
    db = sqlite3.connect(f"file:{archive}/catalogue.sqlite?mode=ro", uri=True)
    try:
        cols = [r[1] for r in db.execute("PRAGMA table_info(recordings)")
                if "utc" not in r[1] or r[1] == "start_utc"]
        rows = sorted(db.execute(f"SELECT {', '.join(cols)} FROM recordings"))
    finally:
        db.close()
    return files, rows


def receipt_seen(evs):
    """what the box made of the stick's receipt"""
    return [{k: v for k, v in e.items() if k not in ("t", "ts", "mono_ms", "utc")}
            for e in evs if e.get("ev") == "receipt"]


def test_collect():
    """a staff stick collected from the page: the same archive and receipt
    as the command line's collect; progress to 100 %; one at a time; a
    command-line collect holding the archive said; no session, no CSRF
    token, a wrong passphrase: nothing collected"""
    w, cli, media, label = stick_world()
    before = archive_state(w.archive)
    assert not before[1]
    s = Server(w, sticks=media, env={"DIARYROOM_SERVE_COLLECT_PACE_MS": "150"})
    try:
        body = form(stick=label, csrf="0" * 64, **{"pass": PASS})
        for url in ("/collect", "/collect/status", "/collect.js"):
            r, data = s.req("GET", url)
            assert r.status == 401 and label.encode() not in data, (url, r.status)
        r, _ = s.req("POST", "/collect", body)
        assert r.status == 401, r.status
        assert s.signin("Pat Staff") == 303
        r, page = s.req("GET", "/")
        page = page.decode()
        assert f"A staff stick is plugged in ({label})" in page and 'href="/collect"' in page, page
        r, cp = s.req("GET", "/collect")
        cp = cp.decode()
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', cp).group(1)
        assert r.status == 200 and label in cp and "not a stick" not in cp, cp
        for bad in ({}, {"csrf": "1" * 64}):
            r, _ = s.req("POST", "/collect", form(stick=label, **bad, **{"pass": PASS}))
            assert r.status == 403, (bad, r.status)
        # a folder that is not a plugged-in stick, or a path: refused
        for name in ("not a stick", "../" + label, w.stick, "nope"):
            r, _ = s.req("POST", "/collect", form(stick=name, csrf=csrf, **{"pass": PASS}))
            assert r.status == 404, (name, r.status)
        r, _ = s.req("POST", "/collect", form(stick=label, csrf=csrf, **{"pass": "not it"}))
        assert r.status == 403, r.status
        # a command-line collect holding the archive: said, nothing started
        with open(os.path.join(w.archive, ".lock"), "a") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            r, p = s.req("POST", "/collect", form(stick=label, csrf=csrf, **{"pass": PASS}))
            assert r.status == 409 and b"command line" in p, (r.status, p)
        r, st = s.req("GET", "/collect/status")
        assert json.loads(st)["state"] == "none", st
        assert archive_state(w.archive) == before
        # the collect: started, one at a time, followed to the end
        audit_before = len(audit_entries(w))
        r, _ = s.req("POST", "/collect", form(stick=label, csrf=csrf, **{"pass": PASS}))
        assert r.status == 303 and r.getheader("Location") == "/collect", r.status
        r, p = s.req("POST", "/collect", form(stick=label, csrf=csrf, **{"pass": PASS}))
        assert r.status == 409 and b"already being collected" in p, (r.status, p)
        r, p = s.req("POST", "/export", form(box="0" * 16, receipt="0000",
                                             start="2026-01-01T00:00:00Z", csrf=csrf))
        assert r.status == 409 and b"being collected" in p, (r.status, p)
        r, p = s.req("GET", "/collect")
        assert b'<progress id="files"' in p and b'src="/collect.js"' in p and \
            b'http-equiv="refresh"' in p, p
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r, st = s.req("GET", "/collect/status")
            st = json.loads(st)
            if not seen or st != seen[-1]:
                seen.append(st)
            if st["state"] != "running":
                break
            time.sleep(0.05)
        log("progress seen: " + " ".join(f"{x['done']}/{x['total']},{x['percent']}%" for x in seen))
        last = seen[-1]
        assert last["state"] == "done" and last["percent"] == 100, seen
        assert last["done"] == last["total"] == 2 and last["bytes"] == last["bytes_total"] > 0, last
        assert any(x["state"] == "running" and 0 < x["percent"] < 100 for x in seen), seen
        r, p = s.req("GET", "/collect")
        p = p.decode()
        summ = re.sub(r"<[^>]+>", "", p[p.index('id="summary"'):])
        assert "2 new recordings" in summ and "1 locked recording," in summ and \
            "0 withdrawals sent to the box in the receipt" in summ, summ
        assert "What collect said" in p and "collect: done" in p, p
        # every entry of it in the staff member's name
        staff_entries(w, audit_before, ["import"])
    finally:
        s.stop()
    # the same archive as the command line's, and the same receipt for the box
    page_state, cli_state = archive_state(w.archive), archive_state(cli["archive"])
    assert page_state == cli_state, (page_state, cli_state)
    assert len(page_state[1]) == 2
    got_page = receipt_seen(insert(w))
    w.stick, w.data = cli["stick"], cli["data"]
    got_cli = receipt_seen(insert(w))
    log("receipt: " + json.dumps(got_page))
    assert got_page and got_page == got_cli, (got_page, got_cli)


def main():
    test_collect()
    log("staff page collect: OK")


if __name__ == "__main__":
    run([main])
