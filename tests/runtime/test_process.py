"""Process helpers: an orphaned stage process ends even when its graceful stop hangs."""

from __future__ import annotations

import os
import subprocess
import sys
import time

# A child that ignores SIGTERM (as a graceful stop stuck on an unreachable broker would) and
# watches the middle process, its parent, which prints the child's pid and exits.
CHILD = """
import signal, sys, time
from pipeline.runtime.process import exit_when_orphaned
signal.signal(signal.SIGTERM, signal.SIG_IGN)
exit_when_orphaned(int(sys.argv[1]), 0.5, "orphaned")
time.sleep(60)
"""
MIDDLE = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())])
print(child.pid, flush=True)
time.sleep(1.0)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_an_orphan_exits_after_the_grace_even_if_it_ignores_sigterm():
    middle = subprocess.run(
        [sys.executable, "-c", MIDDLE, CHILD], capture_output=True, text=True, timeout=30,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    child = int(middle.stdout.split()[0])
    deadline = time.monotonic() + 20
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(child)
