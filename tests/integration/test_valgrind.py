# SPDX-License-Identifier: MIT
"""A full session under valgrind memcheck: no invalid accesses, no leaks."""
import os

from drtest import Box, log, opusinfo_clean, run, speak, tmpdir


def test_full_session_under_valgrind_is_clean():
    d = tmpdir("valgrind")
    mic = speak(os.path.join(d, "mic.wav"), "Checking for leaks, one two three.")
    vlog = os.path.join(d, "valgrind.txt")
    box = Box("valgrind", mic, root=d, wrapper=[
        "valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
        "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
        "--log-file=" + vlog])
    box.start(timeout=120)
    box.record(3.0)
    rc = box.terminate(timeout=120)
    report = open(vlog).read()
    log(report[-3000:])
    assert rc == 0, f"valgrind found errors (exit {rc})"
    assert "ERROR SUMMARY: 0 errors" in report
    row = box.catalogue()[0]
    assert row["state"] == "complete"
    opusinfo_clean(os.path.join(box.data, row["file"]))


if __name__ == "__main__":
    run([test_full_session_under_valgrind_is_clean])
