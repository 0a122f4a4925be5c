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

Every agent runs ``BatchLoop``: take a batch without acknowledging it, process it, deliver every
result to the broker, and only then acknowledge the batch, whose offsets faust commits every
``commit_interval``. Nothing is acknowledged that is not delivered, so a crash at any point loses
nothing: the uncommitted messages are delivered again, and their results carry the same
``event_id``. A failure the loop cannot turn into a dead letter ends the whole stage process (see
``fail_stop``) rather than leaving faust to restart the agent with its batch unacknowledged,
which would stall the partition's commits for good; the supervisor starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

import faust
from aiokafka.errors import KafkaError
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP, EventT
from prometheus_client import CollectorRegistry

from pipeline import changelog
from pipeline.changelog import ChangelogDict
from pipeline.envelope import Incoming, dead_letter, parse_timestamp
from pipeline.events import Article, DeadLetter, Reason, Rejection, StageInfo
from pipeline.kafka import faust_broker_url, faust_credentials
from pipeline.metrics import DedupMetrics, StageMetrics
from pipeline.observability import observe_stage
from pipeline.runtime.delivery import Delivery, Undeliverable
from pipeline.runtime.faust_app import StageFaustApp
from pipeline.runtime.sandbox import IsolatedStage, StageFailure, StageUnavailable
from pipeline.settings import Settings
from pipeline.stages import Stage, input_topic, output_topic
from pipeline.stages.dedup import DedupStage, DuplicateIndex

log = logging.getLogger(__name__)

Result = Article | DeadLetter
# The exit status of a stage process that stopped itself because it could not go on safely.
EXIT_FAILED = 70


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


class StageStopped(RuntimeError):
    """A stage cannot go on without risking a message: its process must stop and restart."""


@dataclass
class BatchLoop:
    """The one loop every agent runs: take, process, deliver, then acknowledge.

    ``process`` turns a batch into the results to send (it may leave messages out, as a
    duplicate check that drops does); ``also`` sends what else must reach the broker before the
    batch counts as done (the duplicate index's changes); ``after`` sees each delivered batch,
    for metrics; ``on_fatal`` ends the process when the loop cannot go on (``fail_stop``).
    """

    app: faust.App
    name: str
    settings: Settings
    process: Callable[[Sequence[Incoming]], Awaitable[list[Result]]]
    delivery: Delivery
    articles_to: faust.TopicT
    after: Callable[[int, Sequence[Result], float], None]
    also: Callable[[], Awaitable[None]] | None = None
    on_fatal: Callable[[faust.App, str, BaseException | None], Awaitable[None]] = field(
        default=lambda app, reason, exc: fail_stop(app, reason, exc)
    )

    async def run(self, stream: faust.StreamT[Any]) -> None:
        """The agent's body. Returns only when the app stops; anything else stops the process."""
        try:
            # noack_take: offsets advance only after a batch's results are delivered (acked
            # below), never when a batch is merely taken off the topic, nor when the agent is
            # cancelled in the middle of one (faust's take() acks its batch even then).
            async for events in stream.noack_take(
                self.settings.batch_size, within=self.settings.batch_timeout
            ):
                started = time.perf_counter()
                messages = [_incoming(event) for event in events]
                delivering = self._deliver(messages, await self.process(messages))
                if self.also is None:
                    results = await delivering
                else:
                    results, _ = await asyncio.gather(delivering, self.also())
                for event in events:
                    await stream.ack(event)
                self.after(len(events), results, started)
        except Exception as exc:  # a cancellation (the app stopping) passes through
            await self.on_fatal(self.app, f"{self.name} agent failed: {exc!r}", exc)
            return
        if not (self.app.should_stop or stream.should_stop):
            await self.on_fatal(
                self.app, f"{self.name} agent's stream ended while the app runs", None
            )

    async def _deliver(self, messages: Sequence[Incoming], results: list[Result]) -> list[Result]:
        """Deliver the results, each refused one replaced by its message's dead letter."""
        try:
            await self.delivery.send(results, self.articles_to)
            return results
        except Undeliverable as refused:
            log.warning("%s: the broker refused results for good (%s)", self.name, refused)
            failures = refused.refused
        if len(results) == len(messages):  # one result per message, in order: the usual case
            position = {id(result): n for n, result in enumerate(results)}
            letters = {
                position[id(result)]: self._letter(messages[position[id(result)]], exc)
                for result, exc in failures
            }
            await self._send_letters(list(letters.values()))
            return [letters.get(n, result) for n, result in enumerate(results)]
        # Some messages gave no result (duplicates dropped): find out whose results were
        # refused by redoing the batch one message at a time. Results delivered before are sent
        # again, as after a crash; consumers drop them by event_id.
        delivered: list[Result] = []
        for message in messages:
            own = await self.process([message])
            try:
                await self.delivery.send(own, self.articles_to)
            except Undeliverable as exc:
                own = [self._letter(message, exc.refused[0][1])]
                await self._send_letters(own)
            delivered.extend(own)
        return delivered

    def _letter(self, message: Incoming, exc: BaseException) -> DeadLetter:
        rejection = Rejection(Reason.UNDELIVERABLE, f"{type(exc).__name__}: {exc}")
        return dead_letter(self.name, message, rejection)

    async def _send_letters(self, letters: Sequence[Result]) -> None:
        try:
            await self.delivery.send(letters, self.articles_to)
        except Undeliverable as lost:
            raise StageStopped(f"a dead letter was refused too: {lost}") from lost


async def fail_stop(app: faust.App, reason: str, exc: BaseException | None) -> NoReturn:
    """Stop this stage process at once, with what is delivered committed and nothing else.

    Everything acknowledged has been delivered, so committing it first is safe and spares the
    next process some duplicates; the rest is delivered again after the supervisor's restart.
    """
    log.critical("stopping this stage process to restart it: %s", reason, exc_info=exc is not None)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(app.consumer.commit(), timeout=5.0)
    logging.shutdown()
    os._exit(EXIT_FAILED)


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


@dataclass(frozen=True, slots=True)
class StageApp:
    app: faust.App
    agent: faust.types.AgentT
    runner: StageRunner
    metrics: StageMetrics
    sink: faust.TopicT  # where the stage agent sends articles (the dedup topic for clean)
    dead_letters: faust.TopicT
    delivery: Delivery
    loop: BatchLoop
    dedup: DedupWiring | None = None


def faust_app(settings: Settings, group: str, datadir: str) -> faust.App:
    """A faust app configured for at-least-once delivery with Wirestream's settings."""
    return StageFaustApp(
        group,
        fetch_max_wait=settings.fetch_max_wait,
        idempotence=settings.idempotence,
        broker=faust_broker_url(settings.broker_url),
        broker_credentials=faust_credentials(settings),
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        broker_commit_interval=settings.commit_interval,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=settings.max_message_bytes,
        producer_compression_type=(
            None if settings.compression_type == "none" else settings.compression_type
        ),
        # Sends go out at once and are awaited, never held back until a commit.
        stream_publish_on_commit=False,
        # On a rebalance, wait for the batch in flight to be delivered and acked, and commit it.
        stream_wait_empty=True,
        datadir=datadir,
        logging_config=None,
    )


def build_app(
    settings: Settings,
    stage: Stage | BatchProcessor,
    registry: CollectorRegistry | None = None,
) -> StageApp:
    """The faust app of one stage: its consumer group, topics and agent.

    ``stage`` is the stage's code behind an ``IsolatedStage`` in a worker, or a stage object,
    run in this process, in tests.
    """
    processor: BatchProcessor = (
        stage if isinstance(stage, IsolatedStage | LocalStage) else LocalStage(stage)
    )
    registry = registry or CollectorRegistry()
    datadir = settings.data_dir / processor.name
    datadir.mkdir(parents=True, exist_ok=True)
    metrics = StageMetrics(processor.name, registry)
    runner = StageRunner(processor, metrics, settings.article_timeout)
    app = faust_app(settings, settings.group_id(processor.name), str(datadir))
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

    source = topic(input_topic(settings, processor.name))
    sink = topic(output_topic(settings, processor.name))
    dead_letters = topic(settings.topic_dlq)
    delivery = Delivery(dead_letters, settings)
    observer = observe_stage(app, processor, source, metrics, registry)  # type: ignore[arg-type]

    dedup = None
    if processor.name == "clean":
        dedup_source = topic(settings.topic_dedup, partitions=1)
        index_topic = topic(settings.topic_dedup_index, partitions=1)
        dedup = _wire_dedup(
            app, settings, registry, metrics, delivery, dedup_source, sink, index_topic
        )
        sink = dedup_source  # the clean agent feeds the duplicate check

    def after(batch_size: int, results: Sequence[Result], started: float) -> None:
        runner.record(batch_size, results, started)
        observer.observe(results)

    loop = BatchLoop(app, processor.name, settings, runner.process, delivery, sink, after)

    @app.agent(source, name=f"{processor.name}-agent", concurrency=1)
    async def stage_agent(stream: faust.StreamT[Any]) -> None:
        await loop.run(stream)

    counted = {processor.name: source.get_topic_name()}
    if dedup is not None:
        counted[DedupStage.name] = dedup.source.get_topic_name()

    @app.on_partitions_assigned.connect
    async def count_partitions(_: faust.App, assigned: set[TP], **__: Any) -> None:
        for name, topic_name in counted.items():
            mine = sum(1 for tp in assigned if tp.topic == topic_name)
            metrics.assigned_partitions.labels(name).set(mine)

    @app.on_rebalance_complete.connect
    async def mark_ready(*_: Any, **__: Any) -> None:
        metrics.ready.labels(processor.name).set(1)

    return StageApp(
        app=app,
        agent=stage_agent,
        runner=runner,
        metrics=metrics,
        sink=sink,
        dead_letters=dead_letters,
        delivery=delivery,
        loop=loop,
        dedup=dedup,
    )


def _wire_dedup(
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
    stage = LocalStage(DedupStage(state.index), threaded=False)
    runner = StageRunner(stage, metrics, settings.article_timeout)
    owned = TP(source.get_topic_name(), 0)
    drop = settings.dedup_mode == "drop"

    @app.on_partitions_assigned.connect
    async def track_ownership(_: faust.App, assigned: set[TP], **__: Any) -> None:
        state.on_assignment(owned in assigned)

    async def check(batch: Sequence[Incoming]) -> list[Result]:
        """The batch's articles, annotated as duplicates or left out in drop mode (counted)."""
        await _retrying(state.ensure_current, "load the duplicate index")
        emitted = []
        for result in await runner.process(batch):
            if isinstance(result, Article) and result.duplicate_of is not None:
                dedup_metrics.duplicates.labels("dropped" if drop else "annotated").inc()
                if drop:
                    continue
            emitted.append(result)
        return emitted

    async def write_changes() -> None:
        """Send the entries the batch changed, and wait until the broker has them."""
        try:
            pending = []
            for key, value in state.entries.take_changes().items():
                key_bytes, value_bytes = changelog.encode_change(key, value)
                pending.append(await index_topic.send(key=key_bytes, value=value_bytes))
            offsets = [metadata.offset for metadata in await asyncio.gather(*pending)]
        except BaseException:
            state.distrust()
            raise
        state.written(offsets)

    def after(batch_size: int, results: Sequence[Result], started: float) -> None:
        runner.record(batch_size, results, started)
        dedup_metrics.index_entries.set(len(state.index))

    loop = BatchLoop(
        app, DedupStage.name, settings, check, delivery, sink, after, also=write_changes
    )

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
