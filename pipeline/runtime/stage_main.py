"""Entry point of one stage's worker process, started by ``pipeline.runtime.supervisor.Supervisor``.

Usage: ``python -m pipeline.runtime.stage_main STAGE`` with the settings as JSON on standard input
(secrets included: a pipe, unlike the environment, is not readable by other processes of the
user through ``/proc``) and ``PROMETHEUS_MULTIPROC_DIR`` set by the supervisor. The stage's code
and models run in a child process of this one (``pipeline.runtime.sandbox``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

SUPERVISOR_PID_ENV = "WIRESTREAM_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


def stop_with_supervisor() -> None:
    """Ask Linux for SIGTERM when the supervisor dies, even by SIGKILL, so that no stage keeps
    consuming as an orphan; exit at once if it is already gone."""
    supervisor = int(os.environ.get(SUPERVISOR_PID_ENV, "0"))
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if supervisor and os.getppid() != supervisor:
        sys.exit("wirestream: the supervising worker is gone; stage process stopping")


def main(argv: list[str]) -> int:
    # Imported here, after the supervisor has set PROMETHEUS_MULTIPROC_DIR, so that
    # prometheus_client starts in multiprocess mode.
    import asyncio

    import faust
    from prometheus_client.multiprocess import mark_process_dead

    from pipeline import codec
    from pipeline.runtime.app import build_app
    from pipeline.runtime.sandbox import IsolatedStage, StageUnavailable
    from pipeline.settings import Settings

    (stage_name,) = argv
    stop_with_supervisor()
    settings = Settings.load(overrides=codec.loads(sys.stdin.buffer.read()), env={})
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s {stage_name}[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    # A stage-code process that exits leaves its gauges behind unless marked dead.
    stage = IsolatedStage(settings, stage_name, on_exit=mark_process_dead)
    try:
        asyncio.run(stage.start())  # models load before the consumer joins its group
    except StageUnavailable as exc:
        sys.exit(f"wirestream: {exc}")
    stage_app = build_app(settings, stage)
    worker = faust.Worker(stage_app.app, loglevel=settings.log_level, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        stage_app.runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
