# SPDX-License-Identifier: MIT
"""Every press timing of issue 3, one scripted session each, on the simulated
board through the daemon (board/host, the button FIFO).

Each session asserts what the box said (its prompt events, and for the
prompt that matters the speaker WAV itself), which presses it ignored, how
many recordings exist (catalogue rows kept and files on disk), the
catalogue's consent, and that the box is back at idle with the idle light.

  - a press during the welcome, a press during the beep, a double press at
    the start: they cancel (nothing recorded, the box says "cancelled");
  - a press during "thank you", a double press at the stop, a press during
    the confirmation after a yes, presses while the receipt is read and
    presses while saving (the file being closed, the answer being written):
    ignored, and never an answer;
  - a press during the staff question: yes (and only to that question);
  - a button held down for 5 s at the start: one start, nothing on release;
  - chatter (raw down/up edges 2 ms apart for the whole 30 ms lock-out,
    the last bounce 2 ms and the settling edge 1 ms before it ends, through
    the FIFO's raw "down"/"up" lines and the same debouncer a GPIO line
    has): one press each time, at the start, the stop and as an answer. A
    lock-out even 2 ms shorter than configured makes extra presses.

"Saving" is made long enough to press into, deterministically, by running
the daemon under strace with every fdatasync delayed (the recorder's file
sync and the catalogue's commit), as test_daemon_stick_pull.py paces its
daemon.

Timing: presses follow the box's own events (wait_for), and each session
checks from the event log that its press really landed in the window it
was aimed at, so a slow machine makes a clear failure, never a wrong pass.
The cancel sessions run first, one at a time; the longer sessions then run
four at a time (each mostly waits for the box to speak)."""
import os
import shutil
import subprocess
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from drtest import PROMPTS, RATE, SANITIZE, Box, DaemonDied, log, read_wav, similarity, speak, tmpdir

REC_S = 2.5        # how long each resident talks: over the 2 s minimum
HELD = ("recording", "complete", "interrupted")
PARALLEL = 4

_lock = threading.Lock()
_cache = {}


def say(name, *a):
    log(f"[{name}]", *a)


def mic_wav():
    """One microphone WAV for every session (the daemon only reads it)."""
    with _lock:
        if "mic" not in _cache:
            d = tmpdir("presses-mic")
            _cache["mic"] = speak(os.path.join(d, "mic.wav"),
                                  "I came here in the winter and the people were kind to me.")
        return _cache["mic"]


def prompt_audio(name):
    """The decoded prompt as the box plays it (decoded once)."""
    with _lock:
        if name not in _cache:
            d = tmpdir("presses-prompt")
            out = os.path.join(d, name + ".wav")
            subprocess.run(["opusdec", "--quiet", "--rate", str(RATE),
                            os.path.join(PROMPTS, name + ".opus"), out], check=True)
            _cache[name] = read_wav(out)[0]
        return _cache[name]


def strace_slow_sync(ms):
    """A wrapper delaying every fdatasync by ms: the recorder's file sync and
    the catalogue's commits take that long. [] without strace."""
    if not shutil.which("strace"):
        return []
    w = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync",
         "-e", f"inject=fdatasync:delay_enter={ms * 1000}"]
    if subprocess.run(w + ["true"], capture_output=True).returncode != 0:
        return []
    if SANITIZE:  # LeakSanitizer cannot run under ptrace
        opts = os.environ.get("ASAN_OPTIONS", "")
        w = ["env", f"ASAN_OPTIONS={opts}{':' if opts else ''}detect_leaks=0"] + w
    return w


class Session:
    """One box, one resident."""

    def __init__(self, name, sets=(), wrapper=()):
        self.name = name
        self.box = Box(name, mic_wav(), sets=list(sets), wrapper=list(wrapper))
        self.box.start(timeout=120)
        self.pid = [e for e in self.box.events() if e["ev"] == "ready"][-1]["pid"]

    # -- the button --
    def press(self, hold_ms=None):
        return self.box.press(hold_ms)

    def raw(self, *lines):
        """Lines for the FIFO in one write, so their times (ms after the
        line is read) are exact relative to each other."""
        fd = os.open(self.box.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, "".join(line + "\n" for line in lines).encode())
        finally:
            os.close(fd)

    def wait(self, ev, timeout=60, **fields):
        return self.box.wait_for(ev, timeout=timeout, **fields)

    # -- what happened --
    def evs(self, ev, **fields):
        return [e for e in self.box.events()
                if e["ev"] == ev and all(e.get(k) == v for k, v in fields.items())]

    def prompts(self):
        return [e["name"] for e in self.evs("prompt")]

    def ignored(self):
        return [e["state"] for e in self.evs("press_ignored")]

    def expect_ignored(self, states):
        """The presses the box ignored, by the state it was in."""
        assert self.ignored() == states, \
            f"{self.name}: ignored presses in {self.ignored()}, expected in {states}"

    def downs(self):
        return [e["t_us"] for e in self.evs("button", edge="down")]

    def rows(self):
        return self.box.catalogue()

    def kept(self):
        return [r for r in self.rows() if r["state"] in HELD]

    def files(self):
        d = os.path.join(self.box.data, "recordings")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def window(self, name, nth=0):
        """(start, end) in µs of the nth playing of a prompt: from its event
        to its real end (prompt_done), or to its length if it was cut."""
        p = self.evs("prompt", name=name)[nth]
        done = [e for e in self.evs("prompt_done", name=name) if e["t_us"] >= p["t_us"]]
        end = done[0]["ended_us"] if done else p["t_us"] + p["samples"] * 1_000_000 // RATE
        return p["t_us"], end

    def landed_in(self, t_us, name, nth=0):
        a, b = self.window(name, nth)
        assert a <= t_us <= b, (f"{self.name}: the test's press at {t_us} missed the "
                                f"{name!r} prompt ({a}..{b}): the machine is too slow for "
                                f"this session, not a fault of the box")

    def heard(self, name, nth=0):
        """The speaker WAV really has this prompt where the log says."""
        spk, _ = read_wav(self.box.speaker)
        ready = self.evs("ready")[0]["t_us"]
        p = self.evs("prompt", name=name)[nth]
        done = [e for e in self.evs("prompt_done", name=name) if e["t_us"] >= p["t_us"]][0]
        a = int((done["started_us"] - ready) / 1e6 * RATE)
        b = int((done["ended_us"] - ready) / 1e6 * RATE)
        env, _ = similarity(spk[max(0, a - RATE // 20): b + RATE // 20], prompt_audio(name),
                            max_lag_ms=60)
        assert env > 0.8, f"{self.name}: the speaker did not play {name!r} (envelope {env:.2f})"

    def check_receipt(self, row):
        """The number in the catalogue is the one said, twice, then goodbye."""
        assert row["receipt"] and len(row["receipt"]) == 4, row
        number = ["receipt"] + ["digit_" + c for c in row["receipt"]] + ["receipt_end"]
        said = self.prompts()
        i = said.index("receipt")
        assert said[i:] == number + number + ["goodbye"], said

    # -- the end --
    def back_at_idle(self, timeout=120):
        """Waits for idle; the box stays there with the idle light, and every
        recording it started has been closed."""
        self.wait("state", to="idle", timeout=timeout)
        time.sleep(0.3)
        states = self.evs("state")
        assert states[-1]["to"] == "idle", f"{self.name}: left idle again: {states[-1]}"
        lights = [e["pattern"] for e in self.evs("light")]
        assert lights[-1] == "idle", f"{self.name}: light {lights[-1]!r} at idle"
        assert len(self.evs("recording_started")) == len(self.evs("recording_finalised")), \
            f"{self.name}: a recording is still open"
        os.kill(self.pid, 15)  # the daemon itself (a wrapper would not pass it on)
        assert self.box.wait_exit(60) == 0, self.box.stderr_text()

    def close(self):
        """After a failure too: no daemon left running."""
        if self.box.proc and self.box.proc.poll() is None:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
            self.box.proc.wait(30)


def record_then_stop(s, start=None, stop=None):
    """Press (or run `start`), talk, press to stop (or run `stop`). Returns
    the start event."""
    (start or s.press)()
    started = s.wait("recording_started")
    time.sleep(REC_S)
    (stop or s.press)()
    return started


def one_kept(s):
    rows = s.kept()
    assert len(rows) == 1, f"{s.name}: {len(rows)} recordings kept: {rows}"
    assert rows[0]["state"] == "complete", rows[0]
    assert s.files() == [rows[0]["id"] + ".opus.sealed"], s.files()
    return rows[0]


def consent(row):
    return row["consent_staff"], row["consent_share"]


# ---- a press during the welcome or the beep cancels ----

def assert_cancelled(s, said_before):
    """Nothing recorded, the box said so, back at idle."""
    s.wait("prompt", name="cancelled", timeout=30)
    s.back_at_idle()
    said = s.prompts()
    assert said == said_before + ["cancelled"], f"{s.name}: said {said}"
    s.heard("cancelled")
    assert not s.evs("recording_started"), f"{s.name}: a recording started"
    assert s.ignored() == [], f"{s.name}: the cancelling press was ignored: {s.ignored()}"
    assert s.kept() == [], f"{s.name}: recordings kept: {s.kept()}"
    assert all(r["state"] == "discarded" for r in s.rows()), s.rows()
    assert s.files() == [], f"{s.name}: files left: {s.files()}"
    for r in s.rows():
        assert consent(r) == (None, None) and r["receipt"] is None, r


def test_press_during_the_welcome_cancels():
    s = Session("press-welcome")
    try:
        s.press()
        s.wait("prompt", name="welcome")
        time.sleep(0.4)  # the first press's release (150 ms) is long past
        s.press()
        down = s.wait("button", edge="down", timeout=10)
        s.landed_in(down["t_us"], "welcome")
        assert_cancelled(s, ["welcome"])
        assert len(s.downs()) == 2
    finally:
        s.close()


def test_press_during_the_beep_cancels():
    # The beep lasts 0.35 s: the press follows its prompt event at once. A
    # press the machine delivered too late (after the beep) is told apart
    # from a fault of the box by landed_in(); one more try then.
    for attempt in range(2):
        s = Session(f"press-beep{attempt}")
        try:
            s.press()
            s.wait("prompt", name="beep")
            s.press()
            down = s.wait("button", edge="down", timeout=10)
            a, b = s.window("beep")
            if not a <= down["t_us"] <= b and attempt == 0:
                say(s.name, "the press came after the beep (slow machine); once more")
                continue
            s.landed_in(down["t_us"], "beep")
            assert_cancelled(s, ["welcome", "beep"])
            assert len(s.downs()) == 2
            return
        finally:
            s.close()


def test_double_press_at_the_start_cancels():
    s = Session("press-double-start")
    try:
        # down 0, up 80 ms, down 200 ms, up 280 ms: two presses, not chatter
        s.raw("press 80", "200 press 80")
        s.wait("prompt", name="welcome")
        assert_cancelled(s, ["welcome"])
        downs = s.downs()
        assert len(downs) == 2, downs
        assert 150_000 <= downs[1] - downs[0] <= 400_000, downs
        s.landed_in(downs[1], "welcome")
    finally:
        s.close()


# ---- presses that are ignored ----

def test_press_during_thank_you_is_ignored():
    s = Session("press-thanks")
    try:
        record_then_stop(s)
        s.wait("prompt", name="saved")
        time.sleep(0.3)
        s.press()
        down = s.wait("button", edge="down", timeout=10)
        s.back_at_idle()
        s.landed_in(down["t_us"], "saved")
        s.expect_ignored(["ask_staff"])  # "thank you" opens the questions
        row = one_kept(s)
        assert consent(row) == (None, None), f"a press during 'thank you' became consent: {row}"
        said = s.prompts()
        assert said.count("ask_staff") == 2 and "staff_no" in said and "staff_yes" not in said, said
        s.heard("staff_no")
        s.check_receipt(row)
        assert [e["staff"] for e in s.evs("consent")] == [False]
    finally:
        s.close()


def test_double_press_at_the_stop_is_one_stop():
    s = Session("press-double-stop")
    try:
        record_then_stop(s, stop=lambda: s.raw("press 60", "150 press 60"))
        s.back_at_idle()
        downs = s.downs()
        assert len(downs) == 3, downs
        stops = s.evs("recording_stopping")
        assert len(stops) == 1 and stops[0]["reason"] == "press" and stops[0]["keep"], stops
        assert len(s.evs("recording_started")) == 1
        # the second press came while the file was closed or during "thank you"
        assert len(s.ignored()) == 1 and s.ignored()[0] in ("finalising", "ask_staff"), \
            f"{s.name}: ignored presses in {s.ignored()}"
        row = one_kept(s)
        assert consent(row) == (None, None), f"the double press answered a question: {row}"
        said = s.prompts()
        assert said.count("ask_staff") == 2 and "ask_share" not in said, said
        assert "too_short" not in said and "cancelled" not in said, said
        s.check_receipt(row)
    finally:
        s.close()


def test_press_during_the_staff_question_is_yes():
    s = Session("press-yes")
    try:
        record_then_stop(s)
        s.wait("prompt", name="ask_staff")
        time.sleep(0.3)
        s.press()
        down = s.wait("button", edge="down", timeout=10)
        saved = s.wait("consent", timeout=30)
        s.back_at_idle()
        s.landed_in(down["t_us"], "ask_staff")
        assert saved["staff"] is True and saved["share"] is False and saved["status"] == 0, \
            f"{s.name}: the press was not taken as yes: {saved}"
        s.expect_ignored([])
        row = one_kept(s)
        assert consent(row) == (1, None), f"{s.name}: consent {consent(row)}: {row}"
        said = s.prompts()
        assert said.count("ask_staff") == 1, said      # answered the first time
        assert said.count("ask_share") == 2 and "share_no" in said and "share_yes" not in said, said
        # durable before it is spoken back
        yes = s.evs("prompt", name="staff_yes")[0]
        assert saved["t_us"] < yes["t_us"], (saved, yes)
        s.heard("staff_yes")
        s.check_receipt(row)
    finally:
        s.close()


def test_press_during_the_confirmation_is_ignored():
    s = Session("press-confirm")
    try:
        record_then_stop(s)
        s.wait("prompt", name="ask_staff")
        time.sleep(0.3)
        s.press()
        s.wait("prompt", name="staff_yes", timeout=30)
        time.sleep(0.3)
        s.press()
        s.wait("press_ignored", timeout=10)
        s.back_at_idle()
        downs = s.downs()
        assert len(downs) == 4, downs
        s.landed_in(downs[3], "staff_yes")
        s.expect_ignored(["ask_share"])
        row = one_kept(s)
        assert consent(row) == (1, None), f"a press during 'staff may listen' shared it: {row}"
        said = s.prompts()
        assert said.count("ask_share") == 2 and "share_yes" not in said and "share_no" in said, said
        s.heard("share_no")
        s.check_receipt(row)
    finally:
        s.close()


def test_presses_while_the_receipt_is_read_are_ignored():
    s = Session("press-receipt")
    try:
        record_then_stop(s)
        s.wait("prompt", name="receipt", timeout=60)
        time.sleep(0.3)
        s.press()
        s.wait("prompt", name="receipt_end", timeout=30)
        time.sleep(0.2)
        s.press()
        s.back_at_idle()
        downs = s.downs()
        assert len(downs) == 4, downs
        s.landed_in(downs[2], "receipt")
        s.landed_in(downs[3], "receipt_end")
        s.expect_ignored(["receipt", "receipt"])
        row = one_kept(s)
        assert consent(row) == (None, None), f"{s.name}: consent {consent(row)}: {row}"
        s.check_receipt(row)  # read in full, twice, despite the presses
        for d in row["receipt"]:
            s.heard("digit_" + d)
    finally:
        s.close()


def test_presses_while_saving_are_ignored():
    slow = strace_slow_sync(500)
    if not slow:
        log("SKIP: saving can only be slowed down under strace, which is not here")
        return
    s = Session("press-saving", wrapper=slow)
    try:
        record_then_stop(s)
        # the recorder is 0.5 s behind for every sync: closing takes seconds
        s.wait("state", to="finalising", timeout=30)
        time.sleep(0.3)
        s.press()
        time.sleep(0.4)
        s.press()
        fin = s.wait("recording_finalised", timeout=60)
        # yes, and a second press 100 ms later, while the yes is being
        # written (its commit's fdatasync takes 0.5 s)
        s.wait("prompt", name="ask_staff", timeout=60)
        time.sleep(0.3)
        s.raw("press 40", "100 press 40")
        saved = s.wait("consent", timeout=30)
        s.back_at_idle(timeout=180)
        downs = s.downs()
        assert len(downs) == 6, downs
        assert downs[2] < downs[3] < fin["t_us"], "the presses did not come while saving"
        assert downs[5] < saved["t_us"], "the press did not come while the answer was written"
        # the answer is written in the catalogue thread: the loop reads the
        # second press at once, while the answer is being saved
        s.expect_ignored(["finalising", "finalising", "saving_consent"])
        assert saved["staff"] is True and saved["share"] is False, f"{s.name}: saved {saved}"
        row = one_kept(s)
        assert consent(row) == (1, None), f"a press while saving became consent: {row}"
        said = s.prompts()
        assert said.count("ask_share") == 2 and "share_yes" not in said, said
        s.check_receipt(row)
    finally:
        s.close()


# ---- a held button, and chatter ----

def test_button_held_for_5_s_at_the_start():
    s = Session("press-hold")
    try:
        s.press(5000)
        started = s.wait("recording_started", timeout=30)
        up = s.wait("button", edge="up", timeout=30)
        time.sleep(0.5)
        s.press()
        stop = s.wait("recording_stopping", timeout=30)
        fin = s.wait("recording_finalised", timeout=30)
        s.back_at_idle()
        downs = s.downs()
        assert len(downs) == 2, downs
        assert 4_900_000 <= up["t_us"] - downs[0] <= 5_200_000, (up, downs)
        assert up["t_us"] > started["t_us"], "the recording should start while it is held"
        assert stop["t_us"] > up["t_us"] and stop["reason"] == "press", stop
        assert s.ignored() == [], f"the release was taken as a press: {s.ignored()}"
        said = s.prompts()
        assert said[:3] == ["welcome", "beep", "saved"], said
        assert "cancelled" not in said and "too_short" not in said, said
        assert len(s.evs("recording_started")) == 1
        row = one_kept(s)
        # one recording from the start to the second press, not cut at the release
        length = (downs[1] - started["t_us"]) / 1e6
        assert abs(fin["duration_ms"] / 1000 - length) < 0.3, (fin["duration_ms"], length)
        assert consent(row) == (None, None), f"{s.name}: consent {consent(row)}: {row}"
        s.check_receipt(row)
    finally:
        s.close()


# The contact bounces every 2 ms for the whole 30 ms lock-out (board.conf's
# debounce_ms), then every 1 ms, the last bounce 2 ms and the settling edge
# 1 ms before the lock-out ends; going down, and 250 ms later coming up.
DEBOUNCE_MS = 30


def bounces(t0, settle):
    times = list(range(0, DEBOUNCE_MS - 3, 2)) + [DEBOUNCE_MS - 3, DEBOUNCE_MS - 2, DEBOUNCE_MS - 1]
    other = "up" if settle == "down" else "down"
    n = len(times)
    return tuple(f"{t0 + t} {settle if (n - 1 - i) % 2 == 0 else other}"
                 for i, t in enumerate(times))


CHATTER = bounces(0, "down") + bounces(250, "up")


def test_chatter_is_one_press():
    s = Session("press-chatter")
    try:
        record_then_stop(s, start=lambda: s.raw(*CHATTER), stop=lambda: s.raw(*CHATTER))
        s.wait("prompt", name="ask_staff", timeout=60)
        time.sleep(0.3)
        s.raw(*CHATTER)
        saved = s.wait("consent", timeout=30)
        s.back_at_idle()
        downs = s.downs()
        ups = s.evs("button", edge="up")
        assert len(downs) == 3 and len(ups) == 3, \
            f"{s.name}: chatter made {len(downs)} presses and {len(ups)} releases, not 3 and 3"
        for d, u in zip(downs, ups):
            assert 200_000 <= u["t_us"] - d <= 300_000, (d, u)
        s.expect_ignored([])
        assert len(s.evs("recording_started")) == 1
        stops = s.evs("recording_stopping")
        assert len(stops) == 1 and stops[0]["keep"], stops
        said = s.prompts()
        assert "cancelled" not in said and "too_short" not in said, said
        assert said.count("ask_staff") == 1 and said.count("ask_share") == 2, said
        assert saved["staff"] is True and saved["share"] is False, f"{s.name}: saved {saved}"
        row = one_kept(s)
        assert consent(row) == (1, None), f"{s.name}: consent {consent(row)}: {row}"
        s.check_receipt(row)
    finally:
        s.close()


def run_all(serial, parallel):
    """Like drtest.run, with the long sessions PARALLEL at a time."""
    results = {}

    def one(t):
        t0 = time.monotonic()
        try:
            t()
            results[t.__name__] = None
            log(f"PASS {t.__name__} ({time.monotonic() - t0:.0f} s)")
        except Exception as e:  # noqa: BLE001 - report every failure
            results[t.__name__] = e
            log(f"FAIL {t.__name__}: {type(e).__name__}: {e}")
            if not isinstance(e, (AssertionError, DaemonDied)):
                traceback.print_exc()

    for t in serial:
        log(f"--- {t.__name__}")
        one(t)
    log(f"--- {', '.join(t.__name__ for t in parallel)} ({PARALLEL} at a time)")
    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(one, parallel))
    failed = sum(1 for e in results.values() if e is not None)
    log(f"{len(results) - failed} passed, {failed} failed")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    run_all([test_press_during_the_welcome_cancels, test_press_during_the_beep_cancels,
             test_double_press_at_the_start_cancels],
            [test_presses_while_saving_are_ignored, test_press_during_the_confirmation_is_ignored,
             test_press_during_thank_you_is_ignored, test_double_press_at_the_stop_is_one_stop,
             test_press_during_the_staff_question_is_yes, test_presses_while_the_receipt_is_read_are_ignored,
             test_button_held_for_5_s_at_the_start, test_chatter_is_one_press])
