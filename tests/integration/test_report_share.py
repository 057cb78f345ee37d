#!/usr/bin/python3
"""The engagement report and share copies (docs/staff-page.md), on an
archive collected from two seeded boxes: box A with 9 recordings over two
months, box B with 3.

- `diaryroom-admin report` and the page /report give the catalogue's own
  figures (counted here with SQL on catalogue.sqlite), --from narrows them;
- box B's 3 recordings show as "fewer than 5" wherever they would be
  counted, and no figure shown lets one work them out (box A's count is
  withheld, the charts draw no bar for a hidden count);
- a share copy (POST /share with the page's CSRF token) is -16 +- 1 LUFS
  integrated as ffmpeg's ebur128 filter measures it, lasts as long as the
  recording, and is in the audit log with the staff name;
- a disguised copy keeps the length but its spectrum moves (the spectral
  centroid of its speech band rises; the plain copy's does not);
- a locked recording (even with "may share" set to yes by hand), one the
  resident did not let be shared, an expired one, and one whose playable
  copy was changed are refused, on the page and by `diaryroom-admin
  share`; so is a POST without the CSRF token;
- a video's share copy (box C, seeded after the report) is its sound only:
  the page says so, it lasts as long as the video's sound (+-20 ms), is
  -16 +- 1 LUFS, and is what was said; a locked video is refused.

About 11 s here (Argon2id sign-ins, 12 seeded recordings, two videos seeded in
real time, four copies)."""
import json
import os
import re
import sqlite3
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from drtest import BUILD, RATE, log, read_wav, run, similarity, speak, tmpdir  # noqa: E402
from test_staff_page import ADMIN, ENV, SEED, STICK, Server, admin  # noqa: E402

STAFF = "Robin Report"


def box_seed(w, name, runs, media="audio"):
    """a box (its keys), seeded by runs of (faketime or None, seconds, consent), collected"""
    keys, data = os.path.join(w.dir, "keys-" + name), os.path.join(w.dir, "data-" + name)
    admin("provision-device", "--org", w.org, "--out", keys)
    recs = []
    for fake, seconds, consent in runs:
        cmd = [SEED, "--data", data, "--org-pub", os.path.join(keys, "org.pub"), "--wav", w.wav,
               "--seconds", seconds, "--consent", consent, "--media", media]
        env = None
        if fake:
            cmd = ["faketime", fake] + cmd
            # faketime's preload comes before ASan's in the sanitizer build
            env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr
        recs += [l.split()[:2] for l in p.stdout.splitlines()]
    p = subprocess.run([STICK, "insert", "--data", data, "--keys", keys, "--stick", w.stick],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    admin("collect", "--org", w.org, "--stick", w.stick, "--archive", w.archive)
    return recs


class World:
    def __init__(self):
        self.dir = tmpdir("reportshare")
        self.org, self.stick, self.archive = (os.path.join(self.dir, n) for n in ("org", "stick", "archive"))
        os.makedirs(self.stick)
        admin("init-org", "--org", self.org, "--kdf", "interactive")
        admin("make-stick", "--org", self.org, "--stick", self.stick, "--name", "Sam Staff")
        self.wav = speak(os.path.join(self.dir, "speech.wav"),
                         "What I want to say about the service, and about the staff who work here.")
        # box A: 5 recordings in January, 4 now; box B: 3 now
        self.a = box_seed(self, "a", [("2026-01-15 10:00:00", "2,2,2,2,2", "yes/yes,yes/no,no/no,yes/yes,yes/yes"),
                                      (None, "2,2,2,2", "yes/yes,no/no,yes/no,yes/yes")])
        self.b = box_seed(self, "b", [(None, "2,2,2", "yes/yes,yes/no,no/no")])
        self.db = os.path.join(self.archive, "catalogue.sqlite")

    def rows(self, where="1"):
        c = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return c.execute(f"SELECT box, id, receipt, start_utc, media, consent_staff, consent_share, "
                             f"locked, status FROM recordings WHERE {where}").fetchall()
        finally:
            c.close()


def expected(rows):
    """the figures the report must show, by the rule of tools/admin/report.h"""
    def group(keys):
        g = {}
        for k in keys:
            g[k] = g.get(k, 0) + 1
        shown = {k: str(v) if v >= 5 else "fewer than 5" for k, v in g.items()}
        small = [k for k, v in g.items() if v < 5]
        if len(small) == 1:
            rest = sorted((v, k) for k, v in g.items() if v >= 5)
            if rest:
                shown[rest[0][1]] = "not shown"
        return shown
    n = len(rows)
    staff = sum(1 for r in rows if r[5] == "yes")
    share = sum(1 for r in rows if r[6] == "yes")

    def rate(y):
        if n < 5 or y < 5 or n - y < 5:
            return "not shown"
        return f"{round(y * 100 / n)}% ({y} of {n})"
    return {
        "total": str(n) if n >= 5 else "fewer than 5",
        "months": group(r[3][:7] for r in rows),
        "boxes": group(r[0] for r in rows),
        "staff": rate(staff), "share": rate(share),
    }


def fix_media(e, rows):
    """sound and video: both always listed (a sound-only archive has 0 videos)"""
    nv = sum(1 for r in rows if r[4] == "video")
    ns = len(rows) - nv
    g = {"sound": ns, "video": nv}
    shown = {k: str(v) if v >= 5 else "fewer than 5" for k, v in g.items()}
    small = [k for k, v in g.items() if v < 5]
    if len(small) == 1:
        other = "sound" if small[0] == "video" else "video"
        shown[other] = "not shown"
    e["media"] = shown
    return e


def text_report(w, *extra):
    p = subprocess.run([ADMIN, "report", "--archive", w.archive] + list(extra), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def check_text(out, e):
    assert re.search(r"^Recordings: (.*)$", out, re.M).group(1) == e["total"], out
    for section, g in (("Per month", e["months"]), ("Per box", e["boxes"]), ("Sound and video", e["media"])):
        body = out.split(section, 1)[1].split("\n\n", 1)[0]
        got = dict(re.findall(r"^  (\S+)\s+(.+)$", body, re.M))
        assert got == g, (section, got, g)
    assert re.search(r"staff may listen:\s+(.*)$", out, re.M).group(1).startswith(e["staff"]), out
    assert re.search(r"may be shared:\s+(.*)$", out, re.M).group(1).startswith(e["share"]), out


def test_report(w):
    rows = w.rows()
    assert len(rows) == 12
    e = fix_media(expected(rows), rows)
    out = text_report(w)
    log(out)
    check_text(out, e)
    b = next(r[0] for r in rows if r[1] == w.b[0][0])
    a = next(r[0] for r in rows if r[1] == w.a[0][0])
    assert e["boxes"][b] == "fewer than 5" and e["boxes"][a] == "not shown", e
    # --from: only this month's 7
    month = max(r[3][:7] for r in rows)
    out = text_report(w, "--from", month + "-01")
    now = w.rows(f"start_utc >= '{month}-01T00:00:00Z'")
    e2 = fix_media(expected(now), now)
    check_text(out, e2)
    assert e2["total"] == "7", e2

    s = Server(w)
    try:
        assert s.signin(STAFF) == 303
        r, body = s.req("GET", "/report")
        assert r.status == 200, body
        page = body.decode()
        os.makedirs(os.path.join(BUILD, "test-artefacts", "report-share"), exist_ok=True)
        with open(os.path.join(BUILD, "test-artefacts", "report-share", "report.html"), "w") as f:
            f.write(page)
        # the same figures as the text report, in the page's tables
        for gid, g in (("months", e["months"]), ("boxes", e["boxes"]), ("media", e["media"])):
            table = page.split(f'id="{gid}-table"', 1)[1].split("</table>", 1)[0]
            got = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="n">([^<]+)</td>', table))
            assert got == g, (gid, got, g)
            # a group whose total is shown never hides just one count
            assert sum(1 for v in got.values() if not v.isdigit()) != 1, (gid, got)
            # the chart: a bar only for a shown count, none for a hidden one
            svg = page.split(f'id="{gid}-table"', 1)[1].split("<svg", 1)[1].split("</svg>", 1)[0]
            assert svg.count("<rect") == sum(1 for v in g.values() if v.isdigit()), (gid, svg)
        summary = page.split('id="summary"', 1)[1].split("</table>", 1)[0]
        assert f'<td class="n">{e["total"]}</td>' in summary
        # box B: "fewer than 5" wherever it is counted; nothing gives its 3 away
        assert re.search(rf'<th scope="row">{b}</th><td class="n">fewer than 5</td>', page)
        boxes = page.split('id="boxes-table"', 1)[1].split("</svg>", 1)[0]
        assert not re.search(r">\s*3\s*<", boxes), boxes
        shown = [int(v) for v in e["boxes"].values() if v.isdigit()]
        assert e["total"].isdigit() and sum(1 for v in e["boxes"].values() if not v.isdigit()) >= 2, \
            "one hidden box count with the total shown: it could be had by subtraction"
        assert int(e["total"]) - sum(shown) != 3 or len(shown) == 0
        assert "@media print" in s.req("GET", "/report.css")[1].decode()
        r, _ = s.req("GET", "/report", cookie=False)
        assert r.status == 401
    finally:
        s.stop()


def ebur128(path):
    """integrated loudness by ffmpeg's ebur128 filter (independent of libebur128)"""
    p = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", path, "-af", "ebur128", "-f", "null", "-"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", p.stderr)[-1])


def decoded(path):
    out = path + ".wav"
    p = subprocess.run(["opusdec", "--quiet", "--rate", str(RATE), path, out], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return read_wav(out)[0]


def centroid(x, lo=150, hi=3500):
    """the spectral centroid of the speech band, over frames with speech"""
    n = 1024
    frames = [x[i:i + n] * np.hanning(n) for i in range(0, len(x) - n, n // 2)]
    e = np.array([np.sum(f * f) for f in frames])
    spec = sum(np.abs(np.fft.rfft(f)) ** 2 for f, k in zip(frames, e) if k > 0.05 * e.max())
    fr = np.fft.rfftfreq(n, 1 / RATE)
    band = (fr >= lo) & (fr <= hi)
    return float(np.sum(fr[band] * spec[band]) / np.sum(spec[band]))


def test_share(w):
    rows = {r[1]: r for r in w.rows()}
    ok = next(rid for rid, _ in w.a if rows[rid][6] == "yes" and not rows[rid][7] and rows[rid][8] == "archived")
    locked = next(rid for rid, _ in w.a if rows[rid][7] and rows[rid][8] == "archived")
    # January's locked one is past the retention period: expired at collect
    expired = next(rid for rid, _ in w.a if rows[rid][8] == "expired")
    noshare = next(rid for rid, _ in w.a if rows[rid][6] != "yes" and not rows[rid][7])
    box = rows[ok][0]
    # a sealed recording is never shared, even with "may share" saying yes
    # (a box never records that answer without staff's; set here by hand)
    c = sqlite3.connect(w.db)
    c.execute("UPDATE recordings SET consent_share = 'yes' WHERE id = ?", (locked,))
    c.commit()
    c.close()
    s = Server(w)
    try:
        assert s.signin(STAFF) == 303
        r, body = s.req("GET", "/shares")
        assert r.status == 200
        page = body.decode()
        assert "does <strong>not</strong> stop a determined listener" in page, page
        assert ok in page and locked not in page and noshare not in page
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
        r, body = s.req("POST", "/share", f"box={box}&id={ok}")
        assert r.status == 403, (r.status, body)  # no CSRF token
        for rid, why in ((locked, "sealed"), (noshare, "did not agree"), (expired, "was expired")):
            r, body = s.req("POST", "/share", f"csrf={csrf}&box={box}&id={rid}&disguise=1")
            assert r.status == 403 and why in body.decode(), (r.status, body)
        assert not os.path.exists(os.path.join(w.archive, "shares")) or not any(
            locked in n or noshare in n or expired in n for n in os.listdir(os.path.join(w.archive, "shares")))
        # a playable copy changed since the archive made it: refused
        other = next(rid for rid, _ in w.a if rid != ok and rows[rid][6] == "yes" and not rows[rid][7]
                     and rows[rid][8] == "archived" and rows[rid][0] == box)
        path = os.path.join(w.archive, box, other + ".opus")
        with open(path, "rb") as f:
            kept = f.read()
        with open(path, "ab") as f:
            f.write(b"x")
        r, body = s.req("POST", "/share", f"csrf={csrf}&box={box}&id={other}")
        assert r.status == 409 and "not the one the archive made" in body.decode(), (r.status, body)
        with open(path, "wb") as f:
            f.write(kept)
        r, body = s.req("POST", "/share", f"csrf={csrf}&box={box}&id={ok}")
        assert r.status == 200, body
        r, body = s.req("POST", "/share", f"csrf={csrf}&box={box}&id={ok}&disguise=1")
        assert r.status == 200, body
    finally:
        s.stop()
    plain = os.path.join(w.archive, "shares", f"{box}-{ok}.opus")
    disg = os.path.join(w.archive, "shares", f"{box}-{ok}-disguised.opus")
    orig = os.path.join(w.archive, box, f"{ok}.opus")
    for f in (plain, disg):
        assert os.stat(f).st_mode & 0o777 == 0o600
        lufs = ebur128(f)
        log(f"{os.path.basename(f)}: {lufs} LUFS integrated (ffmpeg ebur128)")
        assert abs(lufs + 16) <= 1, lufs
    x0, x1, x2 = decoded(orig), decoded(plain), decoded(disg)
    assert len(x1) == len(x0) and len(x2) == len(x0), (len(x0), len(x1), len(x2))
    c0, c1, c2 = centroid(x0), centroid(x1), centroid(x2)
    log(f"speech-band centroid: original {c0:.0f} Hz, copy {c1:.0f} Hz, disguised {c2:.0f} Hz")
    assert abs(c1 - c0) / c0 < 0.03, (c0, c1)
    assert (c2 - c0) / c0 > 0.08, (c0, c2)
    with open(os.path.join(w.archive, "audit.log")) as f:
        shares = [json.loads(l) for l in f if '"share"' in l]
    shares = [e for e in shares if e.get("action") == "share"]
    assert len(shares) == 2 and all(e.get("actor") == STAFF and e.get("recording") == ok for e in shares), shares
    # the command line: refused for the locked one, made for the shareable one
    p = subprocess.run([ADMIN, "share", "--archive", w.archive, "--receipt", rows[locked][2], "--box", box],
                       capture_output=True, text=True, env=ENV)
    assert p.returncode == 1 and "refused" in p.stderr, p.stderr
    p = subprocess.run([ADMIN, "share", "--archive", w.archive, "--receipt", rows[ok][2], "--box", box,
                        "--staff", "Casey Cli"], capture_output=True, text=True, env=ENV)
    assert p.returncode == 0, p.stderr
    with open(os.path.join(w.archive, "audit.log")) as f:
        assert any(json.loads(l).get("actor") == "Casey Cli" for l in f if l.strip())
    admin("check", "--archive", w.archive)


def sound_of(path):
    """a file's sound as ffmpeg decodes it: 48 kHz mono"""
    p = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vn", "-ac", "1", "-ar", str(RATE),
                        "-f", "s16le", "-"], capture_output=True, check=True)
    return np.frombuffer(p.stdout, dtype="<i2").astype(np.float64) / 32768


def test_share_video(w):
    """a video's share copy is its sound: as long, -16 LUFS, what was said;
    a locked video is refused (box C, seeded after the report's figures)"""
    vids = box_seed(w, "c", [(None, "2.5,1.5", "yes/yes,no/no")], media="video")
    (ok, receipt), (locked, lreceipt) = vids
    rows = {r[1]: r for r in w.rows()}
    box = rows[ok][0]
    assert rows[ok][4] == "video" and rows[locked][4] == "video" and rows[locked][7], rows[locked]
    c = sqlite3.connect(w.db)
    c.execute("UPDATE recordings SET consent_share = 'yes' WHERE id = ?", (locked,))
    c.commit()
    c.close()
    s = Server(w)
    try:
        assert s.signin(STAFF) == 303
        r, body = s.req("GET", "/shares")
        page = body.decode()
        assert ok in page and locked not in page, page
        sect = page.split(ok, 1)[0].rsplit("<section>", 1)[1]
        assert "sound only (no picture)" in sect, sect
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
        r, body = s.req("POST", "/share", f"csrf={csrf}&box={box}&id={locked}")
        assert r.status == 403 and "sealed" in body.decode(), (r.status, body)
        r, body = s.req("POST", "/share", f"csrf={csrf}&box={box}&id={ok}")
        assert r.status == 200 and "no picture" in body.decode(), (r.status, body)
    finally:
        s.stop()
    copy = os.path.join(w.archive, "shares", f"{box}-{ok}.opus")
    assert not os.path.exists(os.path.join(w.archive, "shares", f"{box}-{locked}.opus"))
    lufs = ebur128(copy)
    x = decoded(copy)
    v = sound_of(os.path.join(w.archive, box, f"{ok}.webm"))
    speech = read_wav(w.wav)[0]
    env, wave = similarity(x, v)
    senv, _ = similarity(x, speech, max_lag_ms=300)
    log(f"video share copy: {lufs} LUFS, {len(x)} samples vs the video's sound {len(v)}; "
        f"vs the video's sound env {env:.3f} wave {wave:.3f}; vs the speech env {senv:.3f}")
    assert abs(lufs + 16) <= 1, lufs
    assert abs(len(x) - len(v)) <= RATE * 20 // 1000, (len(x), len(v))
    assert wave > 0.8, wave  # (the envelopes differ in the silences: digital zero vs codec noise)
    assert senv > 0.8, senv
    with open(os.path.join(w.archive, "audit.log")) as f:
        ev = [json.loads(l) for l in f if l.strip()]
    assert any(e.get("action") == "share" and e.get("recording") == ok and e.get("actor") == STAFF
               for e in ev), ev[-3:]
    # the command line: refused for the locked video, made for the other
    p = subprocess.run([ADMIN, "share", "--archive", w.archive, "--receipt", lreceipt, "--box", box],
                       capture_output=True, text=True, env=ENV)
    assert p.returncode == 1 and "sealed" in p.stderr, p.stderr
    p = subprocess.run([ADMIN, "share", "--archive", w.archive, "--receipt", receipt, "--box", box,
                        "--disguise"], capture_output=True, text=True, env=ENV)
    assert p.returncode == 0 and "no picture" in p.stdout, (p.stdout, p.stderr)
    assert abs(len(decoded(copy[:-5] + "-disguised.opus")) - len(v)) <= RATE * 20 // 1000


def main():
    w = World()
    test_report(w)
    test_share(w)
    test_share_video(w)
    log("report and share: OK")


if __name__ == "__main__":
    if os.environ.get("DR_TRACEBACK"):
        main()
    else:
        run([main])
