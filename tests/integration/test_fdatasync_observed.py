# SPDX-License-Identifier: MIT
"""fdatasync really called: the daemon's syncs seen from outside, by strace.

A SIGKILL keeps the page cache and the sink's own counter counts the calls
it meant to make, so neither the power-cut test nor the sink's statistics
can tell that a sync was never made. Here a whole session (record about
4 s, stop, yes to staff, yes to sharing, the receipt) runs under
`strace -f -ttt -y` and the test reads, from the kernel's side:

- the recording file (any file the daemon writes under data/recordings/):
  every write to it is followed by an fdatasync (or fsync) of that same file
  within 0.5 s and before it is closed; while recording, the syncs come at
  most 0.5 s apart (the power-cut promise; recording.flush_ms is 300), and
  the largest gap is printed with its margin to 0.5 s;
- the catalogue (catalogue.sqlite-wal): when the box says "thank you"
  (saved), "staff may listen" (staff_yes), "it may be shared" (share_yes)
  and the receipt number, the catalogue's write-ahead log holds nothing
  unsynced, and (but for the receipt, written with the recording's row
  before "thank you") has been written since the previous such phrase: the
  change the phrase tells the resident about is on the card before it is
  said.

Cost: one daemon session under strace, about 30 s on two cores.
"""
import os
import re
import signal

from drtest import Box, log, run, speak, tmpdir
from test_power_cut import asan_env, consent_session, have_strace

PROMISE_S = 0.5
LINE = re.compile(r'^(\d+)\s+(\d+\.\d+)\s+(write|pwrite64|fdatasync|fsync|close)\((\d+)<([^>]*)>')
EVENT = re.compile(r'\\"ev\\":\\"([a-z_]+)\\"(?:,\\"name\\":\\"([a-z_0-9]+)\\")?')
TOLD = ("saved", "staff_yes", "share_yes", "receipt")


def calls(path):
    """[(time, call, file path, event name, prompt name)] from an strace -f -ttt -y log
    (an <unfinished ...> call counts at its start; its resumption is skipped)."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            ev = EVENT.search(line) if m.group(3) == "write" else None
            out.append((float(m.group(2)), m.group(3), m.group(5),
                        ev.group(1) if ev else None, ev.group(2) if ev else None))
    return out


def test_syncs_seen_from_outside():
    if not have_strace():
        log("SKIP: strace is needed to watch the syncs")
        return
    d = tmpdir("fdatasync")
    mic = speak(os.path.join(d, "mic.wav"),
                "I would like the heating fixed before the winter comes, please.")
    data = os.path.join(d, "data")
    trace = os.path.join(d, "trace")
    w = asan_env(["strace", "-f", "-qq", "-ttt", "-y", "-s", "200", "-o", trace,
                  "-e", "trace=write,pwrite64,fdatasync,fsync,close"])
    box = Box("fdatasync", mic, root=d, data=data, wrapper=w).start(timeout=120)
    pid = [e for e in box.events() if e["ev"] == "ready"][-1]["pid"]
    assert consent_session(box) == (True, True)
    box.wait_for("state", to="idle", timeout=120)
    os.kill(pid, signal.SIGTERM)
    assert box.wait_exit(60) == 0, box.stderr_text()
    cs = calls(trace)
    recdir = os.path.realpath(os.path.join(data, "recordings")) + "/"
    wal = os.path.realpath(os.path.join(data, "catalogue.sqlite-wal"))
    evlog = os.path.realpath(box.log_path)

    # ---- the recording file ----
    rec = [c for c in cs if c[2].startswith(recdir)]
    files = sorted({c[2] for c in rec if c[1] in ("write", "pwrite64")})
    assert len(files) == 1, f"expected one recording file written, got {files}"
    rec = [c for c in rec if c[2] == files[0]]
    writes = [c for c in rec if c[1] in ("write", "pwrite64")]
    syncs = [c[0] for c in rec if c[1] in ("fdatasync", "fsync")]
    closes = [c[0] for c in rec if c[1] == "close"]
    assert syncs, f"the recording file was never synced ({len(writes)} writes)"
    close_t = closes[-1] if closes else float("inf")
    worst_lag = 0.0
    for t, *_ in writes:
        after = [s for s in syncs if s >= t]
        assert after, f"a write at {t:.3f} was never followed by a sync"
        assert after[0] <= close_t, f"the write at {t:.3f} was synced only after the close"
        worst_lag = max(worst_lag, after[0] - t)
    assert worst_lag <= PROMISE_S, f"a write waited {worst_lag:.3f} s for its sync"
    evs = box.events()
    # event times are CLOCK_MONOTONIC, strace's wall clock: place recording by the trace
    ev_writes = [c for c in cs if c[2] == evlog and c[3]]
    started = [c[0] for c in ev_writes if c[3] == "recording_started"]
    stopping = [c[0] for c in ev_writes if c[3] == "recording_stopping"]
    assert started and stopping, "the event log writes were not traced"
    during = [s for s in syncs if started[0] <= s <= stopping[0]]
    gaps = [b - a for a, b in zip([started[0]] + during, during + [stopping[0]])]
    worst = max(gaps)
    log(f"recording file: {len(writes)} writes, {len(syncs)} syncs, {len(during)} while "
        f"recording; largest gap between syncs {worst:.3f} s (margin {PROMISE_S - worst:+.3f} s "
        f"to {PROMISE_S} s); a write waited at most {worst_lag * 1000:.1f} ms for its sync")
    assert len(during) >= 4, f"only {len(during)} syncs in a recording of about 2.5 s"
    assert worst <= PROMISE_S, f"{worst:.3f} s between two syncs of the recording"

    # ---- the catalogue ----
    dirty, written, told = False, False, []
    for t, call, path, ev, name in cs:
        if path == wal and call in ("write", "pwrite64"):
            dirty = written = True
        elif path == wal and call in ("fdatasync", "fsync"):
            dirty = False
        elif path == evlog and ev == "prompt" and name in TOLD:
            if name == "receipt" and "receipt" in told:
                continue  # said twice; the first time counts
            # the receipt number was written with the recording's row (before
            # "thank you"); the other phrases each follow a write of their own
            assert written or name == "receipt", \
                f"'{name}' said with no catalogue write since the previous phrase"
            assert not dirty, f"'{name}' said before the catalogue's change was synced"
            told.append(name)
            written = False
    log(f"catalogue synced before each of {told}")
    assert told == ["saved", "staff_yes", "share_yes", "receipt"], told
    assert [e["name"] for e in evs if e["ev"] == "prompt" and e["name"] in TOLD][:4] == told


if __name__ == "__main__":
    run([test_syncs_seen_from_outside])
