"""The duplicate check inside the clean stage's app.

The clean agent (N partitions, in parallel) sends its articles to the internal dedup topic, which
has ONE partition; the dedup agent owning it checks each article against the duplicate index,
annotates or drops it, and sends it on to the clean topic. One partition means one owner at a
time, so decisions are exact and ordered across all partitions and workers. The index's entries
are changelogged to a compacted topic (``pipeline.changelog``), so they survive restarts and move
with the partition on a rebalance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.types import TP
from prometheus_client import CollectorRegistry

from pipeline import changelog
from pipeline.changelog import ChangelogDict
from pipeline.envelope import Incoming
from pipeline.metrics import DedupMetrics, StageMetrics
from pipeline.runtime.batch_loop import BatchLoop
from pipeline.runtime.delivery import Delivery
from pipeline.runtime.encoded import DUPLICATE, Encoded
from pipeline.runtime.runner import LocalStage, StageRunner
from pipeline.runtime.transactions import transactions_for
from pipeline.settings import Settings
from pipeline.stages.dedup import DedupStage, DuplicateIndex

log = logging.getLogger(__name__)


class DedupState:
    """The duplicate index, and its entries while this process owns the dedup partition.

    The entries are a ``ChangelogDict``: each batch's changes go to the compacted index topic and
    are awaited with the batch's results. Before its first check after an assignment, the owner
    makes sure its entries are those of the index topic: unless nothing was written there since
    this process last wrote or read it, it reads the topic back and rebuilds the lookups.
    """

    def __init__(self, settings: Settings, metrics: DedupMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.entries = ChangelogDict()
        self.index = DuplicateIndex(
            self.entries,
            window_seconds=settings.dedup_window_hours * 3600,
            max_entries=settings.dedup_max_entries,
            threshold=settings.dedup_threshold,
        )
        self.current = False
        # Offset of the index topic after the last change this process wrote or read.
        self.known_end: int | None = None

    async def end_offset(self) -> int:
        return await changelog.end_offset(self.settings, self.settings.topic_dedup_index)

    async def read(self) -> tuple[dict[str, Any], int]:
        return await changelog.read_changelog(self.settings, self.settings.topic_dedup_index)

    async def ensure_current(self) -> None:
        if self.current:
            return
        if self.known_end is None or await self.end_offset() != self.known_end:
            started = time.perf_counter()
            entries, self.known_end = await self.read()
            self.entries.reset(entries)
            self.index.invalidate()
            for _ in self.index.rebuild():
                await asyncio.sleep(0)  # heartbeats and metrics go on while a large index loads
            self.metrics.rebuild_seconds.set(time.perf_counter() - started)
            log.info("duplicate index loaded: %d articles", len(self.index))
        self.current = True
        self.metrics.index_entries.set(len(self.index))

    def on_assignment(self, owner: bool) -> None:
        """After a rebalance: check the entries before the next use, or drop them if another
        process owns the dedup partition now."""
        self.current = False
        if not owner:
            self.entries.reset({})
            self.index.invalidate()
            self.known_end = None
            self.metrics.index_entries.set(0)

    def written(self, offsets: list[int]) -> None:
        if offsets:
            self.known_end = max(offsets) + 1

    def distrust(self) -> None:
        """Changes may have missed the index topic: read it back before the next check, so that
        the replayed inputs are decided on what the broker holds."""
        self.current = False
        self.known_end = None


@dataclass(frozen=True, slots=True)
class DedupWiring:
    """The duplicate check inside the clean stage's app."""

    agent: faust.types.AgentT
    state: DedupState
    runner: StageRunner
    metrics: DedupMetrics
    source: faust.TopicT  # the one-partition dedup topic
    sink: faust.TopicT  # the clean topic
    index_topic: faust.TopicT  # the compacted topic of the index's entries
    loop: BatchLoop


def wire_dedup(
    app: faust.App,
    settings: Settings,
    registry: CollectorRegistry,
    metrics: StageMetrics,
    delivery: Delivery,
    source: faust.TopicT,
    sink: faust.TopicT,
    index_topic: faust.TopicT,
) -> DedupWiring:
    """The duplicate check: its state, kept right across rebalances, and its agent on the
    one-partition dedup topic, running the same batch loop as every stage."""
    dedup_metrics = DedupMetrics(registry)
    metrics.track(DedupStage.name)
    state = DedupState(settings, dedup_metrics)
    # On the loop: the check takes a millisecond or two, and the entries belong to the loop.
    stage = LocalStage(DedupStage(state.index), settings.max_message_bytes, threaded=False)
    runner = StageRunner(stage, metrics, settings.article_timeout, settings.max_message_bytes)
    owned = TP(source.get_topic_name(), 0)
    drop = settings.dedup_mode == "drop"

    @app.on_partitions_assigned.connect
    async def track_ownership(_: faust.App, assigned: set[TP], **__: Any) -> None:
        state.on_assignment(owned in assigned)

    async def check(batch: Sequence[Incoming]) -> list[Encoded]:
        """The batch's articles, annotated as duplicates or left out in drop mode (counted)."""
        await _retrying(state.ensure_current, "load the duplicate index")
        emitted = []
        for result in await runner.process(batch):
            if DUPLICATE in result.summary.content:
                dedup_metrics.duplicates.labels("dropped" if drop else "annotated").inc()
                if drop:
                    continue
            emitted.append(result)
        return emitted

    async def write_changes(delivery: Delivery) -> None:
        """Send the entries the batch changed, with the batch's results (in its transaction, in
        exactly-once), and wait until the broker has them."""
        try:
            pending = []
            for key, value in state.entries.take_changes().items():
                key_bytes, value_bytes = changelog.encode_change(key, value)
                pending.append(await delivery.produce(index_topic, key_bytes, value_bytes))
            offsets = [metadata.offset for metadata in await asyncio.gather(*pending)]
        except BaseException:
            state.distrust()
            raise
        state.written(offsets)

    def after(batch_size: int, results: Sequence[Encoded], started: float) -> None:
        runner.record(batch_size, results, started)
        dedup_metrics.index_entries.set(len(state.index))

    transactions = transactions_for(app, settings, source, delivery.dead_letters)
    loop = BatchLoop(
        app, DedupStage.name, settings, check, delivery, sink, after,
        also=write_changes, transactions=transactions,
    )  # fmt: skip

    @app.agent(source, name=f"{DedupStage.name}-agent", concurrency=1)
    async def dedup_agent(stream: faust.StreamT[Any]) -> None:
        await loop.run(stream)

    return DedupWiring(
        agent=dedup_agent,
        state=state,
        runner=runner,
        metrics=dedup_metrics,
        source=source,
        sink=sink,
        index_topic=index_topic,
        loop=loop,
    )


async def _retrying(action: Callable[[], Awaitable[None]], what: str) -> None:
    """Run ``action`` until it succeeds: a broker hiccup delays the batch, it does not lose it."""
    delay = 0.5
    while True:
        try:
            await action()
            return
        except (KafkaError, OSError) as exc:
            log.warning("could not %s (%r); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
