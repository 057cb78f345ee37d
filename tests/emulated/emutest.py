# SPDX-License-Identifier: MIT
"""Helpers for the emulated-board tests: the device image (built by the
emulated_image test with firmware/build-image) booted by tools/emulate under
qemu-system-aarch64, with the simulated-board tests' audio helpers
(tests/integration/drtest.py)."""
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("DR_SOURCE_DIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))

import drtest  # noqa: E402
from drtest import RATE, log  # noqa: E402,F401

IMAGE = os.environ.get("DR_EMULATED_IMAGE", os.path.join(SRC, "build", "firmware", "qemu-virt"))


def load_emulate():
    """tools/emulate as a module (it has no .py name)."""
    path = os.path.join(SRC, "tools", "emulate")
    loader = importlib.machinery.SourceFileLoader("dr_emulate", path)
    spec = importlib.util.spec_from_loader("dr_emulate", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


emulate = load_emulate()


def new_box(name, **kw):
    """An Emulator on a fresh copy of the image, in its own folder."""
    if not os.path.exists(os.path.join(IMAGE, "image.json")):
        raise AssertionError(f"no image in {IMAGE}: the emulated_image test builds it "
                             f"(firmware/build-image qemu-virt)")
    return emulate.Emulator(image=IMAGE, run=drtest.tmpdir(name), fresh=True, **kw)


def align(decoded, reference, max_lag_s=2.0):
    """Where `reference` starts in `decoded` (samples), by the best
    correlation of their 10 ms loudness envelopes: the box's recording
    starts some hundred ms before the voice reaches the microphone."""
    ed, er = drtest.envelope(decoded), drtest.envelope(reference)
    best, best_lag = -2.0, 0
    for lag in range(0, int(max_lag_s * 100)):
        x = ed[lag: lag + len(er)]
        y = er[: len(x)]
        if len(x) < 50 or x.std() == 0 or y.std() == 0:
            break
        c = float(np.corrcoef(x, y)[0, 1])
        if c > best:
            best, best_lag = c, lag
    return best_lag * 480


def check_recording(path, reference, min_env=0.9):
    """opusinfo accepts it with no warning, it decodes with opusdec, and
    what it holds is the reference speech. Returns (decoded samples, lag,
    envelope correlation, waveform correlation)."""
    drtest.opusinfo_clean(path)
    decoded = drtest.decode(path)
    lag = align(decoded, reference)
    env, wave = drtest.similarity(decoded[lag:], reference)
    log(f"{os.path.basename(path)}: {len(decoded) / RATE:.2f} s, voice starts at {lag / RATE:.2f} s, "
        f"envelope correlation {env:.3f}, waveform {wave:.3f}")
    assert env >= min_env, f"{path} does not sound like what was spoken (envelope correlation {env:.3f})"
    return decoded, lag, env, wave


def check_video(mkv, reference, min_env=0.9):
    """A video opened on the office PC (plain Matroska): ffprobe -v warning
    says nothing, it holds an Opus and an H.264 track, and its sound is the
    reference speech. Returns (decoded sound, lag, envelope correlation,
    video frames, the last frame's time in s)."""
    p = subprocess.run(["ffprobe", "-v", "warning", "-of", "json", "-count_packets", "-show_streams",
                        "-show_entries", "packet=pts_time,stream_index", mkv], capture_output=True, text=True)
    assert p.returncode == 0 and not p.stderr.strip(), f"ffprobe warns about {mkv}:\n{p.stderr}"
    j = json.loads(p.stdout)
    kinds = sorted((s["codec_type"], s["codec_name"]) for s in j["streams"])
    assert kinds == [("audio", "opus"), ("video", "h264")], kinds
    vi = [s["index"] for s in j["streams"] if s["codec_type"] == "video"][0]
    pts = sorted(float(k["pts_time"]) for k in j["packets"] if k["stream_index"] == vi)
    d = subprocess.run(["ffmpeg", "-v", "error", "-i", mkv, "-map", "0:a", "-ar", str(RATE), "-ac", "1",
                        "-f", "s16le", "-"], capture_output=True)
    assert d.returncode == 0 and not d.stderr, d.stderr.decode(errors="replace")
    decoded = np.frombuffer(d.stdout, dtype="<i2").astype(np.float64)
    lag = align(decoded, reference)
    env, wave = drtest.similarity(decoded[lag:], reference)
    log(f"{os.path.basename(mkv)}: {len(decoded) / RATE:.2f} s of sound, {len(pts)} frames to "
        f"{pts[-1] if pts else 0:.3f} s, voice at {lag / RATE:.2f} s, envelope {env:.3f}, waveform {wave:.3f}")
    assert pts, f"{mkv} has no picture"
    assert env >= min_env, f"{mkv} does not sound like what was spoken (envelope correlation {env:.3f})"
    return decoded, lag, env, len(pts), pts[-1]


def catalogue(data_dir, table="recordings"):
    import sqlite3
    db = sqlite3.connect(f"file:{data_dir}/diaryroom/catalogue.sqlite?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(f"SELECT * FROM {table}")]
    finally:
        db.close()


# ---- the office PC: diaryroom-admin from the host build ----

ADMIN = os.path.join(drtest.BUILD, "bin", "diaryroom-admin")
ADMIN_ENV = dict(os.environ, DIARYROOM_PASSPHRASE="a long passphrase for tests")


def admin(*args):
    """Runs diaryroom-admin (the passphrase from the environment, as a
    script would); fails the test if it fails."""
    p = subprocess.run([ADMIN] + list(args), capture_output=True, text=True, env=ADMIN_ENV)
    log(f"admin {args[0]}: rc {p.returncode} {p.stderr.strip()}")
    assert p.returncode == 0, f"diaryroom-admin {args[0]} failed: {p.stderr}"
    return p


def new_org(folder):
    """An organisation and one box's keys (what the installer brings):
    returns (org folder, keys folder, the box's device id)."""
    os.makedirs(folder, exist_ok=True)
    org, keys = os.path.join(folder, "org"), os.path.join(folder, "box-keys")
    admin("init-org", "--org", org, "--kdf", "interactive")
    admin("provision-device", "--org", org, "--out", keys)
    with open(os.path.join(keys, "device.pub"), "rb") as f:
        device = f.read(8).hex()
    return org, keys, device


def fsck_clean(emu):
    """e2fsck -fn on the data partition (the box is off): no errors."""
    off, size = emu.data_partition()
    part = emu.path("fsck.ext4")
    subprocess.run(["dd", f"if={emu.disk}", f"of={part}", "bs=1M", f"skip={off >> 20}",
                    f"count={size >> 20}", "conv=sparse", "status=none"], check=True)
    p = subprocess.run(["e2fsck", "-fn", part], capture_output=True, text=True)
    os.unlink(part)
    assert p.returncode == 0, f"e2fsck finds errors on the data partition:\n{p.stdout}{p.stderr}"


def write_result(name, values):
    """Measurements for BENCHMARKS.md, in the test's folder and on stdout."""
    log("RESULT " + json.dumps({name: values}))
    out = os.path.join(drtest.BUILD, "test-tmp", "emulated-results.json")
    try:
        with open(out) as f:
            allv = json.load(f)
    except (FileNotFoundError, ValueError):
        allv = {}
    allv[name] = values
    with open(out, "w") as f:
        json.dump(allv, f, indent=2)
