# SPDX-License-Identifier: MIT
"""The Zero 2 W image, booted on QEMU's raspi3b (a Pi 3 B: the BCM2837 of
the Zero 2 W), through to the daemon's `ready` (tools/emulate_pi.py).

What boots is the image emulated_pi_images built: its kernel (Debian's
arm64), its initramfs, its SD card (boot partition, squashfs root, data
partition), with the Pi 3 B device tree from the same kernel package. What
QEMU's Pi lacks is stood in for on the kernel command line only (the
ALSA loopback card for the USB sound card, the watchdog module kept out);
tools/emulate_pi.py lists it.

  the box's keys on the boot partition (diaryroom-admin provision-device,
  as an installer does) -> boot -> the initramfs finds the SD card
  (sdhost, mmcblk0) by its disk identifier, grows the data partition to the
  card -> rcS installs the keys and deletes them from the boot partition
  (it writes the Pi's FAT) -> the daemon is ready, with its microphone on
  the loopback card and no error -> the BCM2835 GPIO controller, read as
  the CPU reads it: GPIO17 (the button) an input, GPIO27 (the light) and
  GPIO22 (the recording lamp) outputs; the light shows the idle pattern (on,
  with a short dip every 3 s), the recording lamp is off -> a press: QEMU
  cannot make one, and the test says why -> a staff stick from
  diaryroom-admin in the USB port (QEMU's usb-storage on the DWC2
  controller, the image's dwc2 driver, usb-storage, stick-hotplug): the box
  verifies its token, sets its unset clock from it (no RTC), exports, the
  light (read from GPLEV) shows "saved" -> power cut (the stick is not
  pulled out: see report_stalls); on the host `diaryroom-admin collect`
  verifies the box's signature over the stick; the keys are on the data
  partition.

The boot time goes into build/host/test-tmp/emulated-results.json
(`emulated_pi_boot`) for BENCHMARKS.md."""
import os
import stat
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "emulated"))

import emutest  # noqa: E402
from emutest import drtest, log  # noqa: E402

sys.path.insert(0, os.path.join(emutest.SRC, "tools"))
from emulate_pi import PRESS_UNSUPPORTED, PiEmulator  # noqa: E402
from emulib import EmulateError  # noqa: E402

IMAGE = os.environ.get("DR_PI_IMAGE", os.path.join(drtest.BUILD, "firmware", "rpizero2w"))
BUTTON, LIGHT, LAMP = 17, 27, 22  # board/rpizero2w/board.conf


def check_gpio(emu):
    """The daemon holds its lines through gpio-bcm2835: what the driver
    wrote is in QEMU's model of the controller's registers."""
    fsel = {n: emu.gpio_function(n) for n in (BUTTON, LIGHT, LAMP)}
    log(f"GPFSEL: GPIO17 {fsel[BUTTON]}, GPIO27 {fsel[LIGHT]}, GPIO22 {fsel[LAMP]} (0 input, 1 output)")
    assert fsel[BUTTON] == 0, f"the button line GPIO17 is not an input: function {fsel[BUTTON]}"
    assert fsel[LIGHT] == 1, f"the light GPIO27 is not an output: function {fsel[LIGHT]}"
    assert fsel[LAMP] == 1, f"the recording lamp GPIO22 is not an output: function {fsel[LAMP]}"
    # idle: on 2800 ms, off 200 ms (docs/lights.md); sample for two periods
    levels, lamp = [], set()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        levels.append(emu.gpio_level(LIGHT))
        if len(levels) % 20 == 0:
            lamp.add(emu.gpio_level(LAMP))
    on = sum(levels) / len(levels)
    log(f"light GPIO27: {len(levels)} samples, on {on:.0%}; recording lamp GPIO22: {sorted(lamp)}")
    assert 0 in levels and 0.8 <= on < 1.0, f"the light does not show the idle pattern (on {on:.0%})"
    assert lamp == {0}, "the recording lamp is on while idle"


def light_share(emu, seconds=4.0):
    """The share of the time the light (GPIO27) is on, sampled from the
    GPIO controller's level register."""
    levels = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        levels.append(emu.gpio_level(LIGHT))
    return sum(levels) / len(levels)


def staff_stick(emu, org, d):
    """A staff stick from diaryroom-admin in the Pi's USB port: the box
    verifies its token with its keys, sets its unset clock from the token's
    signed time (a Pi has no RTC), exports (nothing was recorded: no press
    is possible here) and signs what it wrote; on the host, diaryroom-admin
    collect verifies the box's signature."""
    made = os.path.join(d, "stick-made")
    os.makedirs(made)
    issued = time.time()
    emutest.admin("make-stick", "--org", org, "--stick", made, "--name", "Sam Staff", "--days", "30")
    n = len(emu.events())
    image = emu.stick_insert(made)
    clock = emu.wait_for("clock_set", since=n, timeout=90)
    log(f"clock: {clock}")
    assert clock["ok"] is True and int(issued) - 1 <= clock["to"] <= time.time() + 1, clock
    done = emu.wait_for("export_done", since=n, timeout=180)
    log(f"export: {done}")
    assert done["failed"] == 0 and not done["stick_full"], done
    emu.wait_for("light", pattern="saved", since=n, timeout=10)
    on = light_share(emu)
    log(f"light GPIO27 with the saved pattern: on {on:.0%}")
    assert on < 0.5, f"the light does not show the saved pattern (on {on:.0%})"
    return image


def collect(org, image, d, device):
    """The stick's files, read on the host (the box cut off: export_done
    means they were durable), collected: diaryroom-admin verifies the box's
    signature over what it wrote."""
    back = emutest.emulate.emulib.stick_files(image, os.path.join(d, "stick-exported"))
    archive = os.path.join(d, "archive")
    emutest.admin("collect", "--org", org, "--stick", back, "--archive", archive)
    assert os.path.isdir(os.path.join(archive, device)), f"the archive does not know box {device}"


def report_stalls(emu):
    """Says so if the guest's kernel reported a stall (seen on this machine
    some seconds after a stick is pulled out of the emulated Pi's DWC2 port,
    which the test therefore does not do; a heavily loaded host can starve
    the emulated CPUs too, so this is said, not failed: the steps above
    are what the test checks)."""
    console = emu.console()
    for bad in ("soft lockup", "rcu_sched detected stalls", "timeout waiting for hardware interrupt"):
        if bad in console:
            log(f"NOTE: the guest's kernel reported '{bad}' (see {emu.console_path})")


def check_press(emu):
    """A press through the Pi's GPIO controller, if QEMU could make one."""
    try:
        emu.press()
    except EmulateError as e:
        assert str(e) == PRESS_UNSUPPORTED
        log("NOT TESTED, a press on the emulated Pi: " + str(e))
        return
    raise AssertionError("PiEmulator.press() returned: if QEMU can press now, test that the daemon sees it")


def main():
    if not os.path.exists(os.path.join(IMAGE, "image.json")):
        raise AssertionError(f"no image in {IMAGE}: emulated_pi_images builds it")
    run = drtest.tmpdir("emulated-pi")
    emu = PiEmulator(image=IMAGE, run=run, fresh=True)
    log(f"the card: {os.path.getsize(emu.disk) >> 20} MiB (the image's disk grown to a power of two)")
    org, keys, device = emutest.new_org(os.path.join(run, "org"))
    emu.provision(keys)
    assert emu.boot_files("diaryroom-keys"), "the keys are not on the boot partition"

    t0 = time.monotonic()
    try:
        ready = emu.boot(timeout=420)
        host_s = time.monotonic() - t0
        guest_s = ready["t_us"] / 1e6
        log(f"ready after {host_s:.1f} s on the host clock, guest uptime {guest_s:.1f} s")
        console = emu.console()
        assert "growing the data partition /dev/mmcblk0p3" in console, emu.tail()
        assert f"installed the box's keys in /data/keys (device {device})" in console, emu.tail()
        assert "diaryroom-keys/ deleted from the boot partition" in console, emu.tail()
        assert "loaded snd-aloop" in console, emu.tail()
        evs = emu.events()
        errors = [e for e in evs if e.get("ev") == "error"]
        assert not errors, f"the daemon complained at start-up: {errors}"
        mics = [e for e in evs if e.get("ev") == "mic"]
        assert mics and mics[-1].get("name") == "alsa:hw:Loopback,1,0", mics
        # the storage check runs just after ready (it can wait; app/daemon)
        storage = emu.wait_for("storage", timeout=60, since=0)
        assert storage["free_mb"] > 3000, f"the data partition was not grown: {storage}"
        check_gpio(emu)
        check_press(emu)
        stick = staff_stick(emu, org, run)
        report_stalls(emu)
    finally:
        emu.power_cut()
    collect(org, stick, run, device)

    data = emu.fetch_data(os.path.join(run, "data"))
    st = os.stat(os.path.join(data, "keys"))
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
    assert not emu.boot_files("diaryroom-keys"), "the keys are still on the boot partition"
    emutest.write_result("emulated_pi_boot", {"boot_to_ready_host_s": round(host_s, 1),
                                              "boot_to_ready_guest_s": round(guest_s, 1),
                                              "machine": "raspi3b", "smp": int(emu.smp)})
    log("ok")


if __name__ == "__main__":
    main()
