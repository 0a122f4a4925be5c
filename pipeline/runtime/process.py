"""What every process of a worker does the same way: die with its parent, log, report itself."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
# Looked up once here, not in a forked child before its exec.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def die_with_parent(parent: int, sig: signal.Signals, why: str | None = None) -> None:
    """Ask Linux for ``sig`` when the parent dies, even by SIGKILL, so that nothing runs on as
    an orphan; exit at once (``why`` the message, None for status 0) if the parent is already
    gone (``parent`` 0: do not check)."""
    if sys.platform.startswith("linux"):
        _PRCTL(_PR_SET_PDEATHSIG, sig)
    if parent and os.getppid() != parent:
        sys.exit(why)


def end_with_this_process() -> None:
    """For ``subprocess.Popen(preexec_fn=...)``: the child (a broker this process started for
    itself) gets SIGTERM when this process dies, even by SIGKILL. Linux ties the signal to the
    thread that forks: start such children from the main thread."""
    if sys.platform.startswith("linux"):
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def exit_when_orphaned(parent: int, grace: float, why: str) -> None:
    """Exit at once (status 1) once ``parent`` has been gone for ``grace`` seconds: the graceful
    stop that its death starts (``die_with_parent``'s signal) can hang when the broker is out of
    reach, and what this process did not commit is delivered again to the next owner."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        time.sleep(grace)
        print(why, file=sys.stderr, flush=True)
        os._exit(1)

    if parent:
        threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def setup_logging(level: str, label: str) -> None:
    """Log lines that say which process of the worker wrote them."""
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s {label}[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
