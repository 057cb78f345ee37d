# SPDX-License-Identifier: MIT
"""One resident's session and one staff collection on the emulated board:
the shipped aarch64 image booted under qemu-system-aarch64 with real kernel
drivers. The button is PL061 line 3 through libgpiod (QEMU's
system_powerdown), the microphone is the snd-aloop loopback card fed by
aplay inside the guest, the stick is a USB mass-storage gadget on dummy_hcd
holding a FAT image.

  provision (the box's keys on the boot partition, as an installer does)
  -> boot -> keys moved to /data/keys -> ready (the daemon is diaryroom
  with CAP_SYS_TIME alone) -> the clock put back to 2000, as a Pi's
  without an RTC -> press -> speak -> press -> finalised -> "yes" to staff
  listening, no answer to sharing -> a blank stick: refused, nothing
  written, mounted nosuid,nodev,noexec -> a staff stick (diaryroom-admin
  make-stick): the box sets its clock from it, exported -> on the host,
  diaryroom-admin collect: signature and hashes verified, the archive's copy
  decodes to what was spoken, the consent sheet says yes and that the
  recording's time is uncertain -> the stick with
  the archive's receipt back in: the box deletes its copy -> a video:
  vivid (loaded after ready, opened late by its bus_info), the resident
  asked, presses, speaks, presses, "yes" to staff watching; the camera
  light (PL061 line 6, read in the guest) off before the choice, on while
  filming, off after, and off all through the first, sound-only session
  (asked too: no press) -> the same staff stick back in: the video
  exported -> on the host, collect: the sealed original with its size and
  hash, a WebM copy that ffprobe passes silently, VP8 + Opus, every frame
  video_finalised counted, as long as the original (60 ms), every Opus
  packet at its time, sounding like what was spoken (test_collect_video's
  checks, tests/integration/videocheck.py) -> the daemon killed: init
  restarts it -> poweroff -> on the host, from the data partition: the
  row deleted, the file gone, the audit saying why; the video's row with
  the archive's hash -> another box's keys on the boot partition: not
  installed, said so."""
import csv
import json
import os
import re
import subprocess
import time

import emutest
import videocheck  # tests/integration, on the path emutest sets
from emutest import RATE, admin, check_recording, drtest, log, new_box

emulib = emutest.emulate.emulib  # tools/emulib.py

TESTIMONY = ("I have lived here for two years. The staff are kind and they listen. "
             "But the heating in my room has been broken since October, and I would like it fixed.")


def check_provisioned(emu, device):
    """rcS moved diaryroom-keys/ from the boot partition to /data/keys,
    the daemon's alone, and the daemon took them (no start-up complaint)."""
    console = emu.console()
    assert f"installed the box's keys in /data/keys (device {device})" in console, emu.tail()
    assert "diaryroom-keys/ deleted from the boot partition" in console, emu.tail()
    rc, out = emu.shell("stat -c '%n %a %U' /data/keys /data/keys/*")
    log(out.strip())
    modes = dict(line.split(" ", 1) for line in out.splitlines())
    assert modes.pop("/data/keys") == "700 diaryroom", out
    assert modes and all(v == "600 diaryroom" for v in modes.values()), out
    errors = [e for e in emu.events() if e.get("ev") == "error"]
    assert not errors, f"the daemon complained at start-up: {errors}"


def check_daemon_privileges(emu):
    """run-daemon starts diaryroomd as root with daemon.user=diaryroom: it
    becomes diaryroom (groups audio, video, gpio) keeping CAP_SYS_TIME
    alone (to set the clock from a staff stick), no_new_privs set."""
    rc, out = emu.shell("id -u diaryroom; id -g diaryroom; "
                        "grep -E '^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Amb)|NoNewPrivs):' "
                        "/proc/$(cat /run/diaryroom/daemon.pid)/status")
    log(out.strip())
    assert rc == 0, out
    lines = out.splitlines()
    uid, gid = lines[0].strip(), lines[1].strip()
    st = {k: v.split() for k, v in (line.split(":", 1) for line in lines[2:])}
    assert st["Uid"] == [uid] * 4 and st["Gid"] == [gid] * 4, f"diaryroomd is not diaryroom: {st}"
    assert len(st["Groups"]) == 4, f"not in diaryroom, audio, video and gpio: {st['Groups']}"
    assert st["CapEff"] == st["CapPrm"] == ["0000000002000000"], f"not CAP_SYS_TIME alone: {st}"
    assert st["CapInh"] == st["CapAmb"] == ["0000000000000000"], st
    assert st["NoNewPrivs"] == ["1"], st


def set_guest_clock_unset(emu):
    """A Pi has no RTC: after a cold boot with no saved time its clock reads
    about when the kernel was built; 2000-01-01 is earlier than
    DR_EXPORT_CLOCK_UNSET (2024-01-01), so the box counts it as unset."""
    rc, out = emu.shell("date -u -s @946684800 >/dev/null && date -u +%s")
    assert rc == 0 and int(out.strip()) < 946684800 + 60, out


def guest_clock(emu):
    rc, out = emu.shell("date -u +%s")
    assert rc == 0, out
    return int(out.strip())


def answer_consent_questions(emu, rec_id):
    """Press while the box asks whether staff may listen ("yes"), leave the
    sharing question unanswered ("no"), as the simulated dialogue tests do."""
    emu.wait_for("prompt", name="ask_staff", timeout=180)
    time.sleep(0.3)
    emu.press()
    emu.wait_for("consent", id=rec_id, timeout=180)
    emu.wait_for("state", to="idle", timeout=300)
    consent = [e for e in emu.events() if e.get("ev") == "consent" and e.get("id") == rec_id][-1]
    log(f"consent: {consent}")
    assert consent["staff"] is True and consent["share"] is False, consent
    assert consent.get("status", 0) == 0, consent


def lights_since(emu, n):
    return [e["pattern"] for e in emu.events()[n:] if e.get("ev") == "light"]


def insert(emu, image):
    """Plugs a stick in; returns the index of the events from then on."""
    n = len(emu.events())
    state = emu.stick_insert(image)
    assert state.startswith("mounted=/dev/sd"), f"the stick was not mounted: {state}"
    emu.wait_for("stick", present=True, since=n, timeout=30)
    return n


def pull(emu, folder):
    """Pulls the stick (the agent returns once it is unmounted), waits for
    the daemon to see it gone (it looks every second: a stick pulled and put
    back quicker than that would look like one insertion), and copies what
    is on it to `folder` on the host."""
    n = len(emu.events())
    assert emu.stick_remove() == "removed"
    st = emu.stick_status()
    assert st == {"dev": "none", "dir": "none", "mount": "none"}, f"the stick is still there after removal: {st}"
    emu.wait_for("stick", present=False, since=n, timeout=30)
    return emu.fetch_stick(folder)


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(r, f), folder) for r, _, fs in os.walk(folder) for f in fs)


def check_blank_stick(emu):
    """A new, empty stick: mounted safely, refused (no staff token), light
    error, and nothing written to it."""
    n = insert(emu, emulate_blank_stick(emu))
    refused = emu.wait_for("stick_refused", since=n, timeout=30)
    log(f"blank stick refused: {refused['reason']}")
    assert "not a staff stick" in refused["reason"], refused
    emu.wait_for("light", pattern="error", since=n, timeout=10)
    assert "export_done" not in [e.get("ev") for e in emu.events()[n:]]
    st = emu.stick_status()
    log(f"stick: {st}")
    assert st["dir"] == "/run/diaryroom/stick" and st["dev"].startswith("sd"), st
    opts = st["mount"].split(",")
    for o in ("nosuid", "nodev", "noexec"):
        assert o in opts, f"the stick is mounted without {o}: {st['mount']}"
    rc, out = emu.shell(f"ls -A {st['dir']}")
    assert rc == 0 and out.strip() == "", f"the box wrote to a stick it refused: {out}"
    rc, out = emu.shell(f"cp /usr/bin/busybox {st['dir']}/x && chmod +x {st['dir']}/x; {st['dir']}/x true")
    assert rc != 0, "a program on the stick could run"
    emu.shell(f"rm -f {st['dir']}/x")
    left = files_under(pull(emu, emu.path("blank-out")))
    assert not left, f"something was left on the refused stick: {left}"


def emulate_blank_stick(emu):
    return emutest.emulate.make_stick(emu.path("blank.img"))


def export_to_staff_stick(emu, org, d):
    """A staff stick from diaryroom-admin: the box exports, says done
    (light "saved"), ignores a press while the stick is in."""
    made = os.path.join(d, "stick-made")
    os.makedirs(made)
    issued = time.time()
    admin("make-stick", "--org", org, "--stick", made, "--name", "Sam Staff", "--days", "30")
    assert guest_clock(emu) < 946684800 + 3600, "the box's clock is not the unset one"
    n = insert(emu, made)
    # the box's clock was unset: set from the token's signed issue time
    clock = emu.wait_for("clock_set", since=n, timeout=60)
    log(f"clock: {clock}; the box's clock is now {guest_clock(emu) - time.time():+.0f} s from the host's")
    assert clock["ok"] is True, f"the box could not set its clock: {clock}"
    assert int(issued) - 1 <= clock["to"] <= time.time() + 1, (clock, issued)
    assert abs(guest_clock(emu) - time.time()) < 60, "the box's clock is not the PC's time"
    done = emu.wait_for("export_done", since=n, timeout=180)
    log(f"export: {done}")
    assert done["files"] >= 1 and done["failed"] == 0 and not done["stick_full"], done
    emu.wait_for("light", pattern="saved", since=n, timeout=10)
    emu.press()
    emu.wait_for("press_ignored", state="stick", since=n, timeout=30)
    return pull(emu, os.path.join(d, "stick-exported"))


def collect(org, stick, archive, device, rec_id, fin, speech):
    """The office PC: collect verifies the box's signature and every hash,
    imports the recording and writes the consent sheet and the receipt."""
    admin("collect", "--org", org, "--stick", stick, "--archive", archive)
    # the box's sealed original (the bytes it wrote) and, staff may listen,
    # a playable copy opened with the organisation's key
    sealed = os.path.join(archive, device, rec_id + ".opus.sealed")
    assert os.path.exists(sealed), f"not in the archive: {files_under(archive)}"
    assert os.path.getsize(sealed) == fin["bytes"], (os.path.getsize(sealed), fin)
    path = os.path.join(archive, device, rec_id + ".opus")
    assert os.path.exists(path), f"no playable copy in the archive: {files_under(archive)}"
    decoded, lag, env, wave = check_recording(path, speech)
    assert abs(len(decoded) / RATE - fin["duration_ms"] / 1000) < 0.03
    spoken = len(speech) / RATE
    assert len(decoded) - lag >= len(speech) - RATE // 10, (
        f"the recording ends {spoken - (len(decoded) - lag) / RATE:.2f} s before the speech did")
    with open(os.path.join(archive, "consent.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["recording"] == rec_id]
    log(f"consent sheet: {rows}")
    assert len(rows) == 1 and rows[0]["box"] == device, rows
    assert rows[0]["staff_may_listen"] == "yes" and rows[0]["may_share"] == "unanswered", rows
    assert rows[0]["locked"] == "no", rows
    # made while the box's clock was unset: said so, its time the PC's
    assert rows[0]["time_uncertain"] == "yes", rows
    man = [f for f in files_under(stick) if f.endswith("manifest.json")]
    assert len(man) == 1, files_under(stick)
    # its sealed part, opened with the organisation's key
    shown = json.loads(admin("manifest", "--org", org, "--stick", stick).stdout)[device]
    entry = {r["id"]: r for r in shown["recordings"]}[rec_id]
    log(f"manifest: start_utc {entry['start_utc']}, box_clock_utc {entry['box_clock_utc']}")
    assert entry["time_uncertain"] is True and entry["box_clock_utc"].startswith("2000-01-01"), entry
    receipts = [f for f in files_under(stick) if f.startswith(os.path.join("DIARYRM", "receipt"))]
    assert sorted(receipts) == [os.path.join("DIARYRM", "receipt", device + ext) for ext in (".json", ".sig")], \
        files_under(stick)
    return drtest.blake2b_256(sealed)


def apply_receipt(emu, stick, d):
    """The stick back in with the archive's receipt: the box deletes exactly
    the recording the archive confirmed, and uses the receipt up."""
    n = insert(emu, stick)
    applied = emu.wait_for("receipt_applied", since=n, timeout=60)
    log(f"receipt: {applied}")
    assert applied["deleted"] == 1 and applied["hash_mismatch"] == 0, applied
    done = emu.wait_for("export_done", since=n, timeout=60)
    assert done["failed"] == 0, done
    back = pull(emu, os.path.join(d, "stick-after-receipt"))
    assert not [f for f in files_under(back) if "receipt" in f], f"the receipt was not used up: {files_under(back)}"
    return back


def check_daemon_is_restarted(emu):
    """Supervision: busybox init starts the daemon again when it dies."""
    before = emu.events()
    old_pid = [e for e in before if e.get("ev") == "ready"][-1]["pid"]
    rc, out = emu.shell("kill -KILL $(cat /run/diaryroom/daemon.pid)")
    assert rc == 0, out
    ready = emu.wait_for("ready", since=len(before), timeout=60)
    assert ready["pid"] != old_pid, ready
    log(f"diaryroomd killed (pid {old_pid}); init restarted it (pid {ready['pid']})")


def test_session():
    emu = new_box("emulated-session")
    try:
        run_session(emu)
    finally:
        if emu.running():
            log(emu.tail())
            emu.power_cut()


def light_lines(emu):
    """The lights as the kernel's GPIO driver has them: the PL061 lines the
    board file names (main 4, recording 5, the camera light 6), read from
    debugfs in the guest, requested by "diaryroom" as outputs.
    {"main": "hi"|"lo", "recording": ..., "camera": ...}"""
    rc, out = emu.shell("grep -q debugfs /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug;"
                        " cat /sys/kernel/debug/gpio")
    assert rc == 0, out
    base, found = None, {}
    for line in out.splitlines():
        m = re.match(r"gpiochip\d+: GPIOs (\d+)-\d+, parent: \S+/9030000\.pl061", line)
        if m:
            base = int(m.group(1))
            continue
        if line.startswith("gpiochip"):
            base = None
        m = re.match(r"\s*gpio-(\d+)\s+\(.*\|(\S+)\s*\)\s+(in|out)\s+(hi|lo)", line)
        if base is not None and m and m.group(2) == "diaryroom" and m.group(3) == "out":
            name = {4: "main", 5: "recording", 6: "camera"}.get(int(m.group(1)) - base)
            if name:
                found[name] = m.group(4)
    assert set(found) == {"main", "recording", "camera"}, f"the light lines are not diaryroom's outputs:\n{out}"
    return found


def real_voice_welcome(emu, d):
    """An organisation's own welcome, as people record it: 44.1 kHz stereo
    24-bit WAV, put on the boot partition's diaryroom-prompts/ (the image's
    pack is read-only). Returns its length in seconds."""
    folder = os.path.join(d, "real-voice")
    os.makedirs(folder, exist_ok=True)
    spoken = drtest.speak(os.path.join(d, "welcome-48k.wav"), "Hello. Press again when you are done.")
    wav = os.path.join(folder, "Welcome.WAV")  # as a PC may name it: the box lower-cases it
    subprocess.run(["sox", spoken, "-r", "44100", "-c", "2", "-b", "24", wav], check=True)
    seconds = float(subprocess.run(["soxi", "-D", wav], capture_output=True, text=True,
                                   check=True).stdout)
    emu.provision_prompts(folder)
    return seconds


def check_boot_order(emu, ready_s):
    """Only what the daemon needs stands before its ready (firmware/README.md,
    "Boot flow"): the boot chart has the daemon started before rcS.late loads
    the other modules, and rcS.late waited for the ready; those modules (the
    camera, the stick's, the watchdog's) are in all the same. How long each
    step takes is a benchmark (tools/bench --emulated), not this test's."""
    rc, text = emu.shell("cat /run/diaryroom/boot-chart; echo; lsmod; ls /run/diaryroom/boot-done")
    assert rc == 0, text
    chart = emulib.boot_chart(text.split("\n\n")[0], ready_s)
    # the kernel's own times for the late modules' devices: after the ready
    rc, dmesg = emu.shell("dmesg")
    assert rc == 0, dmesg
    for what in ("vivid-000: V4L2 capture device registered", "dummy_hcd dummy_hcd.0: Dummy host controller",
                 "i6300ESB timer 0000:00:01.0: initialized"):
        at = [float(m.group(1)) for m in re.finditer(r"^\[\s*([0-9.]+)\] " + re.escape(what), dmesg, re.M)]
        assert at, f"no '{what}' in the kernel log:\n{dmesg}"
        log(f"  {at[0]:.3f} s  (kernel) {what}")
        assert at[0] > ready_s, f"'{what}' at {at[0]} s, before the daemon's ready at {ready_s} s"
    for line in emulib.chart_table(chart):
        log("  " + line)
    steps = [s for s, _, _ in chart]
    end = {s: t for s, t, _ in chart}
    assert "run-daemon: exec diaryroomd" in steps and "rcS.late: late modules loaded" in steps, steps
    assert steps.index("rcS: modules loaded") < steps.index("run-daemon: exec diaryroomd"), steps
    assert end["run-daemon: exec diaryroomd"] <= ready_s <= end["rcS.late: daemon ready"] + 0.01, chart
    assert end["rcS.late: daemon ready"] <= end["rcS.late: late modules loaded"], chart
    for mod in ("vivid", "usb_storage", "i6300esb", "9p", "snd_aloop", "ext4"):
        assert f"\n{mod} " in text, f"module {mod} not loaded:\n{text}"


def run_video_session(emu, mic):
    """vivid through the real V4L2 driver, loaded after `ready`: the daemon
    opened it when it appeared (named by its bus_info), so this resident is
    asked, presses, and is filmed while speaking. The camera light (PL061
    line 6) is off until they choose, on while frames are captured, off
    once the recording stops. Staff may watch (a press), sharing is left
    unanswered. Returns (id, recording_finalised, video_finalised)."""
    cam = [e for e in emu.events() if e.get("ev") == "camera"]
    log(f"camera: {cam}")
    assert cam and cam[0]["name"] == "v4l2:bus:platform:vivid-000" and cam[0]["format"] == "yuyv", cam
    assert (cam[0]["width"], cam[0]["height"], cam[0]["fps"]) == (320, 180, 15), cam
    emu.press()
    emu.wait_for("prompt", name="ask_camera", timeout=60)
    lines = light_lines(emu)
    log(f"PL061 lines while the box asks about the camera: {lines}")
    assert lines["camera"] == "lo", f"the camera light is on before the resident chose: {lines}"
    emu.press()
    started = emu.wait_for("recording_started", timeout=120)
    assert started.get("media") == "video", started
    emu.wait_for("camera_on", id=started["id"], timeout=30)
    emu.play(mic)
    lines = light_lines(emu)
    log(f"PL061 lines while filming: {lines}")
    assert lines == {"main": "hi", "recording": "hi", "camera": "hi"}, \
        f"the lights do not show a video being recorded: {lines}"
    emu.play_wait(timeout=120)
    time.sleep(0.3)
    emu.press()
    fin = emu.wait_for("recording_finalised", timeout=180)
    vfin = [e for e in emu.events() if e.get("ev") == "video_finalised" and e.get("id") == started["id"]]
    log(f"video finalised: {fin}; {vfin}")
    assert fin["state"] == "complete" and fin["lost"] == 0, fin
    assert vfin and vfin[0]["frames"] > 0 and not vfin[0]["camera_lost"], vfin
    lines = light_lines(emu)
    log(f"PL061 lines once the video stopped: {lines}")
    assert lines["camera"] == "lo", f"the camera light stayed on after the recording: {lines}"
    emutest.write_result("emulated_video", {"frames": vfin[0]["frames"], "dropped": vfin[0]["dropped"],
                                            "camera_gaps": vfin[0]["camera_gaps"],
                                            "seconds": round(fin["duration_ms"] / 1000, 3)})
    answer_consent_questions(emu, started["id"])  # staff may watch; returns at idle
    lines = light_lines(emu)
    assert lines["camera"] == "lo" and lines["recording"] == "lo", f"at idle after the video: {lines}"
    return started["id"], fin, vfin[0]


def export_again(emu, stick, d):
    """The staff stick back in (its receipt used up, its token valid): the
    box exports what it recorded since, and the stick comes out."""
    n = insert(emu, stick)
    done = emu.wait_for("export_done", since=n, timeout=180)
    log(f"export: {done}")
    assert done["files"] >= 1 and done["failed"] == 0 and not done["stick_full"], done
    emu.wait_for("light", pattern="saved", since=n, timeout=10)
    return pull(emu, os.path.join(d, "stick-video"))


def collect_video(org, stick, archive, device, video, speech, d):
    """The office PC collects the video as staff get it: the sealed
    original kept as the box recorded it, and a WebM copy every browser
    plays (test_collect_video's checks, against the original opened with
    the organisation's key): ffprobe silent, VP8 + Opus, every frame the box
    counted in video_finalised, as long as the original within 60 ms, every
    Opus packet at its time, its sound what was played into snd-aloop.
    Returns the original's hash."""
    rec_id, fin, vfin = video
    admin("collect", "--org", org, "--stick", stick, "--archive", archive)
    box = os.path.join(archive, device)
    mine = sorted(f for f in files_under(box) if f.startswith(rec_id))
    assert mine == [rec_id + ".mkv.sealed", rec_id + ".webm"], f"the archive holds {mine}"
    sealed, webm = (os.path.join(box, f) for f in mine)
    assert os.path.getsize(sealed) == fin["bytes"], (os.path.getsize(sealed), fin)
    kept = drtest.blake2b_256(sealed)
    row = json.loads(admin("list", "--archive", archive).stdout)[device]["recordings"][rec_id]
    log(f"archive catalogue: {row}")
    assert row["media"] == "video" and row["blake2b"] == kept, row
    assert row["playable_blake2b"] == drtest.blake2b_256(webm), row
    with open(os.path.join(archive, "consent.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["recording"] == rec_id]
    assert len(rows) == 1 and rows[0]["staff_may_listen"] == "yes", rows
    assert rows[0]["may_share"] == "unanswered" and rows[0]["locked"] == "no", rows

    original = os.path.join(d, "video-original.mkv")
    admin("open", "--org", org, sealed, original)
    _, _, _, frames, _ = emutest.check_video(original, speech)
    assert frames == vfin["frames"], (frames, vfin)
    end, frames = videocheck.check_browser_copy(webm, original)
    assert frames == vfin["frames"], (frames, vfin)
    assert abs(end - fin["duration_ms"] / 1000) < 0.06, (end, fin)
    heard = videocheck.sound_of(webm)
    lag = emutest.align(heard, speech)
    env, wave = drtest.similarity(heard[lag:], speech)
    log(f"browser copy's sound: {len(heard) / RATE:.2f} s, voice at {lag / RATE:.2f} s, "
        f"envelope {env:.3f}, waveform {wave:.3f}")
    assert env >= 0.9, f"the browser copy does not sound like what was spoken (envelope {env:.3f})"
    return kept


def run_session(emu):
    d = emu.run
    mic = drtest.speak(os.path.join(d, "testimony.wav"), TESTIMONY, pad=(0.2, 0.3))
    speech, _ = drtest.read_wav(mic)
    org, keys, device = emutest.new_org(d)
    emu.provision(keys)
    welcome_s = real_voice_welcome(emu, d)

    t0 = time.monotonic()
    ready = emu.boot(timeout=300)
    host_s = time.monotonic() - t0
    guest_s = ready["t_us"] / 1e6
    log(f"boot to ready: {host_s:.1f} s on the host clock (QEMU started -> event read), "
        f"guest CLOCK_MONOTONIC {guest_s:.1f} s")
    emutest.write_result("boot_to_ready", {"host_s": round(host_s, 2), "guest_s": round(guest_s, 2)})
    assert ready["board"] == "/usr/share/diaryroom/board", ready
    emu.wait_agent()
    check_boot_order(emu, guest_s)
    check_provisioned(emu, device)

    # The image as built: a read-only root, the data partition without
    # exec/suid/devices, the daemon unprivileged, restarted by init.
    rc, out = emu.shell("touch /probe; grep -E ' / | /data ' /proc/mounts; ps -o user,args | grep [d]iaryroomd")
    log(out.strip())
    assert rc == 0 and "Read-only file system" in out, "the root file system is writable"
    assert " / squashfs ro," in out, out
    assert "/data ext4 rw,nosuid,nodev,noexec" in out, out
    daemon = [line for line in out.splitlines() if "/usr/bin/diaryroomd" in line]
    assert daemon and daemon[0].split()[0] == "diaryroo", f"diaryroomd is not running as diaryroom: {daemon}"
    check_daemon_privileges(emu)
    set_guest_clock_unset(emu)
    # vivid is loaded after ready and opened when it appears: from then on
    # the room has a camera, so this first resident is asked too
    emu.wait_for("camera", since=0, timeout=60)
    lines = light_lines(emu)
    log(f"PL061 lines at idle, the camera there: {lines}")
    assert lines["camera"] == "lo" and lines["recording"] == "lo", lines
    n_session = len(emu.events())

    # press: welcome (the organisation's own, resampled by the box), "filmed
    # as well?" left unanswered (sound only), beep, recording
    emu.press()
    emu.wait_for("button", edge="down", timeout=30)
    welcome = emu.wait_for("prompt", name="welcome", timeout=30)
    log(f"welcome: {welcome['samples']} samples at 48 kHz; the file lasts {welcome_s:.3f} s")
    assert abs(welcome["samples"] / 48000 - welcome_s) < 0.005, (welcome, welcome_s)
    assert "phrases in a real voice installed" in emu.console(), emu.console()[-2000:]
    emu.wait_for("prompt", name="ask_camera", timeout=60)
    lines = light_lines(emu)
    log(f"PL061 lines while the box asks about the camera: {lines}")
    assert lines["camera"] == "lo", f"the camera light is on before the resident chose: {lines}"
    started = emu.wait_for("recording_started", timeout=120)
    rec_id = started["id"]
    assert started.get("media", "audio") != "video", started
    emu.play(mic)
    lines = light_lines(emu)
    log(f"PL061 lines while recording: {lines}")
    assert lines == {"main": "hi", "recording": "hi", "camera": "lo"}, \
        f"the lights do not show a sound-only recording: {lines}"
    emu.play_wait(timeout=120)
    time.sleep(0.3)
    emu.press()
    fin = emu.wait_for("recording_finalised", timeout=120)
    log(f"finalised: {fin}")
    assert fin["id"] == rec_id and fin["state"] == "complete", fin
    assert fin["lost"] == 0, f"the microphone lost samples: {fin}"

    answer_consent_questions(emu, rec_id)  # returns at idle
    lines = light_lines(emu)
    log(f"PL061 lines at idle: {lines}")
    assert lines["recording"] == "lo", f"the recording lamp is on at idle: {lines}"
    assert lines["camera"] == "lo", f"the camera light is on after a sound-only session: {lines}"
    streamed = [e for e in emu.events()[n_session:] if e.get("ev", "").startswith("camera_")]
    assert not streamed, f"the camera streamed in a sound-only session: {streamed}"

    # staff come with sticks: a blank one, then their staff stick
    check_blank_stick(emu)
    exported = export_to_staff_stick(emu, org, d)
    archive = os.path.join(d, "archive")
    archived_hash = collect(org, exported, archive, device, rec_id, fin, speech)
    back = apply_receipt(emu, exported, d)

    video = run_video_session(emu, mic)
    t = time.monotonic()
    video_hash = collect_video(org, export_again(emu, back, d), archive, device, video, speech, d)
    log(f"the video exported and collected in {time.monotonic() - t:.1f} s")

    check_daemon_is_restarted(emu)
    emu.poweroff()
    assert emu.boot_files("diaryroom-keys") is None, "the keys are still on the boot partition"
    data = emu.fetch_data(os.path.join(d, "data"))
    row = {r["id"]: r for r in emutest.catalogue(data)}[rec_id]
    assert row["state"] == "deleted", row
    assert row["consent_staff"] == 1 and not row["consent_share"], row
    # recorded while the clock was unset: flagged, its time moved to the
    # staff stick's signed time, the box's reading kept
    assert row["time_uncertain"] == 1 and row["created_utc_box"].startswith("2000-01-01"), row
    if row.get("blake2b"):
        assert row["blake2b"] == archived_hash, "the archive's copy is not the box's recording"
    kept = [f for f in files_under(os.path.join(data, "diaryroom")) if rec_id in f]
    assert not kept, f"the box kept the recording the archive confirmed: {kept}"
    audit = [a for a in emutest.catalogue(data, "audit") if a["recording_id"] == rec_id]
    deletes = [a for a in audit if a["action"] == "delete"]
    log(f"audit: {[a['action'] for a in audit]}; delete: {deletes}")
    assert len(deletes) == 1 and "archive confirmed" in deletes[0]["detail"], audit
    clock = [a for a in emutest.catalogue(data, "audit") if a["action"] == "clock_set"]
    log(f"audit clock_set: {clock}")
    assert len(clock) == 1 and json.loads(clock[0]["detail"])["recordings_flagged"] == 1, clock
    logged = open(os.path.join(data, "log", "events.jsonl")).read()
    assert rec_id in logged, "the data partition's event log misses the recording"

    vrow = {r["id"]: r for r in emutest.catalogue(data)}[video[0]]
    assert vrow["media"] == "video" and vrow["file"].endswith(".mkv.sealed"), vrow
    assert vrow["blake2b"] == video_hash, "the archive's video is not the box's recording"

    check_keys_are_not_replaced_silently(emu, d, device)
    emutest.fsck_clean(emu)


def check_keys_are_not_replaced_silently(emu, d, device):
    """Another box's keys on the boot partition of a provisioned box: the
    box keeps its own, says so on the console, leaves the folder there."""
    _, other_keys, other = emutest.new_org(os.path.join(d, "other"))
    emu.provision(other_keys)
    emu.boot(timeout=300)
    emu.wait_agent()
    console = emu.console()
    assert f"NOT installing diaryroom-keys/ from the boot partition (device {other})" in console, emu.tail()
    assert f"this box already has keys in /data/keys (device {device})" in console, emu.tail()
    rc, out = emu.shell("od -An -tx1 -N8 /data/keys/device.pub | tr -d ' \\n'")
    assert rc == 0 and out.strip() == device, f"the box's keys changed: {out}"
    emu.poweroff()
    assert emu.boot_files("diaryroom-keys"), "the refused keys were deleted from the boot partition"


if __name__ == "__main__":
    drtest.run([test_session])
