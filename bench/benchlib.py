# SPDX-License-Identifier: MIT
"""Pieces shared by the benchmark runner (bench/run.py) and its smoke test
(bench/smoke.py): figures, the speech input, and parsers for what the tools
print (callgrind, strace, Ogg, the daemon's event log). Standard library
only, so the parsers can be tested anywhere."""
import hashlib
import json
import os
import re
import statistics
import struct
import subprocess
import wave

RATE = 48000


# ---- figures ----

def figure(name, value, unit, method, **extra):
    """One benchmark figure: what tools/bench prints (one JSON object a line)
    and what bench/results/*.json holds. `value` is a number; extra keys
    (n, max, ...) are allowed but name/value/unit/method are always there."""
    if isinstance(value, float):
        value = round(value, 6)
    f = {"name": name, "value": value, "unit": unit, "method": method}
    f.update(extra)
    return f


def check_figure(f):
    """Raises ValueError unless f is a well-formed figure."""
    if not isinstance(f, dict):
        raise ValueError(f"not an object: {f!r}")
    for k, t in (("name", str), ("unit", str), ("method", str)):
        if not isinstance(f.get(k), t) or not f[k]:
            raise ValueError(f"figure without a {k}: {f!r}")
    v = f.get("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"figure {f['name']} has no numeric value: {f!r}")
    if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", f["name"]):
        raise ValueError(f"bad figure name {f['name']!r}")
    return f


def stats(values):
    """median, max, mean, n of a list of numbers."""
    return {"median": statistics.median(values), "max": max(values),
            "mean": statistics.fmean(values), "n": len(values)}


# ---- the speech input ----

def make_speech(text_path, out_wav, seconds, voice="en-gb", speed=150):
    """Exactly `seconds` of espeak-ng speech (the text, looped if need be) as
    a 48 kHz mono 16-bit WAV. Returns its SHA-256, so results say which
    input they came from (another espeak-ng version speaks differently)."""
    raw = out_wav + ".espeak.wav"
    mono = out_wav + ".48k.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, "-f", text_path],
                   check=True)
    subprocess.run(["sox", "-R", raw, "-r", str(RATE), "-c", "1", "-b", "16", mono, "gain", "-n", "-3"],
                   check=True)
    with wave.open(mono, "rb") as w:
        have = w.getnframes()
    want = int(seconds * RATE)
    repeats = max(0, -(-want // max(have, 1)) - 1)
    subprocess.run(["sox", "-R", mono, out_wav, "repeat", str(repeats), "trim", "0", f"{want}s"],
                   check=True)
    os.unlink(raw)
    os.unlink(mono)
    with wave.open(out_wav, "rb") as w:
        if (w.getnframes(), w.getframerate(), w.getnchannels(), w.getsampwidth()) != \
                (want, RATE, 1, 2):
            raise RuntimeError(f"{out_wav}: not {want} frames of 48 kHz mono 16-bit")
    return sha256(out_wav)


def synth_speechlike(out_wav, seconds):
    """A speech-like test signal without espeak-ng (for the smoke test):
    voiced buzz with a moving pitch, syllable envelope and pauses."""
    import math
    import random
    rng = random.Random(1)
    n = int(seconds * RATE)
    out = bytearray()
    phase = 0.0
    for i in range(n):
        t = i / RATE
        f0 = 120 + 30 * math.sin(2 * math.pi * 0.7 * t)
        phase += 2 * math.pi * f0 / RATE
        syll = max(0.0, math.sin(2 * math.pi * 3.0 * t)) if (t % 1.5) < 1.1 else 0.0
        s = syll * (0.5 * math.sin(phase) + 0.25 * math.sin(3 * phase) + 0.1 * math.sin(7 * phase))
        s += 0.01 * (rng.random() - 0.5)
        out += struct.pack("<h", int(max(-1, min(1, s)) * 12000))
    with wave.open(out_wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(out))
    return sha256(out_wav)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- program output ----

def one_json(text, program):
    """The single JSON object a bench program printed on stdout."""
    lines = [l for l in text.splitlines() if l.strip()]
    if len(lines) != 1:
        raise ValueError(f"{program}: expected one JSON line, got {len(lines)}: {text!r}")
    obj = json.loads(lines[0])
    if obj.get("program") != program:
        raise ValueError(f"{program}: unexpected output {obj!r}")
    return obj


# ---- Ogg / packets ----

def ogg_packets(path):
    """The packets of a single-stream Ogg file (RFC 3533 lacing), in order."""
    with open(path, "rb") as f:
        data = f.read()
    pos, cur, packets = 0, b"", []
    while pos < len(data):
        if data[pos:pos + 4] != b"OggS" or pos + 27 > len(data):
            raise ValueError(f"{path}: no Ogg page at byte {pos}")
        nseg = data[pos + 26]
        lacing = data[pos + 27:pos + 27 + nseg]
        body = pos + 27 + nseg
        for lace in lacing:
            cur += data[body:body + lace]
            body += lace
            if lace < 255:
                packets.append(cur)
                cur = b""
        pos = body
    return packets


def floor_packets(path):
    """bench_floor --packets output: <u32 le length><bytes>..."""
    with open(path, "rb") as f:
        data = f.read()
    pos, packets = 0, []
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        packets.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    return packets


# ---- callgrind ----

def callgrind_total(out_file):
    """Total Ir of a callgrind output file (its summary/totals line)."""
    with open(out_file) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise ValueError(f"{out_file}: no totals line")


_ANNO = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*?)(?:\s+\[(.*)\])?\s*$")


def callgrind_inclusive(out_file, annotate="callgrind_annotate"):
    """{function name: inclusive Ir} from callgrind_annotate --inclusive=yes.
    Entries of one function under several source files (inlined code) are
    added up; recursion levels ("fn'2") are left out."""
    # Run where there are no sources: callgrind_annotate lists a function
    # twice when it finds its source file relative to the working directory.
    p = subprocess.run([annotate, "--inclusive=yes", "--threshold=100", "--auto=no",
                        os.path.abspath(out_file)], capture_output=True, text=True, check=True,
                       cwd=os.path.dirname(os.path.abspath(out_file)))
    return parse_callgrind_annotate(p.stdout)


def parse_callgrind_annotate(text):
    inc = {}
    in_table = False
    for line in text.splitlines():
        if "file:function" in line:
            in_table = True
            continue
        if not in_table:
            continue
        if line.startswith("-----") and inc:
            break
        m = _ANNO.match(line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        where = m.group(2)
        fn = where.rsplit(":", 1)[-1] if ":" in where else where
        if "'" in fn or fn.startswith("0x"):
            continue
        inc[fn] = inc.get(fn, 0) + int(m.group(1).replace(",", ""))
    return inc


# ---- strace ----

_ST_CALL = re.compile(r"^(\d+)\s+(\w+)\((\d+)<([^>]*)>(.*)$")
_ST_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$")
_ST_RET = re.compile(r"\)\s+=\s+(-?\d+)")
WRITE_CALLS = ("write", "pwrite64", "writev", "pwritev", "pwritev2")
SYNC_CALLS = ("fsync", "fdatasync", "sync_file_range")


def strace_io(path):
    """[(syscall, file path, return value, argument text)] from
    `strace -f -y -o path` output, with interleaved <unfinished ...> and
    <... resumed> lines joined."""
    out, pending = [], {}
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = _ST_CALL.match(line)
            if m:
                pid, call, _, fpath, rest = m.groups()
                if rest.endswith("<unfinished ...>"):
                    pending[pid] = (call, fpath, rest)
                    continue
                r = _ST_RET.search(rest)
                if r:
                    out.append((call, fpath, int(r.group(1)), rest))
                continue
            m = _ST_RESUMED.match(line)
            if m and m.group(1) in pending:
                call, fpath, rest = pending.pop(m.group(1))
                r = _ST_RET.search(m.group(3))
                if r:
                    out.append((call, fpath, int(r.group(1)), rest))
    return out


def strace_window(calls, start_marker, end_marker):
    """The calls between the event-log write holding start_marker and the
    next one holding end_marker (markers as strace prints them, with
    escaped quotes), both left out. Needs strace -s long enough to show
    the event-log lines."""
    start = end = None
    for i, (call, fpath, _, rest) in enumerate(calls):
        if call not in WRITE_CALLS or not fpath.endswith(".jsonl"):
            continue
        if start is None and start_marker in rest:
            start = i
        elif start is not None and end_marker in rest:
            end = i
            break
    if start is None or end is None:
        raise ValueError(f"no event-log window {start_marker!r} .. {end_marker!r} in the trace")
    return calls[start + 1:end]


def io_category(fpath):
    base = os.path.basename(fpath.replace(" (deleted)", ""))
    if "/recordings/" in fpath and base.endswith((".opus", ".opus.sealed")):
        return "recording"
    if base.startswith("catalogue.sqlite"):
        return "catalogue"
    if base.endswith(".jsonl"):
        return "event_log"
    if base.endswith(".wav"):
        return "speaker"
    if fpath.startswith("/") and os.path.isdir(fpath):
        return "directory"
    return "other"  # eventfds, pipes, terminals: not storage


def io_summary(calls):
    """{category: {"writes", "bytes", "fdatasync", "fsync", "syncs"}} over
    strace_io() output (syncs = fdatasync + fsync + sync_file_range)."""
    s = {}
    for call, fpath, ret, _ in calls:
        c = s.setdefault(io_category(fpath), empty_io())
        if call in WRITE_CALLS:
            c["writes"] += 1
            c["bytes"] += max(ret, 0)
        elif call in SYNC_CALLS:
            c["syncs"] += 1
            if call in ("fdatasync", "fsync"):
                c[call] += 1
    return s


def empty_io():
    return {"writes": 0, "bytes": 0, "fdatasync": 0, "fsync": 0, "syncs": 0}


# ---- the daemon's event log ----

def latencies(events):
    """Latencies (microseconds) from a diaryroomd event log (docs/event-log.md):
      button_to_light:        a button "down" edge -> the next light change
      button_to_first_played: the press that starts a session -> the first
                              sample of the welcome played (prompt_done.started_us)
      beep_end_to_recording_started: beep prompt_done.ended_us -> recording_started
      beep_end_to_first_captured:    beep prompt_done.ended_us ->
                              recording_finalised.first_sample_us
    Returns {name: [values]}."""
    out = {k: [] for k in ("button_to_light", "button_to_first_played",
                           "beep_end_to_recording_started", "beep_end_to_first_captured")}
    t_down = None
    light_pending = False
    session_press = None
    beep_end = None
    for e in events:
        ev = e.get("ev")
        if ev == "button" and e.get("edge") == "down":
            t_down = e["t_us"]
            light_pending = True
        elif ev == "light" and light_pending:
            out["button_to_light"].append(e["t_us"] - t_down)
            light_pending = False
        elif ev == "state" and e.get("from") == "idle" and e.get("to") == "welcome":
            session_press = t_down
        elif ev == "prompt_done" and e.get("name") == "welcome" and session_press is not None:
            if e.get("status", 0) == 0:
                out["button_to_first_played"].append(e["started_us"] - session_press)
            session_press = None
        elif ev == "prompt_done" and e.get("name") == "beep":
            beep_end = e["ended_us"] if e.get("status", 0) == 0 else None
        elif ev == "recording_started" and beep_end is not None:
            out["beep_end_to_recording_started"].append(e["t_us"] - beep_end)
        elif ev == "recording_finalised" and beep_end is not None:
            if e.get("first_sample_us"):
                out["beep_end_to_first_captured"].append(e["first_sample_us"] - beep_end)
            beep_end = None
    return out


def read_events(path):
    out = []
    with open(path, "rb") as f:
        for line in f.read().decode().split("\n"):
            if line.strip():
                out.append(json.loads(line))
    return out


# ---- /proc ----

def proc_status_kib(pid, key):
    """A kB field of /proc/<pid>/status (VmHWM, VmRSS), or None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def smaps_rss_in_range_kib(pid, lo, hi):
    """Sum of Rss (kB) of the mappings of pid that start in [lo, hi): with
    qemu-user's guest space pinned there (-B lo -R hi-lo), what the guest
    program itself has resident. None if the process is gone."""
    total, inside = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split(" ", 1)[0]
                if "-" in head and not head.endswith(":"):
                    start = int(head.split("-")[0], 16)
                    inside = lo <= start < hi
                elif inside and line.startswith("Rss:"):
                    total += int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return total
