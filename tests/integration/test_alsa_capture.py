# SPDX-License-Identifier: MIT
"""The real ALSA capture path: the daemon reads the microphone through
alsa-lib, from an ALSA `file` plugin PCM whose `infile` is a raw file of
speech.

The file plugin replaces what its slave captured with the file's samples, so
the slave sets the pace. The `null` PCM gives data at once (no pace), which is
enough for diaryroom-mictest's fixed number of samples; for a press-to-stop
session the slave is a PulseAudio null sink's monitor (through the ALSA
`pulse` plugin), which gives 48 kHz in real time, as a sound card would. The
same session against a kernel driver (snd-aloop) runs on the emulated board.
"""
import os
import shutil
import subprocess
import time

from drtest import (BUILD, RATE, SRC, Box, decode, log, opusinfo_clean, prompt_seconds, read_wav, run,
                    similarity, speak, tmpdir)

MICTEST = os.path.join(BUILD, "bin", "diaryroom-mictest")


def test_alsa_file_plugin_capture_is_what_was_said():
    d = tmpdir("alsa")
    wav = speak(os.path.join(d, "speech.wav"),
                "The new key workers are brilliant. They helped me find a course.")
    speech, _ = read_wav(wav)
    raw = os.path.join(d, "speech.raw")
    subprocess.run(["sox", wav, "-t", "raw", "-e", "signed", "-b", "16", "-r", str(RATE), raw],
                   check=True)
    conf = os.path.join(d, "asound.conf")
    with open(conf, "w") as f:
        f.write('pcm.testmic {\n type file\n slave.pcm "null"\n file "/dev/null"\n'
                f' infile "{raw}"\n format "raw"\n}}\n')
    env = dict(os.environ, ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:" + conf)
    out = os.path.join(d, "mic.opus")
    seconds = round(len(speech) / RATE - 0.1, 2)
    p = subprocess.run([MICTEST, "--board", os.path.join(SRC, "board", "host"),
                        "--set", "audio.capture=alsa", "--set", "audio.capture_device=testmic",
                        "--seconds", str(seconds), out], capture_output=True, text=True, env=env)
    log(p.stdout, p.stderr)
    assert p.returncode == 0, p.stderr
    assert "lost: 0" in p.stdout
    opusinfo_clean(out)
    decoded = decode(out)
    assert len(decoded) == round(seconds * RATE), (len(decoded), seconds * RATE)
    env_sim, wav_sim = similarity(decoded, speech)
    log(f"similarity: envelope {env_sim:.3f}, waveform {wav_sim:.3f}")
    assert env_sim >= 0.9 and wav_sim >= 0.5


class PacedSource:
    """A PulseAudio server of the test's own (no sound card, no session bus)
    with a 48 kHz mono null sink: its monitor is a capture device that runs
    in real time. Reached through the ALSA `pulse` plugin."""

    def __init__(self, d):
        pa = shutil.which("pulseaudio")
        assert pa, "pulseaudio is missing: tools/install-deps installs it"
        self.dir = d
        self.socket = os.path.join(d, "pulse-native")
        self.log = open(os.path.join(d, "pulseaudio.log"), "wb")
        env = dict(os.environ, HOME=d, XDG_RUNTIME_DIR=d, XDG_CONFIG_HOME=d)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        self.proc = subprocess.Popen(
            [pa, "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
             "--disallow-exit", "--disable-shm", "--log-target=stderr",
             "-L", "module-null-sink sink_name=drnull rate=48000 channels=1 format=s16le",
             "-L", f"module-native-protocol-unix socket={self.socket} auth-anonymous=1"],
            env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.socket):
            assert self.proc.poll() is None, "pulseaudio exited: see " + self.log.name
            assert time.monotonic() < deadline, "pulseaudio did not start: see " + self.log.name
            time.sleep(0.05)

    def pcm(self, name):
        return (f'pcm.{name} {{\n type pulse\n server "unix:{self.socket}"\n'
                f' device "drnull.monitor"\n}}\n')

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def test_alsa_file_plugin_session_press_speech_press():
    """A whole session through the daemon with the microphone on real ALSA:
    press, the welcome and beep, speech, press. The file holds what was said,
    as long as the presses say."""
    d = tmpdir("alsa-session")
    text = ("I have lived here for two years. The staff are kind, but the heating in my "
            "room has been broken since October.")
    wav = speak(os.path.join(d, "speech.wav"), text, pad=(0.0, 30.0))
    speech, _ = read_wav(wav)
    raw = os.path.join(d, "speech.raw")
    subprocess.run(["sox", wav, "-t", "raw", "-e", "signed", "-b", "16", "-r", str(RATE), raw],
                   check=True)
    src = PacedSource(d)
    try:
        conf = os.path.join(d, "asound.conf")
        with open(conf, "w") as f:
            f.write(src.pcm("paced"))
            f.write('pcm.testmic {\n type file\n slave.pcm "paced"\n file "/dev/null"\n'
                    f' infile "{raw}"\n format "raw"\n}}\n')
        os.environ["ALSA_CONFIG_PATH"] = "/usr/share/alsa/alsa.conf:" + conf
        try:
            # the simulated microphone is silence: the speech can only come through ALSA
            quiet = os.path.join(d, "silence.wav")
            subprocess.run(["sox", "-n", "-r", str(RATE), "-c", "1", "-b", "16", quiet,
                            "trim", "0", "1"], check=True)
            box = Box("alsa-session", quiet, root=d,
                      sets=["audio.capture=alsa", "audio.capture_device=testmic"]).start()
            started, down, fin = box.record(6.0)
            assert box.terminate() == 0, box.stderr_text()
        finally:
            del os.environ["ALSA_CONFIG_PATH"]
    finally:
        src.close()
    rows = box.catalogue()
    assert len(rows) == 1 and rows[0]["state"] == "complete", rows
    path = os.path.join(box.data, rows[0]["file"])
    opusinfo_clean(path)
    decoded = decode(path)
    p1, p2 = box.presses
    expected = (p2 - p1) - prompt_seconds("welcome") - prompt_seconds("beep")
    length = len(decoded) / RATE
    log(f"presses {p2 - p1:.3f} s apart, expected {expected:.3f} s, decoded {length:.3f} s, "
        f"lost {fin['lost']}")
    assert abs(length - expected) <= 0.060, (length, expected)
    assert fin["lost"] == 0, fin
    env_sim, wav_sim = similarity(decoded, speech)
    log(f"similarity: envelope {env_sim:.3f}, waveform {wav_sim:.3f}")
    assert env_sim >= 0.9 and wav_sim >= 0.5


def test_missing_alsa_device_is_a_clear_error():
    d = tmpdir("alsa-missing")
    p = subprocess.run([MICTEST, "--board", os.path.join(SRC, "board", "host"),
                        "--set", "audio.capture=alsa", "--set", "audio.capture_device=hw:CARD=Gone",
                        "--seconds", "1", os.path.join(d, "x.opus")], capture_output=True, text=True)
    assert p.returncode != 0
    assert "Gone" in p.stderr, p.stderr


if __name__ == "__main__":
    run([test_alsa_file_plugin_capture_is_what_was_said,
         test_alsa_file_plugin_session_press_speech_press,
         test_missing_alsa_device_is_a_clear_error])
