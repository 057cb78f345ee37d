# SPDX-License-Identifier: MIT
"""Issue 4 through the daemon itself: pulling the staff stick (or cutting the
power) at every point of an export loses nothing and deletes nothing without
a verified archive copy, and the next insertion resumes.

The box is seeded (diaryroom-seed: real store, recorder and encoder at full
speed) with six finished recordings, about 7 MB, so an export is some 35
steps of about 1 MiB each. The daemon runs under strace with its event-loop
poll() delayed by 15 ms and rename() by 60 ms (when strace is there), so a
step takes long enough for the test to stop the daemon at the point it
chose; without strace the points are only less exact.

A pull on the simulated board: the daemon is stopped (SIGSTOP) when the
trigger fires (a progress event, a file appearing on the stick, a new
manifest signature), the stick folder is renamed away, the daemon continued
after its 1 s stick poll is due. The step that was in flight when it stopped
still completes through its open folder fd, so its writes land in the moved
folder: the moved folder, after the daemon has said the stick is gone, is
what the PC sees, and every check is made against it (never against a copy
taken at the instant of the stop). A power cut is SIGKILL at the trigger;
the box restarts with the stick still in and resumes.

After every cut: every recording is in the catalogue, complete, its file on
the box with its hash; nothing was deleted; every recording the catalogue
counts as exported in that run is on the stick and verifies; a finished run's
manifest is the one on the stick; and `collect` on a copy of the stick (the
PC) imports only verified copies. Finally a complete export, `collect`
imports exactly one copy of each, and the receipt on the next insertion
deletes exactly those (not a recording made since), also when the power is
cut while it is being applied (unlink() delayed 100 ms: a row marked deleted
whose file is still there is finished when the receipt is applied again). As root, a stick that
fills up (a small tmpfs) and one that turns read-only mid-export."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

from drtest import BUILD, SANITIZE, Box, blake2b_256, log, run, speak, tmpdir

ADMIN = os.path.join(BUILD, "bin", "diaryroom-admin")
SEED = os.path.join(BUILD, "bin", "diaryroom-seed")
ENV = dict(os.environ, DIARYROOM_PASSPHRASE="a long passphrase for tests")
SECONDS = "100,60,20,5,90,40"  # oldest first: the order the box exports them
CONSENT = "yes/yes,yes/no,unanswered/unanswered,no/no"


def admin(*args, check=True):
    p = subprocess.run([ADMIN] + list(args), capture_output=True, text=True, env=ENV)
    if check:
        assert p.returncode == 0, f"admin {args[0]}: {p.stderr}"
    return p


def strace_wrapper(slow_unlink=False):
    if not shutil.which("strace"):
        return []
    unl = ",unlink,unlinkat" if slow_unlink else ""
    w = ["strace", "-qq", "-o", "/dev/null", "-e", "trace=poll,ppoll,rename,renameat,renameat2" + unl,
         "-e", "inject=poll,ppoll:delay_exit=15000",
         "-e", "inject=rename,renameat,renameat2:delay_exit=60000"]
    if slow_unlink:  # a deletion's catalogue change, 100 ms, then its unlink
        w += ["-e", "inject=unlink,unlinkat:delay_enter=100000"]
    p = subprocess.run(w + ["true"], capture_output=True)
    if p.returncode != 0:
        return []
    if SANITIZE:
        # LeakSanitizer cannot run under ptrace: keep ASan's and UBSan's
        # checks, leave leaks to the sanitizer runs of the other stick tests
        opts = os.environ.get("ASAN_OPTIONS", "")
        w = ["env", f"ASAN_OPTIONS={opts}{':' if opts else ''}detect_leaks=0"] + w
    return w


class World:
    """An organisation, a provisioned box seeded with recordings, a stick
    (at self.stick while out, at self.mount while in)."""

    def __init__(self, name):
        self.dir = tmpdir(name)
        self.org, self.keys, self.stick, self.mount, self.data = (
            os.path.join(self.dir, n) for n in ("org", "keys", "stick", "mnt", "data"))
        os.makedirs(self.stick)
        admin("init-org", "--org", self.org, "--kdf", "interactive")
        admin("provision-device", "--org", self.org, "--out", self.keys)
        admin("make-stick", "--org", self.org, "--stick", self.stick, "--name", "Sam Staff",
              "--days", "30")
        self.mic = speak(os.path.join(self.dir, "one.wav"),
                         "This is what I want to say about the service, and about the people "
                         "who helped me when I had nowhere to go.", pad=(0, 0.5))
        self.seeded = {}  # id -> (size, blake2b), oldest first
        self.seed(SECONDS, CONSENT)
        self.ids = list(self.seeded)
        self.wrapper = strace_wrapper()
        self.box = Box(name, self.mic, root=self.dir, data=self.data, wrapper=self.wrapper,
                       sets=["stick.mount=" + self.mount, "export.keydir=" + self.keys])
        self.pid = None
        self.npc = 0

    def seed(self, seconds, consent):
        long_wav = os.path.join(self.dir, "speech.wav")
        if not os.path.exists(long_wav):
            subprocess.run(["sox", self.mic, long_wav, "repeat", "30"], check=True)
        p = subprocess.run([SEED, "--data", self.data, "--org-pub",
                            os.path.join(self.keys, "org.pub"), "--wav", long_wav, "--seconds", seconds,
                            "--consent", consent, "--bitrate", "128000", "--complexity", "3"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        new = []
        for line in p.stdout.split("\n"):
            if line.strip():
                rid, _receipt, size, h = line.split()
                self.seeded[rid] = (int(size), h)
                new.append(rid)
        return new

    def start(self):
        self.box.start()
        self.pid = [e for e in self.box.events() if e["ev"] == "ready"][-1]["pid"]
        return self

    def kill(self):
        """A power cut: the daemon (not strace) gets SIGKILL."""
        os.kill(self.pid, signal.SIGKILL)
        self.box.proc.wait(30)
        self.box.stderr.close()
        self.pid = None

    def stop(self):
        """SIGTERM to the daemon itself (sent to strace, it does not get there)."""
        os.kill(self.pid, signal.SIGTERM)
        rc = self.box.proc.wait(60)
        self.box.stderr.close()
        assert rc == 0, self.box.stderr_text()
        self.pid = None

    def cleanup(self):
        """After a failure too: no daemon left running, no mount left."""
        if self.pid is not None:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    pass
            self.box.proc.wait(30)
            self.pid = None
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f]
        for m in reversed(mounts):
            if m.startswith(self.dir + "/"):
                subprocess.run(["umount", "-l", m], capture_output=True)

    def insert(self, src=None):
        os.rename(src or self.stick, self.mount)

    def dev(self):
        d = os.path.join(self.stick, "DIARYRM", "export")
        return os.listdir(d)[0] if os.path.isdir(d) and os.listdir(d) else None

    def rows(self):
        return {r["id"]: r for r in self.box.catalogue()}


def in_world(name, body):
    """Runs body(world); after a failure too, no daemon or mount is left."""
    w = World(name)
    try:
        body(w)
    finally:
        w.cleanup()


def devdir(stick):
    d = os.path.join(stick, "DIARYRM", "export")
    subs = os.listdir(d) if os.path.isdir(d) else []
    return os.path.join(d, subs[0]) if subs else None


def check_box(w, expect_held):
    """Every recording still held: in the catalogue, complete, its file on
    the box with the catalogue's (and the seed's) hash. Nothing deleted."""
    rows = w.rows()
    assert set(rows) == set(w.seeded), "a recording left the catalogue"
    for rid in expect_held:
        r = rows[rid]
        size, h = w.seeded[rid]
        assert r["state"] == "complete", (rid, r["state"])
        path = os.path.join(w.data, "recordings", rid + ".opus.sealed")
        assert os.path.isfile(path), f"{rid}: its file is gone from the box"
        assert r["blake2b"] == h and r["size_bytes"] == size, rid
        assert blake2b_256(path) == h, f"{rid}: its file on the box changed"
    acts = [a["action"] for a in w.box.catalogue("audit")]
    gone = [a for a in acts if any(k in a for k in ("delet", "withdr", "expir", "discard"))]
    assert len(gone) == len(set(w.seeded) - set(expect_held)), gone


def check_stick(w, stick, label, tampered=False):
    """What the catalogue counts as exported in the newest run is on the
    stick and verifies; a finished run's manifest is the stick's; the PC
    imports only verified copies. Returns a short description."""
    exports = w.box.catalogue("exports")
    if not exports:
        return "no run"
    run_ = max(exports, key=lambda e: e["seq"])
    seq = run_["seq"]
    rows = w.rows()
    marked = {i for i, r in rows.items() if r["export_seq"] == seq}
    for a in w.box.catalogue("audit"):
        if a["action"] == "exported" and json.loads(a["detail"]).get("seq") == seq:
            marked.add(a["recording_id"])
    dd = devdir(stick)
    for rid in marked:
        f = os.path.join(dd or "/nonexistent", rid + ".opus.sealed")
        assert os.path.isfile(f) and not os.path.islink(f), \
            f"{label}: {rid} counted as exported in run {seq} but not on the stick"
        assert blake2b_256(f) == w.seeded[rid][1], \
            f"{label}: {rid} counted as exported in run {seq} but its copy does not verify"
    man = None
    if run_["finished_utc"]:
        mf = os.path.join(dd, "manifest.json")
        assert blake2b_256(mf) == run_["manifest_blake2b"], \
            f"{label}: run {seq} finished but the stick has another manifest"
        assert json.load(open(mf))["seq"] == seq
        # its sealed part, opened with the organisation's key
        man = json.loads(admin("manifest", "--org", w.org, "--stick",
                               stick).stdout)[os.path.basename(dd)]
        assert man["seq"] == seq
        assert {m["id"] for m in man["recordings"]} == marked, label
    # the PC's view: collect from a copy of exactly this stick
    w.npc += 1
    pc = os.path.join(w.dir, f"pc{w.npc}")
    shutil.copytree(stick, os.path.join(pc, "stick"))
    p = admin("collect", "--org", w.org, "--stick", os.path.join(pc, "stick"), "--archive",
              os.path.join(pc, "archive"), check=False)
    archived = {}
    for root, _, fs in os.walk(os.path.join(pc, "archive")):
        for f in fs:
            if f.endswith(".opus.sealed"):  # the box's sealed original
                archived[f[:-12]] = blake2b_256(os.path.join(root, f))
    for rid, h in archived.items():
        assert w.seeded[rid][1] == h, f"{label}: the PC imported an altered copy of {rid}"
    m = re.search(r"(\d+) imported, (\d+) already in the archive, (\d+) failed", p.stderr)
    if m:
        assert int(m.group(3)) == 0 or tampered, f"{label}: {p.stderr}"
    else:
        assert not archived, p.stderr
    shutil.rmtree(pc)
    return (f"run {seq}: {len(marked)} verified, manifest "
            f"{'finished' if man else 'none/old'}, PC imported {len(archived)}")


# Where to cut: (how, what fires it). A trigger sees the events since the
# insertion and the stick folder; `base` is the folder's state at insertion.
def on_event(ev, nth=1, **fields):
    def t(evs, stick, base):
        return sum(1 for e in evs if e["ev"] == ev and
                   all(e.get(k) == v for k, v in fields.items())) >= nth
    t.desc = f"{ev} #{nth} {fields or ''}"
    return t


def on_progress(files_done):
    def t(evs, stick, base):
        return any(e["ev"] == "export_progress" and e["files_done"] >= files_done for e in evs)
    t.desc = f"progress files_done>={files_done}"
    return t


def ident(path):
    """A file's identity and last change: a file this run made or wrote to
    differs from the one there at insertion (a leftover of an earlier cut)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_ctime_ns, st.st_size)


def on_file(w, k, suffix, min_size=0):
    def t(evs, stick, base):
        dd = devdir(stick)
        now = ident(os.path.join(dd, w.ids[k] + suffix)) if dd else None
        return now is not None and now[2] >= min_size and now != base.get(w.ids[k] + suffix)
    t.desc = f"recording {k}{suffix}" + (f" >= {min_size} bytes" if min_size else "")
    return t


def on_new_manifest_sig():
    def t(evs, stick, base):
        dd = devdir(stick)
        now = ident(os.path.join(dd, "manifest.sig")) if dd else None
        return now is not None and now != base.get("manifest.sig")
    t.desc = "a new manifest.sig"
    return t


def baseline(w, stick):
    dd = devdir(stick)
    names = [i + suf for i in w.ids for suf in (".opus.sealed", ".opus.sealed.tmp")] + \
        ["manifest.sig"]
    return {n: ident(os.path.join(dd, n)) for n in names} if dd else {}


def wait_trigger(w, since, trig, base, timeout=60):
    """Returns True when the trigger fired, False if the export ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        evs = w.box.events()[since:]
        if trig(evs, w.mount, base):
            return True
        if any(e["ev"] in ("export_done", "stick_refused", "error") for e in evs):
            return False
        if w.box.proc.poll() is not None:
            raise AssertionError("diaryroomd died:\n" + w.box.stderr_text())
        time.sleep(0.001)
    raise AssertionError(f"trigger {trig.desc} never fired; events:\n" +
                         "\n".join(json.dumps(e) for e in w.box.events()[since:][-10:]))


def pull_now(w):
    """Stop the daemon, take the stick away, let it notice."""
    os.kill(w.pid, signal.SIGSTOP)
    os.rename(w.mount, w.stick)
    time.sleep(1.1)  # its stick poll (every second) is due when it goes on
    os.kill(w.pid, signal.SIGCONT)
    return w.box.wait_for("stick", present=False, timeout=30)


def test_pull_and_power_cut_at_every_point():
    in_world("dstick-pull", pull_and_power_cut)


def pull_and_power_cut(w):
    log(f"seeded {len(w.ids)} recordings, {sum(s for s, _ in w.seeded.values())} bytes; "
        f"strace pacing {'on' if w.wrapper else 'off (not available)'}")
    w.start()
    ids = w.ids
    plan = [
        ("pull", on_event("stick", present=True)),  # as soon as it is seen
        ("pull", on_file(w, 0, ".opus.sealed.tmp")),       # copying the first
        ("pull", on_file(w, 0, ".opus.sealed.tmp", 1 << 20)),
        ("pull", on_file(w, 0, ".opus.sealed")),           # just verified
        ("pull", on_event("export_progress", 2)),
        ("pull", on_file(w, 1, ".opus.sealed.tmp", 1 << 20)),
        ("kill", on_file(w, 1, ".opus.sealed")),
        ("pull", on_progress(2)),
        ("pull", on_file(w, 3, ".opus.sealed.tmp")),
        ("kill", on_file(w, 4, ".opus.sealed.tmp", 1 << 20)),
        ("pull", on_file(w, 4, ".opus.sealed")),
        ("pull", on_file(w, 5, ".opus.sealed.tmp")),
        ("pull", on_new_manifest_sig()),            # between the .sig and the .json
        ("done", None),                              # a whole run
        ("kill", on_event("export_progress", 2)),    # re-checking copies already there
        ("tamper", on_file(w, 1, ".opus.sealed.tmp")),      # a damaged copy is copied again
        ("kill", on_new_manifest_sig()),
        ("pull", on_event("export_progress", 1)),
    ]
    inside = False  # the stick is in the box
    mid = 0
    for i, (how, trig) in enumerate(plan):
        tampered = how == "tamper"
        if tampered:  # the daemon is down (a power cut): the stick can be damaged
            assert w.pid is None
            f = os.path.join(devdir(w.mount if inside else w.stick), ids[1] + ".opus.sealed")
            with open(f, "r+b") as fh:
                fh.seek(200000)
                b = fh.read(1)
                fh.seek(200000)
                fh.write(bytes([b[0] ^ 0x40]))
            how = "pull"
        base = baseline(w, w.mount if inside else w.stick)
        since = len(w.box.events())
        if w.pid is None:
            w.start()  # power back, the stick still in
            since = w.box._seen
        if not inside:
            w.insert()
            inside = True
        if how == "done":
            done = w.box.wait_for("export_done", timeout=60, since=since)
            assert done["files"] == len(ids) and done["failed"] == 0, done
            os.rename(w.mount, w.stick)
            inside = False
            w.box.wait_for("stick", present=False, timeout=30)
            desc = "complete"
        else:
            fired = wait_trigger(w, since, trig, base)
            if how == "pull":
                gone = pull_now(w)
                inside = False
                mid += gone["during_export"]
                desc = "pulled " + ("mid-export" if gone["during_export"] else "after the end")
            else:
                w.kill()
                mid += fired
                desc = "power cut"
            desc += f" at {trig.desc}" + ("" if fired else " (the export had ended)")
        check_box(w, ids)
        stick = w.mount if inside else w.stick
        got = check_stick(w, stick, f"cut {i} ({desc})", tampered=tampered)
        log(f"cut {i:2}: {desc}: {got}")
    # (without strace's pacing an export is a few tens of ms: fewer land)
    want = len(plan) // 2 if w.wrapper else 3
    assert mid >= want, f"only {mid} cuts landed mid-export: the test tests little"

    # insert: it resumes and completes; nothing deleted yet
    if w.pid is None:
        w.start()
    since = len(w.box.events())
    if not inside:
        w.insert()
    done = w.box.wait_for("export_done", timeout=60, since=since)
    assert done["files"] == len(ids) and done["failed"] == 0, done
    os.rename(w.mount, w.stick)
    w.box.wait_for("stick", present=False, timeout=30)
    check_box(w, ids)
    log("final run: " + check_stick(w, w.stick, "final"))
    # the leftovers of every cut are gone from the stick
    left = sorted(os.listdir(devdir(w.stick)))
    assert left == sorted([i + ".opus.sealed" for i in ids] + ["manifest.json", "manifest.sig"]), \
        left

    # the PC verifies everything and imports one copy of each
    archive = os.path.join(w.dir, "archive")
    p = admin("collect", "--org", w.org, "--stick", w.stick, "--archive", archive)
    assert f"{len(ids)} imported, 0 already in the archive, 0 failed" in p.stderr, p.stderr
    dev = w.dev()
    # the box's sealed original of every recording; a playable copy only of
    # those staff may hear (a locked one stays sealed)
    locked = {i for i, r in w.rows().items() if r["consent_staff"] != 1}
    assert locked, "CONSENT seeds locked recordings"

    def archived_as(expect):
        names = sorted(f for f in os.listdir(os.path.join(archive, dev))
                       if f.endswith((".opus", ".opus.sealed")))
        want = sorted([i + ".opus.sealed" for i in expect] +
                      [i + ".opus" for i in expect if i not in locked])
        assert names == want, names

    archived_as(ids)
    for rid in ids:
        assert blake2b_256(os.path.join(archive, dev, rid + ".opus.sealed")) == w.seeded[rid][1]

    # a recording made after the export: not confirmed, must stay
    w.stop()
    new = w.seed("3", "yes/no")
    # a power cut while the receipt is applied, as soon as the first
    # recording is marked deleted (before its file is, when strace paces)
    w.box.wrapper = strace_wrapper(slow_unlink=True)
    w.start()
    w.box.wrapper = w.wrapper
    w.insert()
    deadline = time.monotonic() + 60
    while not any(r["state"] == "deleted" for r in w.rows().values()):
        assert time.monotonic() < deadline, "the receipt was not applied"
        time.sleep(0.002)
    w.kill()
    rows = w.rows()
    gone = [i for i in ids if rows[i]["state"] == "deleted"]
    stray = [i for i in gone
             if os.path.exists(os.path.join(w.data, "recordings", i + ".opus.sealed"))]
    log(f"power cut applying the receipt: {len(gone)} deleted ({len(stray)} file(s) not yet)")
    assert gone and (len(gone) < len(ids) or not w.wrapper), gone
    check_box(w, [i for i in ids + new if i not in gone])
    # power back, the stick still in: the receipt is applied again, finishing
    w.start()
    if len(gone) < len(ids):
        applied = w.box.wait_for("receipt_applied", timeout=60)
        assert applied["deleted"] == len(ids) - len(gone) and applied["hash_mismatch"] == 0, \
            applied
    done = w.box.wait_for("export_done", timeout=60)
    assert done["files"] == 1, done
    os.rename(w.mount, w.stick)
    w.box.wait_for("stick", present=False, timeout=30)
    w.stop()
    rows = w.rows()
    for rid in ids:
        assert rows[rid]["state"] == "deleted", rows[rid]
        assert not os.path.exists(os.path.join(w.data, "recordings", rid + ".opus.sealed"))
    check_box(w, new)
    acts = [a["action"] for a in w.box.catalogue("audit")]
    assert acts.count("delete") == len(ids), acts
    # collecting again: the new one once, nothing twice
    p = admin("collect", "--org", w.org, "--stick", w.stick, "--archive", archive)
    assert "1 imported, 0 already" in p.stderr, p.stderr
    archived_as(ids + new)


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", path],
                          capture_output=True).returncode == 0


def plug_tmpfs(w, size):
    """Insert the stick as a small filesystem of its own: filled in a
    staging folder, then moved onto the mount folder in one go (the daemon
    must not see it mounted and empty)."""
    staging = os.path.join(w.dir, "staging")
    assert mount_tmpfs(staging, size)
    shutil.copytree(w.stick, staging, dirs_exist_ok=True)
    shutil.rmtree(w.stick)
    os.makedirs(w.mount, exist_ok=True)
    p = subprocess.run(["mount", "--move", staging, w.mount], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def umount(path):
    for _ in range(100):
        if subprocess.run(["umount", path], capture_output=True).returncode == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"cannot unmount {path}")


def test_stick_full_and_read_only():
    if os.geteuid() != 0:
        log("SKIP: a small or read-only stick needs a tmpfs mount (root)")
        return
    probe = tmpdir("dstick-probe")
    if not mount_tmpfs(os.path.join(probe, "a"), "1m"):
        log("SKIP: cannot mount a tmpfs here")
        return
    os.makedirs(os.path.join(probe, "b"))
    moved = subprocess.run(["mount", "--move", os.path.join(probe, "a"), os.path.join(probe, "b")],
                           capture_output=True).returncode == 0
    umount(os.path.join(probe, "b" if moved else "a"))
    if not moved:
        log("SKIP: cannot move a mount here")
        return
    in_world("dstick-full", full_and_read_only)


def full_and_read_only(w):
    ids = w.ids
    w.start()

    # a stick that fills up: what fitted is verified and listed, the rest stays
    plug_tmpfs(w, "4m")
    done = w.box.wait_for("export_done", timeout=60)
    assert done["stick_full"] is True and 0 < done["files"] < len(ids), done
    # the light follows the export_done event (not necessarily at once)
    light = w.box.wait_for("light", timeout=30)
    assert light["pattern"] == "error", light
    check_box(w, ids)
    log("full stick: " + check_stick(w, w.mount, "full"))
    shutil.copytree(w.mount, w.stick)  # what the PC gets
    umount(w.mount)
    w.box.wait_for("stick", present=False, timeout=30)
    p = admin("collect", "--org", w.org, "--stick", w.stick, "--archive",
              os.path.join(w.dir, "archive"))
    assert f"{done['files']} imported, 0 already in the archive, 0 failed" in p.stderr, p.stderr
    fitted = done["files"]

    # the same stick, now turning read-only while the next run is under way
    since = len(w.box.events())
    plug_tmpfs(w, "64m")
    applied = w.box.wait_for("receipt_applied", timeout=60)
    assert applied["deleted"] == fitted, applied
    held = [i for i in ids if w.rows()[i]["state"] == "complete"]
    assert len(held) == len(ids) - fitted
    assert wait_trigger(w, since, on_file(w, ids.index(held[0]), ".opus.sealed"), {})
    os.kill(w.pid, signal.SIGSTOP)
    for _ in range(400):  # not while it has a file open for writing
        if subprocess.run(["mount", "-o", "remount,ro", w.mount],
                          capture_output=True).returncode == 0:
            break
        os.kill(w.pid, signal.SIGCONT)
        time.sleep(0.003)
        os.kill(w.pid, signal.SIGSTOP)
    else:
        raise AssertionError("could not make the stick read-only")
    os.kill(w.pid, signal.SIGCONT)
    w.box.wait_for("light", pattern="error", timeout=60)
    evs = w.box.events()[since:]
    ended = [e for e in evs if e["ev"] in ("export_done", "error")]
    log(f"read-only stick: {ended}")
    assert ended, evs
    check_box(w, held)
    log("read-only: " + check_stick(w, w.mount, "read-only"))
    shutil.copytree(w.mount, w.stick, dirs_exist_ok=True)
    umount(w.mount)
    w.box.wait_for("stick", present=False, timeout=30)
    # a writable stick again: it resumes and completes
    w.insert()
    done = w.box.wait_for("export_done", timeout=60)
    assert done["files"] == len(held) and done["failed"] == 0, done
    os.rename(w.mount, w.stick)
    w.box.wait_for("stick", present=False, timeout=30)
    w.stop()
    check_box(w, held)
    log("after: " + check_stick(w, w.stick, "after read-only"))


def test_stick_swapped_within_a_second():
    """One stick pulled and another put in between two of the daemon's looks
    (once a second): the first export is cut, the second stick gets its own."""
    in_world("dstick-swap", swap)


def swap(w):
    ids = w.ids
    second = os.path.join(w.dir, "stick2")
    os.makedirs(second)
    admin("make-stick", "--org", w.org, "--stick", second, "--name", "Alex Staff", "--days", "30")
    w.start()
    since = len(w.box.events())
    w.insert()
    assert wait_trigger(w, since, on_file(w, 0, ".opus.sealed.tmp"), {}), "the export ended at once"
    os.kill(w.pid, signal.SIGSTOP)
    os.rename(w.mount, w.stick)
    os.rename(second, w.mount)
    time.sleep(1.1)  # its next look sees a stick, but not the same one
    os.kill(w.pid, signal.SIGCONT)
    gone = w.box.wait_for("stick", present=False, timeout=30, since=since)
    assert gone["during_export"] is True, gone
    done = w.box.wait_for("export_done", timeout=60, since=since)
    assert done["files"] == len(ids) and done["failed"] == 0, done
    evs = w.box.events()[since:]
    assert [e["present"] for e in evs if e["ev"] == "stick"] == [True, False, True], evs
    os.rename(w.mount, second)
    w.box.wait_for("stick", present=False, timeout=30, since=len(evs) + since)
    w.stop()
    check_box(w, ids)
    log("second stick: " + check_stick(w, second, "swapped"))
    p = admin("collect", "--org", w.org, "--stick", second, "--archive", os.path.join(w.dir, "archive"))
    assert f"{len(ids)} imported, 0 already in the archive, 0 failed" in p.stderr, p.stderr


if __name__ == "__main__":
    run([test_pull_and_power_cut_at_every_point, test_stick_swapped_within_a_second,
         test_stick_full_and_read_only])
