#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Compares two benchmark results files (bench/results/*.json).

    bench/compare.py OLD.json NEW.json

Prints one JSON object per figure: {"name","unit","old","new","ratio"}
(ratio = new/old; null when either is missing or old is 0). Nothing passes
or fails: which change matters is for a person to judge, knowing that the
latency figures are wall-clock times on whatever machine ran them and only
the instruction counts are exact."""
import json
import sys


def load(path):
    with open(path) as f:
        r = json.load(f)
    return r, {f["name"]: f for f in r["figures"]}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    (ro, old), (rn, new) = load(sys.argv[1]), load(sys.argv[2])
    if ro.get("machine", {}).get("cpu") != rn.get("machine", {}).get("cpu"):
        print("compare: the two results come from different CPUs; only instruction counts "
              "and byte/call counts compare", file=sys.stderr)
    for name in list(old) + [n for n in new if n not in old]:
        o, n = old.get(name), new.get(name)
        ov = o["value"] if o else None
        nv = n["value"] if n else None
        ratio = nv / ov if ov not in (None, 0) and nv is not None else None
        print(json.dumps({"name": name, "unit": (n or o)["unit"], "old": ov, "new": nv,
                          "ratio": round(ratio, 6) if ratio is not None else None}))


if __name__ == "__main__":
    main()
