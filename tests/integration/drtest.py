# SPDX-License-Identifier: MIT
"""Helpers for driving diaryroomd on the simulated board (board/host).

A Box is one daemon with its own data folder, event log, microphone WAV,
speaker WAV and button FIFO, in a fresh folder under the build tree. Tests
press the button by writing to the FIFO and follow what the box does by
reading its JSON-lines event log (timestamps are CLOCK_MONOTONIC, the clock
time.monotonic() reads, so they compare with the test's own times).
"""
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np

BUILD = os.environ.get("DR_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build/host"))
SRC = os.environ.get("DR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
PROMPTS = os.environ.get("DR_TEST_PROMPTS", os.path.join(BUILD, "test-prompts"))
DAEMON = os.path.join(BUILD, "bin", "diaryroomd")
RATE = 48000
SANITIZE = os.environ.get("DR_SANITIZE", "0") in ("1", "ON", "true")


def log(*a):
    print(*a, flush=True)


def tmpdir(name):
    base = os.path.join(BUILD, "test-tmp")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=name + "-", dir=base)


# ---- audio ----

def speak(path, text, voice="en-gb", speed=150, pad=(0.0, 0.0)):
    """Speech from espeak-ng as a 48 kHz mono 16-bit WAV."""
    raw = path + ".raw.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, text], check=True)
    subprocess.run(["sox", raw, "-r", str(RATE), "-c", "1", "-b", "16", path, "gain", "-n", "-3",
                    "pad", str(pad[0]), str(pad[1])], check=True)
    os.unlink(raw)
    return path


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2, path
        n = w.getnframes()
        data = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float64)
        if w.getnchannels() > 1:
            data = data.reshape(-1, w.getnchannels()).mean(axis=1)
        return data, w.getframerate()


def write_wav(path, samples, rate=RATE):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.clip(samples, -32768, 32767).astype("<i2").tobytes())


# ---- the organisation (the box seals every recording to it) ----

TEST_ORG_TOOL = os.path.join(BUILD, "bin", "dr-test-org")


def test_org():
    """The throw-away organisation of this build's tests: a folder with
    org.pub and org.sk (made once, atomically: tests run in parallel), and
    keys/org.pub, the key folder a box is given."""
    org = os.path.join(BUILD, "test-org")
    if not os.path.exists(os.path.join(org, "keys", "org.pub")):
        tmp = tempfile.mkdtemp(prefix="test-org-", dir=BUILD)
        subprocess.run([TEST_ORG_TOOL, "new", tmp], check=True)
        os.mkdir(os.path.join(tmp, "keys"), 0o700)
        with open(os.path.join(tmp, "org.pub"), "rb") as f, \
                open(os.path.join(tmp, "keys", "org.pub"), "wb") as g:
            g.write(f.read())
        try:
            os.rename(tmp, org)
        except OSError:
            subprocess.run(["rm", "-rf", tmp], check=True)  # another test made it first
    return org


def test_box_keys(folder):
    """A box's key folder (device.key, device.pub, org.pub) provisioned for
    the tests' organisation, as provision-device lays it out."""
    os.makedirs(folder, exist_ok=True)
    subprocess.run([TEST_ORG_TOOL, "box", test_org(), folder], check=True)
    return folder


def is_sealed(path):
    with open(path, "rb") as f:
        return f.read(8) == b"DRSEAL02"


def open_sealed(path, org=None):
    """What the office PC gets from a sealed recording: opened with the
    organisation's key (and finished if it was cut off), as a plain Ogg Opus
    file in a folder of its own, never beside the box's files. A file that
    is not sealed is returned as it is."""
    if not is_sealed(path):
        return path
    out = os.path.join(tmpdir("opened"), os.path.basename(path).replace(".sealed", ""))
    p = subprocess.run([TEST_ORG_TOOL, "open", org or test_org(), path, out],
                       capture_output=True, text=True)
    assert p.returncode == 0, f"cannot open {path} with the organisation's key: {p.stderr}"
    return out


def opusinfo_clean(path):
    """opusinfo accepts the file (opened with the organisation's key if it
    is sealed) and prints no warning. Returns its output."""
    path = open_sealed(path)
    p = subprocess.run(["opusinfo", path], capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"opusinfo failed on {path}:\n{out}"
    assert "WARNING" not in out.upper(), f"opusinfo warns about {path}:\n{out}"
    return out


def decode(path):
    """Decode with the reference decoder, opusdec, to 48 kHz samples (a
    sealed recording is opened with the organisation's key first)."""
    path = open_sealed(path)
    out = path + ".decoded.wav"
    p = subprocess.run(["opusdec", "--quiet", "--rate", str(RATE), path, out],
                       capture_output=True, text=True)
    assert p.returncode == 0, f"opusdec failed on {path}: {p.stderr}"
    data, rate = read_wav(out)
    assert rate == RATE
    return data


def envelope(x, frame=480):
    n = len(x) // frame
    e = (x[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
    return 10 * np.log10(e + 1.0)


def similarity(decoded, reference, max_lag_ms=100):
    """How alike two signals are, two ways:
    env: correlation of their 10 ms loudness envelopes (dB), at the best lag
         within +-max_lag_ms; 1.0 means the same speech at the same times;
    wave: the peak of their normalised waveform cross-correlation.
    Compared over the shorter of the two."""
    n = min(len(decoded), len(reference))
    a, b = decoded[:n], reference[:n]
    ea, eb = envelope(a), envelope(b)
    best = -1.0
    lags = max_lag_ms // 10
    for lag in range(-lags, lags + 1):
        if lag >= 0:
            x, y = ea[lag:], eb[: len(eb) - lag]
        else:
            x, y = ea[: len(ea) + lag], eb[-lag:]
        if len(x) > 10 and x.std() > 0 and y.std() > 0:
            best = max(best, float(np.corrcoef(x, y)[0, 1]))
    size = 1 << int(np.ceil(np.log2(2 * n)))
    fa, fb = np.fft.rfft(a, size), np.fft.rfft(b, size)
    xc = np.fft.irfft(fa * np.conj(fb), size)
    lagmax = RATE * max_lag_ms // 1000
    window = np.concatenate([xc[: lagmax + 1], xc[-lagmax:]])
    denom = np.sqrt((a * a).sum() * (b * b).sum()) or 1.0
    return best, float(np.abs(window).max() / denom)


def prompt_seconds(name, prompts=None):
    """How long a prompt of the pack lasts, decoded by the reference decoder."""
    return len(decode_copy(os.path.join(prompts or PROMPTS, name + ".opus"))) / RATE


def decode_copy(path):
    """decode() for a file the test must not write beside (a prompt pack, a
    box's data folder); a sealed recording is opened first."""
    path = open_sealed(path)
    fd, out = tempfile.mkstemp(suffix=".wav", dir=tmpdir("decode"))
    os.close(fd)
    p = subprocess.run(["opusdec", "--quiet", "--rate", str(RATE), path, out],
                       capture_output=True, text=True)
    assert p.returncode == 0, f"opusdec failed on {path}: {p.stderr}"
    return read_wav(out)[0]


def blake2b_256(path):
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(65536), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- the box ----

class DaemonDied(AssertionError):
    pass


class Box:
    def __init__(self, name, mic, sets=(), prompts=None, data=None, wrapper=(), board=None,
                 root=None):
        self.dir = root or tmpdir(name)
        self.data = data or os.path.join(self.dir, "data")
        self.fifo = os.path.join(self.dir, "button")
        self.speaker = os.path.join(self.dir, "speaker.wav")
        self.log_path = os.path.join(self.dir, "events.jsonl")
        self.stderr_path = os.path.join(self.dir, "stderr.txt")
        self.mic = mic
        self.prompts = prompts or PROMPTS
        self.sets = list(sets)
        self.wrapper = list(wrapper)
        self.board = board or os.path.join(SRC, "board", "host")
        # Provisioned with the tests' organisation unless the test gives keys
        if not any(x.startswith("export.keydir=") for x in self.sets):
            self.sets.append("export.keydir=" + os.path.join(test_org(), "keys"))
        self.proc = None
        self._seen = 0
        self._stderr_from = 0

    def argv(self):
        a = self.wrapper + [DAEMON, "--board", self.board, "--data", self.data,
                            "--event-log", self.log_path, "--prompts", self.prompts,
                            "--set", "button.backend=fifo", "--set", "button.fifo=" + self.fifo,
                            "--set", "audio.capture_file=" + self.mic,
                            "--set", "audio.playback_file=" + self.speaker,
                            # quicker questions than a resident gets; tests may override
                            "--set", "consent.answer_s=2", "--set", "consent.digit_pause_ms=100"]
        for s in self.sets:
            a += ["--set", s]
        return a

    def start(self, wait_ready=True, timeout=60):
        self._seen = len(self.events())
        self._stderr_from = os.path.getsize(self.stderr_path) if os.path.exists(self.stderr_path) else 0
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=self.stderr)
        if wait_ready:
            self.wait_for("ready", timeout=timeout)
        return self

    def stderr_text(self):
        """What the daemon wrote to stderr since the last start()."""
        with open(self.stderr_path, "rb") as f:
            f.seek(getattr(self, "_stderr_from", 0))
            return f.read().decode(errors="replace")

    def events(self):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode()
        except FileNotFoundError:
            return []
        out = []
        for line in text.split("\n"):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line being written right now
        return out

    def wait_for(self, ev, timeout=30, since=None, **fields):
        """The first event `ev` with these fields after index `since` (default:
        after the last event this method returned)."""
        start = self._seen if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events()
            for i in range(start, len(evs)):
                e = evs[i]
                if e.get("ev") == ev and all(e.get(k) == v for k, v in fields.items()):
                    self._seen = i + 1
                    return e
            if self.proc is not None and self.proc.poll() is not None:
                raise DaemonDied(f"diaryroomd exited ({self.proc.returncode}) while waiting for "
                                 f"{ev} {fields}\nstderr:\n{self.stderr_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {ev} {fields}; last events:\n" +
                                     "\n".join(json.dumps(e) for e in evs[-15:]))
            time.sleep(0.01)

    def press(self, hold_ms=None):
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"press\n" if hold_ms is None else f"press {hold_ms}\n".encode())
        finally:
            os.close(fd)
        return time.monotonic()

    def terminate(self, timeout=60):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.stderr.close()
        return rc

    def kill(self):
        """A power cut, as far as the process can tell."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.stderr.close()
        return time.monotonic()

    def wait_exit(self, timeout=60):
        rc = self.proc.wait(timeout)
        self.stderr.close()
        return rc

    def catalogue(self, table="recordings"):
        db = sqlite3.connect(f"file:{self.data}/catalogue.sqlite?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute(f"SELECT * FROM {table}")]
        finally:
            db.close()

    def record(self, seconds):
        """One whole session: press, wait for recording, talk for `seconds`,
        press, wait until idle. Returns (start event, stop button event,
        finalised event). The test's own times of the two presses
        (time.monotonic()) are left in self.presses."""
        p1 = self.press()
        started = self.wait_for("recording_started", timeout=60)
        time.sleep(seconds)
        p2 = self.press()
        self.presses = (p1, p2)
        down = self.wait_for("button", edge="down")
        fin = self.wait_for("recording_finalised", timeout=60)
        self.wait_for("state", to="idle", timeout=60)
        return started, down, fin


def run(tests):
    """Run test functions; print a closing line ctest-style runners read."""
    failed = 0
    for t in tests:
        log(f"--- {t.__name__}")
        try:
            t()
            log(f"PASS {t.__name__}")
        except Exception as e:  # noqa: BLE001 - report every failure
            failed += 1
            log(f"FAIL {t.__name__}: {type(e).__name__}: {e}")
    log(f"{len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def record_margin(name, promise_s, worst_s, **extra):
    """Print how far a measured worst case is from its promise, and append
    it to build/<preset>/test-records/margins.jsonl (one line per run, with
    the time and the commit), so a slow drift shows long before a test
    fails. Returns the margin in seconds."""
    margin = promise_s - worst_s
    rec = {"utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "test": name,
           "promise_s": promise_s, "worst_s": round(worst_s, 4), "margin_s": round(margin, 4),
           "sanitize": SANITIZE}
    try:
        rec["commit"] = subprocess.run(["git", "-C", SRC, "rev-parse", "--short", "HEAD"],
                                       capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    rec.update(extra)
    log(f"MARGIN {name}: worst {worst_s:.3f} s against the {promise_s} s promise, "
        f"margin {margin:+.3f} s")
    d = os.path.join(BUILD, "test-records")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "margins.jsonl"), "a") as f:
        f.write(json.dumps(rec) + "\n")
    return margin


def archive_index(archive, dev):
    """What the office archive's catalogue holds for box dev, through
    `diaryroom-admin list`: {"recordings": {id: row}, "changes": [...],
    "consent_history": [...], "events": [...]}."""
    p = subprocess.run([os.path.join(BUILD, "bin", "diaryroom-admin"), "list", "--archive",
                        archive, "--box", dev], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout).get(dev, {"recordings": {}, "changes": [],
                                          "consent_history": [], "events": []})
