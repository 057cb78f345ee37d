# SPDX-License-Identifier: MIT
"""The device image's rcS takes an organisation's phrases from the boot
partition's diaryroom-prompts/ into /data/prompts-override (the daemon's
[daemon] prompts_override_dir). Its functions are run here on the host with
/bin/sh, the boot partition's mount and the paths pointed at scratch
folders: known names are taken (case folded), anything else is left out and
said so, an unchanged folder is not copied again, a changed one replaces
the override whole, taking the folder off the card brings the built-in
voice back, a cut between the renames is finished at the next start, and
the box's loader takes the result in front of the pack. (Booting the real
image with a card holding diaryroom-prompts/ is the emulated-board test's.)"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from drtest import BUILD, PROMPTS, SRC, log, run, tmpdir  # noqa: E402

RCS = os.path.join(SRC, "firmware", "rootfs", "etc", "init.d", "rcS")
CHECK = os.path.join(BUILD, "bin", "dr-prompts-check")
# The image's shell is busybox ash; any POSIX sh runs these functions. To
# run them with the image's own: DR_RCS_SHELL="qemu-aarch64 .../busybox sh".
SHELL = os.environ.get("DR_RCS_SHELL", "/bin/sh").split()

# The boot partition's mount and the rest of the system, as shell stubs:
# "mounting" makes the mount point a link to $FAKE_BOOT (none: it fails).
STUBS = r"""
log() { echo "log: $*" >&2; }  # rcS: /dev/console
plog() { echo "plog: $*" >&2; }  # rcS: the console and provisioning.log
sync() { :; }
mountpoint_ok() { return 1; }  # rcS: the boot partition is not mounted yet
mount() { for a; do last=$a; done; [ -n "$FAKE_BOOT" ] || return 1; rmdir "$last" && ln -s "$FAKE_BOOT" "$last"; }
umount() { for a; do last=$a; done; rm -f "$last" && mkdir -p "$last"; }
"""


def rcs_functions():
    """The prompts part of rcS: from PROMPTS_PACK= to the first command of
    the start-up proper."""
    text = open(RCS).read()
    start = text.index("\nPROMPTS_PACK=")
    end = text.index("\nmountpoint_ok /proc")
    return text[start:end]


class Card:
    def __init__(self, name):
        self.dir = tmpdir(name)
        self.boot = os.path.join(self.dir, "boot")          # the FAT partition's files
        self.src = os.path.join(self.boot, "diaryroom-prompts")
        self.run_dir = os.path.join(self.dir, "run")
        self.ovr = os.path.join(self.dir, "data", "prompts-override")
        for d in (self.boot, self.run_dir, os.path.dirname(self.ovr)):
            os.makedirs(d)
        self.script = os.path.join(self.dir, "rcs-prompts.sh")
        with open(self.script, "w") as f:
            f.write(STUBS + rcs_functions() + f"""
PROMPTS_PACK={PROMPTS}
PROMPTS_OVERRIDE={self.ovr}
PROMPTS_RUN={self.run_dir}
install_prompts /dev/fake1
""")

    def put(self, name, data):
        os.makedirs(self.src, exist_ok=True)
        with open(os.path.join(self.src, name), "wb") as f:
            f.write(data)

    def boot_up(self, readable=True):
        env = dict(os.environ, FAKE_BOOT=self.boot if readable else "")
        p = subprocess.run(SHELL + ["-u", self.script], capture_output=True,
                           text=True, env=env)
        out = p.stdout + p.stderr
        log("  " + out.strip().replace("\n", "\n  "))
        assert p.returncode == 0, out
        assert os.path.isdir(os.path.join(self.run_dir, "boot")) and \
            not os.path.islink(os.path.join(self.run_dir, "boot")), "boot partition left mounted"
        return out

    def override(self):
        out = {}
        for n in sorted(os.listdir(self.ovr)):
            with open(os.path.join(self.ovr, n), "rb") as f:
                out[n] = f.read()
        return out


def wav_44k(path):
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", "-b", "16", path, "synth", "0.5", "sine", "600"],
                   check=True)
    with open(path, "rb") as f:
        return f.read()


def test_phrases_from_the_boot_partition():
    card = Card("rcs-prompts")
    # A card with no diaryroom-prompts/: an empty override, said nothing.
    out = card.boot_up()
    assert card.override() == {} and "plog" not in out

    welcome = wav_44k(os.path.join(card.dir, "w.wav"))
    beep = open(os.path.join(PROMPTS, "beep.opus"), "rb").read()
    card.put("Welcome.WAV", welcome)       # Windows' capitals
    card.put("beep.opus", beep)
    card.put("saved.opus", beep)
    card.put("saved.wav", welcome)
    card.put("welcom.wav", welcome)        # a typo
    card.put("notes.txt", b"from Sam")
    card.put("._welcome.wav", b"\0\5\26\7")  # a Mac's resource fork
    os.makedirs(os.path.join(card.src, "goodbye.wav"))
    big = os.path.join(card.src, "error.wav")
    with open(big, "wb") as f:
        f.truncate(65 * 1024 * 1024)       # sparse: cheap
    out = card.boot_up()
    assert card.override() == {"beep.opus": beep, "saved.opus": beep, "saved.wav": welcome,
                               "welcome.wav": welcome}, sorted(card.override())
    for needle in ("'welcom'", "notes.txt", "goodbye.wav: not a file", "error.wav: over 64 MiB",
                   "has saved.opus and saved.wav: the box plays saved.opus", "installed"):
        assert needle in out, (needle, out)
    assert "._welcome" not in out
    assert oct(os.stat(card.ovr).st_mode & 0o777) == "0o755"
    assert all(oct(os.stat(os.path.join(card.ovr, n)).st_mode & 0o777) == "0o644"
               for n in card.override())

    # The box's loader takes them in front of the pack.
    p = subprocess.run([CHECK, f"{card.ovr}:{PROMPTS}"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    src = {line.split(" ")[0]: line.split(" ", 3)[3] for line in p.stdout.splitlines()}
    assert src["welcome"] == os.path.join(card.ovr, "welcome.wav")
    assert src["saved"] == os.path.join(card.ovr, "saved.opus")
    assert src["goodbye"] == os.path.join(PROMPTS, "goodbye.opus")

    # Unchanged: nothing copied again.
    ino = os.stat(card.ovr).st_ino
    out = card.boot_up()
    assert os.stat(card.ovr).st_ino == ino and "installed" not in out and "as before" in out
    # What is left out is said on the console again, but not logged again.
    assert "log: diaryroom-prompts/welcom.wav" in out and "plog" not in out, out

    # One phrase changed, one taken away: the override follows the card.
    os.unlink(os.path.join(card.src, "saved.wav"))
    card.put("beep.opus", open(os.path.join(PROMPTS, "saved.opus"), "rb").read())
    card.boot_up()
    assert sorted(card.override()) == ["beep.opus", "saved.opus", "welcome.wav"]
    assert card.override()["beep.opus"] != beep

    # A power cut between the two renames of the last update, then a boot
    # with the boot partition unreadable: the old override is back whole.
    before = card.override()
    os.rename(card.ovr, card.ovr + ".old")
    os.makedirs(card.ovr + ".new")
    with open(os.path.join(card.ovr + ".new", "beep.opus"), "wb") as f:
        f.write(b"half")
    out = card.boot_up(readable=False)
    assert "cannot read the boot partition" in out
    assert card.override() == before
    assert not os.path.exists(card.ovr + ".old") and not os.path.exists(card.ovr + ".new")

    # The folder taken off the card: the built-in voice again.
    shutil.rmtree(card.src)
    out = card.boot_up()
    assert card.override() == {} and "built-in voice" in out

    # Still no folder, and none installed (a box at most starts): nothing
    # done and nothing said; the override folder is there, empty.
    out = card.boot_up()
    assert card.override() == {} and os.path.isdir(card.ovr) and "log:" not in out, out


if __name__ == "__main__":
    run([test_phrases_from_the_boot_partition])
