# SPDX-License-Identifier: MIT
"""The real ALSA capture path: the recorder reads the microphone through
alsa-lib, from an ALSA `file` plugin PCM whose input is a raw file of speech.
The file plugin is not paced in real time, so this runs the pipeline through
diaryroom-mictest (a fixed number of samples) rather than the daemon's
press-to-stop session; the real-time ALSA path runs on the emulated board
against snd-aloop."""
import os
import subprocess

from drtest import BUILD, RATE, SRC, decode, log, opusinfo_clean, read_wav, run, similarity, speak, tmpdir

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


def test_missing_alsa_device_is_a_clear_error():
    d = tmpdir("alsa-missing")
    p = subprocess.run([MICTEST, "--board", os.path.join(SRC, "board", "host"),
                        "--set", "audio.capture=alsa", "--set", "audio.capture_device=hw:CARD=Gone",
                        "--seconds", "1", os.path.join(d, "x.opus")], capture_output=True, text=True)
    assert p.returncode != 0
    assert "Gone" in p.stderr, p.stderr


if __name__ == "__main__":
    run([test_alsa_file_plugin_capture_is_what_was_said, test_missing_alsa_device_is_a_clear_error])
