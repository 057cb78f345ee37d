# SPDX-License-Identifier: MIT
"""Power cuts on the emulated board: QEMU is killed in the middle of a
recording (the second time a video: vivid through the real V4L2 driver) and
the box booted again; the recording is recovered at start-up
with at most 0.5 s of what the microphone had heard lost (and, for the
video, of the picture: its last frame kept within 0.5 s and a frame of the
cut; it passes ffprobe -v warning silently). Each cut is aimed
at a flush the guest sends to its disk (tools/emulate's FlushCut: the n-th
FLUSH after arming is never done, and QEMU is killed there), and the loss
and its margin to 0.5 s are printed and kept in
build/<preset>/test-records/margins.jsonl.

What a cut loses here is what a real one loses: the guest's RAM (page
cache included) goes with QEMU, and the system disk is served by
tools/emulate's NBD server, which keeps every write since the guest's last
flush in a volatile cache and drops it when QEMU dies (firmware/README.md,
"Power cuts"). The first cut loses the whole cache; the second writes a
random half of it, in no order (a disk that had started writing back), which
the ext4 journal and the recorder's own flushes must survive too.

"Heard" is measured against the guest's clock: the cut happened at most at
(guest time from the agent) + (host time from asking to the kill) + 10 ms
(the uptime's resolution), so the loss is, if anything, overestimated.

After the first cut the disk is made bigger (as an SD card bigger than the
image is): at that boot the initramfs grows the data partition and its file
system to the end of the disk, after replaying the journal and before the
recording cut off is recovered.

At the end the daemon is frozen (SIGSTOP, as a hung event loop): its
heartbeat stops and the watchdog script kills it, init starts it again. Then
the box's watchdog script itself is frozen: nothing feeds the hardware
watchdog, which must reset the box."""
import os
import random
import time

import emutest
from emutest import RATE, check_recording, drtest, log, new_box

MAX_LOSS_S = 0.5
GROW_MB = 256  # the disk grows by this much before the second recovery boot
TEXT = ("Every morning I wake up and wonder whether today will be different. "
        "Nobody asked us before what we thought of the place. ") * 2


def check_unflushed_writes_are_lost(emu):
    """The model has teeth: in the unused gap before the first partition,
    one block is written and flushed (fsync on the disk: a FLUSH), another
    written to the disk without a flush (blockdev --flushbufs: written
    back, not flushed). After the cut the first is on the disk image and
    the second is not."""
    find = 'for d in /sys/block/vd*; do [ "$(cat $d/serial)" = system ] && disk=/dev/${d##*/}; done; '
    put = "printf {} | dd of=$disk bs=512 seek={} count=1 conv=sync,notrunc status=none"
    rc, out = emu.shell(find + put.format("flushed", 1024) + " && sync $disk && " +
                        put.format("unflushed", 1032) + " && blockdev --flushbufs $disk")
    assert rc == 0, out
    emu.power_cut()
    with open(emu.disk, "rb") as f:
        f.seek(1024 * 512)
        kept = f.read(16)
        f.seek(1032 * 512)
        lost = f.read(16)
    log(f"after the cut: flushed block {kept!r}, unflushed block {lost!r}")
    assert kept.startswith(b"flushed"), "a flushed write did not survive the cut"
    assert lost == bytes(16), "a write the disk was never told to flush survived the cut"


def grow_disk(emu):
    """A bigger card: the disk image gets GROW_MB more at its end (the box
    is off). Returns the data partition's size before, in bytes."""
    _, before = emu.data_partition()
    os.truncate(emu.disk, os.path.getsize(emu.disk) + (GROW_MB << 20))
    return before


def data_kb(emu):
    """The size of /data's file system (df, KiB)."""
    rc, out = emu.shell("df -k /data | tail -1")
    assert rc == 0, out
    return int(out.split()[1])


def check_data_grown(emu, part_before, kb_before):
    """The initramfs grew partition 3 to the disk's end and the ext4 on it;
    what was on it is checked later (the recovered recording, e2fsck).
    Returns how many grow steps this boot logged (once each)."""
    con = emu.console()
    assert "growing the data partition" in con and "data file system grown" in con, \
        "the initramfs did not grow the data partition:\n" + emu.tail()
    _, part = emu.data_partition()
    kb = data_kb(emu)
    log(f"data grown: partition {part_before >> 20} -> {part >> 20} MiB, df {kb_before >> 10} -> "
        f"{kb >> 10} MiB; " + [line for line in con.splitlines() if "data file system grown" in line][0].strip())
    assert part == part_before + (GROW_MB << 20), (part_before, part)
    assert kb - kb_before > (GROW_MB - 16) << 10, (kb_before, kb)
    return con.count("growing the data")


def check_hung_daemon_is_restarted(emu):
    """A daemon whose event loop hangs (frozen here with SIGSTOP) stops
    its heartbeat; the watchdog script kills it and init starts it again."""
    before = emu.events()
    rc, out = emu.shell("cat /run/diaryroom/daemon.pid")
    assert rc == 0, out
    pid = int(out.split()[0])
    rc, out = emu.shell(f"kill -STOP {pid}")
    assert rc == 0, out
    t0 = time.monotonic()
    ready = emu.wait_for("ready", since=len(before), timeout=120)
    took = time.monotonic() - t0
    assert ready["pid"] != pid, ready
    assert f"diaryroomd (pid {pid}) is hung" in emu.console(), emu.tail()
    rc, out = emu.shell("cat /data/log/watchdog.log")
    assert rc == 0 and f"(pid {pid}) is hung" in out, out
    log(f"hung daemon (pid {pid}) killed and restarted (pid {ready['pid']}) in {took:.1f} s")
    emu.wait_agent()


def check_watchdog_resets_a_hung_box(emu):
    """The hardware watchdog (an i6300esb on the emulated board): when
    nothing feeds it (here its feeder, the watchdog script, is frozen, as if
    user space had locked up), the board resets and comes back by itself."""
    before = emu.events()
    boots = emu.console().count("rcS: diaryroom")
    rc, out = emu.shell("kill -STOP $(cat /run/diaryroom/watchdog.pid)")
    assert rc == 0, out
    ready = emu.wait_for("ready", since=len(before), timeout=180)
    assert emu.console().count("rcS: diaryroom") > boots, "no reset, yet a new ready?"
    log(f"watchdog reset the box; ready again at guest {ready['t_us'] / 1e6:.1f} s")
    emu.wait_agent()


def cut_while_recording(emu, mic, rng, video=False):
    """The cut is aimed at a flush: the disk server holds the n-th FLUSH the
    guest sends after about 2 s of recording (the recorder's syncs, every
    300 ms, and the journal commits they cause), and QEMU is killed there,
    so everything written since the previous flush is lost: the worst point
    for the promise. The server's log proves where it landed."""
    emu.press()
    if video:  # "filmed as well?": yes (vivid, opened when it appeared after ready)
        emu.wait_for("prompt", name="ask_camera", timeout=60)
        time.sleep(0.3)
        emu.press()
    started = emu.wait_for("recording_started", timeout=120)
    assert (started.get("media") == "video") == video, started
    emu.play(mic)
    time.sleep(rng.uniform(1.5, 2.5))
    n = rng.randint(2, 8)
    guest_now, asked = emu.now()
    emu.cut_at_flush(n)
    t_flush, count, unflushed = emu.wait_cut(timeout=60)
    t_cut = emu.power_cut()
    assert count == n, f"aimed at flush #{n}, cut at #{count}"
    assert unflushed > 0, f"flush #{n} had nothing to make durable: not a recorder's sync"
    guest_cut = guest_now + 0.01 + (t_cut - asked)
    heard = guest_cut - started["t_us"] / 1e6
    disk = [line for line in emu.disk_log().splitlines()
            if line.startswith(("connection", "cut at flush"))]
    log(f"cut {heard:.2f} s into recording {started['id']} at flush #{n} "
        f"({(t_cut - t_flush) * 1000:.0f} ms after it came, lose={emu.lose}); disk: {disk[-2:]}")
    return started["id"], heard


def test_power_cuts_while_recording():
    rng = random.Random(20261122)
    emu = new_box("emulated-powercut", seed=7)
    try:
        mic = drtest.speak(os.path.join(emu.run, "testimony.wav"), TEXT, pad=(0.2, 0.0))
        speech, _ = drtest.read_wav(mic)
        cuts = []
        modes = ("all", "some")
        emu.lose = modes[0]  # the disk's behaviour is set when QEMU starts
        # provisioned for the tests' organisation: the box seals every
        # recording to it, and check_recording opens them with its key
        emu.provision(drtest.test_box_keys(os.path.join(emu.run, "box-keys")))
        emu.boot(timeout=300)
        emu.wait_agent()
        kb_before = data_kb(emu)
        check_unflushed_writes_are_lost(emu)
        emu.boot(timeout=300)
        emu.wait_agent()
        grown = None
        for i in range(len(modes)):
            cuts.append(cut_while_recording(emu, mic, rng, video=i == 1))
            part_before = grow_disk(emu) if i == 0 else None
            # back on: recovery runs before "ready"
            emu.lose = modes[i + 1] if i + 1 < len(modes) else "all"
            emu.boot(timeout=300)
            rec = emu.wait_for("recovered", since=0, id=cuts[-1][0])
            log(f"recovered: {rec}")
            assert rec.get("duration_ms", 0) > 0, rec
            emu.wait_agent()
            if part_before is not None:
                grown = check_data_grown(emu, part_before, kb_before)
            else:
                assert "growing the data" not in emu.console(), "grown again"
        assert grown == 2, "partition and file system each grown once"
        check_hung_daemon_is_restarted(emu)
        check_watchdog_resets_a_hung_box(emu)
        emu.poweroff()

        data = emu.fetch_data(os.path.join(emu.run, "data"))
        rows = {r["id"]: r for r in emutest.catalogue(data)}
        worst = 0.0
        for rec_id, heard in cuts:
            row = rows[rec_id]
            assert row["state"] == "interrupted", row
            path = os.path.join(data, "diaryroom", row["file"])
            assert os.path.getsize(path) == row["size_bytes"], row
            if row["media"] == "video":
                # opened with the organisation's key to its last whole Cluster
                decoded, lag, env, frames, last = emutest.check_video(drtest.open_sealed(path), speech,
                                                                      min_env=0.85)
                log(f"{rec_id}: a video, {frames} frames kept, the last at {last:.3f} s; "
                    f"picture lost {heard - last:.3f} s")
                assert heard - last <= MAX_LOSS_S + 1 / 15, f"a power cut lost {heard - last:.3f} s of picture"
            else:
                decoded, lag, env, _ = check_recording(path, speech, min_env=0.85)
            kept = len(decoded) / RATE
            loss = heard - kept
            worst = max(worst, loss)
            log(f"{rec_id}: heard {heard:.3f} s, kept {kept:.3f} s, lost {loss:.3f} s "
                f"(margin {MAX_LOSS_S - loss:+.3f} s)")
            assert loss <= MAX_LOSS_S, f"a power cut lost {loss:.3f} s of audio (at most {MAX_LOSS_S})"
            assert kept <= heard + 0.05, "kept more than the microphone heard?"
            assert abs(row["duration_ms"] / 1000 - kept) < 0.03, row
        emutest.write_result("power_cut", {"worst_loss_s": round(worst, 3), "cuts": len(cuts)})
        drtest.record_margin("emulated_power_cut", MAX_LOSS_S, worst, cuts=len(cuts))
        for r in rows.values():
            assert r["state"] in ("complete", "interrupted", "discarded"), r
        emutest.fsck_clean(emu)
    finally:
        if emu.running():
            log(emu.tail())
            emu.power_cut()


if __name__ == "__main__":
    drtest.run([test_power_cuts_while_recording])
