"""Stage code as the batch loop calls it: a batch in, one result per message out, within a
time limit, each message that cannot be processed turned into its dead letter."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from pipeline.envelope import Incoming, dead_letter, parse_timestamp
from pipeline.events import DeadLetter, Reason, Rejection, Result, StageInfo
from pipeline.metrics import StageMetrics
from pipeline.runtime.sandbox import StageFailure, StageUnavailable
from pipeline.stages import Stage

log = logging.getLogger(__name__)


class BatchProcessor(Protocol):
    """Stage code as the agents call it: a batch in, its results out, within a time limit."""

    name: str
    info: StageInfo

    async def process(self, batch: Sequence[Incoming], time_limit: float) -> list[Result]:
        """Raises ``StageFailure`` when the batch could not be finished."""
        ...

    def close(self) -> None: ...


class LocalStage:
    """A stage object run in this process: in one thread (so the event loop stays free to
    heartbeat), or on the loop itself for quick work that must touch faust tables.

    No time limit can be enforced on code in this process; stage processes run their stage
    through ``pipeline.runtime.sandbox.IsolatedStage`` instead, and this serves tests and quick
    checks.
    """

    def __init__(self, stage: Stage, *, threaded: bool = True) -> None:
        self.stage = stage
        self.name = stage.name
        self.info = stage.info
        # One thread: models are not shared between threads.
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{stage.name}-stage")
            if threaded
            else None
        )

    async def process(self, batch: Sequence[Incoming], time_limit: float) -> list[Result]:
        if self._executor is None:
            return self.stage.process(batch)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.stage.process, batch)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


class StageRunner:
    """Runs stage code on batches within the time limit and records the results."""

    def __init__(self, stage: BatchProcessor, metrics: StageMetrics, time_limit: float) -> None:
        self.stage = stage
        self.metrics = metrics
        self.time_limit = time_limit

    async def process(self, batch: Sequence[Incoming]) -> list[Result]:
        """The batch's results; each message that cannot be processed becomes a dead letter.

        A batch over the time limit (or whose process died) is redone one message at a time, so
        that only the culprit is dead-lettered, with reason ``timeout`` (or ``stage_error``).
        """
        try:
            return await self._attempt(batch)
        except StageFailure as failure:
            log.warning(
                "%s stage: a batch of %d failed (%s); retrying it one article at a time",
                self.stage.name, len(batch), failure,
            )  # fmt: skip
            if len(batch) == 1:
                return [dead_letter(self.stage.name, batch[0], failure.rejection)]
        results: list[Result] = []
        for message in batch:
            try:
                results.extend(await self._attempt([message]))
            except StageFailure as failure:
                log.warning(
                    "%s stage: message %s:%s@%s dead-lettered: %s",
                    self.stage.name, message.topic, message.partition, message.offset, failure,
                )  # fmt: skip
                results.append(dead_letter(self.stage.name, message, failure.rejection))
        return results

    async def _attempt(self, batch: Sequence[Incoming]) -> list[Result]:
        try:
            return await self.stage.process(batch, self.time_limit)
        except (StageFailure, StageUnavailable):
            raise
        except Exception as exc:
            # Stages turn per-article failures into dead letters themselves; this is the last
            # line for a bug that escapes them, so the agent keeps consuming.
            log.exception("stage %s failed on a batch of %d", self.stage.name, len(batch))
            failure = Rejection(Reason.STAGE_ERROR, repr(exc))
            return [dead_letter(self.stage.name, message, failure) for message in batch]

    def record(self, batch_size: int, results: Sequence[Result], started: float) -> None:
        name = self.stage.name
        metrics = self.metrics
        metrics.batch_size.labels(name).observe(batch_size)
        metrics.batch_seconds.labels(name).observe(time.perf_counter() - started)
        metrics.messages.labels(name, "in").inc(batch_size)
        for result in results:
            if isinstance(result, DeadLetter):
                metrics.messages.labels(name, "failed").inc()
                metrics.dead_letters.labels(name, result.reason).inc()
                continue
            metrics.messages.labels(name, "out").inc()
            metrics.stage_seconds.labels(name).observe(result.timings.get(f"{name}_ms", 0.0) / 1000)
            if result.enriched_at is not None:
                latency = parse_timestamp(result.enriched_at) - parse_timestamp(result.received_at)
                metrics.end_to_end_seconds.observe(max(latency.total_seconds(), 0.0))

    def close(self) -> None:
        self.stage.close()
