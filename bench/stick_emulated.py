# SPDX-License-Identifier: MIT
"""The export against cp + sync on a model of a USB stick: the emulated
board's real vfat + usb-storage path (bench/README.md, "emulated_export").

The staff stick's medium is a FAT image on the host, shared into the guest
by virtio-9p with cache=none and QEMU's fsdev throttling (write and read
bytes per second of a typical stick); the guest's USB mass-storage gadget
(dummy_hcd) uses that file as its medium, so the box mounts it as /dev/sda1
through usb-storage, exactly as the emulated board does with a stick. Why
not the stick's virtio disk with block throttling: the gadget reads its
medium through the guest's page cache, so the export's read-back of a file
it just wrote never reached the throttled disk (QEMU's blockstats: 0 bytes
read for a 42 MB export). 9p with cache=none has no page cache: every
gadget read and write goes to the throttled host file."""
import json
import os
import shutil
import statistics

import benchlib as bl

# (name, write bytes/s, read bytes/s): typical published figures for USB
# sticks (10-30 MB/s writing, 30-100+ MB/s reading): a USB 2 stick, and a
# faster USB 3 one. A model of a stick, not a stick.
PROFILES = (("usb2", 10_000_000, 30_000_000), ("usb3", 30_000_000, 100_000_000))

STICK = "/run/diaryroom/stick"
GUEST_SH = r"""
up() { cut -d' ' -f1 /proc/uptime; }
# the stick's sectors read and written (/proc/diskstats) and the CPUs'
# busy and idle ticks (/proc/stat), for the lines "stat NAME ..."
dstat() { awk '$3 == "sda" {print $6, $10}' /proc/diskstats; }
cstat() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }
timed() { # timed NAME CMD...: runs CMD, prints "NAME <seconds> <status>"
	name=$1; shift
	sync; d0=$(dstat); c0=$(cstat); t0=$(up)
	"$@" >/run/bench-out 2>&1; rc=$?
	t1=$(up); d1=$(dstat); c1=$(cstat)
	echo "$name $(awk "BEGIN{print $t1 - $t0}") $rc"
	echo "stat $name $d0 $d1 $c0 $c1"
	[ $rc -eq 0 ] || cat /run/bench-out
}
cpsync() { mkdir "$2" && cp "$1"/* "$2"/ && sync -f "$2"; }
"""


def guest_script(files_dir, rounds, order_seed=0, against=False):
    """The shell the agent runs for one profile: the medium's own speed
    (dd), then `rounds` rounds of cp + sync and the export, alternating
    which goes first; every copy removed (and synced) after it is timed.
    With `against`, /run/bench_export_b (another build's export) is timed in
    every round too, as export_b."""
    s = [GUEST_SH]
    s.append(f"timed dd_write dd if=/dev/zero of={STICK}/dd bs=1M count=16 conv=fsync")
    s.append(f"timed dd_read dd if={STICK}/dd of=/dev/null bs=1M iflag=direct")
    s.append(f"rm -f {STICK}/dd; sync")
    for r in range(rounds):
        steps = [f"timed cp_sync_{r} cpsync {files_dir}/data/recordings {STICK}/cp{r}",
                 f"timed export_{r} /run/bench_export export {files_dir} {STICK}/ex{r}",
                 f"timed copy_{r} /run/bench_export copy {files_dir} {STICK}/co{r}",
                 f"timed copy_verify_{r} /run/bench_export copy {files_dir} {STICK}/cv{r} --verify"]
        if against:
            steps.insert(2, f"timed export_b_{r} /run/bench_export_b export {files_dir} {STICK}/eb{r}")
        k = (r + order_seed) % len(steps)
        for st in steps[k:] + steps[:k]:
            s.append(st)
            s.append(f"cat /run/bench-out; rm -rf {STICK}/cp{r} {STICK}/ex{r} {STICK}/eb{r} {STICK}/co{r} {STICK}/cv{r}; sync")
    return "\n".join(s) + "\n"


def parse_stats(out):
    """NAME -> (sectors read, sectors written on the stick, CPU busy share)."""
    st = {}
    for line in out.splitlines():
        p = line.split()
        if len(p) == 10 and p[0] == "stat":
            r0, w0, r1, w1, b0, i0, b1, i1 = map(int, p[2:])
            busy, idle = b1 - b0, i1 - i0
            st[p[1]] = (r1 - r0, w1 - w0, busy / (busy + idle) if busy + idle else 0.0)
    return st


def parse(out):
    res = {}
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3 and p[2].lstrip("-").isdigit():
            try:
                res[p[0]] = (float(p[1]), int(p[2]))
            except ValueError:
                pass
    return res


def run_phase(ctx, emulate, image, aarch64_build, log):
    """Boots the emulated board once with one throttled stick per profile
    and emits emulated_export.<profile>.* figures."""
    a = ctx.args
    prog = os.path.join(aarch64_build, "bench", "bench_export")
    if not os.path.exists(prog):
        ctx.skip("emulated_export", f"no aarch64 bench_export in {aarch64_build} "
                 "(cmake --build BUILD --target bench_export)")
        return
    files, mib, rounds = a.emulated_export_files, a.emulated_export_mib, a.emulated_export_rounds
    rundir = ctx.tmp("emulated-export")

    class StickEmulator(emulate.Emulator):
        def qemu_argv(self, console=None):
            argv = super().qemu_argv(console)
            for name, w, r in PROFILES:
                argv += ["-fsdev", f"local,id=stick_{name},path={self.path('stick-' + name)},"
                         f"security_model=none,throttling.bps-write={w},throttling.bps-read={r}",
                         "-device", f"virtio-9p-device,fsdev=stick_{name},mount_tag=stick_{name}"]
            return argv

    emu = StickEmulator(image=image, run=rundir, fresh=True)
    for name, _, _ in PROFILES:
        os.makedirs(emu.path("stick-" + name), exist_ok=True)
        emulate.make_stick(emu.path(f"stick-{name}/stick.img"))
    shutil.copy(prog, os.path.join(emu.share, "bench_export"))
    against = a.emulated_export_against
    if against:
        shutil.copy(against, os.path.join(emu.share, "bench_export_b"))
    done = False
    results = {}
    try:
        emu.boot(timeout=600)
        emu.wait_agent()
        cp_b = (" && cp /mnt/host/bench_export_b /run/bench_export_b && chmod 755 /run/bench_export_b"
                if against else "")
        rc, out = emu.shell("cp /mnt/host/bench_export /run/bench_export && chmod 755 /run/bench_export"
                            + cp_b +
                            f" && /run/bench_export prepare /data/bench-export --files {files} --mib {mib}"
                            " && sync", timeout=600)
        if rc != 0:
            raise RuntimeError(f"bench_export prepare in the guest failed: {out}")
        nbytes = bl.one_json(out, "prepare")["bytes"]
        for i, (name, w, r) in enumerate(PROFILES):
            mnt = f"/run/stick-{name}"
            rc, out = emu.shell(f"mkdir -p {mnt} && mount -t 9p -o trans=virtio,cache=none,msize=262144 "
                                f"stick_{name} {mnt} && echo {mnt}/stick.img >/run/diaryroom/stick-backing")
            if rc != 0:
                raise RuntimeError(f"cannot mount the {name} stick's share: {out}")
            state = emu.stick_insert()
            if not state.startswith("mounted="):
                raise RuntimeError(f"the {name} stick was not mounted: {state}")
            with open(os.path.join(emu.share, "stickbench.sh"), "w") as f:
                f.write(guest_script("/data/bench-export", rounds, i, bool(against)))
            log(f"  {name}: write {w / 1e6:g} MB/s, read {r / 1e6:g} MB/s; {rounds} rounds")
            rc, out = emu.shell("sh /mnt/host/stickbench.sh", timeout=3600)
            res = parse(out)
            bad = [k for k, (_, st) in res.items() if st != 0]
            steps = 5 if against else 4
            if rc != 0 or bad or len(res) != 2 + steps * rounds:
                raise RuntimeError(f"the {name} stick's rounds failed ({bad}): {out}")
            copies = [json.loads(line) for line in out.splitlines() if line.startswith('{"program": ')]
            if len(copies) != (steps - 1) * rounds or any(c["files"] != files or c["bytes"] != nbytes for c in copies):
                raise RuntimeError(f"the {name} stick's exports and copy loops did not copy everything: "
                                   f"{copies}")
            results[name] = (w, r, res, parse_stats(out))
            log("  " + ", ".join(f"{k} {v[0]:.2f} s" for k, v in res.items()))
            log("  " + ", ".join(f"{k}: read {rd * 512 / 1e6:.1f} MB, wrote {wr * 512 / 1e6:.1f} MB, "
                                 f"CPUs {b:.0%} busy" for k, (rd, wr, b) in results[name][3].items()))
            emu.stick_remove()
            emu.shell(f"umount {mnt}")
        emu.poweroff(timeout=180)
        done = True
    finally:
        if emu.running():
            emu.power_cut()
        if done:
            shutil.rmtree(rundir, ignore_errors=True)
        else:
            log(f"  the console and event logs are in {rundir}")
    how = (f"the emulated board (tools/emulate, qemu-system-aarch64 TCG, {emu.smp} CPUs): "
           f"{files} files x {mib} MiB of random bytes ({nbytes:,} bytes; a 10-minute testimony "
           "at 32 kbit/s is 2.4 MB) in a data folder on /data (bench_export prepare), copied "
           "onto the staff stick mounted by the box (vfat over usb-storage over dummy_hcd, "
           "a mass-storage gadget whose medium is a FAT image shared by virtio-9p, cache=none, "
           "QEMU fsdev throttling); times from the guest's /proc/uptime (10 ms) around each "
           "command after a sync; every copy removed and synced after it; the methods "
           "go in a different order each round")
    emit_figures(ctx.emit, results, how, rounds, against)


def emit_figures(emit, results, how, rounds, against=None):
    """results: model -> (write B/s, read B/s, parse(), parse_stats())."""
    for name, (w, r, res, st) in results.items():
        p = f"emulated_export.{name}."
        model = f"; stick model {name}: throttled to {w / 1e6:g} MB/s write, {r / 1e6:g} MB/s read"
        cp = [res[f"cp_sync_{k}"][0] for k in range(rounds)]
        ex = [res[f"export_{k}"][0] for k in range(rounds)]
        if against:
            eb = [res[f"export_b_{k}"][0] for k in range(rounds)]
            what = (f"; export_b: {against} (--emulated-export-against), timed in the same rounds")
            emit(bl.figure(p + "export_b.seconds", statistics.median(eb), "s", how + model + what,
                           n=rounds, runs=[round(x, 3) for x in eb]))
            emit(bl.figure(p + "export_b.ratio_to_cp_sync",
                           statistics.median([x / c for x, c in zip(eb, cp)]), "x",
                           how + model + what + "; median of export_b / cp + sync, same round",
                           n=rounds))
            emit(bl.figure(p + "export_b.ratio_to_export",
                           statistics.median([x / e for x, e in zip(eb, ex)]), "x",
                           how + model + what + "; median of export_b / the build's export, "
                           "same round", n=rounds, pairs=[round(x / e, 4) for x, e in zip(eb, ex)]))
        for meth, key, what in (
                ("copy", "copy", "bench_export copy: a plain loop, read/write 1 MiB, fdatasync "
                 "per file (the export's per-file sync, no read-back, no hash)"),
                ("copy_verify", "copy_verify", "bench_export copy --verify: the plain loop plus "
                 "the pages dropped, the file read back (O_DIRECT) and BLAKE2b-256, one file "
                 "after the other")):
            v = [res[f"{key}_{k}"][0] for k in range(rounds)]
            emit(bl.figure(p + meth + ".seconds", statistics.median(v), "s", how + model + "; "
                               + what, n=rounds, runs=[round(x, 3) for x in v]))
            emit(bl.figure(p + meth + ".ratio_to_cp_sync",
                               statistics.median([x / c for x, c in zip(v, cp)]), "x",
                               how + model + "; median over the rounds of " + meth
                               + " / cp + sync of the same round", n=rounds))
        pairs = [e / c for e, c in zip(ex, cp)]
        emit(bl.figure(p + "dd_write_mb_per_s", 16 * 1.048576 / res["dd_write"][0], "MB/s",
                           how + model + "; dd if=/dev/zero bs=1M count=16 conv=fsync to a file on "
                           "the stick: the medium's write speed as the box sees it"))
        emit(bl.figure(p + "dd_read_mb_per_s", 16 * 1.048576 / res["dd_read"][0], "MB/s",
                           how + model + "; dd iflag=direct bs=1M of that file: the medium's read "
                           "speed as the box sees it (O_DIRECT: from the device)"))
        emit(bl.figure(p + "cp_sync.seconds", statistics.median(cp), "s",
                           how + model + "; busybox cp of the files into a new folder on the "
                           "stick, then sync -f", n=rounds, runs=[round(x, 3) for x in cp]))
        emit(bl.figure(p + "export_verify.seconds", statistics.median(ex), "s",
                           how + model + "; bench_export export (the box's export code, "
                           "dr_export_begin/step: written, written out (sync_file_range), pages dropped, read back "
                           "with O_DIRECT, BLAKE2b against the catalogue, renamed, synced; the "
                           "signed manifest) to a new folder on the stick", n=rounds,
                           runs=[round(x, 3) for x in ex]))
        for meth, key in (("cp_sync", "cp_sync"), ("export_verify", "export"), ("copy", "copy"),
                          ("copy_verify", "copy_verify")):
            rd = [st[f"{key}_{k}"][0] * 512 for k in range(rounds)]
            wr = [st[f"{key}_{k}"][1] * 512 for k in range(rounds)]
            busy = [st[f"{key}_{k}"][2] for k in range(rounds)]
            emit(bl.figure(p + meth + ".stick_read_bytes", statistics.median(rd), "bytes",
                               how + model + "; bytes the box read from the stick (/dev/sda, "
                               "/proc/diskstats) during it: the read-back reaches the device",
                               n=rounds, runs=rd))
            emit(bl.figure(p + meth + ".stick_written_bytes", statistics.median(wr), "bytes",
                               how + model + "; bytes the box wrote to the stick (/proc/diskstats)",
                               n=rounds, runs=wr))
            emit(bl.figure(p + meth + ".guest_cpu_busy", statistics.median(busy), "share",
                               how + model + "; the guest's CPUs busy (not idle or waiting for "
                               "I/O; /proc/stat) during it, of 2", n=rounds,
                               runs=[round(x, 3) for x in busy]))
        emit(bl.figure(p + "export_verify.ratio_to_cp_sync", statistics.median(pairs), "x",
                           how + model + "; median over the rounds of export / cp + sync of the "
                           "same round", n=rounds, pairs=[round(x, 4) for x in pairs]))
