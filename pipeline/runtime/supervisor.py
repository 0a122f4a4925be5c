"""``wirestream worker``: one process per stage, supervised, with one metrics and health server.

Each stage runs in its own process (its own consumer group, its own CPU core). The supervisor
restarts a stage process that dies, serves every stage's metrics on one port (prometheus-client
multiprocess mode, in a directory of its own, so workers on one host never mix their metrics;
each needs its own port), and answers liveness (`/healthz`) and readiness (`/readyz`) probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import glob
import logging
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from pipeline import __version__, codec
from pipeline.kafka import check_transactions, ensure_topics
from pipeline.runtime.endpoints import Endpoints
from pipeline.runtime.stage_main import SUPERVISOR_PID_ENV
from pipeline.settings import ENV_PREFIX, Settings

log = logging.getLogger(__name__)

STOP_TIMEOUT = 15.0
RESTART_BACKOFF_MAX = 30.0
# A stage that ran this long before it died starts again at the shortest backoff: it was a
# one-off crash, not a loop.
BACKOFF_RESET_AFTER = 60.0
# A stage that dies this many times in a row without ever becoming ready is misconfigured
# (bad model path, unreachable broker): give up rather than spin.
MAX_FAILED_STARTS = 3


class StageMetrics(MultiProcessCollector):
    """The stage processes' metric files, combined; a file a starting process has created but
    not yet sized is left out (prometheus_client cannot read an empty file)."""

    def collect(self) -> Iterable[Metric]:
        files = glob.glob(os.path.join(self._path, "*.db"))
        return self.merge([f for f in files if _has_data(f)], accumulate=True)


def _has_data(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:  # gone: a dead process's gauge file removed meanwhile
        return False


@dataclass
class StageProcess:
    stage: str
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    failed_starts: int = 0
    was_ready: bool = False
    restart_at: float | None = None
    exit_codes: list[int] = field(default_factory=list)


def _release(stage: StageProcess) -> None:
    """Let a stage process join its group: it waits for its standard input to close."""
    if stage.process is not None and stage.process.stdin is not None:
        stage.process.stdin.close()


class StageFailed(RuntimeError):
    """A stage process keeps dying before it becomes ready."""


class MetricsPortInUse(RuntimeError):
    """The metrics and health port is taken, typically by another worker on the same host."""


class Supervisor:
    """Starts, watches and stops the stage processes of one ``wirestream worker``."""

    def __init__(self, settings: Settings, log_stream: IO[str] | None = None) -> None:
        self.settings = settings
        self.log_stream = log_stream
        self.stages = {name: StageProcess(name) for name in settings.stages}
        self.metrics_dir = Path(tempfile.mkdtemp(prefix="wirestream-metrics-"))
        self.registry = CollectorRegistry()
        self._stage_metrics = StageMetrics(self.registry, path=str(self.metrics_dir))
        self.restarts = Counter(
            "wirestream_stage_restarts",
            "Stage processes restarted by the supervisor after they exited.",
            ["stage"],
            registry=self.registry,
        )
        for name in self.stages:
            self.restarts.labels(name)
        Gauge(
            "wirestream_worker_up",
            "1 while every stage process of this worker is running.",
            registry=self.registry,
        ).set_function(lambda: float(self.is_alive()))
        Gauge(
            "wirestream_worker_ready",
            "1 while every stage of this worker is ready (see /readyz).",
            registry=self.registry,
        ).set_function(lambda: float(self.is_ready()))
        Gauge(
            "wirestream_build_info",
            "Always 1: the Wirestream and Python versions of this worker, as labels.",
            ["version", "python_version"],
            registry=self.registry,
        ).labels(__version__, platform.python_version()).set(1)
        # The supervisor's own process_* metrics; stage processes report theirs as
        # wirestream_process_resident_memory_bytes.
        ProcessCollector(registry=self.registry)
        self.port: int | None = None
        self._endpoints: Endpoints | None = None
        self._stopping = asyncio.Event()
        self._failure: BaseException | None = None

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, broker_ready: Awaitable[None] | None = None) -> None:
        """Serve health and metrics, start the stage processes, check the topics; once this
        returns, the stages join their groups. ``broker_ready``, if given, is awaited before the
        topics are checked: a broker starting meanwhile (the demo's)."""
        # The port first: a second worker on a host fails at once, before any broker retries.
        await self._start_http()
        # The stage processes load their models while the topics are checked; each joins its
        # group only once its standard input closes (``_release``).
        for stage in self.stages.values():
            await self._spawn(stage, hold=True)
        try:
            if broker_ready is not None:
                await broker_ready
            await ensure_topics(self.settings)
            if self.settings.exactly_once:
                await check_transactions(self.settings)
        except BaseException:
            await self.stop()
            raise
        for stage in self.stages.values():
            _release(stage)

    async def run(self) -> None:
        """Start, then supervise until ``stop()`` or a signal; raises if a stage cannot start."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        try:
            await self.start()
            await self.supervise()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.stop()
        if self._failure:
            raise self._failure

    @contextlib.asynccontextmanager
    async def running(self, ready_within: float) -> AsyncIterator[Supervisor]:
        """Started, supervised and ready, within this process's event loop (a test's, a
        benchmark's); stopped on exit."""
        await self.start()
        watcher = asyncio.create_task(self.supervise())
        try:
            await self.wait_ready(ready_within)
            yield self
        finally:
            await self.stop()
            await watcher

    async def supervise(self) -> None:
        while not self._stopping.is_set():
            ready = self.stage_readiness()
            for stage in self.stages.values():
                if ready.get(stage.stage):
                    stage.was_ready, stage.failed_starts = True, 0
                await self._check(stage)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=0.5)

    async def stop(self) -> None:
        self._stopping.set()
        running = [
            s.process for s in self.stages.values() if s.process and s.process.returncode is None
        ]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in running:
            try:
                await asyncio.wait_for(
                    process.wait(), timeout=max(deadline - time.monotonic(), 0.1)
                )
            except TimeoutError:
                log.warning("stage process %s did not stop in time; killing it", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._endpoints is not None:
            self._endpoints.stop()
            self._endpoints = None
        shutil.rmtree(self.metrics_dir, ignore_errors=True)

    async def wait_ready(self, within: float) -> None:
        """Wait until every stage reports ready; raise if one fails or time runs out."""
        deadline = time.monotonic() + within
        while not self.is_ready():
            if self._failure:
                raise self._failure
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"stages not ready after {within:.0f}s: {self.stage_readiness()}"
                )
            await asyncio.sleep(0.2)

    # --- processes ---------------------------------------------------------------------------

    def stage_environment(self) -> dict[str, str]:
        """The environment of a stage process: this one's, less Wirestream's settings (they
        travel on the process's standard input, secrets included), plus its metrics directory."""
        env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.metrics_dir)
        env[SUPERVISOR_PID_ENV] = str(os.getpid())
        return env

    async def _spawn(self, stage: StageProcess, *, hold: bool = False) -> None:
        """Start a stage process; unless ``hold`` (then ``_release`` lets it go), it joins its
        group as soon as faust is imported, while its code process loads the models."""
        output = self.log_stream if self.log_stream is not None else None
        stage.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pipeline.runtime.stage_main",
            stage.stage,
            env=self.stage_environment(),
            stdin=asyncio.subprocess.PIPE,
            stdout=output,
            stderr=output,
        )
        assert stage.process.stdin is not None
        stage.process.stdin.write(codec.dumps(self.settings.as_strings(secrets=True)) + b"\n")
        with contextlib.suppress(ConnectionError):
            await stage.process.stdin.drain()
        if not hold:
            _release(stage)
        stage.started_at = time.monotonic()
        stage.was_ready = False
        log.info("started %s stage as process %d", stage.stage, stage.process.pid)

    async def _check(self, stage: StageProcess) -> None:
        process = stage.process
        if process is None:
            if stage.restart_at is not None and time.monotonic() >= stage.restart_at:
                stage.restart_at = None
                await self._spawn(stage)
            return
        if process.returncode is None:
            return
        stage.exit_codes.append(process.returncode)
        mark_process_dead(process.pid, str(self.metrics_dir))
        stage.process = None
        if not stage.was_ready:
            stage.failed_starts += 1
        if stage.failed_starts >= MAX_FAILED_STARTS:
            self._failure = StageFailed(
                f"stage {stage.stage!r} exited {stage.failed_starts} times before becoming ready "
                f"(exit codes {stage.exit_codes[-MAX_FAILED_STARTS:]}); see its log above"
            )
            self._stopping.set()
            return
        if stage.was_ready and time.monotonic() - stage.started_at > BACKOFF_RESET_AFTER:
            stage.restarts = 0
        delay = min(2.0**stage.restarts, RESTART_BACKOFF_MAX)
        log.warning(
            "stage %s (pid %d) exited with %d; restarting in %.0fs",
            stage.stage, process.pid, process.returncode, delay,
        )  # fmt: skip
        stage.restarts += 1
        stage.restart_at = time.monotonic() + delay
        self.restarts.labels(stage.stage).inc()

    # --- health and metrics ---------------------------------------------------------------

    def _per_stage(self, metric_name: str) -> dict[str, float]:
        """A stage-labelled gauge of the stage processes, as combined for /metrics."""
        values = dict.fromkeys(self.stages, 0.0)
        for metric in self._stage_metrics.collect():
            if metric.name != metric_name:
                continue
            for sample in metric.samples:
                stage = sample.labels.get("stage")
                if stage in values:
                    values[stage] = sample.value
        return values

    def stage_readiness(self) -> Mapping[str, bool]:
        """Per stage: models loaded, group joined and partitions assigned, not rebalancing.

        A process that owns no partition (more workers than partitions) is ready too: it is a
        standby that takes over partitions on the next rebalance.
        """
        ready = self._per_stage("wirestream_stage_ready")
        return {stage: value >= 1 for stage, value in ready.items()}

    def is_alive(self) -> bool:
        return not self._stopping.is_set() and all(
            s.process is not None and s.process.returncode is None for s in self.stages.values()
        )

    def is_ready(self) -> bool:
        return self.is_alive() and all(self.stage_readiness().values())

    async def _start_http(self) -> None:
        endpoints = Endpoints(
            lambda: generate_latest(self.registry), self._health, self._readiness_document
        )
        host, port = self.settings.metrics_host, self.settings.metrics_port
        try:
            self.port = endpoints.start(host, port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise MetricsPortInUse(
                f"metrics port {port} on {host} is already in use, probably by another "
                "`wirestream worker` on this host; give each worker its own port with "
                "--metrics-port N or WIRESTREAM_METRICS_PORT=N (0 picks a free one)"
            ) from exc
        self._endpoints = endpoints

    @property
    def metrics_url(self) -> str:
        return f"http://{self.settings.metrics_host}:{self.port}/metrics"

    # The two checks run in the endpoints' threads: they only read.
    def _health(self) -> tuple[bool, dict]:
        alive = self.is_alive()
        return alive, {"alive": alive}

    def _readiness_document(self) -> tuple[bool, dict]:
        readiness = self.stage_readiness()
        ready = self.is_alive() and all(readiness.values())
        partitions = self._per_stage("wirestream_assigned_partitions")
        return ready, {
            "ready": ready,
            "stages": readiness,
            "partitions": {stage: int(count) for stage, count in partitions.items()},
        }
