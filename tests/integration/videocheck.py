# SPDX-License-Identifier: MIT
"""A video as a player reads it (ffprobe, ffmpeg), and the office PC's
browser copy of a video (collect's <id>.webm) checked against the original
it was made from. Shared by the simulated board's test_collect_video and
the emulated board's session (tests/emulated)."""
import json
import subprocess

import numpy as np

from drtest import RATE, log


def media_end(path):
    """Where the recording ends (s): the end of its last sound packet, or
    its last frame's time if later. A frame's own duration is not counted:
    the box's Matroska has none (a camera's frame lasts until the next),
    and ffprobe gives the WebM's frames 1/fps, which would make the same
    picture look up to a frame longer."""
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                        "packet=codec_type,pts_time,duration_time", "-of", "csv=p=0", path],
                       capture_output=True, text=True, check=True)
    end = 0.0
    for line in p.stdout.split():
        f = line.split(",")
        if len(f) < 2 or f[0] not in ("audio", "video") or f[1] in ("", "N/A"):
            continue
        dur = float(f[2]) if f[0] == "audio" and len(f) > 2 and f[2] not in ("", "N/A") else 0.0
        end = max(end, float(f[1]) + dur)
    return end


def streams(path):
    """(the container's format_name, sorted (codec_type, codec_name) pairs)."""
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                        "stream=codec_type,codec_name:format=format_name", "-of", "json", path],
                       capture_output=True, text=True, check=True)
    j = json.loads(p.stdout)
    return j["format"]["format_name"], sorted((s["codec_type"], s["codec_name"])
                                              for s in j["streams"])


def assert_clean(path):
    """ffprobe -v warning says nothing about it."""
    p = subprocess.run(["ffprobe", "-v", "warning", path], capture_output=True, text=True)
    assert p.returncode == 0 and not p.stderr.strip() and not p.stdout.strip(), p.stderr


def sound_of(path):
    """Its sound decoded to mono at 48 kHz (float64 samples)."""
    p = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vn", "-ac", "1", "-ar", str(RATE),
                        "-f", "s16le", "-"], capture_output=True, check=True)
    return np.frombuffer(p.stdout, dtype="<i2").astype(np.float64)


def sound_packets(path):
    """Each Opus packet's time (s) and bytes, as a player reads them."""
    p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                        "packet=pts_time,size", "-of", "csv=p=0", path],
                       capture_output=True, text=True, check=True)
    return [tuple(l.split(",")) for l in p.stdout.split()]


def frames_of(path):
    """The picture's frames, each decoded."""
    p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                        "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path],
                       capture_output=True, text=True, check=True)
    return int(p.stdout.strip())


def check_browser_copy(webm, original):
    """collect's browser copy against the original it was made from (the
    sealed original opened with the organisation's key): ffprobe silent, a
    WebM with VP8 and Opus, as long as the original within 60 ms, every
    frame of the original decoded, every Opus packet at its original time.
    Returns (the copy's end in s, its frames)."""
    assert_clean(webm)
    fmt, st = streams(webm)
    assert "webm" in fmt and st == [("audio", "opus"), ("video", "vp8")], (fmt, st)
    end_o, end_w = media_end(original), media_end(webm)
    frames_w, frames_o = frames_of(webm), frames_of(original)
    log(f"original {end_o:.3f} s, browser copy {end_w:.3f} s, {frames_w} frames (original {frames_o})")
    assert abs(end_o - end_w) <= 0.060, (end_o, end_w)
    assert frames_w == frames_o, (frames_w, frames_o)
    sw, so = sound_packets(webm), sound_packets(original)
    assert sw == so, (len(sw), len(so), sw[:3], so[:3])
    return end_w, frames_w
