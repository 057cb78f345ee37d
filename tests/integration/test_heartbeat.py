# SPDX-License-Identifier: MIT
"""The daemon's liveness heartbeat (app/daemon/liveness.h): the systemd
notify protocol on a socket this test owns (READY=1 once the daemon is
ready, WATCHDOG=1 beats from its event loop, STOPPING=1 at SIGTERM), and
the heartbeat file the firmware image's watchdog script watches. A daemon
whose loop is stopped (SIGSTOP, as a hung loop would be) stops beating."""
import os
import signal
import socket
import subprocess
import time

from drtest import DAEMON, SRC, Box, run, speak, tmpdir


def _stopped(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")


class Notify:
    """The service manager's end: a datagram socket and what came in."""

    def __init__(self, d):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = os.path.join(d, "notify.sock")
        if len(path) < 100:
            self.sock.bind(path)
            self.name = path
        else:
            self.name = f"@diaryroom-test-{os.getpid()}"
            self.sock.bind("\0" + self.name[1:])
        self.msgs = []  # (host monotonic time, message)

    def collect(self, seconds):
        """Messages arriving in the next `seconds`."""
        got = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            self.sock.settimeout(left)
            try:
                m = self.sock.recv(4096).decode()
            except socket.timeout:
                return got
            got.append(m)
            self.msgs.append((time.monotonic(), m))

    def wait(self, msg, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if msg in self.collect(min(0.2, deadline - time.monotonic())):
                return True
        return False

    def drain(self):
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(4096)
        except BlockingIOError:
            pass
        self.sock.setblocking(True)


def _start(name, env, sets=()):
    d = tmpdir(name)
    mic = speak(os.path.join(d, "mic.wav"), "Hello.")
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        box = Box(name, mic, root=d, sets=list(sets)).start(wait_ready=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return d, box


def test_notify_ready_watchdog_stopping_and_heartbeat_file():
    d = tmpdir("heartbeat-notify")
    n = Notify(d)
    hb = os.path.join(d, "heartbeat")
    _, box = _start("heartbeat-notify-box", {"NOTIFY_SOCKET": n.name, "WATCHDOG_USEC": "1000000"},
                    sets=["daemon.heartbeat=" + hb])
    try:
        assert n.wait("READY=1", timeout=60), f"no READY=1; got {n.msgs}\n{box.stderr_text()}"
        # READY=1 comes after the ready event, never before
        assert [e for e in box.events() if e["ev"] == "ready"], "READY=1 before the ready event"
        first = os.stat(hb).st_mtime_ns
        beats = [m for m in n.collect(2.2) if m == "WATCHDOG=1"]
        # WATCHDOG_USEC=1 s: a beat every 0.5 s, the heartbeat file's too
        assert len(beats) >= 3, f"{len(beats)} beats in 2.2 s: {n.msgs}"
        assert os.stat(hb).st_mtime_ns > first, "the heartbeat file's mtime did not advance"

        # a stopped loop does not beat
        box.proc.send_signal(signal.SIGSTOP)
        while not _stopped(box.proc.pid):
            time.sleep(0.01)
        n.drain()
        held = os.stat(hb).st_mtime_ns
        frozen = n.collect(2.0)
        assert frozen == [], f"beats while the daemon was stopped: {frozen}"
        assert os.stat(hb).st_mtime_ns == held, "the heartbeat file advanced while the daemon was stopped"
        box.proc.send_signal(signal.SIGCONT)
        assert n.wait("WATCHDOG=1", timeout=5), "no beats after SIGCONT"

        box.proc.send_signal(signal.SIGTERM)
        assert n.wait("STOPPING=1", timeout=10), f"no STOPPING=1: {n.msgs[-5:]}"
        assert box.wait_exit() == 0, box.stderr_text()
    finally:
        if box.proc.poll() is None:
            box.proc.send_signal(signal.SIGCONT)
            box.kill()


def test_watchdog_pid_of_another_process_is_not_ours():
    d = tmpdir("heartbeat-otherpid")
    n = Notify(d)
    _, box = _start("heartbeat-otherpid-box", {"NOTIFY_SOCKET": n.name, "WATCHDOG_USEC": "1000000",
                                              "WATCHDOG_PID": "1"})
    try:
        assert n.wait("READY=1", timeout=60), f"no READY=1; got {n.msgs}"
        got = n.collect(1.5)
        assert "WATCHDOG=1" not in got, f"beats for a watchdog meant for pid 1: {got}"
        assert box.terminate(timeout=10) == 0
    finally:
        if box.proc.poll() is None:
            box.kill()


def test_relative_heartbeat_path_is_refused():
    p = subprocess.run([DAEMON, "--board", os.path.join(SRC, "board", "host"), "--set",
                        "daemon.heartbeat=run/heartbeat", "--check"], capture_output=True, text=True)
    assert p.returncode == 1 and "heartbeat" in p.stderr, (p.returncode, p.stderr)


if __name__ == "__main__":
    run([test_notify_ready_watchdog_stopping_and_heartbeat_file, test_watchdog_pid_of_another_process_is_not_ours,
         test_relative_heartbeat_path_is_refused])
