# SPDX-License-Identifier: MIT
"""A Raspberry Pi image (firmware/build-image rpizero2w) booted on QEMU's
raspi3b machine: a Pi 3 Model B, the BCM2837 of the Zero 2 W (QEMU 7.2 has
no Zero 2 W and no Pi 4). `tools/emulate --image build/firmware/rpizero2w
start` uses it; tests/emulated_pi drives it from Python.

What boots is the image's own: its kernel (Debian's arm64), initramfs and SD
card (boot, squashfs root, data), with the Pi 3 B device tree from the same
kernel package (build-image puts it in the image folder's qemu/). QEMU loads
the kernel itself (-kernel -initrd -dtb -append: it does not run the Pi's
GPU firmware, so bootcode.bin/start.elf and config.txt are not exercised).

What differs from a Zero 2 W, and what the runner changes for it, all on
QEMU's command line and the kernel command line, never in the image:

  - the SD card image is grown to a power of two (QEMU's SD card model
    needs one); the image's initramfs then grows the data partition, as on a
    real card bigger than the image;
  - the Pi 3 B's PL011 UART (ttyAMA0) carries the Bluetooth chip on a real
    board; QEMU has none, so the `bluetooth` node is taken out of the device
    tree and ttyAMA0 is a plain serial port: the event log is mirrored there
    (dr.events=ttyAMA0) and read on the host; the console is the mini UART
    (ttyS1), as on the real board;
  - there is no sound: QEMU's raspi3b has no audio device, and QEMU's USB
    audio device only plays. The ALSA loopback card stands in
    (dr.modules=snd-aloop, dr.set=audio.capture_device=... ): the daemon
    opens a real ALSA card through the same code;
  - the staff stick is QEMU's usb-storage device, hot-plugged through the
    monitor (drive_add, device_add) on the raspi3b's DWC2 USB controller,
    which the image's dwc2 driver runs in host mode: insert and remove are
    a stick going in and out of the board's USB port. Seen on this
    project's machine: some seconds after a stick is pulled out (device_del)
    the guest's kernel reports SD host interrupt timeouts, RCU stalls and
    soft lockups (CPU 0 stops answering), so the tests never pull one out
    on this machine (the cause, QEMU's DWC2 model or the driver on it, was
    not pinned down; pulling a stick out is tested on the virt board);
  - QEMU's Pi watchdog (bcm2835_wdt's PM registers) resets the machine the
    moment the driver arms it (it does not count down), so the watchdog
    module is kept out with the kernel's own module_blacklist=bcm2835_wdt;
  - QEMU's BCM2835 GPIO model keeps the levels the guest drives on output
    lines (GPLEV reads them back: the lights) but has no input lines and no
    edge detection (GPREN/GPFEN/GPEDS read 0, writes are dropped, no
    interrupt), and no monitor command sets a line: nothing outside the guest
    can press the button, and an edge could not reach the driver anyway.
    press() says so.
"""
import os
import subprocess
import time

from emulib import SRC, EmulateError, Machine, make_stick, stick_from_folder

# BCM2837 peripherals as the ARM cores see them; the GPIO block
PERIPHERAL_BASE = 0x3F000000
GPIO_BASE = PERIPHERAL_BASE + 0x200000
GPFSEL0, GPLEV0 = 0x00, 0x34

# the sound card that stands in for the Zero 2 W's USB sound card
LOOPBACK_ARGS = ["dr.modules=snd-aloop",
                 "dr.set=audio.capture_device=hw:Loopback,1,0",
                 "dr.set=audio.playback_device=hw:Loopback,0,1"]

PRESS_UNSUPPORTED = (
    "QEMU's raspi3b cannot press the button: its BCM2835 GPIO model has no input lines and no "
    "edge detection (GPREN/GPFEN/GPEDS are not implemented, no GPIO interrupt is raised) and no "
    "monitor command drives a line, so gpio-bcm2835 never sees an edge. A press through the "
    "Pi's GPIO controller needs a real board (board/rpizero2w/README.md).")


class PiEmulator(Machine):
    """A Pi image on QEMU's raspi3b (see the module's docstring)."""

    def __init__(self, image=None, run=None, fresh=False, extra_args=()):
        image = image or os.path.join(SRC, "build", "firmware", "rpizero2w")
        super().__init__(image, run or os.path.join(SRC, "build", "emulate-" + os.path.basename(image)), fresh)
        q = self.info.get("qemu") or {}
        if not q.get("machine", "").startswith("raspi"):
            raise EmulateError(f"{image}: not an image for QEMU's raspi machines (board image.conf [qemu])")
        if not self.info.get("dtb"):
            raise EmulateError(f"{image}: image.json names no device tree for QEMU")
        self.machine = q["machine"]
        self.smp = q.get("smp", "4")
        self.memory = q.get("memory", "1024")
        self.extra_args = list(extra_args)

    def reset_disk(self):
        """A fresh working copy of the card, grown to a power of two (QEMU's
        SD card model takes nothing else), sparse."""
        super().reset_disk()
        size = os.path.getsize(self.disk)
        p2 = 1
        while p2 < size:
            p2 <<= 1
        if p2 != size:
            os.truncate(self.disk, p2)

    def dtb(self):
        """The image's Pi 3 B device tree without the Bluetooth node (so
        that ttyAMA0 is a serial port, not the Bluetooth chip's)."""
        src = os.path.join(self.image, self.info["dtb"])
        out = self.path(os.path.basename(src))
        if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
            subprocess.run(["cp", src, out + ".tmp"], check=True)
            p = subprocess.run(["fdtput", "-r", out + ".tmp", "/soc/serial@7e201000/bluetooth"],
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise EmulateError(f"fdtput: {p.stderr.strip()} (device-tree-compiler installed?)")
            os.replace(out + ".tmp", out)
        return out

    def kernel_args(self):
        return [self.info["cmdline"], "dr.events=ttyAMA0", "module_blacklist=bcm2835_wdt"] + \
            LOOPBACK_ARGS + self.extra_args

    def qemu_argv(self, console=None):
        img = self.image
        return [
            "qemu-system-aarch64", "-M", self.machine, "-smp", self.smp, "-m", self.memory,
            "-nodefaults", "-display", "none", "-no-user-config",
            "-kernel", os.path.join(img, self.info["kernel_file"]),
            "-initrd", os.path.join(img, self.info["initrd"]),
            "-dtb", self.dtb(), "-append", " ".join(self.kernel_args()),
            # the SD card: the whole disk image (boot, root, data)
            "-drive", f"if=sd,format=raw,cache=writeback,file={self.disk}",
            # first serial: the PL011 (ttyAMA0), the event log; second: the
            # mini UART (ttyS1), the console, as on the real board
            "-serial", f"file:{self.events_path}",
            "-serial", console or f"file:{self.console_path}",
            "-monitor", f"unix:{self.path('monitor.sock')},server=on,wait=off",
        ]

    # -- the GPIO controller, read as the CPU reads it --
    def gpio_function(self, line):
        """The line's function in GPFSELn: 0 input, 1 output, 4-7 alternate."""
        word = self.read_phys32(GPIO_BASE + GPFSEL0 + 4 * (line // 10))
        return (word >> (3 * (line % 10))) & 7

    def gpio_level(self, line):
        """The line's level in GPLEVn (for an output: what the driver set)."""
        word = self.read_phys32(GPIO_BASE + GPLEV0 + 4 * (line // 32))
        return (word >> (line % 32)) & 1

    def press(self):
        raise EmulateError(PRESS_UNSUPPORTED)

    # -- the staff stick: a USB mass-storage device on the DWC2 controller --
    def _console_count(self, text):
        return self.console().count(text)

    def _wait_console(self, text, count, timeout):
        deadline = time.monotonic() + timeout
        while self._console_count(text) < count:
            if time.monotonic() > deadline:
                raise EmulateError(f"timed out waiting for {text!r} on the console\n" + self.tail())
            if self.qemu is not None and self.qemu.poll() is not None:
                raise EmulateError("QEMU exited\n" + self.tail())
            time.sleep(0.1)

    def stick_insert(self, image=None, timeout=120):
        """Plugs a stick into the USB port: IMAGE (a disk image; a folder
        becomes a new FAT stick holding its files; default a blank one).
        Returns once stick-hotplug has mounted it."""
        if image is None:
            image = make_stick(self.path("stick.img"))
        elif os.path.isdir(image):
            image = stick_from_folder(self.path("stick.img"), image)
        mounted = self._console_count("stick-hotplug: mounted ")
        self.sticks = self._state().get("sticks", 0) + 1  # a new QEMU id for every stick
        self._save_state(sticks=self.sticks)
        for cmd in (f"drive_add 0 if=none,id=stick{self.sticks},format=raw,cache=writeback,"
                    f"file={os.path.abspath(image)}",
                    f"device_add usb-storage,drive=stick{self.sticks},id=stickdev{self.sticks},removable=on"):
            out = self.monitor(cmd)
            if "rror" in out or "ould not" in out:
                raise EmulateError(f"monitor: {cmd}: {out.strip()}")
        self._wait_console("stick-hotplug: mounted ", mounted + 1, timeout)
        return image

    def stick_remove(self, timeout=60):
        """Pulls the stick out; returns once stick-hotplug has seen it go."""
        removed = self._console_count(" removed")
        out = self.monitor(f"device_del stickdev{self._state().get('sticks', 0)}")
        if "rror" in out:
            raise EmulateError(f"monitor: device_del: {out.strip()}")
        self._wait_console(" removed", removed + 1, timeout)
        return "removed"

    def poweroff(self, timeout=120):
        raise EmulateError("the Pi image has no agent to shut it down from the host: use power-cut "
                           "(the data partition's journal and the daemon's recovery handle it, as on a box)")
