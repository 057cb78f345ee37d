# SPDX-License-Identifier: MIT
"""Video on the simulated board: the daemon with the simulated camera
(--set camera.backend=sim: 320x240 at 15 fps, a test pattern carrying its
frame counter as 32 bars, encoded to H.264 by the box), label "video".

1. The resident presses during "filmed as well?": the sealed .mkv, opened
   with the tests' organisation, passes mkvinfo and ffprobe -v warning
   silently, has an Opus track and an H.264 track, lasts the time between
   the presses (less "camera on" and the beep) within 60 ms, its sound is
   what was spoken, every decoded frame carries the simulated camera's
   counter in order (a gap only where a drop was counted); camera_on and
   camera_off bracket every frame in the file.
2. The resident does not press: sound only (.opus.sealed), and the camera
   never streamed.
3. SIGKILL in the middle of a video recording, restart: the recording is
   recovered at start-up, marked interrupted, passes ffprobe, and lost at
   most 0.5 s of sound and of picture.
4. The camera unplugged 1.5 s into a video ([camera] sim_unplug_ms): an
   event says so as it happens, nothing is said to the resident, the light
   goes off, the sound carries on to the stop into a valid file whose
   picture ends where the camera went. Unplugged in a video stopped too
   short: once the box is idle it looks for the camera again and opens it
   (event camera, "again"); the next resident is asked.
5. A board camera that cannot be opened (the simulated camera asked for
   MJPEG, which it cannot give): the box starts, says so in the log, and
   after the welcome tells the resident (no_camera, instead of the
   question), then records sound.
6. Listen-back (consent.listen_back=yes, in 1.): the speaker plays the
   video's sound, read from the sealed Matroska's Opus track.
7. A camera that appears 2.5 s after start ([camera] sim_appear_ms, as
   vivid loaded after `ready` on the emulated board): told once as
   unavailable, tried again silently while idle, a resident who comes
   before it appears hears no_camera (and a press during it cancels),
   opened (event camera, "late"), and the next resident is asked (no
   no_camera) and filmed; and, on a second
   box, a press after it appeared but before the next try opens it and is
   asked.

About 95 s on the host build."""
import json
import os
import subprocess
import time

import numpy as np

from drtest import (RATE, Box, log, opusinfo_clean, open_sealed, prompt_seconds, read_wav,
                    record_margin, run, similarity, speak, tmpdir)

TESTIMONY = "The kitchen on the second floor has had no hot water for three weeks."
CAMERA = ["camera.backend=sim", "camera.width=320", "camera.height=240", "camera.fps=15"]
FPS = 15


def ffprobe_json(path, *args):
    p = subprocess.run(["ffprobe", "-v", "warning", "-of", "json", *args, path],
                       capture_output=True, text=True)
    assert p.returncode == 0 and not p.stderr.strip(), f"ffprobe warns about {path}:\n{p.stderr}"
    return json.loads(p.stdout)


def mkvinfo_clean(path):
    p = subprocess.run(["mkvinfo", path], capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"mkvinfo failed on {path}:\n{out}"
    bad = [ln for ln in out.splitlines() if "warning" in ln.lower() or "error" in ln.lower()]
    assert not bad, f"mkvinfo complains about {path}:\n" + "\n".join(bad)
    return out


def decode_audio(path):
    p = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:a", "-ar", str(RATE),
                        "-ac", "1", "-f", "s16le", "-"], capture_output=True)
    assert p.returncode == 0 and not p.stderr, p.stderr.decode(errors="replace")
    return np.frombuffer(p.stdout, dtype="<i2").astype(np.float64)


def counters(path, w, h):
    """The simulated camera's frame counter in every decoded frame (None for
    a frame without readable bars), as dr_camera_pattern_counter reads it."""
    p = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-fps_mode", "passthrough", "-f", "rawvideo",
                        "-pix_fmt", "gray", "-"], capture_output=True)
    assert p.returncode == 0 and not p.stderr, p.stderr.decode(errors="replace")
    frames = np.frombuffer(p.stdout, dtype=np.uint8).reshape(-1, h, w)
    bar, top = w // 32, h // 8
    out = []
    for f in frames:
        v, ok = 0, True
        for i in range(32):
            x0, x1 = i * bar, (i + 1) * bar
            qx, qy = (x1 - x0) // 4, top // 4
            m = f[qy:top - qy, x0 + qx:x1 - qx].mean()
            if 96 < m < 160:
                ok = False
                break
            v = v << 1 | int(m >= 160)
        out.append(v if ok else None)
    return out


def video_pts(path):
    j = ffprobe_json(path, "-select_streams", "v", "-show_entries", "packet=pts_time")
    return sorted(float(p["pts_time"]) for p in j["packets"])


def the_file(box, rid):
    row = [r for r in box.catalogue() if r["id"] == rid][0]
    return row, os.path.join(box.data, row["file"])


def check_streams(mkv):
    j = ffprobe_json(mkv, "-show_streams", "-show_format")
    kinds = sorted((s["codec_type"], s["codec_name"]) for s in j["streams"])
    assert kinds == [("audio", "opus"), ("video", "h264")], kinds
    assert j["format"]["format_name"].startswith("matroska"), j["format"]
    v = [s for s in j["streams"] if s["codec_type"] == "video"][0]
    return int(v["width"]), int(v["height"])


def since(box, n):
    return box.events()[n:]


def test_video_chosen_and_sound_only():
    d = tmpdir("video")
    mic = speak(os.path.join(d, "testimony.wav"), TESTIMONY)
    speech, _ = read_wav(mic)
    box = Box("video", mic, root=d, sets=CAMERA + ["consent.listen_back=yes"]).start()
    cam = [e for e in box.events() if e["ev"] == "camera"]
    assert cam and cam[-1]["name"] == "sim", box.events()

    # 1. the resident chooses the camera while the question plays
    mark = len(box.events())
    p1 = box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    p_yes = box.press()
    box.wait_for("prompt", name="camera_on")
    started = box.wait_for("recording_started")
    assert started.get("media") == "video", started
    time.sleep(len(speech) / RATE + 0.5)
    p2 = box.press()
    fin = box.wait_for("recording_finalised", timeout=60)
    vfin = [e for e in since(box, mark) if e["ev"] == "video_finalised"]
    box.wait_for("state", to="idle", timeout=60)
    evs = since(box, mark)
    on = [e for e in evs if e["ev"] == "camera_on"]
    off = [e for e in evs if e["ev"] == "camera_off"]
    assert len(on) == 1 and len(off) == 1, [e for e in evs if e["ev"].startswith("camera")]
    assert not [e for e in evs if e["ev"] == "camera_lost"], evs
    assert vfin and vfin[0]["frames"] > 0 and not vfin[0]["camera_lost"], vfin
    assert on[0]["t_us"] >= p1 * 1e6 and off[0]["t_us"] >= p2 * 1e6 - 1e3, (on, off, p2)
    assert off[0]["t_us"] <= fin["t_us"], (off, fin)
    # the light was set as it happened, not afterwards: camera_on is in the
    # log before the stop press is, camera_off after it and before the end
    stop = [i for i, e in enumerate(evs) if e["ev"] == "button" and e["edge"] == "down"][-1]
    assert evs.index(on[0]) < stop < evs.index(off[0]) < evs.index(fin), \
        [e["ev"] for e in evs]

    row, path = the_file(box, started["id"])
    assert row["state"] == "complete" and row["media"] == "video", row
    assert path.endswith(started["id"] + ".mkv.sealed"), path
    mkv = open_sealed(path)
    mkvinfo_clean(mkv)
    w, h = check_streams(mkv)
    assert (w, h) == (320, 240), (w, h)

    # the length: from the yes press, less "camera on" and the beep
    audio = decode_audio(mkv)
    length = len(audio) / RATE
    expected = (p2 - p_yes) - prompt_seconds("camera_on") - prompt_seconds("beep")
    log(f"presses {p2 - p_yes:.3f} s apart, expected {expected:.3f} s, decoded {length:.3f} s")
    assert abs(length - expected) <= 0.060, (length, expected)
    assert abs(row["duration_ms"] / 1000 - length) <= 0.021, (row["duration_ms"], length)
    env, wav = similarity(audio, speech)
    log(f"similarity to the testimony: envelope {env:.3f}, waveform {wav:.3f}")
    assert env >= 0.90 and wav >= 0.50, (env, wav)
    assert fin["lost"] == 0, fin

    # listen-back played the video's sound (its Opus track) to the resident
    lst = [e for e in evs if e["ev"] == "listen"]
    done = [e for e in evs if e["ev"] == "listen_done"]
    assert lst and done and done[0]["skipped"] is False, [e for e in evs if e["ev"].startswith("listen")]
    assert not [e for e in evs if e["ev"] == "error"], [e for e in evs if e["ev"] == "error"]
    spk, _ = read_wav(box.speaker)
    ready = next(e["t_us"] for e in box.events() if e["ev"] == "ready")
    a = int((lst[0]["t_us"] - ready) / 1e6 * RATE)
    b = int((done[0]["t_us"] - ready) / 1e6 * RATE)
    played = spk[a:b]
    assert len(played) >= len(audio) - RATE // 10, (len(played), len(audio))
    env, wav = similarity(played, audio, max_lag_ms=200)
    log(f"listen-back vs the video's sound: envelope {env:.3f}, waveform {wav:.3f}")
    assert env > 0.9, env

    # the picture: every frame the camera's, in order, gaps only where counted
    cs = counters(mkv, w, h)
    assert len(cs) == vfin[0]["frames"], (len(cs), vfin)
    assert None not in cs, "a decoded frame without the simulated camera's counter"
    steps = np.diff(cs)
    assert (steps >= 1).all(), f"frames out of order: {cs}"
    assert int((steps - 1).sum()) == vfin[0]["dropped"] + vfin[0]["camera_gaps"], (cs, vfin)
    assert len(cs) >= FPS * (length - 0.5), (len(cs), length)
    # the camera light brackets every frame: each frame's time in the file is
    # its grab time on the sound's clock (the first sample's time + pts)
    pts = video_pts(mkv)
    t0 = fin["first_sample_us"] / 1e6
    log(f"camera_on {on[0]['t_us'] / 1e6 - t0:+.3f} s, first frame {pts[0]:.3f} s, "
        f"last frame {pts[-1]:.3f} s, camera_off {off[0]['t_us'] / 1e6 - t0:.3f} s")
    assert on[0]["t_us"] / 1e6 <= t0 + pts[0] + 0.005, (on, t0, pts[0])
    assert off[0]["t_us"] / 1e6 >= t0 + pts[-1] - 0.005, (off, t0, pts[-1])

    # 2. the resident does not press: sound only, the camera never streamed
    mark = len(box.events())
    box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    started = box.wait_for("recording_started", timeout=30)
    assert "media" not in started, started
    time.sleep(2.0)
    box.press()
    box.wait_for("recording_finalised", timeout=60)
    assert box.terminate() == 0, box.stderr_text()  # the questions are not what this is about
    evs = since(box, mark)
    assert not [e for e in evs if e["ev"] in ("camera_on", "camera_off", "video_finalised")], evs
    row, path = the_file(box, started["id"])
    assert row["media"] == "audio" and path.endswith(".opus.sealed"), row
    opusinfo_clean(path)


def sigkill_video(name, sets, margin):
    """A video SIGKILLed 3.3 s in, recovered at the next start: checked as
    a cut video must be (interrupted, valid, at most 0.5 s of sound and of
    picture lost, its length in the catalogue). Returns (mkv, path)."""
    d = tmpdir(name)
    mic = speak(os.path.join(d, "testimony.wav"), TESTIMONY)
    box = Box(name, mic, root=d, sets=sets).start()
    box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    box.press()
    started = box.wait_for("recording_started")
    assert started.get("media") == "video", started
    time.sleep(3.3)
    t_cut = box.kill()
    captured = t_cut - started["t_us"] / 1e6

    box2 = Box(name, mic, root=d, data=box.data, sets=sets).start()
    rec = box2.wait_for("recovered", since=0, id=started["id"])
    assert rec.get("media") == "video", rec
    assert box2.terminate() == 0, box2.stderr_text()
    row, path = the_file(box2, started["id"])
    assert row["state"] == "interrupted" and path.endswith(".mkv.sealed"), row
    mkv = open_sealed(path)
    mkvinfo_clean(mkv)
    check_streams(mkv)
    kept = len(decode_audio(mkv)) / RATE
    pts = video_pts(mkv)
    picture = pts[-1] + 1 / FPS
    log(f"captured {captured:.3f} s, kept {kept:.3f} s of sound and {picture:.3f} s of picture")
    record_margin(margin, 0.5, max(captured - kept, captured - picture))
    assert captured - kept <= 0.5, (captured, kept)
    assert captured - picture <= 0.5, (captured, picture)
    assert kept <= captured + 0.05
    assert abs(row["duration_ms"] / 1000 - kept) <= 0.021, (row["duration_ms"], kept)
    return mkv, path


def test_sigkill_during_video():
    sigkill_video("video-cut", CAMERA, "video_session.sigkill")


def test_camera_unplugged_mid_recording():
    d = tmpdir("video-unplug")
    mic = speak(os.path.join(d, "testimony.wav"), TESTIMONY)
    box = Box("video-unplug", mic, root=d, sets=CAMERA + ["camera.sim_unplug_ms=1500"]).start()
    box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    p_yes = box.press()
    started = box.wait_for("recording_started")
    lost = box.wait_for("camera_lost", timeout=10)
    time.sleep(1.5)
    p2 = box.press()
    stop = box.wait_for("button", edge="down")
    fin = box.wait_for("recording_finalised", timeout=60)
    assert box.terminate() == 0, box.stderr_text()
    evs = box.events()
    said = [e["name"] for e in evs[evs.index(started):evs.index(fin)] if e["ev"] == "prompt"]
    assert said == [], f"something was said while the camera went: {said}"
    assert lost["id"] == started["id"] and lost["error"] == -19, lost  # ENODEV
    assert "unplugged" in lost["message"] and "unplugged" in box.stderr_text()
    assert evs.index(lost) < evs.index(stop), "camera_lost was not logged as it happened"
    assert not [e for e in evs if e["ev"] == "camera_off"], "the light went off twice"
    vfin = [e for e in evs if e["ev"] == "video_finalised"][0]
    assert vfin["camera_lost"] and vfin["camera_error"] == -19, vfin
    # the sound carried on to the stop, the file is valid, the picture ends
    # where the camera went
    row, path = the_file(box, started["id"])
    assert row["state"] == "complete" and row["media"] == "video", row
    mkv = open_sealed(path)
    mkvinfo_clean(mkv)
    check_streams(mkv)
    length = len(decode_audio(mkv)) / RATE
    expected = (p2 - p_yes) - prompt_seconds("camera_on") - prompt_seconds("beep")
    pts = video_pts(mkv)
    log(f"sound {length:.3f} s (expected {expected:.3f} s), picture to {pts[-1]:.3f} s, "
        f"camera lost {(lost['t_us'] - fin['first_sample_us']) / 1e6:.3f} s in")
    assert abs(length - expected) <= 0.060, (length, expected)
    assert pts[-1] <= (lost["t_us"] - fin["first_sample_us"]) / 1e6 + 0.005, pts[-1]
    assert len(pts) == vfin["frames"] and vfin["frames"] >= 10, (len(pts), vfin)


def test_camera_lost_then_back():
    """A camera unplugged 0.3 s into a video that is stopped too short (so
    the box is idle again at once): nothing said when it went; once idle the
    failed camera is released and looked for again; the simulated camera,
    opened afresh, is back (camera, "again"), and the next resident is
    asked. (A camera that stays away cannot be simulated: the next press
    would hear no_camera, test_session_camera.c.)"""
    d = tmpdir("video-back")
    mic = speak(os.path.join(d, "testimony.wav"), "Hello.")
    box = Box("video-back", mic, root=d, sets=CAMERA + ["camera.sim_unplug_ms=300"]).start()
    box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    box.press()
    started = box.wait_for("recording_started", timeout=30)
    assert started.get("media") == "video", started
    lost = box.wait_for("camera_lost", timeout=10)
    box.press()  # too short: nothing kept, no questions
    box.wait_for("prompt", name="too_short", timeout=30)
    idle = box.wait_for("state", to="idle", timeout=30)
    back = box.wait_for("camera", timeout=10)
    log(f"camera lost {(lost['t_us'] - started['t_us']) / 1e6:.2f} s into the video; opened "
        f"again {(back['t_us'] - idle['t_us']) / 1e6:.2f} s after the box was idle")
    assert back.get("again") is True and back["late"] is True, back
    assert idle["t_us"] <= back["t_us"], (idle, back)
    box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    assert box.terminate() == 0, box.stderr_text()
    evs = box.events()
    said = [e["name"] for e in evs[evs.index(started):] if e["ev"] == "prompt"]
    assert said == ["too_short", "welcome", "ask_camera"], said
    assert not [e for e in evs if e["ev"] == "error"], [e for e in evs if e["ev"] == "error"]
    assert len([e for e in evs if e["ev"] == "camera"]) == 2, evs


def test_camera_that_cannot_open():
    d = tmpdir("video-nocam")
    mic = speak(os.path.join(d, "testimony.wav"), "Hello.")
    box = Box("video-nocam", mic, root=d, sets=CAMERA + ["camera.format=mjpeg"]).start()
    un = [e for e in box.events() if e["ev"] == "camera_unavailable"]
    assert un and "sound only" in un[0]["message"], box.events()
    assert "sound only" in box.stderr_text(), box.stderr_text()
    mark = len(box.events())
    box.press()
    started = box.wait_for("recording_started", timeout=30)
    assert "media" not in started
    evs = box.events()[mark:]
    said = [e["name"] for e in evs if e["ev"] == "prompt"]
    assert said == ["welcome", "no_camera", "beep"], f"the resident was not told: {said}"
    assert [e["to"] for e in evs if e["ev"] == "state"][:3] == ["welcome", "no_camera", "beep"], evs
    box.press()
    box.wait_for("recording_finalised", timeout=60)
    assert box.terminate() == 0, box.stderr_text()
    row, path = the_file(box, started["id"])
    assert row["media"] == "audio" and path.endswith(".opus.sealed"), row


def test_camera_that_comes_late():
    d = tmpdir("video-late")
    mic = speak(os.path.join(d, "testimony.wav"), "Hello.")
    box = Box("video-late", mic, root=d, sets=CAMERA + ["camera.sim_appear_ms=3500"]).start()
    ready = box.wait_for("ready", since=0)
    # a resident before it appears is told, and a press then cancels
    box.press()
    box.wait_for("prompt", name="no_camera", timeout=10)
    box.press()
    box.wait_for("prompt", name="cancelled", timeout=10)
    down = [e for e in box.events() if e["ev"] == "button" and e["edge"] == "down"][0]
    un = [e for e in box.events() if e["ev"] == "camera_unavailable"]
    assert len(un) == 1 and "until it appears" in un[0]["message"], box.events()
    assert not [e for e in box.events() if e["ev"] == "camera"], box.events()
    assert not [e for e in box.events() if e["ev"] == "recording_started"], box.events()
    cam = box.wait_for("camera", timeout=15)
    log(f"pressed {(down['t_us'] - ready['t_us']) / 1e6:.2f} s after ready; the camera appeared "
        f"3.5 s after start; opened {(cam['t_us'] - ready['t_us']) / 1e6:.2f} s after ready")
    assert cam["late"] is True and cam["name"] == "sim", cam
    # the tries before it was there were silent: told once
    assert len([e for e in box.events() if e["ev"] == "camera_unavailable"]) == 1, box.events()
    assert box.stderr_text().count("cannot be used") == 1, box.stderr_text()
    assert not [e for e in box.events() if e["ev"] == "error"], box.events()
    mark = len(box.events())
    box.press()
    box.wait_for("prompt", name="ask_camera", timeout=30)
    box.press()
    started = box.wait_for("recording_started", timeout=30)
    assert started.get("media") == "video", started
    said = [e["name"] for e in box.events()[mark:] if e["ev"] == "prompt"]
    assert said == ["welcome", "ask_camera", "camera_on", "beep"], said
    time.sleep(1.5)
    box.press()
    box.wait_for("video_finalised", timeout=60)
    box.wait_for("recording_finalised", timeout=60)
    assert box.terminate() == 0, box.stderr_text()
    row, path = the_file(box, started["id"])
    assert row["media"] == "video" and path.endswith(".mkv.sealed"), row

    # a press before the welcome looks too: the camera appears 2.5 s after
    # start, between the 2 s tries, and the press at 3 s is asked
    box = Box("video-late-press", mic, root=tmpdir("video-late-press"),
              sets=CAMERA + ["camera.sim_appear_ms=2500"]).start()
    un = box.wait_for("camera_unavailable", since=0)
    time.sleep(max(0.0, un["t_us"] / 1e6 + 3.0 - time.monotonic()))
    box.press()
    ask = box.wait_for("prompt", name="ask_camera", timeout=30)
    evs = box.events()
    down = [e for e in evs if e["ev"] == "button" and e["edge"] == "down"][0]
    cam = [e for e in evs if e["ev"] == "camera"]
    log(f"pressed {(down['t_us'] - un['t_us']) / 1e6:.2f} s after start")
    assert cam and down["t_us"] <= cam[0]["t_us"] <= ask["t_us"], (down, cam, ask)
    assert box.terminate() == 0, box.stderr_text()


if __name__ == "__main__":
    run([test_video_chosen_and_sound_only, test_sigkill_during_video,
         test_camera_unplugged_mid_recording, test_camera_lost_then_back, test_camera_that_cannot_open,
         test_camera_that_comes_late])
