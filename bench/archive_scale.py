#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The office archive at scale (issue 11; BENCHMARKS.md "The office archive
at scale" has the method and the figures):

    archive_scale.py --build build/host [--boxes 100] [--per-box 10000]
                     [--recordings 20] [--rounds 3] [--no-valgrind]

1. An archive of BOXES x PER_BOX recordings is seeded through the
   catalogue's interface (bench_archive seed; kept in
   <build>/bench-archive/ and reused), rows only.
2. One staff stick from a real seeded box: RECORDINGS recordings of 60 s of
   speech-like sound, alternately consented and locked.
3. Timed (wall clock, ROUNDS rounds, back to back, each on fresh copies):
   `diaryroom-admin collect` of the stick into a copy of the large archive,
   the same into an empty archive, and `cp -r` of the stick's export folder
   followed by `sync -f` (a plain copy of the same bytes).
4. Instructions (callgrind, user space, whole process): the same three,
   once each, and `collect` run again on the same stick (nothing new: the
   fixed cost, the key's Argon2id and the consent sheet included).
5. find: the catalogue query behind `find --receipt` in process
   (bench_archive find, median of 21), `diaryroom-admin find --receipt`
   as a whole process (median of ROUNDS, wall clock) and its instructions.

Prints one JSON figure a line (benchlib.figure). Nothing here passes or
fails on speed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib as bl  # noqa: E402

PASS = "a long passphrase for the benchmark"
ENV = dict(os.environ, DIARYROOM_PASSPHRASE=PASS)


def sh(cmd, env=None, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, **kw)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-3000:]}")
    return p


def copy_archive(src, dst):
    shutil.copytree(src, dst)
    sh(["sync", "-f", dst])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--boxes", type=int, default=100)
    ap.add_argument("--per-box", type=int, default=10000)
    ap.add_argument("--recordings", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-valgrind", action="store_true")
    ap.add_argument("--tmp", default=None)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    admin = os.path.join(build, "bin", "diaryroom-admin")
    bench = os.path.join(build, "bench", "bench_archive")
    figs = []

    def fig(name, value, unit, method, **extra):
        f = bl.figure(name, value, unit, method, **extra)
        figs.append(f)
        print(json.dumps(f), flush=True)

    seeded = os.path.join(build, "bench-archive", f"seeded-{a.boxes}x{a.per_box}")
    if not os.path.exists(seeded + ".complete"):
        shutil.rmtree(seeded, ignore_errors=True)
        os.makedirs(os.path.dirname(seeded), exist_ok=True)
        t0 = time.monotonic()
        sh([bench, "seed", seeded, str(a.boxes), str(a.per_box)])
        fig("archive_scale.seed.seconds", time.monotonic() - t0, "s",
            "bench_archive seed: rows through the catalogue interface, one transaction a box")
        open(seeded + ".complete", "w").close()
    rows = a.boxes * a.per_box

    work = tempfile.mkdtemp(prefix="archive-scale-", dir=a.tmp or os.path.join(build, "test-tmp"))
    try:
        org, keys, data, stick0 = (os.path.join(work, n) for n in ("org", "keys", "data", "stick"))
        os.makedirs(stick0)
        sh([admin, "init-org", "--org", org, "--kdf", "interactive"])
        sh([admin, "provision-device", "--org", org, "--out", keys])
        sh([admin, "make-stick", "--org", org, "--stick", stick0, "--name", "Bench"])
        wav = os.path.join(work, "in.wav")
        bl.synth_speechlike(wav, a.seconds)
        consent = ",".join("yes/no" if i % 2 == 0 else "no/no" for i in range(a.recordings))
        sh([os.path.join(build, "bin", "diaryroom-seed"), "--data", data, "--org-pub",
            os.path.join(keys, "org.pub"), "--wav", wav, "--seconds",
            ",".join([str(a.seconds)] * a.recordings), "--consent", consent])
        sh([os.path.join(build, "bin", "diaryroom-stick"), "insert", "--data", data, "--keys",
            keys, "--stick", stick0])
        export = os.path.join(stick0, "DIARYRM", "export")
        stick_bytes = sum(os.path.getsize(os.path.join(r, f))
                          for r, _, fs in os.walk(export) for f in fs)
        fig("archive_scale.stick.bytes", stick_bytes, "B", "the stick's export folder",
            recordings=a.recordings)

        n = [0]

        def fresh(big):
            n[0] += 1
            st = os.path.join(work, f"stick{n[0]}")
            shutil.copytree(stick0, st)
            ar = os.path.join(work, f"archive{n[0]}")
            if big:
                copy_archive(seeded, ar)
            sh(["sync", "-f", work])
            return st, ar

        def collect(st, ar, wrap=()):
            return list(wrap) + [admin, "collect", "--org", org, "--stick", st, "--archive", ar]

        times = {"big": [], "empty": [], "cp": []}
        for _ in range(a.rounds):
            for kind in ("big", "empty"):
                st, ar = fresh(kind == "big")
                t0 = time.monotonic()
                p = sh(collect(st, ar))
                times[kind].append(time.monotonic() - t0)
                assert f"{a.recordings} imported" in p.stderr, p.stderr
                shutil.rmtree(ar)
                shutil.rmtree(st)
            dst = os.path.join(work, "plain-copy")
            sh(["sync", "-f", work])
            t0 = time.monotonic()
            sh(["cp", "-r", export, dst])
            sh(["sync", "-f", dst])
            times["cp"].append(time.monotonic() - t0)
            shutil.rmtree(dst)
        method = f"wall clock, {a.rounds} rounds back to back, each on fresh copies"
        kdf = "; the passphrase's Argon2id (interactive) included"
        for kind, what in (("big", f"collect into the archive of {rows} recordings{kdf}"),
                           ("empty", f"collect into an empty archive{kdf}"),
                           ("cp", "cp -r of the stick's export folder + sync -f")):
            s = bl.stats(times[kind])
            fig(f"archive_scale.time.{kind}.seconds", s["median"], "s", f"{method}: {what}",
                rounds=[round(x, 3) for x in times[kind]])
        fig("archive_scale.time.big_to_cp.ratio",
            bl.stats(times["big"])["median"] / bl.stats(times["cp"])["median"], "x",
            "median collect into the large archive / median plain copy, same run")

        if not a.no_valgrind and shutil.which("valgrind"):
            def ir(cmd, tag):
                out = os.path.join(work, f"cg.{tag}.out")
                sh(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd)
                return bl.callgrind_total(out)
            st, ar = fresh(True)
            big = ir(collect(st, ar), "big")
            again = ir(collect(st, ar), "again")  # everything already held
            shutil.rmtree(ar)
            st2, ar2 = fresh(False)
            empty = ir(collect(st2, ar2), "empty")
            plain = ir(["cp", "-r", export, os.path.join(work, "plain-cg")], "cp")
            m = "callgrind, user space, whole process, one run"
            fig("archive_scale.instructions.big", big, "Ir",
                f"collect of {a.recordings} recordings into the archive of {rows}; {m}")
            fig("archive_scale.instructions.empty", empty, "Ir",
                f"the same collect into an empty archive; {m}")
            fig("archive_scale.instructions.again", again, "Ir",
                f"collect of the same stick again (nothing new): the fixed cost; {m}")
            fig("archive_scale.instructions.cp", plain, "Ir", f"cp -r of the same bytes; {m}")
            fig("archive_scale.instructions.per_recording.big", (big - again) / a.recordings,
                "Ir", "(collect into the large archive - the same collect again) / recordings")
            fig("archive_scale.instructions.per_recording.cp", plain / a.recordings, "Ir",
                "cp -r / recordings")
            fig("archive_scale.instructions.big_to_cp.ratio", big / plain, "x",
                "collect into the large archive / cp -r, whole processes")
            fig("archive_scale.instructions.big_to_empty.ratio", big / empty, "x",
                "collect into the large archive / into an empty one")

        # find --receipt on the large archive
        fq = json.loads(sh([bench, "find", seeded, "0042", "21"]).stdout)
        fig("archive_scale.find.query_ms", fq["median_ms"], "ms",
            "the catalogue query behind find --receipt (rec_each by receipt), in process, "
            "median of 21 after one warm-up", found=fq["found"], min=fq["min_ms"],
            max=fq["max_ms"])
        ft = []
        for _ in range(max(a.rounds, 3)):
            t0 = time.monotonic()
            sh([admin, "find", "--archive", seeded, "--receipt", "0042"])
            ft.append(time.monotonic() - t0)
        fig("archive_scale.find.process_ms", bl.stats(ft)["median"] * 1000, "ms",
            "diaryroom-admin find --receipt as a whole process, wall clock, median",
            rounds=[round(x * 1000, 1) for x in ft])
        if not a.no_valgrind and shutil.which("valgrind"):
            out = os.path.join(work, "cg.find.out")
            sh(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", admin, "find",
                "--archive", seeded, "--receipt", "0042"])
            fig("archive_scale.find.instructions", bl.callgrind_total(out), "Ir",
                "diaryroom-admin find --receipt, callgrind, whole process")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
