# SPDX-License-Identifier: MIT
"""[daemon] user (app/daemon/privdrop.h): a daemon started as root becomes
that user before it opens anything, keeping CAP_SYS_TIME alone (to set the
clock from a staff stick), with no way back to root. The firmware image
starts it so (firmware/rootfs/usr/libexec/diaryroom/run-daemon).

Needs root (to start the daemon as root); skipped otherwise."""
import os
import pwd
import subprocess
import sys

from drtest import DAEMON, SRC, Box, log, run, speak, tmpdir

CAP_SYS_TIME = 25
ONLY_SYS_TIME = f"{1 << CAP_SYS_TIME:016x}"  # 0000000002000000
USER = "nobody"


def status(pid):
    """/proc/<pid>/status as a dict of its fields."""
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _box(name, user, wrapper=()):
    """A box whose folder the unprivileged user can write (its data, event
    log, button FIFO and speaker file live there)."""
    d = tmpdir(name)
    os.chmod(d, 0o777)
    mic = speak(os.path.join(d, "mic.wav"), "Hello.")
    os.chmod(mic, 0o644)
    data = os.path.join(d, "data")
    os.mkdir(data)
    os.chmod(data, 0o777)
    return Box(name, mic, root=d, data=data, wrapper=list(wrapper), sets=["daemon.user=" + user])


def test_root_becomes_the_user_keeping_only_the_clock():
    pw = pwd.getpwnam(USER)
    box = _box("privdrop-root", USER).start(timeout=60)
    try:
        st = status(box.proc.pid)
        log({k: st[k] for k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapAmb",
                                "NoNewPrivs")})
        assert st["Uid"].split() == [str(pw.pw_uid)] * 4, st["Uid"]
        assert st["Gid"].split() == [str(pw.pw_gid)] * 4, st["Gid"]
        # its groups from /etc/group, and none of root's
        want = sorted(set(os.getgrouplist(USER, pw.pw_gid)))
        assert sorted(int(g) for g in st["Groups"].split()) == want, (st["Groups"], want)
        assert st["CapEff"] == ONLY_SYS_TIME and st["CapPrm"] == ONLY_SYS_TIME, st
        assert st["CapInh"] == "0" * 16 and st["CapAmb"] == "0" * 16, st
        assert st["NoNewPrivs"] == "1", st
        # the catalogue was made after the drop: the user's, not root's
        cat = os.stat(os.path.join(box.data, "catalogue.sqlite"))
        assert cat.st_uid == pw.pw_uid, f"catalogue owned by uid {cat.st_uid}"
        assert box.terminate(timeout=30) == 0, box.stderr_text()
    finally:
        if box.proc.poll() is None:
            box.kill()


def test_unknown_user_refuses_to_start():
    d = tmpdir("privdrop-nouser")
    data = os.path.join(d, "data")
    evlog = os.path.join(d, "events.jsonl")
    p = subprocess.run([DAEMON, "--board", os.path.join(SRC, "board", "host"), "--data", data,
                        "--event-log", evlog, "--set", "daemon.user=dr-no-such-user"],
                       capture_output=True, text=True, timeout=30)
    log(p.stderr.strip())
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "dr-no-such-user: no such user" in p.stderr and "not starting" in p.stderr, p.stderr
    # refused before opening anything
    assert not os.path.exists(data) and not os.path.exists(evlog), os.listdir(d)
    # --check says so too
    p = subprocess.run([DAEMON, "--board", os.path.join(SRC, "board", "host"), "--check",
                        "--set", "daemon.user=dr-no-such-user"], capture_output=True, text=True)
    assert p.returncode == 1 and "no such user" in p.stderr, (p.returncode, p.stderr)


def test_unprivileged_start():
    """Started as the user itself: nothing to do, nothing gained. Started
    as that user but told to become another: refused."""
    pw = pwd.getpwnam(USER)
    as_user = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
               "--inh-caps=-all"]
    box = _box("privdrop-self", USER, wrapper=as_user).start(timeout=60)
    try:
        st = status(box.proc.pid)
        assert st["Uid"].split() == [str(pw.pw_uid)] * 4, st["Uid"]
        assert st["CapEff"] == "0" * 16 and st["CapPrm"] == "0" * 16, st
        assert box.terminate(timeout=30) == 0, box.stderr_text()
    finally:
        if box.proc.poll() is None:
            box.kill()

    other = pwd.getpwuid(0).pw_name  # root: any user but nobody
    box = _box("privdrop-other", other, wrapper=as_user)
    box.start(wait_ready=False)
    rc = box.wait_exit(timeout=30)
    err = box.stderr_text()
    log(err.strip())
    assert rc == 1 and "not as root: cannot become another user" in err, (rc, err)
    assert not os.listdir(box.data), os.listdir(box.data)


def _can_test():
    if os.geteuid() != 0:
        return "not running as root"
    caps = int(status(os.getpid())["CapEff"], 16)
    if not caps & (1 << CAP_SYS_TIME):
        return "CAP_SYS_TIME is not in this process's capabilities (a container?)"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"no user {USER}"
    return None


if __name__ == "__main__":
    why = _can_test()
    if why:
        print(f"SKIP: {why}", flush=True)
        sys.exit(0)
    run([test_root_becomes_the_user_keeping_only_the_clock, test_unknown_user_refuses_to_start,
         test_unprivileged_start])
