# SPDX-License-Identifier: MIT
"""Power cuts: the daemon is killed (SIGKILL) and started again, and the
catalogue, the audit log and the recording files must still agree with
each other and with what the resident did.

1. While recording: every recording is a valid Ogg Opus file, marked
   interrupted, and at most 0.5 s of the audio captured before the cut is
   lost. Some cuts come at random times; the others are aimed at the worst
   step, a flush: strace is attached to the recording daemon (every
   thread) once it records, and SIGKILL is delivered as the N-th write to
   the recording file enters (`-e inject=write:signal=SIGKILL:when=N`, `-P`
   that file), so everything since the last sync is lost; each such cut's
   own trace shows it landed on that write, after N-1 writes and syncs of
   the file. The worst loss of the aimed cuts and its margin to 0.5 s are
   printed and kept in build/<preset>/test-records/margins.jsonl.
2. At each step of the dialogue (welcome, beep, the file being closed,
   "thank you", listen-back, each question, each confirmation, the
   receipt), in one data folder that collects a recording per cut.
3. Inside the writes themselves, with strace's fault injection
   (`-e inject=SYSCALL:signal=SIGKILL:when=N`, the signal delivered as the
   N-th call enters, before it runs), strace attached to the daemon's
   catalogue thread alone, where these commits run: for the receipt number
   and for each consent answer, before the transaction's first write to
   the catalogue's WAL, at its commit's fdatasync (written, not yet
   synced), and just after the commit (at the write that tells the event
   loop the job is done: durable, nobody told). N is counted from a first,
   uncut run of the same session traced the same way, and every cut run's
   own trace shows that the kill landed on the call aimed at, after the
   same calls as the uncut run's.

After each cut and restart: every file the catalogue holds is valid Ogg
Opus (opusinfo), with the catalogue's size and hash; no recording has more
consent than was pressed, and never sharing without staff; an answer cut
before it was written is not there, one cut after its commit is there as
given, one cut in between is all there or not at all; receipt numbers are
unique; and the audit log agrees with the catalogue (every receipt and
consent has its audit row, there is no consent or receipt in the audit log
the catalogue does not hold).

SIGKILL keeps what reached the page cache, so this checks what the daemon
wrote, not what the disk kept; the emulated-board test cuts QEMU's power
with an uncached disk for that."""
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import time

from drtest import (RATE, SANITIZE, Box, DaemonDied, blake2b_256, decode, log, opusinfo_clean,
                    read_wav, record_margin, run, similarity, speak, tmpdir)

MAX_LOSS_S = 0.5
CUTS = 3 if SANITIZE else 6          # at random times
AIMED = (2, 7) if SANITIZE else (1, 3, 5, 7, 9, 12)  # at the N-th flush write
REC_S = 2.5
HELD = ("complete", "interrupted")
WORD = {"yes": 1, "no": 0, "unanswered": None}


# ---- the catalogue after a cut ----

def table(data, name):
    db = sqlite3.connect(f"file:{data}/catalogue.sqlite?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(f"SELECT * FROM {name} ORDER BY rowid")]
    finally:
        db.close()


def check_catalogue(data, pressed, label):
    """The whole catalogue, after a restart: files, consent, receipts, audit.
    pressed: {recording id: (pressed yes to staff, pressed yes to sharing)}."""
    rows = table(data, "recordings")
    audit = table(data, "audit")
    ids = {r["id"] for r in rows}
    per = {}
    for a in audit:
        if a["recording_id"] is not None:
            assert a["recording_id"] in ids, f"{label}: audit row for no recording: {a}"
            per.setdefault(a["recording_id"], []).append(a)
    on_disk = {f for f in os.listdir(os.path.join(data, "recordings"))
               if not f.endswith(".decoded.wav")}  # the test's own (drtest.decode)
    for r in rows:
        rid, acts = r["id"], per.get(r["id"], [])
        what = f"{label}: recording {rid[:8]}"
        assert r["state"] in HELD + ("discarded",), f"{what} is {r['state']} after recovery"
        path = os.path.join(data, r["file"])
        if r["state"] == "discarded":
            assert not os.path.exists(path), f"{what}: discarded but its file is there"
            assert r["receipt"] is None and r["consent_staff"] is None, (what, r)
        else:
            opusinfo_clean(path)
            assert os.path.getsize(path) == r["size_bytes"], (what, r)
            assert blake2b_256(path) == r["blake2b"], f"{what}: file differs from its hash"
        on_disk.discard(os.path.basename(path))
        # never more consent than was given
        staff_p, share_p = pressed.get(rid, (False, False))
        assert r["consent_share"] != 1 or r["consent_staff"] == 1, f"{what}: shared without staff"
        assert r["consent_staff"] != 1 or staff_p, f"{what}: staff yes never pressed: {r}"
        assert r["consent_share"] != 1 or share_p, f"{what}: share yes never pressed: {r}"
        # the audit log agrees with the catalogue
        kinds = [a["action"] for a in acts]
        assert kinds.count("begin") == 1, (what, kinds)
        ends = kinds.count("finish") if r["state"] in HELD else kinds.count("discard")
        assert ends == 1, (what, kinds)
        consents = [json.loads(a["detail"]) for a in acts if a["action"] == "consent"]
        for c in consents:
            assert WORD[c["staff"]] != 1 or staff_p, f"{what}: audit says staff yes: {c}"
            assert WORD[c["share"]] != 1 or share_p, f"{what}: audit says share yes: {c}"
        if consents:
            last = consents[-1]
            assert (WORD[last["staff"]], WORD[last["share"]], last["by"]) == \
                (r["consent_staff"], r["consent_share"], r["consent_by"]), \
                f"{what}: catalogue {r['consent_staff']}/{r['consent_share']} but audit {last}"
        else:
            assert (r["consent_staff"], r["consent_share"], r["consent_by"]) == (None, None, None), \
                f"{what}: consent without its audit row: {r}"
        receipts = [json.loads(a["detail"])["receipt"] for a in acts if a["action"] == "receipt"]
        assert receipts == ([r["receipt"]] if r["receipt"] else []), \
            f"{what}: receipt {r['receipt']} but audited {receipts}"
    assert not on_disk, f"{label}: files the catalogue does not know: {on_disk}"
    held = [r["receipt"] for r in rows if r["state"] in HELD and r["receipt"]]
    assert len(held) == len(set(held)), f"{label}: receipt numbers repeat: {held}"
    return rows


def restart_and_check(data, mic, pressed, label):
    """Power back: recovery, then a clean stop; the catalogue is checked."""
    box = Box("powercut-after", mic, data=data).start()
    assert box.terminate() == 0, box.stderr_text()
    return check_catalogue(data, pressed, label)


def kill(box):
    """The daemon itself (not a wrapper) gets SIGKILL."""
    pid = [e for e in box.events() if e["ev"] == "ready"][-1]["pid"]
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    box.proc.wait(30)
    box.stderr.close()


def asan_env(w):
    if SANITIZE:  # LeakSanitizer cannot run under ptrace
        opts = os.environ.get("ASAN_OPTIONS", "")
        return ["env", f"ASAN_OPTIONS={opts}{':' if opts else ''}detect_leaks=0"] + w
    return w


def have_strace():
    return shutil.which("strace") and subprocess.run(
        ["strace", "-qq", "-o", "/dev/null", "true"], capture_output=True).returncode == 0


# ---- 1. while recording ----

def check_cut_recording(data, started, captured, speech, label):
    """After the restart: the cut recording, interrupted, valid, with at most
    MAX_LOSS_S of what was captured lost. Returns the loss."""
    row = [r for r in table(data, "recordings") if r["id"] == started["id"]][0]
    assert row["state"] == "interrupted", row
    path = os.path.join(data, row["file"])
    opusinfo_clean(path)
    decoded = decode(path)
    kept = len(decoded) / RATE
    loss = captured - kept
    log(f"{label}: captured {captured:.3f} s, kept {kept:.3f} s, lost {loss:.3f} s "
        f"(margin {MAX_LOSS_S - loss:+.3f} s)")
    assert loss <= MAX_LOSS_S, f"{label}: lost {loss:.3f} s of audio at a cut"
    assert kept <= captured + 0.05, "kept more than was captured?"
    assert abs(row["duration_ms"] / 1000 - kept) < 0.021
    if kept > 2:
        env, _ = similarity(decoded, speech)
        assert env > 0.85, env
    return loss


def test_cuts_aimed_at_a_flush():
    if not have_strace():
        log("SKIP: strace is needed to cut at a flush")
        return
    d = tmpdir("powercut-flush")
    mic = speak(os.path.join(d, "mic.wav"),
                "Every morning I wake up and wonder whether today will be different. " * 2)
    speech, _ = read_wav(mic)
    data = os.path.join(d, "data")
    losses = []
    for i, n in enumerate(AIMED):
        box = Box("powercut-flush", mic, root=d, data=data).start()
        pid = [e for e in box.events() if e["ev"] == "ready"][-1]["pid"]
        box.press()
        started = box.wait_for("recording_started", timeout=30)
        row = [r for r in table(data, "recordings") if r["id"] == started["id"]][0]
        path = os.path.realpath(os.path.join(data, row["file"]))
        trace = os.path.join(d, f"trace-{i}")
        # attached to every thread of the daemon, from now on
        st = subprocess.Popen(["strace", "-f", "-qq", "-p", str(pid), "-o", trace, "-P", path,
                               "-e", "trace=write,fdatasync,fsync",
                               "-e", f"inject=write:signal=SIGKILL:when={n}"],
                              stdout=subprocess.DEVNULL, stderr=open(trace + ".err", "wb"))
        try:
            box.proc.wait(30 + 0.5 * n)
        except subprocess.TimeoutExpired:
            kill(box)
            st.wait(30)
            raise AssertionError(f"the cut at write #{n} of the recording never came; strace: "
                                 f"{open(trace + '.err', errors='replace').read()[-500:]}")
        t_cut = time.monotonic()
        box.stderr.close()
        st.wait(30)
        captured = t_cut - started["t_us"] / 1e6
        # the cut landed as the N-th write entered, every earlier write synced
        lines = [ln for ln in open(trace, errors="replace").read().splitlines()
                 if re.match(r"^\d+\s+(write|fdatasync|fsync)\(", ln)]
        writes = [ln for ln in lines if re.match(r"^\d+\s+write\(", ln)]
        assert "+++ killed by SIGKILL" in open(trace, errors="replace").read(), \
            f"write #{n}: the daemon was not killed by the injection"
        assert len(writes) == n and writes[-1].endswith(("= ?", "<unfinished ...>")), \
            f"aimed at write #{n}, the trace has {len(writes)} writes, the last {writes[-1:]}"
        assert lines[-1] == writes[-1], f"write #{n}: killed at {lines[-1]}"
        assert n == 1 or re.match(r"^\d+\s+(fdatasync|fsync)\(", lines[-2]), \
            f"write #{n}: the write before it was not synced: {lines[-3:]}"
        box2 = Box("powercut-flush", mic, root=d, data=data).start()
        box2.wait_for("recovered", since=0, id=started["id"])
        box2.terminate()
        losses.append(check_cut_recording(data, started, captured, speech,
                                          f"cut at flush write #{n}"))
    record_margin("power_cut.flush", MAX_LOSS_S, max(losses), cuts=len(losses),
                  losses=[round(x, 3) for x in losses])
    check_catalogue(data, {}, "cuts at a flush")


def test_random_cuts_while_recording():
    rng = random.Random(20261122)
    d = tmpdir("powercut")
    mic = speak(os.path.join(d, "mic.wav"),
                "Every morning I wake up and wonder whether today will be different. " * 2)
    speech, _ = read_wav(mic)
    data = os.path.join(d, "data")
    losses = []
    for i in range(CUTS):
        box = Box("powercut", mic, root=d, data=data).start()
        if i:
            rec = box.events()
            prev = [e for e in rec if e["ev"] == "recovered"]
            assert prev, "the interrupted recording was not recovered at start-up"
        box.press()
        started = box.wait_for("recording_started", timeout=30)
        time.sleep(rng.uniform(0.2, 6.0))
        t_cut = box.kill()
        captured = t_cut - started["t_us"] / 1e6

        # restart: recovery happens before "ready"
        box2 = Box("powercut", mic, root=d, data=data).start()
        box2.wait_for("recovered", since=0, id=started["id"])
        box2.terminate()
        evs = box.events()
        assert not any(e["ev"] == "recording_stopping" for e in evs[evs.index(started):]), \
            f"cut {i}: aimed while recording, the recording had been stopped"
        losses.append(check_cut_recording(data, started, captured, speech, f"cut {i}"))
    record_margin("power_cut.random", MAX_LOSS_S, max(losses), cuts=len(losses))
    rows = check_catalogue(data, {}, "random cuts")
    assert all(r["state"] == "interrupted" for r in rows), rows


# ---- 2. at each step of the dialogue ----

def stop_after(box, seconds=REC_S):
    box.press()
    box.wait_for("recording_started", timeout=60)
    time.sleep(seconds)
    box.press()


def at_prompt(name, staff=False, share=False):
    """Record, stop, press yes where asked to, and wait until `name` plays."""
    def drive(box):
        stop_after(box)
        if staff:
            box.wait_for("prompt", name="ask_staff", timeout=60)
            time.sleep(0.2)
            box.press()
        if share:
            box.wait_for("prompt", name="ask_share", timeout=60)
            time.sleep(0.2)
            box.press()
        box.wait_for("prompt", name=name, timeout=90)
        return staff, share
    return drive


def at_start(name):
    def drive(box):
        box.press()
        box.wait_for("prompt", name=name, timeout=30)
        return False, False
    return drive


def at_finalising(box):
    stop_after(box)
    box.wait_for("recording_stopping", timeout=30)
    return False, False


def at_listen(box):
    stop_after(box)
    box.wait_for("listen", timeout=60)
    return False, False


def locked(n_consent_audits=0):
    """Kept, with its receipt number, no consent."""
    def expect(rows, audit):
        assert len(rows) == 1 and rows[0]["state"] == "complete" and rows[0]["receipt"], rows
        assert (rows[0]["consent_staff"], rows[0]["consent_share"]) == (None, None), rows
        n = sum(1 for a in audit if a["action"] == "consent" and a["recording_id"] == rows[0]["id"])
        assert n == n_consent_audits, (n, n_consent_audits)
    return expect


def given(staff, share):
    def expect(rows, audit):
        assert len(rows) == 1 and rows[0]["state"] == "complete" and rows[0]["receipt"], rows
        assert (rows[0]["consent_staff"], rows[0]["consent_share"]) == (staff, share), rows
    return expect


def nothing_kept(rows, audit):
    assert all(r["state"] == "discarded" for r in rows), rows


def interrupted(rows, audit):
    assert len(rows) == 1 and rows[0]["state"] == "interrupted", rows
    assert rows[0]["receipt"] is None and rows[0]["consent_staff"] is None, rows


# (name, --set, drive to the step -> what was pressed, the last prompt or
#  event the box must have reached (and not gone past), expected catalogue
#  for the recording of that session). The file-closing step runs with
# every fdatasync delayed 0.4 s under strace, so closing takes seconds.
STEPS = [
    # the recording's row and sealed file are prepared while the welcome
    # plays: a cut then leaves at most a row that is discarded at start-up
    ("welcome", [], at_start("welcome"), ("prompt", "welcome"), nothing_kept),
    ("beep", [], at_start("beep"), ("prompt", "beep"), nothing_kept),
    ("closing the file", [], at_finalising, ("state", "finalising"), interrupted),
    ("thank you", [], at_prompt("saved"), ("prompt", "saved"), locked()),
    ("listen-back", ["consent.listen_back=yes"], at_listen, ("listen", None), locked()),
    ("staff question", [], at_prompt("ask_staff"), ("prompt", "ask_staff"), locked()),
    ("staff: no answer", [], at_prompt("staff_no"), ("prompt", "staff_no"), locked(1)),
    ("receipt, locked", [], at_prompt("receipt"), ("prompt", "receipt"), locked(1)),
    ("staff: yes", [], at_prompt("staff_yes", staff=True), ("prompt", "staff_yes"), given(1, None)),
    ("share question", [], at_prompt("ask_share", staff=True), ("prompt", "ask_share"),
     given(1, None)),
    ("share: no answer", [], at_prompt("share_no", staff=True), ("prompt", "share_no"),
     given(1, None)),
    ("share: yes", [], at_prompt("share_yes", staff=True, share=True), ("prompt", "share_yes"),
     given(1, 1)),
    ("receipt, shared", [], at_prompt("receipt", staff=True, share=True), ("prompt", "receipt"),
     given(1, 1)),
]


def reached(box, aim):
    """The cut landed in the step aimed at: nothing after it happened."""
    evs = box.events()
    ev, name = aim
    if ev == "prompt":
        said = [e["name"] for e in evs if e["ev"] == "prompt"]
        assert said and said[-1] == name, f"aimed at {name!r}, the box had said {said[-3:]}"
        if name == "beep":  # short: make sure the cut did not come after it
            assert not any(e["ev"] == "recording_started" for e in evs), \
                "aimed at the beep, the recording had started (slow machine)"
    elif ev == "state":
        states = [e["to"] for e in evs if e["ev"] == "state"]
        assert states[-1] == name, f"aimed at {name!r}, the box was in {states[-1]!r}"
    else:  # the listen-back: playing, not finished
        assert any(e["ev"] == ev for e in evs), f"aimed at {ev!r}, it never came"
        assert not any(e["ev"] == ev + "_done" for e in evs), f"aimed at {ev!r}, it was over"


def test_cuts_at_each_step_of_the_dialogue():
    rng = random.Random(7)
    d = tmpdir("powercut-steps")
    mic = speak(os.path.join(d, "mic.wav"), "Short and sweet, thank you.")
    data = os.path.join(d, "data")
    slow = asan_env(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync",
                     "-e", "inject=fdatasync:delay_enter=400000"]) if have_strace() else []
    pressed = {}
    for label, sets, drive, aim, expect in STEPS:
        if label == "closing the file" and not slow:
            log("SKIP the cut while the file is closed: only strace makes closing take long")
            continue
        before = {r["id"] for r in table(data, "recordings")} if os.path.exists(data) else set()
        wrapper = slow if label == "closing the file" else []
        box = Box("powercut-step", mic, data=data, sets=sets, wrapper=wrapper).start(timeout=120)
        yes = drive(box)
        time.sleep(rng.uniform(0, 0.1 if label == "beep" else 0.3))
        kill(box)
        reached(box, aim)
        log(f"cut during {label} (pressed yes to staff: {yes[0]}, to sharing: {yes[1]})")
        for r in table(data, "recordings"):
            if r["id"] not in before:
                pressed[r["id"]] = yes
        rows = restart_and_check(data, mic, pressed, label)
        expect([r for r in rows if r["id"] not in before], table(data, "audit"))
    held = [r for r in table(data, "recordings") if r["state"] in HELD]
    log(f"{len(held)} recordings held, receipts {sorted(r['receipt'] or '-' for r in held)}")


# ---- 3. inside the receipt and consent writes (strace fault injection) ----
#
# The commits after a recording run in the daemon's catalogue thread, which
# the daemon names in its `catalogue_thread` event. strace is attached to that
# thread alone (strace -p TID, no -f) once the box is idle after start-up, so
# it counts that thread's calls only, from the first job of the session on,
# and an injected fault can land on no other thread.

CALL = re.compile(r'^(?:\d+\s+)?(pwrite64|fdatasync|fsync|write)\(\d+<([^>]*)>')


def strace_thread(tid, out, inject=None, strsize=16, what="thread"):
    """strace on one thread (tid) of the daemon alone, from now on: its
    pwrite64, fdatasync, fsync and write calls, each with its file (-y),
    strings cut at strsize. inject: (call, N, action), the N-th such call of
    that thread gets `action` ("signal=SIGKILL", "error=EIO"). Returns
    strace's process once it is attached."""
    cmd = ["strace", "-p", str(tid), "-o", out, "-y", "-s", str(strsize),
           "-e", "trace=pwrite64,fdatasync,fsync,write"]
    if inject:
        cmd += ["-e", f"inject={inject[0]}:{inject[2]}:when={inject[1]}"]
    err = out + ".err"
    st = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(err, "wb"))
    deadline = time.monotonic() + 30
    while b"attached" not in open(err, "rb").read():
        assert st.poll() is None and time.monotonic() < deadline, \
            f"strace did not attach to {what} {tid}: {open(err, errors='replace').read()[-300:]}"
        time.sleep(0.01)
    return st


def on_catalogue_thread(box, out, inject=None):
    """strace_thread on the daemon's catalogue thread, once start-up is
    done (the thread waits for work); the session may begin when it
    returns."""
    box.wait_for("storage", since=0, timeout=60)
    tid = [e for e in box.events() if e["ev"] == "catalogue_thread"][-1]["tid"]
    return strace_thread(tid, out, inject)


def detach(st):
    """strace lets go of the thread (before the daemon is stopped)."""
    st.send_signal(signal.SIGINT)
    st.wait(30)


def tokens(path):
    """[(kind, call, line)] of the catalogue thread's calls in a trace from
    on_catalogue_thread, in order: kind P (a pwrite64 to the catalogue's
    WAL), S (its fdatasync), E (the write that tells the loop a job is done),
    or the call's name (the recording file and its folder). Returns them and
    whether the daemon was killed."""
    out, killed = [], False
    with open(path, errors="replace") as f:
        for line in f:
            if "+++ killed by SIGKILL" in line:
                killed = True
            m = CALL.match(line)
            if not m:
                continue
            call, file = m.group(1), m.group(2)
            if file.endswith("catalogue.sqlite-wal") and call in ("pwrite64", "fdatasync"):
                kind = "P" if call == "pwrite64" else "S"
            elif file.startswith("anon_inode:[eventfd]") and call == "write":
                kind = "E"
            else:
                kind = call
            out.append((kind, call, line.rstrip()))
    return out, killed


def nth(toks, i):
    """strace's `when=` for token i: how many calls of its syscall, to any
    file, the thread made up to and with it."""
    return sum(1 for t in toks[:i + 1] if t[1] == toks[i][1])


def kind_seq(toks):
    """The calls, by kind, as one string (P S E, and the others by name)."""
    return " ".join(t[0] for t in toks)


def consent_session(box):
    """Record, stop (held 0.8 s, so its release is logged at a fixed place:
    after the receipt, during "thank you"), yes, yes. Returns what was
    pressed before the daemon died."""
    pressed = [False, False]
    try:
        box.press()
        box.wait_for("recording_started", timeout=60)
        time.sleep(REC_S)
        box.press(800)
        box.wait_for("prompt", name="ask_staff", timeout=60)
        box.press()
        pressed[0] = True
        box.wait_for("prompt", name="ask_share", timeout=60)
        box.press()
        pressed[1] = True
        box.wait_for("consent", share=True, timeout=60)
    except (DaemonDied, OSError):  # OSError: the FIFO has no reader any more
        pass
    return tuple(pressed)


# The catalogue thread's jobs in consent_session, each ended by its E:
# preparing the row and file, the row finished and numbered, each answer.
JOBS = ("prepare", "receipt", "staff yes", "share yes")
TARGETS = JOBS[1:]
# What each cut may leave: (has a receipt, consent_staff, consent_share,
# consent audit rows). Before: not there. After: there. At the commit's
# fdatasync (written, not synced): all or nothing.
OUTCOMES = {
    ("receipt", "before"): [(False, None, None, 0)],
    ("receipt", "unsynced"): [(False, None, None, 0), (True, None, None, 0)],
    ("receipt", "after"): [(True, None, None, 0)],
    ("staff yes", "before"): [(True, None, None, 0)],
    ("staff yes", "unsynced"): [(True, None, None, 0), (True, 1, None, 1)],
    ("staff yes", "after"): [(True, 1, None, 1)],
    ("share yes", "before"): [(True, 1, None, 1)],
    ("share yes", "unsynced"): [(True, 1, None, 1), (True, 1, 1, 2)],
    ("share yes", "after"): [(True, 1, 1, 2)],
}
# Prompts that would tell the resident the write had happened.
TOLD = {"receipt": "receipt", "staff yes": "staff_yes", "share yes": "share_yes"}


def cut_points(toks):
    """For each target: {point: (syscall, N, index of the token)}: the
    transaction's first WAL write, its commit's fdatasync, and the write
    that tells the loop it is done (the commit durable, nobody told yet)."""
    ends = [i for i, t in enumerate(toks) if t[0] == "E"]
    assert len(ends) == len(JOBS), \
        f"the uncut run's catalogue thread did {len(ends)} jobs, not {len(JOBS)}: {kind_seq(toks)}"
    points = {}
    for name, e in zip(JOBS, ends):
        if name not in TARGETS:
            continue
        s = e - 1
        assert toks[s][0] == "S", f"{name}: its job does not end with a commit: {toks[s][2]}"
        a = s
        while toks[a - 1][0] == "P":
            a -= 1
        assert a < s, f"{name}: a commit with no WAL write"
        points[name] = {"before": ("pwrite64", nth(toks, a), a),
                        "unsynced": ("fdatasync", nth(toks, s), s),
                        "after": ("write", nth(toks, e), e)}
        log(f"{name}: {s - a} WAL writes and a sync, then the job is done "
            f"(catalogue thread calls {a}..{e})")
    return points


def counting_run(d, mic, session):
    """The uncut run: the catalogue thread's calls, in order, over
    session(box)."""
    os.makedirs(d)
    trace = os.path.join(d, "trace")
    box = Box("uncut", mic, root=d, data=os.path.join(d, "data"), wrapper=asan_env([])).start()
    st = on_catalogue_thread(box, trace)
    session(box)
    detach(st)
    assert box.terminate() == 0, box.stderr_text()
    toks, _ = tokens(trace)
    return box, toks


def landed(label, trace, uncut, i, kind):
    """The fault landed on the call aimed at: its trace is the uncut run's up
    to token i, and token i is the faulted call. Returns the trace's tokens
    and whether the daemon was killed."""
    toks, killed = tokens(trace)
    hit = [k for k, t in enumerate(toks) if "(INJECTED)" in t[2] or t[2].endswith(("= ?", "<unfinished ...>"))]
    assert hit, f"{label}: no call faulted in the catalogue thread: {kind_seq(toks)}"
    k = hit[0]
    assert toks[k][0] == kind, f"{label}: faulted {toks[k][2]}"
    assert kind_seq(toks[:k]) == kind_seq(uncut[:i]), \
        f"{label}: faulted after {kind_seq(toks[:k])}, aimed after {kind_seq(uncut[:i])}"
    return toks, killed


def test_cuts_inside_the_receipt_and_consent_writes():
    if not have_strace():
        log("SKIP: strace is needed to cut inside a write")
        return
    top = tmpdir("powercut-inject")
    mic = speak(os.path.join(top, "mic.wav"), "Short and sweet, thank you.")

    # the uncut run: where every call of the catalogue thread is
    pressed = []
    _, uncut = counting_run(os.path.join(top, "uncut"), mic,
                            lambda box: pressed.append(consent_session(box)))
    assert pressed == [(True, True)], pressed
    points = cut_points(uncut)

    for name in TARGETS:
        for point in ("before", "unsynced", "after"):
            call, n, i = points[name][point]
            label = f"{name}, {point}"
            d = os.path.join(top, f"{name.replace(' ', '-')}-{point}")
            os.makedirs(d)
            data = os.path.join(d, "data")
            trace = os.path.join(d, "trace")
            box = Box("cut", mic, root=d, data=data, wrapper=asan_env([])).start(timeout=120)
            st = on_catalogue_thread(box, trace, (call, n, "signal=SIGKILL"))
            pressed = consent_session(box)
            try:
                box.proc.wait(30)
            except subprocess.TimeoutExpired:
                kill(box)
                raise AssertionError(f"{label}: the cut at {call} #{n} never came")
            finally:
                st.wait(30)
            box.stderr.close()
            # the cut landed on the very call aimed at, before it ran
            _, killed = landed(label, trace, uncut, i, uncut[i][0])
            assert killed, f"{label}: the daemon was not killed"
            said = [e["name"] for e in box.events() if e["ev"] == "prompt"]
            assert TOLD[name] not in said, f"{label}: told before it was saved: {said}"

            # power back
            box2 = Box("cut-after", mic, data=data).start()
            assert box2.terminate() == 0, box2.stderr_text()
            rec = table(data, "recordings")
            assert len(rec) == 1, rec
            rows = check_catalogue(data, {rec[0]["id"]: pressed}, label)
            r = rows[0]
            assert r["state"] == "complete", (label, r)
            n_audit = sum(1 for a in table(data, "audit") if a["action"] == "consent")
            got = (r["receipt"] is not None, r["consent_staff"], r["consent_share"], n_audit)
            log(f"cut {label} ({call} #{n} of the catalogue thread): receipt "
                f"{'yes' if got[0] else 'no'}, staff {got[1]}, share {got[2]}, "
                f"{got[3]} consent audit row(s)")
            assert got in OUTCOMES[(name, point)], \
                f"{label}: left {got}, expected one of {OUTCOMES[(name, point)]}"


if __name__ == "__main__":
    run([test_cuts_aimed_at_a_flush, test_random_cuts_while_recording,
         test_cuts_at_each_step_of_the_dialogue,
         test_cuts_inside_the_receipt_and_consent_writes])
