"""Entry point of one stage's worker process, started by ``pipeline.runtime.supervisor.Supervisor``.

Usage: ``python -m pipeline.runtime.stage_main STAGE`` with the settings as one line of JSON on
standard input (secrets included: a pipe, unlike the environment, is not readable by other
processes of the user through ``/proc``) and ``PROMETHEUS_MULTIPROC_DIR`` set by the supervisor.
The stage's code and models run in a child process of this one (``pipeline.runtime.sandbox``).
Once they are loaded, the process waits for its standard input to close, the supervisor's word
that the broker and topics are ready, and then joins its consumer group.
"""

from __future__ import annotations

import os
import signal
import sys

from pipeline.runtime.process import die_with_parent, exit_when_orphaned, setup_logging

SUPERVISOR_PID_ENV = "WIRESTREAM_SUPERVISOR_PID"
# Seconds an orphaned stage process may take to stop gracefully before it exits regardless.
ORPHAN_GRACE = 15.0


def main(argv: list[str]) -> int:
    # Imported here, after the supervisor has set PROMETHEUS_MULTIPROC_DIR, so that
    # prometheus_client starts in multiprocess mode.
    import asyncio

    import faust
    from prometheus_client.multiprocess import mark_process_dead

    from pipeline import codec
    from pipeline.runtime.sandbox import IsolatedStage, StageUnavailable
    from pipeline.runtime.stage_app import build_app
    from pipeline.settings import Settings

    (stage_name,) = argv
    # SIGTERM, not SIGKILL: the stage process stops its consumer and its code process first.
    supervisor = int(os.environ.get(SUPERVISOR_PID_ENV, "0"))
    die_with_parent(
        supervisor,
        signal.SIGTERM,
        "wirestream: the supervising worker is gone; stage process stopping",
    )
    exit_when_orphaned(
        supervisor, ORPHAN_GRACE, "wirestream: stage process still stopping; exiting now"
    )
    settings = Settings.load(overrides=codec.loads(sys.stdin.buffer.readline()), env={})
    setup_logging(settings.log_level, stage_name)
    # A stage-code process that exits leaves its gauges behind unless marked dead.
    stage = IsolatedStage(settings, stage_name, on_exit=mark_process_dead)
    try:
        asyncio.run(stage.start())  # models load before the consumer joins its group
    except StageUnavailable as exc:
        sys.exit(f"wirestream: {exc}")
    sys.stdin.buffer.read()  # until the supervisor has the topics ready
    stage_app = build_app(settings, stage)
    worker = faust.Worker(stage_app.app, loglevel=settings.log_level, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        stage_app.runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
