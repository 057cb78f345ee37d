# SPDX-License-Identifier: MIT
"""Video recordings from the box to the staff's browser (docs/video.md,
"The office PC"; docs/archive.md).

A box's data folder is seeded (diaryroom-seed --media) with a video staff
may watch, a locked video and a sound recording: each through the real
recorder, the videos with the simulated camera and the speech paced in
real time, sealed as the box seals them. The box's own export writes them
to the staff stick; collect imports them:

- each sealed original is kept as recorded (its hash the box's), one cut
  by a power failure on the box (interrupted) included;
- the video staff may watch gets <id>.webm: ffprobe silent, VP8 + Opus,
  as long as the opened original (60 ms), every frame, every Opus packet at
  its original time, its sound the speech; the cut one's copy goes to its
  last whole cluster, as long as the original opened; the opened
  Matroska in between is not left; the locked video has no copy at all;
- a collect killed while it makes the copy (twice: opening the original,
  writing the WebM), run again, gives the archive an
  uninterrupted collect gives (same files, same bytes), and `check` passes;
- the staff page lists both videos as video, plays the WebM in a <video>
  with Content-Type video/webm and byte ranges, and refuses the locked one;
- `find --receipt` lists the video; `export --receipt` copies the WebM
  (with --org, the locked video opened as Matroska);
- the receipt holds both videos: the box deletes them;
- a locked video's opened Matroska left in the archive is named by `check`
  and removed by the next collect, with half-made copies;
- a withdrawal deletes the original and the WebM, each recorded;
- unlock (a resident's later consent) makes the locked video's WebM;
- retention deletes a locked video's original.

About 14 s (7.5 s of video in real time; Argon2id for each passphrase use)."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time

from drtest import BUILD, blake2b_256, log, run, similarity
from test_staff_page import Server
from test_stick_sealed import SEED, World, admin, messages
from videocheck import check_browser_copy, sound_of, streams

RATE = 48000


def seed(w, seconds, consent, media):
    p = subprocess.run([SEED, "--data", w.data, "--org-pub", os.path.join(w.keys, "org.pub"),
                        "--wav", w.speech, "--seconds", seconds, "--consent", consent,
                        "--media", media], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    ids = []
    for line in p.stdout.splitlines():
        rid, receipt, _size, _h = line.split()
        w.receipts[rid] = receipt
        ids.append(rid)
    return ids


def box_files(archive, box):
    d = os.path.join(archive, box)
    return {f: blake2b_256(os.path.join(d, f)) for f in os.listdir(d)
            if os.path.isfile(os.path.join(d, f))}


def killed_collect(w, box, stick, at):
    """collect, SIGKILLed as soon as a file named *at is in the box's folder
    (a video's copy being made); True if it was."""
    p = subprocess.Popen([os.path.join(BUILD, "bin", "diaryroom-admin"), "collect", "--org", w.org,
                          "--stick", stick, "--archive", w.archive],
                         env=dict(os.environ, DIARYROOM_PASSPHRASE="a long passphrase for tests"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = os.path.join(w.archive, box)
    killed = False
    while p.poll() is None:
        if os.path.isdir(d) and [f for f in os.listdir(d) if f.endswith(at)]:
            p.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    p.wait()
    return killed


def cut(w, rid):
    """The box's power failed during video rid: its file kept to a message
    boundary short of the FINAL message (as the box's repair leaves it), and
    its catalogue row says interrupted, so the box signs that file."""
    path = os.path.join(w.data, "recordings", rid + ".mkv.sealed")
    b = open(path, "rb").read()
    b = b[:messages(b)[-4][0]]  # the last three data messages and the FINAL one lost
    open(path, "wb").write(b)
    db = sqlite3.connect(f"{w.data}/catalogue.sqlite")
    with db:
        db.execute("UPDATE recordings SET size_bytes = ?, blake2b = ?, state = 'interrupted' "
                   "WHERE id = ?", (len(b), blake2b_256(path), rid))
    db.close()


def test_video_collected():
    w = World("collectvideo")
    watch, locked, sound, cutoff = ids = seed(w, "3,2,1.5,2.5", "yes/yes,no/no,yes/no,yes/yes",
                                              "video,video,audio,video")
    cut(w, cutoff)
    rows = w.rows()
    rc, _ = w.insert()
    assert rc == 0
    box = os.path.basename(w.devdir())
    files = sorted(os.listdir(w.devdir()))
    assert watch + ".mkv.sealed" in files and locked + ".mkv.sealed" in files, files
    stick2 = os.path.join(w.dir, "stick-copy")
    shutil.copytree(w.stick, stick2)

    # ---- a collect killed while it makes the browser copy (opening the
    # original, then writing the WebM), run again ----
    for at in (".mkv.tmp", ".webm.tmp"):
        assert killed_collect(w, box, w.stick, at), f"collect finished before it made {at}"
        log(f"collect killed at {at}: " + " ".join(sorted(os.listdir(
            os.path.join(w.archive, box)))))
    p = w.collect()
    assert p.returncode == 0, p.stderr
    got = box_files(w.archive, box)
    # against a collect nobody interrupted, of the same stick
    other = os.path.join(w.dir, "archive-uninterrupted")
    p = admin("collect", "--org", w.org, "--stick", stick2, "--archive", other)
    assert p.returncode == 0, p.stderr
    assert got == box_files(other, box), (got, box_files(other, box))
    assert admin("check", "--archive", w.archive).returncode == 0

    # ---- what the archive keeps ----
    d = os.path.join(w.archive, box)
    names = sorted(f for f in got)
    assert names == sorted([watch + ".mkv.sealed", watch + ".webm", locked + ".mkv.sealed",
                            sound + ".opus.sealed", sound + ".opus", cutoff + ".mkv.sealed",
                            cutoff + ".webm"]), names
    for rid in ids:
        sealed = rid + (".opus.sealed" if rid == sound else ".mkv.sealed")
        assert got[sealed] == rows[rid]["blake2b"], rid  # the box's original, as recorded
    cat = json.loads(admin("list", "--archive", w.archive).stdout)[box]["recordings"]
    assert cat[watch]["media"] == "video" and cat[locked]["media"] == "video"
    assert cat[watch]["playable_blake2b"] == got[watch + ".webm"]
    assert not cat[locked].get("playable_blake2b"), cat[locked]

    # the browser copy against the original, opened outside the archive
    orig = os.path.join(w.dir, "original.mkv")
    admin("open", "--org", w.org, os.path.join(d, watch + ".mkv.sealed"), orig)
    webm = os.path.join(d, watch + ".webm")
    end_w, frames = check_browser_copy(webm, orig)
    assert abs(end_w - 3.0) <= 0.1 and frames > 30, (end_w, frames)
    # the video the box's power failure cut: copied to its last whole cluster
    orig_cut = os.path.join(w.dir, "original-cut.mkv")
    admin("open", "--org", w.org, os.path.join(d, cutoff + ".mkv.sealed"), orig_cut)
    webm_cut = os.path.join(d, cutoff + ".webm")
    end_w, frames = check_browser_copy(webm_cut, orig_cut)
    log(f"cut video: browser copy {end_w:.3f} s")
    assert 1.5 < end_w < 2.4 and frames > 15, (end_w, frames)

    heard = sound_of(webm)
    env, wav = similarity(heard, w.said[: len(heard)])
    log(f"browser copy's sound: {len(heard) / RATE:.3f} s, similarity envelope {env:.3f}, "
        f"waveform {wav:.3f}")
    assert abs(len(heard) / RATE - 3.0) < 0.06 and env >= 0.90 and wav >= 0.50, (env, wav)

    # ---- the staff page ----
    s = Server(w)
    try:
        assert s.signin("Sam Staff") == 303
        r, page = s.req("GET", "/")
        page = page.decode()
        assert r.status == 200
        assert page.count(", video, ") == 3 and page.count(", sound, ") == 1, page
        assert f'<video controls preload="none" width="640" aria-label="recording ' \
               f'{w.receipts[watch]}" src="/play?box={box}&amp;id={watch}"></video>' in page, page
        assert locked not in page
        size = os.path.getsize(webm)
        whole = open(webm, "rb").read()
        url = f"/play?box={box}&id={watch}"
        r, body = s.req("GET", url)
        assert (r.status, r.getheader("Content-Type"), r.getheader("Accept-Ranges"), body) == \
            (200, "video/webm", "bytes", whole), (r.status, r.getheader("Content-Type"))
        for rng, a, b in (("bytes=0-99", 0, 99), ("bytes=100-", 100, size - 1),
                          ("bytes=-10", size - 10, size - 1)):
            r, body = s.req("GET", url, headers={"Range": rng})
            assert r.status == 206 and r.getheader("Content-Type") == "video/webm", rng
            assert r.getheader("Content-Range") == f"bytes {a}-{b}/{size}", r.getheader("Content-Range")
            assert body == whole[a:b + 1], rng
        r, _ = s.req("GET", url, headers={"Range": f"bytes={size}-"})
        assert r.status == 416
        r, body = s.req("GET", f"/play?box={box}&id={locked}")
        assert r.status == 403 and not body.startswith(b"\x1a\x45\xdf\xa3"), r.status
    finally:
        s.stop()

    # ---- find and export by receipt number ----
    found = json.loads(admin("find", "--archive", w.archive, "--receipt",
                             w.receipts[watch]).stdout)
    fr = [x for x in found["recordings"] if x["id"] == watch]
    assert fr and fr[0]["media"] == "video", found
    out = os.path.join(w.dir, "sar")
    admin("export", "--archive", w.archive, "--receipt", w.receipts[watch], out)
    assert blake2b_256(os.path.join(out, f"{box}-{watch}.webm")) == got[watch + ".webm"], \
        os.listdir(out)
    out2 = os.path.join(w.dir, "sar-locked")
    admin("export", "--org", w.org, "--archive", w.archive, "--receipt", w.receipts[locked], out2)
    opened = os.path.join(out2, f"{box}-{locked}.mkv")
    assert streams(opened)[1] == [("audio", "opus"), ("video", "h264")], os.listdir(out2)

    # ---- the receipt: the box deletes both videos ----
    rc, _ = w.insert()
    assert rc == 0
    left = os.listdir(os.path.join(w.data, "recordings"))
    assert not [f for f in left if any(i in f for i in ids)], left

    # ---- a locked video's opened copy, as a killed run could leave it: check
    # names it, and the next collect removes it with the half-made ones ----
    left = [locked + x for x in (".mkv", ".mkv.tmp", ".webm.tmp")]
    for f in left:
        open(os.path.join(d, f), "wb").write(b"\x1a\x45\xdf\xa3 half made")
    p = admin("check", "--archive", w.archive, check=False)
    assert p.returncode == 1 and f"{locked}.mkv: recording {locked} is locked, but an opened " \
        "copy is there" in p.stdout, p.stdout

    # ---- a withdrawal deletes the original and the browser copy ----
    changes = os.path.join(w.dir, "changes.txt")
    open(changes, "w").write(f"withdraw {w.receipts[watch]}\n")
    p = w.collect("--changes", changes)
    assert p.returncode == 0, p.stderr
    assert not [f for f in os.listdir(d) if f.startswith(watch)], os.listdir(d)
    assert sorted(f for f in os.listdir(d) if f.startswith(locked)) == [locked + ".mkv.sealed"], \
        os.listdir(d)
    ev = {(e["id"], e["kind"], e["what"]) for e in
          json.loads(admin("list", "--archive", w.archive).stdout)[box]["events"]}
    assert {(watch, "deleted", watch + ".mkv.sealed"), (watch, "deleted", watch + ".webm")} <= ev, ev
    assert admin("check", "--archive", w.archive).returncode == 0

    # ---- a resident consents later: unlock makes the locked video's WebM ----
    admin("unlock", "--org", w.org, "--archive", w.archive, "--receipt", w.receipts[locked],
          "--share", "no")
    assert streams(os.path.join(d, locked + ".webm"))[1] == [("audio", "opus"), ("video", "vp8")]
    assert not [f for f in os.listdir(d) if f.startswith(locked) and f.endswith(".tmp")]
    assert admin("check", "--archive", w.archive).returncode == 0

    # ---- retention (in the other archive, where it is still locked): the
    # locked video's original is deleted as a sound's would be ----
    p = admin("collect", "--org", w.org, "--stick", stick2, "--archive", other,
              "--now", "2027-06-01T00:00:00Z", check=False)
    assert not [f for f in os.listdir(os.path.join(other, box)) if f.startswith(locked)], \
        os.listdir(os.path.join(other, box))
    ev = {(e["id"], e["kind"], e["what"]) for e in
          json.loads(admin("list", "--archive", other).stdout)[box]["events"]}
    assert {(locked, "expired", ""), (locked, "deleted", locked + ".mkv.sealed")} <= ev, ev


if __name__ == "__main__":
    run([test_video_collected])
