# SPDX-License-Identifier: MIT
"""A consent that was not stored is not spoken back.

A daemon session on the simulated board where the catalogue write of the
resident's "yes, staff may listen" fails, injected from outside with strace
(`-e inject=SYSCALL:error=EIO:when=N`):

1. the transaction's first write to the WAL fails (nothing of it reaches
   the catalogue);
2. its commit's fdatasync fails (written, not known to be on the card).

The answer is saved in the daemon's catalogue thread (named in its
`catalogue_thread` event). strace is attached to that thread alone, so N
counts that thread's calls from the session's first job on, and the error
can land on no other thread. N is counted from a first, unfailed run of the
same session traced the same way (test_power_cut.py's counting), and every
failed run's own trace shows the error landed on the call aimed at, after
the same calls as the unfailed run's. In both cases the box must not say
"staff may listen" (staff_yes) nor move on to the sharing question: it says
the error phrase with the error light (tell staff), and after a restart the
catalogue never holds consent without its audit row. When the write failed
(1) the recording is as locked as before (no consent, no consent audit row).

The same guard for `[daemon] commits_in_thread = no`, where the answer is
saved on the event loop: strace attached to the main thread alone (its tid
is the pid), the staff answer's transaction found in the unfailed run as
the first commit after the loop logs the yes press, and both failures
injected there, with the same checks.

Cost: three daemon sessions under strace, about 25 s on two cores, and
three more for the loop's case, about 22 s (host build only; the sanitizer
pass runs the thread's case).
"""
import os
import signal
import time

from drtest import SANITIZE, Box, log, run, speak, tmpdir
from test_power_cut import (REC_S, asan_env, check_catalogue, consent_session, counting_run,
                            cut_points, detach, have_strace, landed, on_catalogue_thread,
                            strace_thread, table, tokens)


def answer_yes_to_staff(box):
    """Record, stop (held 0.8 s, as the counting run), press yes to the staff
    question, then wait until the box has dealt with the answer and is idle
    again (or died)."""
    box.press()
    box.wait_for("recording_started", timeout=60)
    time.sleep(REC_S)
    box.press(800)
    box.wait_for("prompt", name="ask_staff", timeout=60)
    box.press()
    saved = box.wait_for("consent", timeout=60)
    box.wait_for("state", to="idle", timeout=120)
    return saved


def test_a_consent_that_was_not_stored_is_not_spoken_back():
    if not have_strace():
        log("SKIP: strace is needed to fail a write")
        return
    top = tmpdir("consent-unstored")
    mic = speak(os.path.join(top, "mic.wav"), "Short and sweet, thank you.")

    # the unfailed run: where the staff answer's writes are
    said = []

    def session(box):
        assert consent_session(box) == (True, True)
        said.extend(e["name"] for e in box.events() if e["ev"] == "prompt")

    _, uncut = counting_run(os.path.join(top, "counted"), mic, session)
    assert "staff_yes" in said, f"the unfailed run never confirmed: {said}"
    points = cut_points(uncut)["staff yes"]

    for point, kind in (("before", "P"), ("unsynced", "S")):
        call, n, i = points[point]
        label = f"{call} #{n} of the catalogue thread fails"
        d = os.path.join(top, point)
        os.makedirs(d)
        data = os.path.join(d, "data")
        trace = os.path.join(d, "trace")
        box = Box("failed", mic, root=d, data=data, wrapper=asan_env([])).start(timeout=120)
        pid = [e for e in box.events() if e["ev"] == "ready"][-1]["pid"]
        st = on_catalogue_thread(box, trace, (call, n, "error=EIO"))
        try:
            saved = answer_yes_to_staff(box)
        finally:
            if box.proc.poll() is None:
                os.kill(pid, signal.SIGTERM)
                box.wait_exit(60)
            st.wait(30)
        # the error landed on the call aimed at, and only there
        toks, _ = landed(label, trace, uncut, i, kind)
        hit = [t for t in toks if "(INJECTED)" in t[2]]
        assert len(hit) == 1 and "EIO" in hit[0][2], f"{label}: injected {[t[2] for t in hit]}"
        check_failed_answer(box, saved, label, point, data, mic)


def check_failed_answer(box, saved, label, point, data, mic):
    """The staff answer's write failed: nothing said as if stored, the error
    told; after a restart the catalogue holds no consent without its audit
    row, and a write that failed left the recording locked."""
    evs = box.events()
    said = [e["name"] for e in evs if e["ev"] == "prompt"]
    i = next(k for k, e in enumerate(evs) if e["ev"] == "consent")
    after = [e["name"] for e in evs[i:] if e["ev"] == "prompt"]
    lights = [e["pattern"] for e in evs[i:] if e["ev"] == "light"]
    log(f"{label}: consent status {saved['status']}, then said {after}, lights {lights}")
    assert saved["status"] < 0, f"{label}: the box thinks the answer was stored: {saved}"
    assert "staff_yes" not in said, f"{label}: said 'staff may listen' unstored: {said}"
    assert "ask_share" not in said, f"{label}: moved on to the sharing question: {said}"
    assert after[:1] == ["error"], f"{label}: said {after} after the failed write"
    assert "error" in lights, f"{label}: no error light after the failed write: {lights}"

    # power back: the catalogue holds no consent that was not audited,
    # and a write that failed left the recording as locked as it was
    box2 = Box("failed-after", mic, data=data).start()
    assert box2.terminate() == 0, box2.stderr_text()
    rec = table(data, "recordings")
    assert len(rec) == 1 and rec[0]["state"] == "complete" and rec[0]["receipt"], rec
    check_catalogue(data, {rec[0]["id"]: (True, False)}, label)
    n_audit = sum(1 for a in table(data, "audit") if a["action"] == "consent")
    log(f"{label}: after a restart staff {rec[0]['consent_staff']}, "
        f"{n_audit} consent audit row(s)")
    if point == "before":
        assert (rec[0]["consent_staff"], n_audit) == (None, 0), (label, rec[0], n_audit)


# ---- commits_in_thread = no: the answer is saved on the event loop ----

ON_LOOP = ["daemon.commits_in_thread=no"]


def on_main_thread(box, out, inject=None):
    """strace on the daemon's main thread (the event loop) alone, from now
    on, as on_catalogue_thread; the event log's lines are kept long enough
    to name each event."""
    box.wait_for("storage", since=0, timeout=60)  # start-up done
    pid = [e for e in box.events() if e["ev"] == "ready"][-1]["pid"]
    return strace_thread(pid, out, inject, strsize=64, what="the main thread")


def loop_cut_points(toks):
    """The staff answer's transaction on the loop: the first commit (WAL
    writes, then their fdatasync) after the loop logs the third press (start,
    stop, yes to staff). Returns {point: (syscall, N, index)} for its first
    WAL write and its sync."""
    downs = [i for i, t in enumerate(toks)
             if t[1] == "write" and '\\"ev\\":\\"button\\",\\"edge\\":\\"down\\"' in t[2]]
    assert len(downs) >= 3, f"the unfailed run's loop logged {len(downs)} presses, not 3"
    a = next(i for i in range(downs[2], len(toks)) if toks[i][0] == "P")
    s = a
    while toks[s][0] == "P":
        s += 1
    assert toks[s][0] == "S", f"the staff answer: its WAL writes end in {toks[s][2]}, not a sync"
    n = lambda i: sum(1 for t in toks[:i + 1] if t[1] == toks[i][1])
    log(f"staff yes on the loop: {s - a} WAL writes and a sync after the yes press "
        f"(main thread calls {a}..{s})")
    return {"before": ("pwrite64", n(a), a), "unsynced": ("fdatasync", n(s), s)}


def wal_seq(toks):
    return " ".join(t[0] for t in toks if t[0] in ("P", "S"))


def test_the_same_on_the_event_loop():
    if not have_strace():
        log("SKIP: strace is needed to fail a write")
        return
    if SANITIZE:
        log("SKIP: host build only (the thread's case runs under the sanitizers)")
        return
    top = tmpdir("consent-unstored-loop")
    mic = speak(os.path.join(top, "mic.wav"), "Short and sweet, thank you.")

    d = os.path.join(top, "counted")
    os.makedirs(d)
    trace = os.path.join(d, "trace")
    box = Box("uncut", mic, root=d, data=os.path.join(d, "data"), sets=ON_LOOP,
              wrapper=asan_env([])).start()
    st = on_main_thread(box, trace)
    assert consent_session(box) == (True, True)
    said = [e["name"] for e in box.events() if e["ev"] == "prompt"]
    detach(st)
    assert box.terminate() == 0, box.stderr_text()
    assert "staff_yes" in said, f"the unfailed run never confirmed: {said}"
    uncut, _ = tokens(trace)
    points = loop_cut_points(uncut)

    for point, kind in (("before", "P"), ("unsynced", "S")):
        call, n, i = points[point]
        label = f"{call} #{n} of the event loop fails (commits_in_thread = no)"
        d = os.path.join(top, point)
        os.makedirs(d)
        data = os.path.join(d, "data")
        trace = os.path.join(d, "trace")
        box = Box("failed", mic, root=d, data=data, sets=ON_LOOP,
                  wrapper=asan_env([])).start(timeout=120)
        pid = [e for e in box.events() if e["ev"] == "ready"][-1]["pid"]
        st = on_main_thread(box, trace, (call, n, "error=EIO"))
        try:
            saved = answer_yes_to_staff(box)
        finally:
            if box.proc.poll() is None:
                os.kill(pid, signal.SIGTERM)
                box.wait_exit(60)
            st.wait(30)
        # the error landed on the call aimed at, after the same catalogue
        # writes as the unfailed run's (the loop's other calls, the event
        # log's lines, may differ with timing)
        toks, _ = tokens(trace)
        hit = [k for k, t in enumerate(toks) if "(INJECTED)" in t[2]]
        assert len(hit) == 1 and "EIO" in toks[hit[0]][2], f"{label}: injected {[toks[k][2] for k in hit]}"
        k = hit[0]
        assert toks[k][0] == kind, f"{label}: faulted {toks[k][2]}"
        assert wal_seq(toks[:k]) == wal_seq(uncut[:i]), \
            f"{label}: faulted after {wal_seq(toks[:k])}, aimed after {wal_seq(uncut[:i])}"
        check_failed_answer(box, saved, label, point, data, mic)


if __name__ == "__main__":
    run([test_a_consent_that_was_not_stored_is_not_spoken_back, test_the_same_on_the_event_loop])
