# SPDX-License-Identifier: MIT
"""tools/replace-prompt, run for real: a recording made by sox at 44.1 kHz
in stereo (and a 96 kHz 24-bit one, and an Opus one) becomes NAME.opus in
the pack, which the box's own loader (dr-prompts-check, the code diaryroomd
runs at start) takes in place of the built-in phrase: the right length, the
right pitch, the same speech. A wrong name or an unreadable file is refused
and nothing in the pack changes."""
import os
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from drtest import BUILD, PROMPTS, RATE, SRC, log, opusinfo_clean, read_wav, run, similarity, tmpdir  # noqa: E402

TOOL = os.path.join(SRC, "tools", "replace-prompt")
CHECK = os.path.join(BUILD, "bin", "dr-prompts-check")


def pack_copy(d):
    pack = os.path.join(d, "pack")
    shutil.copytree(PROMPTS, pack)
    return pack


def snapshot(folder):
    out = {}
    for n in sorted(os.listdir(folder)):
        with open(os.path.join(folder, n), "rb") as f:
            out[n] = f.read()
    return out


def replace(name, audio, pack):
    return subprocess.run([TOOL, name, audio, pack], capture_output=True, text=True)


def load(search, name, out):
    """The box's loader on `search`; returns (sources by name, PCM of name)."""
    p = subprocess.run([CHECK, search, name, out], capture_output=True, text=True)
    assert p.returncode == 0, f"the box refuses {search}: {p.stderr}"
    sources = {}
    for line in p.stdout.splitlines():
        n, samples, ms, src = line.split(" ", 3)
        sources[n] = src
    pcm, rate = read_wav(out)
    assert rate == RATE
    return sources, pcm


def tone_hz(x):
    """The pitch of a steady tone from its zero crossings."""
    s = np.signbit(x[np.abs(x) > 0])
    return np.count_nonzero(s[1:] != s[:-1]) / 2 / (len(x) / RATE)


def sox(*args):
    subprocess.run(["sox", *args], check=True)


def test_a_stereo_44k_recording_replaces_a_phrase():
    d = tmpdir("replace")
    pack = pack_copy(d)
    # Speech from espeak-ng, and a 1 kHz tone after it, as a 44.1 kHz
    # stereo 16-bit WAV: what a laptop's recorder makes.
    speech = os.path.join(d, "speech.wav")
    subprocess.run(["espeak-ng", "-v", "en-gb", "-s", "150", "-w", speech,
                    "Hello, and welcome. This is the diary room."], check=True)
    tone = os.path.join(d, "tone.wav")
    sox("-n", "-r", "22050", "-c", "1", tone, "synth", "0.8", "sine", "1000", "vol", "0.5")
    rec = os.path.join(d, "sam-44k-stereo.wav")
    sox(speech, tone, "-r", "44100", "-c", "2", "-b", "16", rec)
    assert subprocess.run(["soxi", "-r", rec], capture_output=True, text=True).stdout.strip() == "44100"
    seconds = float(subprocess.run(["soxi", "-D", rec], capture_output=True, text=True).stdout)

    before = snapshot(pack)
    p = replace("welcome", rec, pack)
    assert p.returncode == 0, p.stderr
    log(p.stdout.strip())
    after = snapshot(pack)
    changed = [n for n in after if before.get(n) != after[n]]
    assert changed == ["welcome.opus"], f"replace-prompt changed {changed}"
    assert set(after) == set(before), "files appeared or vanished in the pack"
    opusinfo_clean(os.path.join(pack, "welcome.opus"))

    sources, pcm = load(pack, "welcome", os.path.join(d, "loaded.wav"))
    assert sources["welcome"] == os.path.join(pack, "welcome.opus"), sources["welcome"]
    assert all(s.startswith(pack + "/") for s in sources.values())
    # As long as the recording plus 0.15 s of quiet at each end.
    want = seconds + 0.3
    log(f"loaded {len(pcm) / RATE:.3f} s, recording {seconds:.3f} s + 0.3 s")
    assert abs(len(pcm) / RATE - want) < 0.01, (len(pcm) / RATE, want)
    # The same speech at the same times (the reference: the recording at
    # 48 kHz mono by sox, padded the same way).
    ref48 = os.path.join(d, "ref48.wav")
    sox(rec, "-r", "48000", "-c", "1", "-b", "16", ref48, "pad", "0.15", "0.15")
    ref, _ = read_wav(ref48)
    env, wave_ = similarity(pcm, ref, max_lag_ms=10)
    log(f"speech: envelope correlation {env:.3f}, waveform {wave_:.3f}")
    assert env > 0.95 and wave_ > 0.8, (env, wave_)
    # The tone at its pitch: played at the wrong rate it would be 1088 Hz.
    n_sp = int((0.15 + seconds - 0.8) * RATE)
    hz = tone_hz(pcm[n_sp + 4800: n_sp + 4800 + RATE // 2])
    log(f"tone {hz:.1f} Hz")
    assert abs(hz - 1000) < 5, hz
    # Loud enough: normalised to -3 dBFS.
    peak = np.abs(pcm).max() / 32768
    assert 0.6 < peak <= 1.0, peak


def test_other_rates_and_an_opus_recording():
    d = tmpdir("replace2")
    pack = pack_copy(d)
    rec96 = os.path.join(d, "r96.wav")
    sox("-n", "-r", "96000", "-c", "1", "-b", "24", rec96, "synth", "0.5", "sine", "700", "vol", "0.3")
    recopus = os.path.join(d, "r.opus")
    flac = os.path.join(d, "r16.flac")
    sox("-n", "-r", "16000", "-c", "2", "-b", "16", flac, "synth", "0.6", "sine", "500", "vol", "0.3")
    subprocess.run(["opusenc", "--quiet", flac, recopus], check=True)
    # A stale WAV of the phrase is removed: one copy, the new one.
    with open(os.path.join(pack, "saved.wav"), "wb") as f:
        f.write(b"old")
    for name, rec, secs, hz in (("beep", rec96, 0.5, 700), ("saved", recopus, 0.6, 500)):
        p = replace(name, rec, pack)
        assert p.returncode == 0, p.stderr
        log(p.stdout.strip())
        sources, pcm = load(pack, name, os.path.join(d, name + ".wav"))
        assert sources[name] == os.path.join(pack, name + ".opus")
        assert abs(len(pcm) / RATE - (secs + 0.3)) < 0.01, (name, len(pcm) / RATE)
        got = tone_hz(pcm[int(0.2 * RATE): int((0.1 + secs) * RATE)])
        assert abs(got - hz) < 5, (name, got)
    assert not os.path.exists(os.path.join(pack, "saved.wav"))
    # Into an empty override folder (or the boot partition's
    # diaryroom-prompts/): the box reads it in front of the pack.
    ovr = os.path.join(d, "override")
    p = replace("goodbye", rec96, ovr)
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(ovr)) == ["goodbye.opus"], os.listdir(ovr)
    sources, _ = load(f"{ovr}:{PROMPTS}", "goodbye", os.path.join(d, "g.wav"))
    assert sources["goodbye"] == os.path.join(ovr, "goodbye.opus")
    assert sources["welcome"] == os.path.join(PROMPTS, "welcome.opus")


def test_a_wrong_name_or_file_is_refused():
    d = tmpdir("replace3")
    pack = pack_copy(d)
    rec = os.path.join(d, "r.wav")
    sox("-n", "-r", "44100", "-c", "2", rec, "synth", "0.3", "sine", "440")
    junk = os.path.join(d, "phone.m4a")
    with open(junk, "wb") as f:
        f.write(b"\0\0\0 ftypM4A not really")
    before = snapshot(pack)
    cases = [
        (("welcom", rec), "'welcom' is not a prompt name"),
        (("Welcome", rec), "not a prompt name"),
        (("welc.me", rec), "not a prompt name"),   # no pattern matching
        (("../welcome", rec), "not a prompt name"),
        (("", rec), "not a prompt name"),
        (("welcome", os.path.join(d, "missing.wav")), "no such file"),
        (("welcome", junk), "sox cannot read"),
    ]
    for (name, audio), needle in cases:
        p = replace(name, audio, pack)
        log(f"{name!r} {os.path.basename(audio)}: {p.returncode} {p.stderr.strip().splitlines()[0]}")
        assert p.returncode == 2, (name, p.returncode, p.stderr)
        assert needle in p.stderr, (needle, p.stderr)
        assert snapshot(pack) == before, f"the pack changed after {name!r}"
    # The list of names it gives is the real one.
    p = replace("nope", rec, pack)
    assert "welcome" in p.stderr and "digit_9" in p.stderr
    p = subprocess.run([TOOL, "welcome"], capture_output=True, text=True)
    assert p.returncode == 2 and "usage" in p.stderr


if __name__ == "__main__":
    run([test_a_stereo_44k_recording_replaces_a_phrase, test_other_rates_and_an_opus_recording,
         test_a_wrong_name_or_file_is_refused])
