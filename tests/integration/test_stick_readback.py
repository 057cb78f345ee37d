# SPDX-License-Identifier: MIT
"""A copy read back wrong from the stick is not counted as exported, and the
retry path works.

The export (diaryroom-stick insert, the dr_export code the box runs) writes
each (sealed) recording to <id>.opus.sealed.tmp on the stick, reads it back and compares its
hash before counting it. Here the stick "returns different bytes": strace
overwrites the first bytes of what read(2) returned from one recording's
.opus.sealed.tmp (`-e inject=read:poke_exit=@arg2=...`, `-P` that file only), so
the copy on the stick is right but reads back wrong, as a failing stick's
would.

1. Every read-back of that copy wrong (`when=1+`): the copy and its retry
   are both refused; the export says so (one failed); the recording is not
   marked exported, not in the manifest, not on the stick; the archive does
   not get it; the receipt the office writes deletes the other one from the
   box and not this one.
2. The next insert (the stick now reads its first read-back of that copy
   wrong, then right: `when=1`): the retry within the run recovers it; it is
   exported, verified, collected, and only then deleted from the box.

The trace shows every corrupted read landed on that file, with data.

3. The order that keeps a pulled stick honest: each copy is synced under
   its .tmp name before it is renamed to its final name, and the folder
   is synced after (strace -y of every sync and rename of an insert).

Cost: two short recordings, three exports and two collects, and a box of its own with one
export for 3., about 70 s on two cores.
"""
import json
import os
import re
import subprocess

from drtest import blake2b_256, log, run
from test_power_cut import asan_env
from test_stick_export import STICK, World, admin, rows


def device_id(keys):
    """The box's id: the first 8 bytes of its public key, in hex (stickfmt.c)."""
    with open(os.path.join(keys, "device.pub"), "rb") as f:
        return f.read()[:8].hex()


def insert_reading_wrong(w, path, when, trace):
    """diaryroom-stick insert with reads of `path` corrupted (strace when=)."""
    argv = asan_env(["strace", "-f", "-qq", "-o", trace, "-e", "trace=read", "-P", path,
                     "-e", f"inject=read:poke_exit=@arg2=0badc0de0badc0de:when={when}",
                     STICK, "insert", "--data", w.data, "--keys", w.keys, "--stick", w.stick])
    p = subprocess.run(argv, capture_output=True, text=True)
    evs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    log(f"insert (reads of {os.path.basename(path)} wrong, when={when}): rc {p.returncode} "
        f"{p.stderr.strip()}")
    with open(trace) as f:
        lines = f.read().splitlines()
    poked = [line for line in lines if "INJECTED" in line]
    data_reads = [line for line in poked if not line.rstrip().endswith("= 0 (INJECTED: args)")]
    return p.returncode, evs, p.stderr, data_reads


def manifest(w, dev):
    """The manifest's list, opened with the organisation's key (stick format 2)."""
    shown = json.loads(admin("manifest", "--org", w.org, "--stick", w.stick).stdout)
    return {m["id"]: m for m in shown[dev]["recordings"]}


def test_a_copy_read_back_wrong_is_not_exported_and_the_retry_recovers():
    w = World("readback", n_recordings=2, seconds=1.0)
    dev = device_id(w.keys)
    victim, others = w.ids[0], w.ids[1:]
    devdir = os.path.join(w.stick, "DIARYRM", "export", dev)
    tmp = os.path.join(devdir, victim + ".opus.sealed.tmp")
    before = rows(w.data)

    # 1. every read-back of the victim's copy wrong
    rc, evs, err, poked = insert_reading_wrong(w, tmp, "1+", os.path.join(w.dir, "trace1"))
    assert rc == 0, err
    assert len(poked) == 2, f"expected the copy and its retry read back wrong, got {poked}"
    done = [e for e in evs if e["ev"] == "export_done"][0]
    assert (done["files"], done["failed"]) == (1, 1), done
    after = rows(w.data)
    assert after[victim]["exported_utc"] is None and after[victim]["export_seq"] is None, \
        f"a copy that read back wrong was counted as exported: {after[victim]}"
    assert all(after[i]["exported_utc"] for i in others), after
    m = manifest(w, dev)
    assert sorted(m) == sorted(others), f"the manifest lists {sorted(m)}"
    assert not os.path.exists(os.path.join(devdir, victim + ".opus.sealed")), "the bad copy was kept"
    assert not os.path.exists(tmp), "the bad copy's .tmp was left on the stick"

    # the office: the archive gets the other, the receipt deletes only it
    p = w.collect()
    assert "1 imported" in p.stderr, p.stderr
    assert not any(victim in f for _, _, fs in os.walk(w.archive) for f in fs)

    # 2. the next insert: the receipt is applied, and the victim's first
    # read-back is wrong again, its retry right
    rc, evs, err, poked = insert_reading_wrong(w, tmp, "1", os.path.join(w.dir, "trace2"))
    assert rc == 0, err
    assert len(poked) == 1, f"expected one read-back wrong, got {poked}"
    rec = [e for e in evs if e["ev"] == "receipt"][0]
    assert rec["deleted"] == 1, rec
    after = rows(w.data)
    for i in others:
        assert after[i]["state"] == "deleted", after[i]
    assert after[victim]["state"] == "complete", f"deleted without a verified copy: {after[victim]}"
    assert os.path.exists(os.path.join(w.data, "recordings", victim + ".opus.sealed"))
    done = [e for e in evs if e["ev"] == "export_done"][0]
    assert (done["files"], done["failed"]) == (1, 0), f"the retry did not recover: {done}"
    assert after[victim]["exported_utc"], after[victim]
    m = manifest(w, dev)
    assert sorted(m) == [victim], m
    assert blake2b_256(os.path.join(devdir, victim + ".opus.sealed")) == before[victim]["blake2b"]

    # collected, then deleted from the box at the next insert
    p = w.collect()
    assert "1 imported" in p.stderr, p.stderr
    rc, evs, err = w.insert()
    assert rc == 0, err
    assert [e for e in evs if e["ev"] == "receipt"][0]["deleted"] == 1, evs
    assert rows(w.data)[victim]["state"] == "deleted"
    log("a copy read back wrong: not counted, not deleted; the retry (in the run, and at the "
        "next insert) recovered it")


def sync_order(lines, devdir, rid):
    """From an `strace -f -y` trace of an insert, the one thread's calls on
    rid's copy, in order: (call, return value) for each fdatasync or fsync
    of its .tmp, its rename to the final name, and each fsync of the folder
    after that rename."""
    tmp = os.path.join(devdir, rid + ".opus.sealed.tmp")
    seq, pid_of = {}, {}
    for line in lines:
        m = re.match(r"^(\d+)\s+<\.\.\. (\w+) resumed>.*\)\s+=\s+(-?\d+)", line)
        if m:  # a call another thread's line interrupted: its return
            pid, call, ret = m.groups()
            if seq.get(pid) and seq[pid][-1][1] is None and seq[pid][-1][2] == call:
                seq[pid][-1] = seq[pid][-1][:1] + (int(ret), call)
            continue
        m = re.match(r"^(\d+)\s+(\w+)\((.*)$", line)
        if not m:
            continue
        pid, call, rest = m.groups()
        ret = re.search(r"\)\s+=\s+(-?\d+)", rest)
        ret = int(ret.group(1)) if ret else None
        if call in ("fdatasync", "fsync") and f"<{tmp}>" in rest:
            seq.setdefault(pid, []).append((call + " tmp", ret, call))
        elif call in ("renameat", "renameat2") and f'"{rid}.opus.sealed.tmp"' in rest \
                and f'"{rid}.opus.sealed"' in rest:
            seq.setdefault(pid, []).append(("rename", ret, call))
            pid_of[rid] = pid
        elif call == "fsync" and f"<{devdir}>" in rest:
            seq.setdefault(pid, []).append(("fsync folder", ret, call))
    pid = pid_of.get(rid)
    return [(c, ret) for c, ret, _ in seq[pid]] if pid else []


def test_a_copy_is_durable_before_its_final_name_is_on_the_stick():
    """What makes a copy count (its final name) must reach the stick only
    after the copy itself, with its allocation (on FAT its cluster chain and
    size): an fdatasync of the .tmp returning 0, then the rename, then an
    fsync of the folder, all on the thread that verified it. Seen by strace
    on every call the export makes; a rename before the copy's sync would
    leave, after a pull, a final name whose clusters FAT counts as free."""
    w = World("syncorder", n_recordings=2, seconds=1.0)
    dev = device_id(w.keys)
    devdir = os.path.realpath(os.path.join(w.stick, "DIARYRM", "export", dev))
    trace = os.path.join(w.dir, "trace")
    argv = asan_env(["strace", "-f", "-qq", "-y", "-o", trace,
                     "-e", "trace=fdatasync,fsync,renameat,renameat2",
                     STICK, "insert", "--data", w.data, "--keys", w.keys, "--stick", w.stick])
    p = subprocess.run(argv, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    evs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    done = [e for e in evs if e["ev"] == "export_done"][0]
    assert (done["files"], done["failed"]) == (2, 0), done
    with open(trace) as f:
        lines = f.read().splitlines()
    for rid in w.ids:
        seq = sync_order(lines, devdir, rid)
        log(f"{rid}: {seq}")
        names = [c for c, _ in seq]
        assert "rename" in names, f"no rename of {rid}'s copy in the trace"
        r = names.index("rename")
        assert seq[r][1] == 0, seq
        synced = [i for i, (c, ret) in enumerate(seq[:r]) if c.endswith(" tmp") and ret == 0]
        assert synced, f"{rid}'s copy got its final name before it was synced: {seq}"
        after = [c for c, ret in seq[r + 1:] if c == "fsync folder" and ret == 0]
        assert after, f"{rid}'s folder was not synced after its rename: {seq}"
    log("every copy synced under its .tmp name, then renamed, then its folder synced")


if __name__ == "__main__":
    run([test_a_copy_read_back_wrong_is_not_exported_and_the_retry_recovers,
         test_a_copy_is_durable_before_its_final_name_is_on_the_stick])
