# SPDX-License-Identifier: MIT
"""What the emulated boards share (tools/emulate): a device image
(firmware/build-image's output folder, read through its image.json) booted
under qemu-system-aarch64 in a working folder of its own, with its console,
its event log, QEMU's monitor, and the card's partitions read back from the
host while the box is off.

    Machine         one emulated box: boot, wait for an event, the monitor,
                    power cut, provisioning on the boot partition, the data
                    partition read back (subclassed per QEMU machine)
    Emulator        (tools/emulate) the `virt` board, board/qemu-virt
    PiEmulator      (tools/emulate_pi.py) a Pi image on QEMU's raspi3b

Every boot appends boot-N-console.log and boot-N-events.jsonl to the working
folder; state.json there lets separate command-line invocations find the
running QEMU."""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# mkfs.*, sfdisk, debugfs, e2fsck, depmod live in sbin, which a user's PATH may lack
if "/usr/sbin" not in os.environ.get("PATH", "").split(":"):
    os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"


def log(*a):
    print("emulate:", *a, file=sys.stderr, flush=True)


class EmulateError(Exception):
    pass


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


MTOOLS_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1")
STICK_MB = 64


def mtools(argv):
    p = subprocess.run(argv, capture_output=True, text=True, env=MTOOLS_ENV)
    if p.returncode != 0:
        raise EmulateError(f"{' '.join(argv)}: {p.stderr.strip()}")
    return p.stdout


def make_stick(path, label="STAFFSTICK", files=()):
    """A 64 MiB stick: an MBR with one FAT32 partition from 1 MiB, holding
    `files` (files or folders, copied to its top level)."""
    with open(path, "wb") as f:
        f.truncate(STICK_MB << 20)
    subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", path],
                   input=b"label: dos\nstart=2048, type=c\n", check=True, capture_output=True)
    subprocess.run(["mkfs.vfat", "-F", "32", "-n", label, "--offset", "2048", path,
                    str(((STICK_MB << 20) - (1 << 20)) // 1024)], check=True, capture_output=True)
    for src in files:
        mtools(["mcopy", "-s", "-i", f"{path}@@1M", src, "::"])
    return path


def stick_from_folder(path, folder):
    """A stick image holding what `folder` holds (e.g. a stick made by
    `diaryroom-admin make-stick --stick FOLDER`, or one fetched back)."""
    return make_stick(path, files=[os.path.join(folder, n) for n in sorted(os.listdir(folder))])


def stick_files(image, dest):
    """Copies the files of a stick image (MBR, FAT from 1 MiB: make_stick's
    layout) to the folder dest, as a PC would read the stick."""
    import shutil
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    mtools(["mcopy", "-s", "-n", "-i", f"{image}@@1M", "::", dest])
    return dest


def image_info(image):
    """The image folder's image.json (what firmware/build-image wrote)."""
    path = os.path.join(image, "image.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise EmulateError(f"no image in {image} (firmware/build-image BOARD --out {image})") from None


def boot_chart(text, ready_s):
    """The boot chart's steps: the guest's /run/diaryroom/boot-chart (one
    "UPTIME WHO: STEP" line per step, written by the initramfs, rcS,
    run-daemon and rcS.late; firmware/README.md, "Boot flow") and the
    daemon's ready event's time, as a list of (step, end s, duration s),
    each step's duration the time since the line before (the first: since
    the kernel started). Steps after the last `exec diaryroomd` are the
    boot's late part: they are listed after "daemon start to ready" with
    their own times."""
    lines = []
    for line in text.splitlines():
        t, _, step = line.partition(" ")
        try:
            lines.append((float(t), step.strip()))
        except ValueError:
            continue
    execs = [i for i, (_, s) in enumerate(lines) if s.startswith("run-daemon: exec")]
    cut = execs[-1] + 1 if execs else len(lines)
    before, late = lines[:cut], lines[cut:]
    out, prev = [], 0.0
    for t, step in before:
        out.append((step, t, t - prev))
        prev = t
    if ready_s is not None:
        out.append(("daemon: start to ready", ready_s, ready_s - prev))
    for t, step in late:
        out.append((step, t, None))
    return out


def chart_table(chart):
    """The chart as text lines, for the console."""
    return [f"{t:7.3f} s  {'' if d is None else f'+{d:.3f}':>7}  {step}" for step, t, d in chart]


class Machine:
    """One emulated box on a working copy of an image's disk.

    Subclasses give qemu_argv(console) and may start helpers before QEMU
    (_start_backends) and wait for them after (_wait_backends)."""

    SOCKETS = ("monitor.sock",)  # files of a previous boot removed before a boot

    def __init__(self, image, run, fresh=False):
        self.image = os.path.abspath(image)
        self.run = os.path.abspath(run)
        self.info = image_info(self.image)
        self.disk = os.path.join(self.run, "disk.img")
        self.qemu = None
        self._seen = 0
        self.boot_no = 0
        os.makedirs(self.run, exist_ok=True)
        if fresh or not os.path.exists(self.disk):
            self.reset_disk()
        self.boot_no = self._state().get("boot", 0)

    # -- state shared between command-line invocations --
    def _state(self):
        try:
            with open(os.path.join(self.run, "state.json")) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return {}

    def _save_state(self, **kw):
        s = self._state()
        s.update(kw)
        with open(os.path.join(self.run, "state.json"), "w") as f:
            json.dump(s, f)

    def reset_disk(self):
        """A fresh working copy of the image's disk (sparse)."""
        src = os.path.join(self.image, self.info["disk"])
        subprocess.run(["cp", "--sparse=always", src, self.disk], check=True)

    @property
    def console_path(self):
        return os.path.join(self.run, f"boot-{self.boot_no}-console.log")

    @property
    def events_path(self):
        return os.path.join(self.run, f"boot-{self.boot_no}-events.jsonl")

    def path(self, name):
        return os.path.join(self.run, name)

    def kernel_args(self):
        """The image's kernel command line (its cmdline.txt)."""
        return [self.info["cmdline"]]

    # -- booting --
    def qemu_argv(self, console=None):
        raise NotImplementedError

    def _start_backends(self):
        pass

    def _backend_state(self):
        return {}

    def _wait_backends(self, timeout):
        pass

    def boot(self, wait_ready=True, timeout=300, foreground=False, detach=False):
        """Starts QEMU (in the background unless `foreground`: console and
        monitor on this terminal) and waits for the daemon's `ready` event;
        returns that event."""
        if self.running():
            raise EmulateError("already running (tools/emulate poweroff or power-cut first)")
        self.boot_no += 1
        self._save_state(boot=self.boot_no)
        self._seen = 0
        for stale in self.SOCKETS:
            if os.path.exists(self.path(stale)):
                os.unlink(self.path(stale))
        open(self.events_path, "w").close()
        self._start_backends()
        self.t_boot = time.monotonic()
        if foreground:
            self.qemu = subprocess.Popen(self.qemu_argv(console="mon:stdio"))
            self._save_state(qemu=self.qemu.pid, **self._backend_state())
            rc = self.qemu.wait()
            self._wait_backends(30)
            return rc
        qlog = open(self.path(f"boot-{self.boot_no}-qemu.log"), "w")
        self.qemu = subprocess.Popen(self.qemu_argv(), stdin=subprocess.DEVNULL, stdout=qlog, stderr=qlog,
                                     start_new_session=detach)
        qlog.close()
        self._save_state(qemu=self.qemu.pid, **self._backend_state())
        if wait_ready:
            ev = self.wait_for("ready", timeout=timeout)
            self.t_ready = time.monotonic()
            return ev
        return None

    def running(self):
        if self.qemu is not None:
            return self.qemu.poll() is None
        pid = self._state().get("qemu")
        return bool(pid) and pid_alive(pid)

    def _qemu_pid(self):
        return self.qemu.pid if self.qemu is not None else self._state().get("qemu")

    # -- what the box says --
    def console(self):
        try:
            with open(self.console_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def events(self):
        try:
            with open(self.events_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.split("\n"):
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # being written, or cut by a power cut
        return out

    def wait_for(self, ev, timeout=60, since=None, **fields):
        """The first event `ev` with these fields after index `since`
        (default: after the last one this returned)."""
        start = self._seen if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events()
            for i in range(start, len(evs)):
                e = evs[i]
                if e.get("ev") == ev and all(e.get(k) == v for k, v in fields.items()):
                    self._seen = i + 1
                    return e
            if self.qemu is not None and self.qemu.poll() is not None:
                raise EmulateError(f"QEMU exited ({self.qemu.returncode}) while waiting for {ev} {fields}\n"
                                   + self.tail())
            if time.monotonic() > deadline:
                raise EmulateError(f"timed out waiting for {ev} {fields}; last events:\n" +
                                   "\n".join(json.dumps(e) for e in evs[-15:]) + "\n" + self.tail())
            time.sleep(0.02)

    def tail(self, n=40):
        lines = self.console().splitlines()[-n:]
        return "console (last lines):\n" + "\n".join(lines)

    # -- QEMU's monitor --
    def monitor(self, command):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.path("monitor.sock"))
        buf = b""
        while b"(qemu)" not in buf:
            buf += s.recv(4096)
        s.sendall(command.encode() + b"\n")
        buf = b""
        while buf.count(b"(qemu)") < 1:
            buf += s.recv(4096)
        s.close()
        return buf.decode(errors="replace")

    def read_phys32(self, addr):
        """A 32-bit word of the guest's physical address space, as the
        CPU would read it (a device register: QEMU's model answers)."""
        out = self.monitor(f"xp /1wx {addr:#x}")
        for line in out.splitlines():
            where, colon, value = line.strip().partition(":")
            try:
                if colon and int(where, 16) == addr:
                    return int(value.split()[0], 16)
            except (ValueError, IndexError):
                continue
        raise EmulateError(f"monitor: xp {addr:#x}: {out!r}")

    # -- ending a boot --
    def _close_ctl(self):
        pass

    def power_cut(self):
        """Kills QEMU (SIGKILL): the guest's RAM (and, where the board
        models one, the disk's write cache) is lost. Returns the host time
        of the cut."""
        pid = self._qemu_pid()
        t = time.monotonic()
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self._close_ctl()
        self._wait_gone(60)
        return t

    def _wait_gone(self, timeout):
        deadline = time.monotonic() + timeout
        if self.qemu is not None:
            try:
                self.qemu.wait(timeout)
            except subprocess.TimeoutExpired:
                self.qemu.kill()
                self.qemu.wait()
                raise EmulateError("QEMU did not exit after poweroff; killed\n" + self.tail())
        else:
            pid = self._state().get("qemu")
            while pid and pid_alive(pid):
                if time.monotonic() > deadline:
                    raise EmulateError("QEMU did not exit")
                time.sleep(0.1)
        self._wait_backends(max(1, deadline - time.monotonic()))
        self._save_state(qemu=None, **{k: None for k in self._backend_state()})
        self.qemu = None

    # -- the card, read and written from the host (the box is off) --
    def partition(self, index):
        """(offset, size) of MBR partition `index` (0: boot, 2: data) in the working disk."""
        with open(self.disk, "rb") as f:
            mbr = f.read(512)
        lba, count = struct.unpack_from("<II", mbr, 446 + index * 16 + 8)
        return lba * 512, count * 512

    def data_partition(self):
        """(offset, size) of the data partition in the working disk."""
        return self.partition(2)

    def _boot_fat(self):
        return f"{self.disk}@@{self.partition(0)[0]}"

    def provision(self, keys, replace=False):
        """What an installer does with a new box's SD card on a PC: copies
        the folder `diaryroom-admin provision-device --out KEYS` wrote onto
        the boot partition (FAT) as diaryroom-keys/. At its next start the
        box (rcS) moves it to /data/keys and deletes it from the boot
        partition. `replace`: also put the file that lets new keys replace
        keys the box already has. The box must be off."""
        if self.running():
            raise EmulateError("the box is running: power it off first")
        names = [n for n in ("device.key", "device.pub", "org.pub") if os.path.isfile(os.path.join(keys, n))]
        if "device.key" not in names or "org.pub" not in names:
            raise EmulateError(f"{keys} has no device.key and org.pub (diaryroom-admin provision-device --out)")
        fat = self._boot_fat()
        subprocess.run(["mdeltree", "-i", fat, "::diaryroom-keys"], capture_output=True, env=MTOOLS_ENV)
        mtools(["mmd", "-i", fat, "::diaryroom-keys"])
        srcs = [os.path.join(keys, n) for n in names]
        if replace:
            marker = self.path("replace")
            open(marker, "w").close()
            srcs.append(marker)
        mtools(["mcopy", "-i", fat] + srcs + ["::diaryroom-keys/"])
        return names

    def provision_prompts(self, folder):
        """What an organisation does to give the box a real voice: copies
        FOLDER's files onto the boot partition as diaryroom-prompts/ (an
        empty FOLDER removes it). At its next start the box (rcS) copies them
        to /data/prompts-override. The box must be off."""
        if self.running():
            raise EmulateError("the box is running: power it off first")
        names = sorted(n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n)))
        fat = self._boot_fat()
        subprocess.run(["mdeltree", "-i", fat, "::diaryroom-prompts"], capture_output=True, env=MTOOLS_ENV)
        if names:
            mtools(["mmd", "-i", fat, "::diaryroom-prompts"])
            mtools(["mcopy", "-i", fat] + [os.path.join(folder, n) for n in names] + ["::diaryroom-prompts/"])
        return names

    def boot_files(self, folder=""):
        """The names in a folder of the boot partition (the box must be
        off); None if there is no such folder."""
        p = subprocess.run(["mdir", "-b", "-i", self._boot_fat(), "::" + folder], capture_output=True,
                           text=True, env=MTOOLS_ENV)
        if p.returncode != 0:
            return None
        return sorted(os.path.basename(line.rstrip("/")) for line in p.stdout.splitlines() if line.strip())

    def fetch_data(self, dest):
        """Copies the data partition's files from the disk image (the box
        must be off: this is what the disk holds)."""
        if self.running():
            raise EmulateError("the box is running: power it off first (or fetch-data while running)")
        off, size = self.data_partition()
        part = self.path("data-partition.ext4")
        with open(self.disk, "rb") as s, open(part, "wb") as d:
            s.seek(off)
            left = size
            while left:
                b = s.read(min(left, 1 << 20))
                if not b:
                    break
                if b.count(0) == len(b):
                    d.seek(len(b), 1)
                else:
                    d.write(b)
                left -= len(b)
            d.truncate(size)
        if os.path.exists(dest):
            import shutil
            shutil.rmtree(dest)
        os.makedirs(dest)
        # after a power cut the latest metadata may be only in the journal:
        # replay it on this copy first, as the kernel does when it mounts
        # the card (debugfs reads the file system as it is on the disk)
        p = subprocess.run(["e2fsck", "-E", "journal_only", "-p", part], capture_output=True, text=True)
        if p.returncode not in (0, 1):
            raise EmulateError(f"e2fsck -E journal_only: {p.returncode}: {p.stdout}{p.stderr}")
        p = subprocess.run(["debugfs", "-R", f"rdump / {dest}", part], capture_output=True, text=True)
        if p.returncode != 0:
            raise EmulateError(f"debugfs failed: {p.stderr}")
        os.unlink(part)
        return dest
