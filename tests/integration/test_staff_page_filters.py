#!/usr/bin/python3
"""The staff's page, `diaryroom-admin serve` (docs/staff-page.md): the parts
that stand alone from test_staff_page.py (whose World, Server and helpers
they import):

- it refuses to listen anywhere but 127.0.0.1;
- the desktop launcher starts the page on the configured folders and opens
  the browser on the sign-in form, once; without its settings it says what
  is missing and opens nothing;
- the recordings page's filters by length (minutes), type, consent and date
  list exactly the rows the catalogue holds that match, newest first, each
  with its consent history; bad input is a clear 400.

About 2 s (one seeded box, one Argon2id "interactive" sign-in)."""
import http.client
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from drtest import BUILD, SRC as SOURCE, log, run  # noqa: E402
from test_staff_page import ADMIN, Server, World, free_port  # noqa: E402


def test_refuses_other_addresses(w):
    for bind in ("0.0.0.0", "::", "192.168.1.10"):
        p = subprocess.run([ADMIN, "serve", "--archive", w.archive, "--org", w.org,
                            "--port", str(free_port()), "--bind", bind],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 2 and "127.0.0.1" in p.stderr, (bind, p.returncode, p.stderr)


def test_launcher(w):
    """the desktop launcher (nobody types a command): it starts the page on
    the configured folders and opens the browser on the sign-in form, once"""
    src = os.path.join(SOURCE, "tools", "admin", "desktop")
    with open(os.path.join(src, "diaryroom-staff-page.desktop")) as f:
        entry = dict(l.strip().split("=", 1) for l in f if "=" in l)
    assert entry["Type"] == "Application" and entry["Exec"] == "diaryroom-staff-page" and \
        entry["Terminal"] == "false" and entry["Name"], entry
    home = os.path.join(w.dir, "home")
    fake = os.path.join(home, "bin")
    os.makedirs(fake)
    opened = os.path.join(home, "opened")
    with open(os.path.join(fake, "xdg-open"), "w") as f:
        f.write(f'#!/bin/sh\necho "$1" >>{opened}\n')
    os.chmod(os.path.join(fake, "xdg-open"), 0o755)
    port = free_port()
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, "cfg"),
               DIARYROOM_PORT=str(port),
               PATH=fake + ":" + os.path.join(BUILD, "bin") + ":" + os.environ["PATH"])
    launcher = os.path.join(src, "diaryroom-staff-page")
    p = subprocess.run([launcher], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "ARCHIVE=" in p.stderr and not os.path.exists(opened), p
    os.makedirs(os.path.join(home, "cfg", "diaryroom"))
    with open(os.path.join(home, "cfg", "diaryroom", "staff-page"), "w") as f:
        f.write(f"ARCHIVE={w.archive}\nORG={w.org}\nEXPORTS={home}/exports\n")
    first = subprocess.Popen([launcher], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert first.wait(timeout=30) == 0, first.stderr.read()
        url = f"http://127.0.0.1:{port}/signin"
        with open(opened) as f:
            assert f.read().split() == [url]
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/signin")
        r = c.getresponse()
        assert r.status == 200 and b"The organisation's passphrase" in r.read()
        c.close()
        # again: the page is running, so only the browser opens
        p = subprocess.run([launcher], env=env, capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and p.stderr == "", p
        with open(opened) as f:
            assert f.read().split() == [url, url]
    finally:
        os.killpg(first.pid, signal.SIGTERM)  # the server it started, in its group
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the launcher's server did not stop")


def listed(page):
    """(box, receipt) of each recording on the recordings page"""
    return sorted(re.findall(r'<section class="rec"><h2>[^<]* &middot; receipt (\w+)</h2><p>Box ([0-9a-f]{16})',
                             page))


def filters_exact(w, s):
    db = sqlite3.connect(f"file:{w.archive}/catalogue.sqlite?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT receipt, box, duration_ms, media, consent_staff FROM recordings").fetchall()
    finally:
        db.close()
    assert {r[2] // 1000 for r in rows} == {1, 2}, rows
    cases = [dict(longer="0.02"), dict(shorter="0.02"), dict(longer="0.01", shorter="0.05"),
             dict(longer="1"), dict(shorter="10000"), dict(longer="0"), dict(media="sound"),
             dict(media="video"), dict(consent="yes"), dict(consent="no", longer="0.02"),
             dict(consent="no", shorter="0.02"), dict(media="sound", longer="0.03")]
    seen = set()
    for q in cases:
        lo = round(float(q.get("longer", "-1")) * 60000)
        hi = round(float(q["shorter"]) * 60000) if "shorter" in q else None
        want = sorted((r[0], r[1]) for r in rows
                      if r[2] >= lo and (hi is None or r[2] <= hi)
                      and q.get("media", {"audio": "sound"}.get(r[3], r[3])) ==
                      {"audio": "sound"}.get(r[3], r[3])
                      and q.get("consent", r[4]) == r[4])
        r, page = s.req("GET", "/?" + urllib.parse.urlencode(q))
        assert r.status == 200, (q, r.status)
        got = listed(page.decode())
        assert got == want, (q, got, want)
        assert f"<p>{len(want)} recording".encode() in page, q
        seen.add(len(want))
    assert seen == {0, 1, 2}, seen  # the filters do split the rows
    # newest first (start, then id), each with its consent history
    db = sqlite3.connect(f"file:{w.archive}/catalogue.sqlite?mode=ro", uri=True)
    try:
        order = [r[0] for r in db.execute(
            "SELECT receipt FROM recordings ORDER BY start_utc DESC, id")]
        days = sorted({r[0][:10] for r in db.execute("SELECT start_utc FROM recordings")})
    finally:
        db.close()
    r, page = s.req("GET", "/")
    page = page.decode()
    assert re.findall(r'&middot; receipt (\w+)</h2>', page) == order, order
    assert page.count("<summary>Consent history</summary><ul><li>") == len(order)
    # the date range (the recording's start, UTC; both days included)
    for q, n in ((dict(to=days[-1], **{"from": days[0]}), len(rows)),
                 ({"from": "2100-01-01"}, 0), (dict(to="2000-01-01"), 0)):
        r, page = s.req("GET", "/?" + urllib.parse.urlencode(q))
        assert r.status == 200 and len(listed(page.decode())) == n, (q, n)
    # the form keeps what was asked
    r, page = s.req("GET", "/?longer=0.5&shorter=2&media=video&consent=no")
    assert b'id="longer" name="longer" type="number" min="0" max="10000" step="0.01" value="0.5"' in page
    assert b'value="2"' in page and b'<option value="video" selected>' in page and \
        b'<option value="no" selected>' in page
    for q, why in (("longer=abc", b"number of minutes"), ("shorter=-1", b"number of minutes"),
                   ("longer=1e3", b"number of minutes"), ("longer=0x10", b"number of minutes"),
                   ("longer=1.234", b"number of minutes"), ("longer=10001", b"number of minutes"),
                   ("shorter=.5", b"number of minutes"), ("longer=5.", b"number of minutes"),
                   ("longer=99999999999999999999", b"number of minutes"),
                   ("longer=3&shorter=2", b"nothing could match"),
                   ("media=audio", b"sound or video"), ("consent=maybe", b"yes, no or unanswered"),
                   ("from=2026-1-1", b"YYYY-MM-DD"), ("to=tomorrow", b"YYYY-MM-DD")):
        r, data = s.req("GET", "/?" + q)
        assert r.status == 400 and why in data and b"<section" not in data, (q, r.status, data)


def test_filters(w):
    s = Server(w)
    try:
        assert s.signin("Fran Filter") == 303
        filters_exact(w, s)
    finally:
        s.stop()


def main():
    w = World()
    test_refuses_other_addresses(w)
    test_launcher(w)
    test_filters(w)
    log("staff page filters, address and launcher: OK")


if __name__ == "__main__":
    run([main])
