"""Entry point of one stage's worker process, started by ``pipeline.worker.Supervisor``.

Usage: ``python -m pipeline.stage_process STAGE`` with the settings as JSON in
``WIRESTREAM_STAGE_SETTINGS`` and ``PROMETHEUS_MULTIPROC_DIR`` set by the supervisor.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

SETTINGS_ENV = "WIRESTREAM_STAGE_SETTINGS"
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
    import faust

    from pipeline import codec
    from pipeline.app import build_app
    from pipeline.settings import Settings
    from pipeline.stages import build_stage

    (stage_name,) = argv
    stop_with_supervisor()
    settings = Settings.load(overrides=codec.loads(os.environ[SETTINGS_ENV]), env={})
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s {stage_name}[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    stage = build_stage(settings, stage_name)
    stage_app = build_app(settings, stage)
    worker = faust.Worker(stage_app.app, loglevel=settings.log_level, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        stage_app.runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
