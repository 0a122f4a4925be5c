"""Faust wiring: one faust app (one consumer group) per stage, with one thin agent.

Each stage is its own consumer group (`<prefix>-<stage>`), so workers running different sets of
stages never share an assignment, and the partitions of one stage's input topic are split among
exactly the workers that run that stage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP, EventT
from prometheus_client import CollectorRegistry

from pipeline import codec
from pipeline.envelope import Incoming, dead_letter, parse_timestamp
from pipeline.kafka import faust_broker_url
from pipeline.metrics import StageMetrics
from pipeline.models import Article, DeadLetter, Reason, Rejection
from pipeline.observability import observe_stage
from pipeline.settings import Settings
from pipeline.stages import Stage, input_topic, output_topic

log = logging.getLogger(__name__)


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
    """Runs a stage on batches and delivers the results; owns no Kafka objects of its own."""

    def __init__(self, stage: Stage, metrics: StageMetrics) -> None:
        self.stage = stage
        self.metrics = metrics
        # One thread: models are not shared between threads, and the event loop stays free to
        # heartbeat and serve metrics while a batch is being processed.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{stage.name}-stage")

    async def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        loop = asyncio.get_running_loop()
        try:
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
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class StageApp:
    app: faust.App
    agent: faust.types.AgentT
    runner: StageRunner
    metrics: StageMetrics
    sink: faust.TopicT
    dead_letters: faust.TopicT


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

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
        )

    source = topic(input_topic(settings, stage.name))
    sink = topic(output_topic(settings, stage.name))
    dead_letters = topic(settings.topic_dlq)
    observer = observe_stage(app, stage, source, metrics, registry)

    async def deliver(results: Sequence[Article | DeadLetter]) -> None:
        pending = []
        for result in results:
            if isinstance(result, DeadLetter):
                key = result.article_id or result.key
                target = dead_letters
            else:
                key, target = result.id, sink
            pending.append(
                await target.send(key=key.encode() if key else None, value=codec.dumps(result))
            )
        # Wait until the broker has every result before acknowledging the inputs.
        await asyncio.gather(*pending)

    @app.agent(source, name=f"{stage.name}-agent", concurrency=1)
    async def stage_agent(stream: faust.StreamT[Any]) -> None:
        # noack_take: offsets advance only after a batch's results are delivered (acked below),
        # never when a batch is merely taken off the topic.
        async for events in stream.noack_take(settings.batch_size, within=settings.batch_timeout):
            started = time.perf_counter()
            results = await runner.process([_incoming(event) for event in events])
            await deliver(results)
            for event in events:
                await stream.ack(event)
            runner.record(len(events), results, started)
            observer.observe(results)

    @app.on_partitions_assigned.connect
    async def count_partitions(_: faust.App, assigned: set[TP], **__: Any) -> None:
        mine = sum(1 for tp in assigned if tp.topic == source.get_topic_name())
        metrics.assigned_partitions.labels(stage.name).set(mine)

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
    )
