"""Stage code as the batch loop calls it: a batch in, one result per message out, within a
time limit, each message that cannot be processed turned into its dead letter."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from pipeline.envelope import Incoming, dead_letter, whole_or_each_async
from pipeline.events import StageInfo
from pipeline.metrics import StageMetrics
from pipeline.runtime.encoded import Encoded, carried_headers, encode_result, process_encoded
from pipeline.runtime.sandbox import StageFailure
from pipeline.stages import Stage

if TYPE_CHECKING:  # an optional extra: imported only when `tracing` is on
    from pipeline.runtime.tracing import StageTracer

log = logging.getLogger(__name__)


class BatchProcessor(Protocol):
    """Stage code as the agents call it: a batch in, its encoded results out (one per message,
    in order), within a time limit."""

    name: str
    info: StageInfo

    async def process(self, batch: Sequence[Incoming], time_limit: float) -> list[Encoded]:
        """Raises ``StageFailure`` when the batch could not be finished."""
        ...

    def close(self) -> None: ...


class LocalStage:
    """A stage object run in this process: in one thread (so the event loop stays free to
    heartbeat), or on the loop itself for quick work that must touch the loop's state.

    No time limit can be enforced on code in this process; stage processes run their stage
    through ``pipeline.runtime.sandbox.IsolatedStage`` instead, and this serves the duplicate
    check, tests and quick checks.
    """

    def __init__(self, stage: Stage, max_bytes: int, *, threaded: bool = True) -> None:
        self.stage = stage
        self.name = stage.name
        self.info = stage.info
        self._run = functools.partial(process_encoded, stage, max_bytes=max_bytes)
        # One thread: models are not shared between threads.
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{stage.name}-stage")
            if threaded
            else None
        )

    async def process(self, batch: Sequence[Incoming], time_limit: float) -> list[Encoded]:
        if self._executor is None:
            return self._run(batch)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, batch)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


class StageRunner:
    """Runs stage code on batches within the time limit and records the results."""

    def __init__(
        self,
        stage: BatchProcessor,
        metrics: StageMetrics,
        time_limit: float,
        max_bytes: int,
        tracer: StageTracer | None = None,
    ) -> None:
        self.stage = stage
        self.metrics = metrics
        self.time_limit = time_limit
        self.max_bytes = max_bytes
        self.tracer = tracer  # None while `tracing` is off: no span, no cost

    async def process(self, batch: Sequence[Incoming]) -> list[Encoded]:
        """The batch's results; each message that cannot be processed becomes a dead letter.

        A batch over the time limit (or whose process died) is redone one message at a time
        (``whole_or_each``), so that only the culprit is dead-lettered, with reason ``timeout``
        (or ``stage_error``). With a tracer, each result carries its article's new span.
        """
        started_ns = time.time_ns() if self.tracer is not None else 0

        async def run(messages: Sequence[Incoming]) -> list[Encoded]:
            return await self.stage.process(messages, self.time_limit)

        def letter(message: Incoming, failure: Exception) -> Encoded:
            assert isinstance(failure, StageFailure)
            name = self.stage.name
            letter = dead_letter(name, message, failure.rejection)
            return encode_result(name, letter, self.max_bytes, carried_headers(message))

        results = await whole_or_each_async(
            f"{self.stage.name} stage", batch, run, letter, errors=(StageFailure,)
        )
        if self.tracer is None:
            return results
        return self.tracer.trace(batch, results, started_ns)

    def record(self, batch_size: int, results: Sequence[Encoded], started: float) -> None:
        name = self.stage.name
        metrics = self.metrics
        metrics.batch_size.labels(name).observe(batch_size)
        metrics.batch_seconds.labels(name).observe(time.perf_counter() - started)
        metrics.messages.labels(name, "in").inc(batch_size)
        for result in results:
            summary = result.summary
            if summary.dead_letter is not None:
                metrics.messages.labels(name, "failed").inc()
                metrics.dead_letters.labels(name, summary.dead_letter).inc()
                continue
            metrics.messages.labels(name, "out").inc()
            metrics.stage_seconds.labels(name).observe(summary.seconds)
            if summary.latency is not None:
                metrics.end_to_end_seconds.observe(summary.latency)

    def close(self) -> None:
        self.stage.close()
        if self.tracer is not None:
            self.tracer.close()
