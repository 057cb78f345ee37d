#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Markdown tables of a benchmark results file, for BENCHMARKS.md.

    bench/report.py [bench/results/latest.json]
"""
import json
import os
import sys

GROUPS = [("encode", "Encoding cost"), ("writes", "Writes"), ("powercut", "Power cuts"),
          ("latency", "Latency (wall clock, indicative)"), ("memory", "Memory"),
          ("export", "Export"), ("emulated", "Emulated board")]


def fmt(v):
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.4g}"


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "results", "latest.json")
    with open(path) as f:
        r = json.load(f)
    m = r["machine"]
    print(f"Run {r['date']}, commit {(r['git'].get('commit') or '?')[:12]}"
          f"{' (with uncommitted changes)' if r['git'].get('dirty') else ''}, "
          f"{r['wall_s']:.0f} s.  ")
    print(f"Machine: {m['cpu']}, {m['nproc']} CPUs usable, {m['arch']}, kernel {m['kernel']}, "
          f"{m['os']}, {m['memory_kib'] // 1024} MiB.  ")
    t = m["tools"]
    print(f"Tools: {t['cc']}; libopus {t['libopus']}; {t['opusenc']}; {t['valgrind']}; "
          f"{t['qemu']}" + (f"; {t['qemu-system']}" if t.get("qemu-system") else "") + ".  ")
    if r.get("input"):
        print(f"Input: {r['input']['seconds']:g} s of speech, sha256 "
              f"{r['input']['sha256'][:16]}...")
    if r.get("goals"):
        print("\n#### Goals\n")
        print("| figure | value | goal | met |")
        print("|---|---:|---:|---|")
        for g in r["goals"]:
            print(f"| {g['what']} (`{g['name']}`) | {fmt(g['value'])} {g['unit']} | "
                  f"at most {fmt(g['at_most'])} | {'yes' if g['met'] else '**no**'} |")
    for prefix, title in GROUPS:
        figs = [f for f in r["figures"] if f["name"].split(".")[0] == prefix]
        if not figs:
            continue
        print(f"\n#### {title}\n")
        print("| figure | value | unit | n |")
        print("|---|---:|---|---:|")
        for f in figs:
            print(f"| `{f['name']}` | {fmt(f['value'])} | {f['unit']} | {f.get('n', '')} |")
    if r.get("skipped"):
        print("\nSkipped: " + "; ".join(f"{e['phase']}: {e['why']}" for e in r["skipped"]))
    if r.get("errors"):
        print("\nNot run: " + "; ".join(f"{e['phase']}: {e['error']}" for e in r["errors"]))


if __name__ == "__main__":
    main()
