# SPDX-License-Identifier: MIT
"""H.264 from the camera, passed through, on the simulated board: the
simulated camera in H.264 (--set camera.format=h264: its pattern with the
frame counter encoded by openh264 as a UVC H.264 camera gives it, Annex B,
SPS and PPS before every IDR, an IDR every 2 s), label "video".

1. A video session: the sealed .mkv, opened with the tests' organisation,
   passes mkvinfo and ffprobe -v warning silently, has an Opus track and an
   H.264 track whose CodecPrivate is an avcC record, its first picture is a
   key frame and key frames come every 2 s (the camera's own, passed
   through), it lasts the time between the presses (less "camera on" and
   the beep) within 60 ms, its sound is what was spoken, and every decoded
   frame carries the simulated camera's counter in order, with gaps only
   where drops were counted.
2. SIGKILL 3.3 s into an H.264 video, restart: recovered, interrupted,
   mkvinfo/ffprobe clean, at most 0.5 s of sound and of picture lost.
3. A camera that never sends its parameter sets ([camera] sim_h264_fault =
   no_sets): 3 s into the video the box gives up on the picture and says
   so (camera_lost, -ETIMEDOUT, before the stop press); the file is the
   sound alone (one Opus track, no video track without its avcC), valid,
   as long as the presses say.

The helpers are test_video_session's. About 24 s on the host build."""
import os
import subprocess
import time

import numpy as np

from drtest import RATE, Box, log, open_sealed, prompt_seconds, read_wav, record_margin, run, similarity, speak, tmpdir
from test_video_session import (CAMERA, FPS, TESTIMONY, check_streams, counters, decode_audio, ffprobe_json,
                                mkvinfo_clean, sigkill_video, since, the_file, video_pts)

H264 = CAMERA + ["camera.format=h264"]


def key_times(path):
    j = ffprobe_json(path, "-select_streams", "v", "-show_entries", "packet=pts_time,flags")
    pk = sorted((float(p["pts_time"]), "K" in p["flags"]) for p in j["packets"])
    return pk


def test_h264_session():
    d = tmpdir("video-h264")
    mic = speak(os.path.join(d, "testimony.wav"), TESTIMONY)
    speech, _ = read_wav(mic)
    box = Box("video-h264", mic, root=d, sets=H264).start()
    cam = [e for e in box.events() if e["ev"] == "camera"]
    assert cam and cam[-1]["format"] == "h264", box.events()

    mark = len(box.events())
    box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    p_yes = box.press()
    box.wait_for("prompt", name="camera_on")
    started = box.wait_for("recording_started")
    assert started.get("media") == "video", started
    time.sleep(len(speech) / RATE + 0.5)
    p2 = box.press()
    fin = box.wait_for("recording_finalised", timeout=60)
    assert box.terminate() == 0, box.stderr_text()  # the questions after are not what this is about
    evs = since(box, mark)
    vfin = [e for e in evs if e["ev"] == "video_finalised"]
    assert vfin and vfin[0]["frames"] > 0 and not vfin[0]["camera_lost"], vfin
    assert not [e for e in evs if e["ev"] in ("camera_lost", "error")], evs
    log(f"video_finalised: {vfin[0]}")

    row, path = the_file(box, started["id"])
    assert row["state"] == "complete" and row["media"] == "video", row
    mkv = open_sealed(path)
    info = mkvinfo_clean(mkv)
    assert "V_MPEG4/ISO/AVC" in info and "H.264 profile" in info, info  # CodecPrivate: an avcC mkvinfo reads
    w, h = check_streams(mkv)
    assert (w, h) == (320, 240), (w, h)
    j = ffprobe_json(mkv, "-select_streams", "v", "-show_streams")
    assert j["streams"][0]["profile"] == "Constrained Baseline", j["streams"][0]

    audio = decode_audio(mkv)
    length = len(audio) / RATE
    expected = (p2 - p_yes) - prompt_seconds("camera_on") - prompt_seconds("beep")
    log(f"presses {p2 - p_yes:.3f} s apart, expected {expected:.3f} s, decoded {length:.3f} s")
    assert abs(length - expected) <= 0.060, (length, expected)
    env, wav = similarity(audio, speech)
    log(f"similarity to the testimony: envelope {env:.3f}, waveform {wav:.3f}")
    assert env >= 0.90 and wav >= 0.50, (env, wav)
    assert fin["lost"] == 0, fin

    # the camera's key frames, passed through: the first picture is one,
    # then every 2 s (its GOP), none made by the box
    pk = key_times(mkv)
    keys = [t for t, k in pk if k]
    log(f"{len(pk)} pictures, key frames at {[round(t, 2) for t in keys]}")
    assert pk[0][1], pk[:3]
    gaps = np.diff(keys)
    assert len(keys) >= int(length / 2.0) and (abs(gaps - 2.0) <= 0.15).all(), keys

    # every frame the camera's, in order, gaps only where counted
    cs = counters(mkv, w, h)
    assert len(cs) == vfin[0]["frames"] == len(video_pts(mkv)), (len(cs), vfin)
    assert None not in cs, "a decoded frame without the simulated camera's counter"
    steps = np.diff(cs)
    assert (steps >= 1).all(), f"frames out of order: {cs}"
    assert int((steps - 1).sum()) == vfin[0]["dropped"] + vfin[0]["camera_gaps"], (cs, vfin)
    assert len(cs) >= FPS * (length - 0.5), (len(cs), length)


def test_h264_sigkill():
    mkv, path = sigkill_video("video-h264-cut", H264, "video_h264.sigkill")
    cs = counters(mkv, 320, 240)
    assert None not in cs and (np.diff(cs) >= 1).all(), cs


def test_h264_camera_started_as_the_box_says_so():
    """A USB camera's first frame comes late (it settles its exposure): its
    parameter sets must not hold up the file, or a power cut just after
    the beep would lose more than 0.5 s. The camera starts as the box says
    it is on (camera_on before recording_started), so a SIGKILL 0.75 s into
    the recording, with the camera's first frame 0.8 s after it starts,
    keeps all but at most 0.5 s of the sound."""
    name = "video-h264-early"
    sets = H264 + ["camera.sim_first_frame_ms=800"]
    d = tmpdir(name)
    mic = speak(os.path.join(d, "testimony.wav"), TESTIMONY)
    box = Box(name, mic, root=d, sets=sets).start()
    mark = len(box.events())
    box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    box.press()
    started = box.wait_for("recording_started")
    assert started.get("media") == "video", started
    time.sleep(0.75)
    t_cut = box.kill()
    captured = t_cut - started["t_us"] / 1e6
    ev = since(box, mark)
    on = [e for e in ev if e["ev"] == "camera_on"]
    assert on and on[0]["t_us"] < started["t_us"], \
        f"the camera did not start before the recording: {[e['ev'] for e in ev]}"
    assert on[0]["id"] == started["id"], (on, started)

    box2 = Box(name, mic, root=d, data=box.data, sets=sets).start()
    rec = box2.wait_for("recovered", since=0, id=started["id"])
    assert box2.terminate() == 0, box2.stderr_text()
    row, path = the_file(box2, started["id"])
    assert row["state"] == "interrupted" and path.endswith(".mkv.sealed"), (row, rec)
    mkv = open_sealed(path)
    mkvinfo_clean(mkv)
    kept = len(decode_audio(mkv)) / RATE
    log(f"captured {captured:.3f} s, kept {kept:.3f} s of sound")
    record_margin("video_h264.early_cut", 0.5, captured - kept)
    assert captured - kept <= 0.5, (captured, kept)


def test_h264_camera_stopped_when_cancelled():
    """The camera started as the box said it is on stops again when the
    resident cancels in the beep (nothing recorded, the light off), and the
    next resident's video starts it afresh."""
    name = "video-h264-cancel"
    d = tmpdir(name)
    mic = speak(os.path.join(d, "testimony.wav"), "Hello.")
    box = Box(name, mic, root=d, sets=H264).start()
    mark = len(box.events())
    box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    box.press()
    on = box.wait_for("camera_on", timeout=10)
    box.wait_for("prompt", name="beep", timeout=15)
    box.press()
    box.wait_for("prompt", name="cancelled", timeout=10)
    off = box.wait_for("camera_off", timeout=10)
    assert off["id"] == on["id"] and off["t_us"] > on["t_us"], (on, off)
    ev = since(box, mark)
    assert not [e for e in ev if e["ev"] == "recording_started"], [e["ev"] for e in ev]
    box.wait_for("state", to="idle", timeout=30)
    # the next resident is filmed
    box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    box.press()
    started = box.wait_for("recording_started")
    assert started.get("media") == "video", started
    time.sleep(1.5)
    box.press()
    fin = box.wait_for("video_finalised", timeout=60)
    assert fin["frames"] > 0, fin
    assert box.terminate() == 0, box.stderr_text()


def test_h264_camera_without_parameter_sets():
    d = tmpdir("video-h264-nosets")
    mic = speak(os.path.join(d, "testimony.wav"), "Hello.")
    box = Box("video-h264-nosets", mic, root=d, sets=H264 + ["camera.sim_h264_fault=no_sets"]).start()
    box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    p_yes = box.press()
    started = box.wait_for("recording_started")
    assert started.get("media") == "video", started
    lost = box.wait_for("camera_lost", timeout=10)
    time.sleep(0.5)
    p2 = box.press()
    stop = box.wait_for("button", edge="down")
    fin = box.wait_for("recording_finalised", timeout=60)
    assert box.terminate() == 0, box.stderr_text()
    evs = box.events()
    log(f"camera_lost {(lost['t_us'] - fin['first_sample_us']) / 1e6:.2f} s into the recording: {lost['message']}")
    assert lost["id"] == started["id"] and lost["error"] == -110, lost  # ETIMEDOUT
    assert evs.index(lost) < evs.index(stop), "camera_lost was not logged as it happened"
    assert 2.9 <= (lost["t_us"] - fin["first_sample_us"]) / 1e6 <= 4.0, (lost, fin)
    vfin = [e for e in evs if e["ev"] == "video_finalised"][0]
    assert vfin["frames"] == 0 and vfin["camera_lost"] and vfin["camera_error"] == -110, vfin
    assert not [e for e in evs if e["ev"] == "error"], evs
    row, path = the_file(box, started["id"])
    assert row["state"] == "complete" and row["media"] == "video", row
    mkv = open_sealed(path)
    mkvinfo_clean(mkv)
    j = ffprobe_json(mkv, "-show_streams")
    assert [s["codec_name"] for s in j["streams"]] == ["opus"], j["streams"]
    length = len(decode_audio(mkv)) / RATE
    expected = (p2 - p_yes) - prompt_seconds("camera_on") - prompt_seconds("beep")
    log(f"sound {length:.3f} s, expected {expected:.3f} s")
    assert abs(length - expected) <= 0.060, (length, expected)
    assert fin["lost"] == 0, fin


if __name__ == "__main__":
    run([test_h264_session, test_h264_sigkill, test_h264_camera_started_as_the_box_says_so,
         test_h264_camera_stopped_when_cancelled, test_h264_camera_without_parameter_sets])
