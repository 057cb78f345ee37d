# SPDX-License-Identifier: MIT
"""The Debian package on a booted systemd: a Debian bookworm arm64 root
(tests/package/make-root) booted under qemu-system-aarch64 like the
emulated board (the same kernel; PL061 button, snd-aloop microphone,
dummy_hcd staff stick; tools/emulate drives it), the .deb files built by
tests/package/build-debs installed with apt inside it. One boot:

  apt installs the previous version: the diaryroom system user (groups
  audio, gpio), /var/lib/diaryroom 0700 diaryroom, the service enabled, the
  config a conffile -> the installer's steps (keys in /etc/diaryroom/keys,
  the board line, an event log) -> systemd says the service is active only
  once the daemon said READY=1 (Type=notify), running as diaryroom with
  CAP_SYS_TIME alone -> press, speak, press: a complete recording, consent
  -> the daemon stopped with SIGSTOP: systemd's watchdog kills it and starts
  it again -> a staff stick plugged in: udev starts diaryroom-stick@sda1,
  which mounts it nosuid,nodev,noexec for diaryroom where the daemon looks;
  exported; pulled out: unmounted, the unit stopped -> the export collected
  on the host with diaryroom-admin from the amd64 package: the recording
  decodes to what was spoken -> apt upgrades to the current version: the
  edited config and the recording kept, the daemon restarted and ready ->
  apt remove: the data kept -> apt purge asks nothing, removes the config,
  keeps the recordings and the keys.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("DR_SOURCE_DIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "emulated"))

import emutest  # noqa: E402
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402
from emutest import RATE, check_recording, drtest, log  # noqa: E402
import test_emulated_session as ses  # noqa: E402

BUILD = drtest.BUILD
DEBS = os.environ.get("DR_PACKAGE_DEBS", os.path.join(BUILD, "package", "debs"))
ROOTS = os.environ.get("DR_PACKAGE_ROOT", os.path.join(SRC, "build", "package-root"))
TESTIMONY = ("I moved in last spring. The support workers help me with my letters every week, "
             "and I would like a quiet room to study in.")
CONF = "/etc/diaryroom/diaryroom.conf"
MNT = "/run/diaryroom/stick"


def load_make_root():
    path = os.path.join(HERE, "make-root")
    loader = importlib.machinery.SourceFileLoader("dr_make_root", path)
    spec = importlib.util.spec_from_loader("dr_make_root", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def root_image():
    found = [os.path.dirname(p) for p in glob.glob(os.path.join(ROOTS, "*", "image.json"))]
    assert len(found) == 1, f"expected one root in {ROOTS} (tests/package/make-root builds it): {found}"
    return found[0]


def deb(name, arch, prev=False):
    hits = sorted(p for p in glob.glob(os.path.join(DEBS, f"{name}_*_{arch}.deb"))
                  if ("~prev" in p) == prev)
    assert len(hits) == 1, f"{name} {arch} prev={prev}: {hits} (tests/package/build-debs builds them)"
    return hits[0]


def deb_version(path):
    return subprocess.run(["dpkg-deb", "-f", path, "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def sh(box, cmd, ok=True, timeout=300):
    rc, out = box.shell(cmd, timeout=timeout)
    if ok:
        assert rc == 0, f"in the box: {cmd}\n-> {rc}\n{out}"
    return rc, out


def apt(box, args, timeout=600):
    """apt-get in the box: no network, local .deb files, nothing asked
    (no terminal; a question would fail the command)."""
    return sh(box, f"DEBIAN_FRONTEND=noninteractive apt-get -y -q {args} </dev/null", timeout=timeout)


def service(box, unit="diaryroomd"):
    _, out = sh(box, f"systemctl show -p MainPID -p ActiveState -p SubState -p NRestarts -p Result {unit}")
    return dict(line.split("=", 1) for line in out.split())


def check_installed(box, version):
    _, out = sh(box, "dpkg-query -W -f='${Version} ${Status}\\n' diaryroom")
    assert out.strip() == f"{version} install ok installed", out
    _, out = sh(box, "id -nG diaryroom; getent passwd diaryroom; stat -c '%n %a %U:%G' /var/lib/diaryroom "
                     "/etc/diaryroom/keys; systemctl is-enabled diaryroomd; "
                     "dpkg-query -W -f='${Conffiles}\\n' diaryroom; stat -c '%G %a' /dev/gpiochip0")
    log(out.strip())
    lines = out.splitlines()
    groups = lines[0].split()
    assert "audio" in groups and "gpio" in groups, f"diaryroom is not in audio and gpio: {groups}"
    pw = lines[1].split(":")
    assert pw[0] == "diaryroom" and int(pw[2]) < 1000 and pw[6] == "/usr/sbin/nologin", \
        f"not a system user without a shell: {pw}"
    assert "/var/lib/diaryroom 700 diaryroom:diaryroom" in out, out
    assert "/etc/diaryroom/keys 700 diaryroom:diaryroom" in out, out
    assert "\nenabled\n" in out, f"diaryroomd.service is not enabled: {out}"
    assert re.search(r"^ ?/etc/diaryroom/diaryroom\.conf [0-9a-f]{32}", out, re.M), f"no conffile: {out}"
    assert "gpio 660" in out, f"/dev/gpiochip0 is not the gpio group's: {out}"


def provision_and_configure(box, keys):
    """What an installer does after `apt install`: the keys, the board
    line, and (for this test) the event log; then a restart. The service is
    stopped while the file changes: it is failing and being restarted every
    2 s until the board line is right, and a start that reads the new file
    before `systemctl restart` would be a second ready daemon."""
    share = os.path.join(box.share, "keys")
    shutil.copytree(keys, share)
    sh(box, "install -o diaryroom -g diaryroom -m 0600 /mnt/host/keys/device.key /mnt/host/keys/device.pub "
            "/mnt/host/keys/org.pub /etc/diaryroom/keys/")
    sh(box, "systemctl stop diaryroomd", timeout=120)
    sh(box, f"sed -i -e 's|^board = .*|board = /usr/share/diaryroom/board/qemu-virt|' "
            f"-e 's|^event_log =.*|event_log = /run/diaryroom/events.jsonl|' {CONF} && "
            f"grep -E '^(board|event_log) ' {CONF}")
    n = len(box.events())
    sh(box, "systemctl start diaryroomd", timeout=320)
    return box.wait_for("ready", since=n, timeout=120)


def check_daemon(box, ready):
    """Active once ready (Type=notify); diaryroom with CAP_SYS_TIME alone."""
    st = service(box)
    log(f"diaryroomd.service: {st}")
    assert st["ActiveState"] == "active" and st["SubState"] == "running", st
    assert int(st["MainPID"]) == ready["pid"], f"the ready event's pid is not the unit's main pid: {st} {ready}"
    _, out = sh(box, f"id -u diaryroom; grep -E '^(Uid|Gid|CapEff|CapBnd|NoNewPrivs):' /proc/{ready['pid']}/status")
    uid, st = out.split("\n", 1)
    fields = {k: v.split() for k, v in (line.split(":", 1) for line in st.strip().splitlines())}
    assert fields["Uid"] == [uid.strip()] * 4, f"diaryroomd is not running as diaryroom: {fields}"
    assert fields["CapEff"] == ["0000000002000000"] == fields["CapBnd"], f"not CAP_SYS_TIME alone: {fields}"
    assert fields["NoNewPrivs"] == ["1"], fields
    return int(uid)


def record_session(box, mic):
    box.press()
    box.wait_for("button", edge="down", timeout=30)
    rec = box.wait_for("recording_started", timeout=120)
    box.play(mic)
    box.play_wait(timeout=120)
    time.sleep(0.3)
    box.press()
    fin = box.wait_for("recording_finalised", timeout=120)
    log(f"finalised: {fin}")
    assert fin["id"] == rec["id"] and fin["state"] == "complete" and fin["lost"] == 0, fin
    ses.answer_consent_questions(box, rec["id"])
    return fin


def check_watchdog(box):
    """A hung daemon (SIGSTOP): systemd's watchdog (WatchdogSec=30) kills it
    and Restart=always starts a new one, which is ready again."""
    before = service(box)
    old = int(before["MainPID"])
    n = len(box.events())
    t = time.monotonic()
    sh(box, f"kill -STOP {old}")
    ready = box.wait_for("ready", since=n, timeout=120)
    waited = time.monotonic() - t
    after = service(box)
    _, journal = sh(box, "journalctl -q -o cat -u diaryroomd | tail -n 30")
    log(f"hung daemon {old}: ready again as {ready['pid']} after {waited:.0f} s; {after}")
    assert ready["pid"] != old and int(after["MainPID"]) == ready["pid"], (ready, after)
    assert int(after["NRestarts"]) > int(before["NRestarts"]), (before, after)
    assert "Watchdog timeout" in journal, f"not restarted by the watchdog:\n{journal}"
    assert waited >= 25, f"restarted after {waited:.0f} s: not the 30 s watchdog"


def stick_in_and_out(box, org, uid, d):
    made = os.path.join(d, "stick-made")
    os.makedirs(made)
    emutest.admin("make-stick", "--org", org, "--stick", made, "--name", "Sam Staff", "--days", "30")
    n = len(box.events())
    state = box.stick_insert(made)
    log(f"stick: {state}")
    assert state == "mounted=/dev/sda1", f"udev and diaryroom-stick@ did not mount the stick: {state}"
    box.wait_for("stick", present=True, since=n, timeout=30)
    st = box.stick_status()
    log(f"stick status: {st}")
    assert st["dir"] == MNT, st
    opts = st["mount"].split(",")
    for o in ("nosuid", "nodev", "noexec", f"uid={uid}", "fmask=0177", "dmask=0077"):
        assert o in opts, f"the stick is mounted without {o}: {st['mount']}"
    assert service(box, "diaryroom-stick@sda1")["ActiveState"] == "active"
    done = box.wait_for("export_done", since=n, timeout=180)
    log(f"export: {done}")
    assert done["files"] >= 1 and done["failed"] == 0, done
    n = len(box.events())
    assert box.stick_remove() == "removed"
    box.wait_for("stick", present=False, since=n, timeout=30)
    st = service(box, "diaryroom-stick@sda1")
    assert st["ActiveState"] == "inactive", f"the stick unit outlived the stick: {st}"
    return box.fetch_stick(os.path.join(d, "stick-exported"))


def packaged_admin(d):
    """diaryroom-admin from the amd64 package, unpacked (not installed) on
    this PC."""
    dest = os.path.join(d, "admin-deb")
    subprocess.run(["dpkg-deb", "-x", deb("diaryroom-admin", "amd64"), dest], check=True)
    return os.path.join(dest, "usr", "bin", "diaryroom-admin")


def recording_files(box, rec_id):
    _, out = sh(box, "find /var/lib/diaryroom -type f")
    return [line for line in out.split() if rec_id in line]


def test_package_on_booted_systemd():
    img = root_image()
    d = drtest.tmpdir("package-boot")
    box = emutest.emulate.Emulator(image=img, run=d, fresh=True)
    load_make_root().inject(box.disk)  # this tree's agent, in this test's copy of the root
    try:
        run(box, d)
    finally:
        if box.running():
            log(box.tail(60))
            box.power_cut()


def run(box, d):
    prev, cur = deb("diaryroom", "arm64", prev=True), deb("diaryroom", "arm64")
    v_prev, v_cur = deb_version(prev), deb_version(cur)
    for p in (prev, cur):
        shutil.copy(p, box.share)
    emutest.ADMIN = packaged_admin(d)
    mic = drtest.speak(os.path.join(d, "testimony.wav"), TESTIMONY, pad=(0.2, 0.3))
    speech, _ = drtest.read_wav(mic)
    org, keys, device = emutest.new_org(d)

    t0 = time.monotonic()
    box.boot(wait_ready=False)
    box.wait_agent(timeout=300)
    _, out = sh(box, "cat /proc/1/comm; systemctl is-system-running --wait || true", timeout=300)
    log(f"booted in {time.monotonic() - t0:.0f} s: {out.split()}")
    assert out.split()[0] == "systemd", out

    # install the previous version, as on a Pi: apt, a local file
    t = time.monotonic()
    apt(box, f"install /mnt/host/{os.path.basename(prev)}")
    log(f"apt install {v_prev}: {time.monotonic() - t:.0f} s")
    check_installed(box, v_prev)
    ready = provision_and_configure(box, keys)
    uid = check_daemon(box, ready)
    assert not [e for e in box.events() if e.get("ev") == "error"], "the daemon complained at start"

    fin = record_session(box, mic)
    rec_id = fin["id"]
    check_watchdog(box)
    stick = stick_in_and_out(box, org, uid, d)

    archive = os.path.join(d, "archive")
    emutest.admin("collect", "--org", org, "--stick", stick, "--archive", archive)
    path = os.path.join(archive, device, rec_id + ".opus")
    assert os.path.exists(path), f"not in the archive: {ses.files_under(archive)}"
    decoded, lag, env, _ = check_recording(path, speech)
    assert abs(len(decoded) / RATE - fin["duration_ms"] / 1000) < 0.03, (len(decoded), fin)

    # the upgrade keeps the edited config and the recordings
    files = recording_files(box, rec_id)
    assert files, "the recording is not on the box"
    _, conf_before = sh(box, f"cat {CONF}")
    n = len(box.events())
    t = time.monotonic()
    apt(box, f"install /mnt/host/{os.path.basename(cur)}")
    log(f"apt upgrade {v_prev} -> {v_cur}: {time.monotonic() - t:.0f} s")
    check_installed(box, v_cur)
    _, conf_after = sh(box, f"cat {CONF}; ls {CONF}.dpkg-* 2>/dev/null || true")
    assert conf_after == conf_before, "the upgrade changed the edited config"
    ready = box.wait_for("ready", since=n, timeout=120)
    check_daemon(box, ready)
    assert recording_files(box, rec_id) == files, "the upgrade lost the recording"

    # remove keeps everything but the programs; purge asks nothing and takes
    # only what the package made
    apt(box, "remove diaryroom")
    _, out = sh(box, f"systemctl is-active diaryroomd || true; test -e /usr/bin/diaryroomd && echo program; "
                     f"test -f {CONF} && echo conf")
    assert out.split() == ["inactive", "conf"], out
    assert recording_files(box, rec_id) == files, "remove took the recording"
    apt(box, "purge diaryroom")
    _, out = sh(box, f"test -e {CONF} && echo conf; ls /etc/diaryroom/keys; id -u diaryroom; "
                     "dpkg-query -W -f='${Status}' diaryroom 2>&1 || true")
    log(f"after purge: {out.split()}")
    assert "conf" not in out.split() and "device.key" in out and "org.pub" in out, out
    assert recording_files(box, rec_id) == files, "purge took the recording"
    box.poweroff()


if __name__ == "__main__":
    drtest.run([test_package_on_booted_systemd])
