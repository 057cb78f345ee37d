# SPDX-License-Identifier: MIT
"""The Raspberry Pi images are flashable as built: firmware/build-image rpi4
and rpizero2w put the Pi's boot firmware on the boot partition, from
Debian's raspi-firmware package (non-free-firmware), with its licence.

For each board the image is built (the aarch64 app from the shared build,
the packages from the shared cache), then the boot partition is read back
out of disk.img, the file that gets flashed, with mtools, and:

  - every firmware file the board's boot ROM loads is there (Pi 4:
    start4.elf, fixup4.dat; Zero 2 W: bootcode.bin, start.elf, fixup.dat),
    with the size the package's data archive gives and the MD5 the
    package's own md5sums lists;
  - the package is the one Debian's archive publishes: its SHA256 is what
    apt gives through the build's own apt configuration (which names
    non-free-firmware; checked against the archive's signed InRelease);
  - the licence (the package's copyright file) is there, whole;
  - the kernel, initramfs, device tree, config.txt and cmdline.txt are
    there; FIRMWARE-MISSING.txt is not;
  - --pi-firmware DIR naming a folder without the files stops the build at
    once, saying which files are missing; with the files, the boot
    partition holds the folder's files and its LICENCE.broadcom instead.

The Zero 2 W image stays in the build folder for emulated_pi_boot."""
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("DR_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("DR_BUILD_DIR", os.path.join(SRC, "build", "host"))
APP = os.environ.get("DR_EMULATED_APP") or os.path.join(SRC, "build", "aarch64")
CACHE = os.path.join(SRC, "build", "firmware", "cache")
MTOOLS_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1")

BOARDS = {
    "rpi4": ["start4.elf", "fixup4.dat"],
    "rpizero2w": ["bootcode.bin", "start.elf", "fixup.dat"],
}
BOOT_FILES = {
    "rpi4": ["vmlinuz", "initrd.img", "bcm2711-rpi-4-b.dtb", "config.txt", "cmdline.txt"],
    "rpizero2w": ["vmlinuz", "initrd.img", "bcm2837-rpi-zero-2-w.dtb", "config.txt", "cmdline.txt"],
}


def log(*a):
    print(*a, flush=True)


def build(board, *extra, out=None):
    out = out or os.path.join(BUILD, "firmware", board)
    t = time.monotonic()
    p = subprocess.run([sys.executable, os.path.join(SRC, "firmware", "build-image"), board, "--out", out,
                        "--app", APP, "--no-app-build"] + list(extra), capture_output=True, text=True)
    log(f"build-image {board} {' '.join(extra)}: rc {p.returncode} in {time.monotonic() - t:.0f} s")
    return p, out


def boot_partition(disk):
    """The boot partition's files, read out of the disk image."""
    with open(disk, "rb") as f:
        mbr = f.read(512)
    assert mbr[510:512] == b"\x55\xaa", f"{disk}: no MBR"
    ptype = mbr[446 + 4]
    assert ptype == 0x0C, f"{disk}: partition 1 has type {ptype:#x}, not FAT32 LBA (0x0c) as the Pi's ROM wants"
    lba = int.from_bytes(mbr[446 + 8: 446 + 12], "little")
    fat = f"{disk}@@{lba * 512}"
    p = subprocess.run(["mdir", "-b", "-i", fat, "::"], capture_output=True, text=True, env=MTOOLS_ENV)
    assert p.returncode == 0, p.stderr
    names = sorted(os.path.basename(line.rstrip("/")) for line in p.stdout.splitlines() if line.strip())
    return fat, names


def read_boot_file(fat, name):
    p = subprocess.run(["mtype", "-i", fat, "::" + name], capture_output=True, env=MTOOLS_ENV)
    assert p.returncode == 0, p.stderr
    return p.stdout


def deb_members(deb):
    """(md5sums of the package: path -> md5, data: path -> bytes) of a .deb."""
    ctrl = subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb], capture_output=True, check=True).stdout
    md5 = {}
    with tarfile.open(fileobj=io.BytesIO(ctrl)) as t:
        for m in t.getmembers():
            if os.path.basename(m.name) == "md5sums":
                for line in t.extractfile(m).read().decode().splitlines():
                    h, _, path = line.partition("  ")
                    md5["/" + path.strip()] = h
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True).stdout
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t.getmembers():
            if m.isfile():
                files[m.name.lstrip(".")] = t.extractfile(m).read()
    return md5, files


def archive_sha256(package):
    """What Debian's archive says the package's SHA256 is, asked through the
    build's own apt configuration (build/firmware/cache/apt-non-free-firmware)."""
    d = os.path.join(CACHE, "apt-non-free-firmware")
    opts = ["-o", f"Dir::Etc::SourceList={d}/sources.list", "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State::Lists={d}/lists", "-o", f"Dir::Cache={d}/cache"]
    with open(os.path.join(d, "sources.list")) as f:
        src = f.read()
    assert "non-free-firmware" in src and "signed-by=" in src, src
    p = subprocess.run(["apt-get"] + opts + ["download", "--print-uris", package], capture_output=True, text=True)
    m = re.search(r"^'(\S+)' (\S+) (\d+) SHA256:([0-9a-f]+)", p.stdout, re.M)
    assert p.returncode == 0 and m, p.stderr
    return m.group(2), m.group(4)


def check_board(board):
    p, out = build(board)
    assert p.returncode == 0, p.stdout + p.stderr
    with open(os.path.join(out, "image.json")) as f:
        info = json.load(f)
    fw = info["pi_firmware"]
    assert fw and fw.get("package", "").startswith("raspi-firmware_"), fw
    assert fw.get("apt", "").endswith("non-free-firmware"), fw

    deb = os.path.join(CACHE, "debs", fw["package"])
    fname, sha = archive_sha256("raspi-firmware")
    assert fname == fw["package"], f"the archive offers {fname}, the image took {fw['package']}"
    h = hashlib.sha256(open(deb, "rb").read()).hexdigest()
    assert h == sha == fw["sha256"], f"{deb}: SHA256 {h}, archive {sha}, image.json {fw['sha256']}"
    md5, files = deb_members(deb)

    fat, names = boot_partition(os.path.join(out, "disk.img"))
    log(f"{board}: boot partition: {' '.join(names)}")
    assert "FIRMWARE-MISSING.txt" not in names, names
    for n in BOOT_FILES[board]:
        assert n in names, f"{board}: no {n} on the boot partition"
    for n in BOARDS[board]:
        assert n in names, f"{board}: the boot firmware {n} is not on the boot partition"
        path = "/usr/lib/raspi-firmware/" + n
        got = read_boot_file(fat, n)
        assert len(got) == len(files[path]), f"{board}: {n}: {len(got)} bytes, the package has {len(files[path])}"
        assert hashlib.md5(got).hexdigest() == md5[path], f"{board}: {n}: MD5 differs from the package's md5sums"
        log(f"{board}: {n}: {len(got)} bytes, MD5 {md5[path]} as in {fw['package']}")
    lic = read_boot_file(fat, "LICENCE.raspi-firmware")
    want = files["/usr/share/doc/raspi-firmware/copyright"]
    assert lic == want, f"{board}: LICENCE.raspi-firmware is not the package's copyright file"
    assert b"Broadcom" in lic, "the licence does not name Broadcom's terms"
    return out


def check_override_refused():
    empty = os.path.join(BUILD, "test-tmp", "no-pi-firmware")
    os.makedirs(empty, exist_ok=True)
    p, _ = build("rpizero2w", "--pi-firmware", empty, out=os.path.join(BUILD, "test-tmp", "unused-image"))
    assert p.returncode != 0, "built with an empty --pi-firmware folder"
    assert "no bootcode.bin, start.elf, fixup.dat" in p.stderr, p.stderr
    assert "kernel" not in p.stdout, f"the missing firmware was noticed only after the packages:\n{p.stdout}"


def check_override():
    """--pi-firmware DIR: the boot partition holds DIR's files (here not the
    package's bytes, so where they came from shows) and its licence, not
    the package's."""
    d = os.path.join(BUILD, "test-tmp", "pi-firmware-override")
    os.makedirs(d, exist_ok=True)
    mine = {n: f"{n} from an organisation's own folder\n".encode() for n in BOARDS["rpi4"] + ["LICENCE.broadcom"]}
    for n, data in mine.items():
        with open(os.path.join(d, n), "wb") as f:
            f.write(data)
    p, out = build("rpi4", "--pi-firmware", d, out=os.path.join(BUILD, "test-tmp", "rpi4-override"))
    assert p.returncode == 0, p.stdout + p.stderr
    fat, names = boot_partition(os.path.join(out, "disk.img"))
    assert "LICENCE.raspi-firmware" not in names, names
    for n, data in mine.items():
        assert read_boot_file(fat, n) == data, f"--pi-firmware: {n} on the boot partition is not the folder's"
    log(f"--pi-firmware: {', '.join(sorted(mine))} from the folder")


def main():
    check_override_refused()
    for board in BOARDS:
        check_board(board)
    check_override()
    log("ok")


if __name__ == "__main__":
    main()
