# SPDX-License-Identifier: MIT
"""Every board folder in board/ is one the daemon accepts (`diaryroomd
--check`), and the Pi boards' [camera] is what an installer can use:

- as shipped, no camera (backend = none: sound only, nobody asked), with
  the camera light on a line of the [lights] chip that no other part of the
  board uses;
- the camera the board file's comment tells an installer to add on the SD
  card image's kernel command line (dr.set=camera.backend=v4l2
  dr.set=camera.device=bus:...) is accepted too, and so is a name in
  /dev/v4l/by-id (Raspberry Pi OS);
- what they said before, device = /dev/video0 with the v4l2 backend, is
  refused (its number depends on the order devices appear in).

Under a second (no camera is opened by --check)."""
import configparser
import os
import re
import subprocess

from drtest import DAEMON, SRC, log, run

PI_BOARDS = ("rpi4", "rpi5", "rpizero2w")


def check(board, *sets):
    args = [DAEMON, "--board", os.path.join(SRC, "board", board), "--check"]
    for s in sets:
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True)


def conf(board):
    c = configparser.ConfigParser(inline_comment_prefixes=None, interpolation=None)
    c.read(os.path.join(SRC, "board", board, "board.conf"))
    return c


def test_every_board_file_is_accepted():
    boards = sorted(b for b in os.listdir(os.path.join(SRC, "board"))
                    if os.path.exists(os.path.join(SRC, "board", b, "board.conf")))
    assert set(PI_BOARDS) | {"host", "qemu-virt"} <= set(boards), boards
    for b in boards:
        p = check(b)
        log(f"{b}: {p.stderr.strip()}")
        assert p.returncode == 0, f"board {b} refused: {p.stderr}"


def test_pi_cameras():
    for b in PI_BOARDS:
        c = conf(b)
        cam = c["camera"]
        assert cam.get("backend") == "none", f"{b}: a camera as shipped: {dict(cam)}"
        light = cam.get("light")
        used = {c["button"]["line"], c["lights"]["main"], c["lights"].get("recording")}
        assert light and light not in used, f"{b}: the camera light {light} is on a used line {used}"
        text = open(os.path.join(SRC, "board", b, "board.conf")).read()
        m = re.search(r"dr\.set=camera\.backend=v4l2 dr\.set=camera\.device=(\S+)", text)
        assert m and m.group(1).startswith("bus:usb-"), f"{b}: no kernel command line example"
        for dev in (m.group(1), "usb-046d_HD_Webcam_C270_200901010001-video-index0"):
            p = check(b, "camera.backend=v4l2", f"camera.device={dev}")
            log(f"{b}, camera {dev}: {p.stderr.strip()}")
            assert p.returncode == 0, f"{b}: the camera {dev} refused: {p.stderr}"
        p = check(b, "camera.backend=v4l2", "camera.device=/dev/video0")
        assert p.returncode != 0 and "not its number" in p.stderr, p.stderr


if __name__ == "__main__":
    run([test_every_board_file_is_accepted, test_pi_cameras])
