"""What every process of a worker does the same way: die with its parent, log, report itself."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int, sig: signal.Signals, why: str | None = None) -> None:
    """Ask Linux for ``sig`` when the parent dies, even by SIGKILL, so that nothing runs on as
    an orphan; exit at once (``why`` the message, None for status 0) if the parent is already
    gone (``parent`` 0: do not check)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
    if parent and os.getppid() != parent:
        sys.exit(why)


def setup_logging(level: str, label: str) -> None:
    """Log lines that say which process of the worker wrote them."""
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s {label}[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
