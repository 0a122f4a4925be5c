"""Faust wiring: one faust app (one consumer group) per stage, with one thin agent.

Each stage is its own consumer group (`<prefix>-<stage>`), so workers running different sets of
stages never share an assignment, and the partitions of one stage's input topic are split among
exactly the workers that run that stage.

The clean stage's app has a second agent, the duplicate check. The clean agent (N partitions, in
parallel) sends its articles to the internal dedup topic, which has ONE partition; the dedup agent
owning it checks each article against the duplicate index, annotates or drops it, and sends it on
to the clean topic. One partition means one owner at a time, so decisions are exact and ordered
across all partitions and workers. The index's entries are changelogged to a compacted topic
(``pipeline.changelog``), so they survive restarts and move with the partition on a rebalance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP, EventT
from prometheus_client import CollectorRegistry

from pipeline import changelog, codec
from pipeline.changelog import ChangelogDict
from pipeline.envelope import Incoming, dead_letter, parse_timestamp
from pipeline.kafka import faust_broker_url
from pipeline.metrics import DedupMetrics, StageMetrics
from pipeline.models import Article, DeadLetter, Reason, Rejection
from pipeline.observability import observe_stage
from pipeline.settings import Settings
from pipeline.stages import Stage, input_topic, output_topic
from pipeline.stages.dedup import DedupStage, DuplicateIndex

log = logging.getLogger(__name__)

# Sends results on (articles to the given topic, dead letters to theirs) and waits for the broker.
Deliver = Callable[[Sequence[Article | DeadLetter], faust.TopicT], Awaitable[None]]


def _incoming(event: EventT) -> Incoming:
    message = event.message
    return Incoming(
        value=message.value,
        key=message.key,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp=message.timestamp,
    )


class StageRunner:
    """Runs a stage on batches and records the results; owns no Kafka objects of its own.

    A threaded runner keeps the event loop free to heartbeat and serve metrics while a batch is
    processed; the duplicate check runs on the loop instead: it takes a millisecond or two, and its
    state belongs to the loop.
    """

    def __init__(self, stage: Stage, metrics: StageMetrics, *, threaded: bool = True) -> None:
        self.stage = stage
        self.metrics = metrics
        # One thread: models are not shared between threads.
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{stage.name}-stage")
            if threaded
            else None
        )

    async def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        try:
            if self._executor is None:
                return self.stage.process(batch)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.stage.process, batch)
        except Exception as exc:
            # Stages turn per-article failures into dead letters themselves; this is the last
            # line for a bug that escapes them, so the agent keeps consuming.
            log.exception("stage %s failed on a batch of %d", self.stage.name, len(batch))
            failure = Rejection(Reason.STAGE_ERROR, repr(exc))
            return [dead_letter(self.stage.name, message, failure) for message in batch]

    def record(
        self, batch_size: int, results: Sequence[Article | DeadLetter], started: float
    ) -> None:
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
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


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


@dataclass(frozen=True, slots=True)
class StageApp:
    app: faust.App
    agent: faust.types.AgentT
    runner: StageRunner
    metrics: StageMetrics
    sink: faust.TopicT  # where the stage agent sends articles (the dedup topic for clean)
    dead_letters: faust.TopicT
    dedup: DedupWiring | None = None


def build_app(
    settings: Settings, stage: Stage, registry: CollectorRegistry | None = None
) -> StageApp:
    """The faust app of one stage: its consumer group, topics and agent."""
    registry = registry or CollectorRegistry()
    datadir = settings.data_dir / stage.name
    datadir.mkdir(parents=True, exist_ok=True)
    metrics = StageMetrics(stage.name, registry)
    runner = StageRunner(stage, metrics)
    app = faust.App(
        settings.group_id(stage.name),
        broker=faust_broker_url(settings.broker_url),
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        stream_wait_empty=True,
        datadir=str(datadir),
        logging_config=None,
    )
    app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(registry, "faust"))

    def topic(name: str, partitions: int = settings.partitions) -> faust.TopicT:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions,
        )

    source = topic(input_topic(settings, stage.name))
    sink = topic(output_topic(settings, stage.name))
    dead_letters = topic(settings.topic_dlq)
    observer = observe_stage(app, stage, source, metrics, registry)

    async def deliver(results: Sequence[Article | DeadLetter], articles_to: faust.TopicT) -> None:
        pending = []
        for result in results:
            if isinstance(result, DeadLetter):
                key = result.article_id or result.key
                target = dead_letters
            else:
                key, target = result.id, articles_to
            pending.append(
                await target.send(key=key.encode() if key else None, value=codec.dumps(result))
            )
        # Wait until the broker has every result before acknowledging the inputs.
        await asyncio.gather(*pending)

    dedup = None
    if stage.name == "clean":
        dedup_source = topic(settings.topic_dedup, partitions=1)
        index_topic = topic(settings.topic_dedup_index, partitions=1)
        dedup = _wire_dedup(
            app, settings, registry, metrics, dedup_source, sink, index_topic, deliver
        )
        sink = dedup_source  # the clean agent feeds the duplicate check

    @app.agent(source, name=f"{stage.name}-agent", concurrency=1)
    async def stage_agent(stream: faust.StreamT[Any]) -> None:
        # noack_take: offsets advance only after a batch's results are delivered (acked below),
        # never when a batch is merely taken off the topic.
        async for events in stream.noack_take(settings.batch_size, within=settings.batch_timeout):
            started = time.perf_counter()
            results = await runner.process([_incoming(event) for event in events])
            await deliver(results, sink)
            for event in events:
                await stream.ack(event)
            runner.record(len(events), results, started)
            observer.observe(results)

    counted = {stage.name: source.get_topic_name()}
    if dedup is not None:
        counted[DedupStage.name] = dedup.source.get_topic_name()

    @app.on_partitions_assigned.connect
    async def count_partitions(_: faust.App, assigned: set[TP], **__: Any) -> None:
        for name, topic_name in counted.items():
            mine = sum(1 for tp in assigned if tp.topic == topic_name)
            metrics.assigned_partitions.labels(name).set(mine)

    @app.on_rebalance_complete.connect
    async def mark_ready(*_: Any, **__: Any) -> None:
        metrics.ready.labels(stage.name).set(1)

    return StageApp(
        app=app,
        agent=stage_agent,
        runner=runner,
        metrics=metrics,
        sink=sink,
        dead_letters=dead_letters,
        dedup=dedup,
    )


def _wire_dedup(
    app: faust.App,
    settings: Settings,
    registry: CollectorRegistry,
    metrics: StageMetrics,
    source: faust.TopicT,
    sink: faust.TopicT,
    index_topic: faust.TopicT,
    deliver: Deliver,
) -> DedupWiring:
    """The duplicate check: its state, kept right across rebalances, and its agent on the
    one-partition dedup topic."""
    dedup_metrics = DedupMetrics(registry)
    metrics.track(DedupStage.name)
    state = DedupState(settings, dedup_metrics)
    # On the loop: the check takes a millisecond or two, and the entries belong to the loop.
    runner = StageRunner(DedupStage(state.index), metrics, threaded=False)
    owned = TP(source.get_topic_name(), 0)
    drop = settings.dedup_mode == "drop"

    @app.on_partitions_assigned.connect
    async def track_ownership(_: faust.App, assigned: set[TP], **__: Any) -> None:
        state.on_assignment(owned in assigned)

    async def write_changes() -> list[int]:
        """Send the entries changed by the last batch; their offsets once the broker has them."""
        pending = []
        for key, value in state.entries.take_changes().items():
            key_bytes, value_bytes = changelog.encode_change(key, value)
            pending.append(await index_topic.send(key=key_bytes, value=value_bytes))
        return [metadata.offset for metadata in await asyncio.gather(*pending)]

    @app.agent(source, name=f"{DedupStage.name}-agent", concurrency=1)
    async def dedup_agent(stream: faust.StreamT[Any]) -> None:
        async for events in stream.noack_take(settings.batch_size, within=settings.batch_timeout):
            started = time.perf_counter()
            await _retrying(state.ensure_current, "load the duplicate index")
            results = await runner.process([_incoming(event) for event in events])
            emitted = []
            for result in results:
                if isinstance(result, Article) and result.duplicate_of is not None:
                    dedup_metrics.duplicates.labels("dropped" if drop else "annotated").inc()
                    if drop:
                        continue
                emitted.append(result)
            try:
                offsets, _ = await asyncio.gather(write_changes(), deliver(emitted, sink))
            except BaseException:
                state.distrust()
                raise
            state.written(offsets)
            for event in events:
                await stream.ack(event)
            runner.record(len(events), emitted, started)
            dedup_metrics.index_entries.set(len(state.index))

    return DedupWiring(
        agent=dedup_agent,
        state=state,
        runner=runner,
        metrics=dedup_metrics,
        source=source,
        sink=sink,
        index_topic=index_topic,
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
