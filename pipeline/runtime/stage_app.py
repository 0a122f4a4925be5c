"""Faust wiring: one faust app (one consumer group) per stage, with one thin agent.

Each stage is its own consumer group (`<prefix>-<stage>`), so workers running different sets of
stages never share an assignment, and the partitions of one stage's input topic are split among
exactly the workers that run that stage. The clean stage's app has a second agent, the duplicate
check (``pipeline.runtime.dedup_wiring``). Every agent runs ``BatchLoop``
(``pipeline.runtime.batch_loop``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry, Gauge

from pipeline.metrics import StageMetrics
from pipeline.observability import observe_stage
from pipeline.runtime.batch_loop import BatchLoop
from pipeline.runtime.delivery import Delivery
from pipeline.runtime.encoded import Encoded
from pipeline.runtime.faust_app import faust_app
from pipeline.runtime.runner import BatchProcessor, LocalStage, StageRunner
from pipeline.runtime.sandbox import IsolatedStage, StageUnavailable
from pipeline.runtime.transactions import transactions_for
from pipeline.settings import Settings
from pipeline.stages import Stage, input_topic, output_topic

if TYPE_CHECKING:
    from pipeline.runtime.dedup_wiring import DedupWiring
    from pipeline.runtime.tracing import StageTracer

DEDUP = "dedup"  # the duplicate check's agent, in the clean stage's app


@dataclass(frozen=True, slots=True)
class StageApp:
    app: faust.App
    agent: faust.types.AgentT
    runner: StageRunner
    metrics: StageMetrics
    sink: faust.TopicT | None  # where the agent sends articles (the dedup topic for clean)
    dead_letters: faust.TopicT
    delivery: Delivery
    loop: BatchLoop
    dedup: DedupWiring | None = None


class Readiness:
    """A stage is ready once its code has loaded its models and its consumer's rebalance is
    complete; a revoked assignment makes it unready until the next rebalance completes."""

    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge
        self.loaded = False
        self.assigned = False

    def set_loaded(self) -> None:
        self.loaded = True
        self._update()

    def set_assigned(self, assigned: bool) -> None:
        self.assigned = assigned
        self._update()

    def _update(self) -> None:
        self.gauge.set(1 if self.loaded and self.assigned else 0)


def stop_at_start(why: str) -> NoReturn:
    """End a stage process whose code could not start: the supervisor counts a failed start."""
    print(f"wirestream: {why}", file=sys.stderr, flush=True)
    logging.shutdown()
    os._exit(1)


def stage_tracer(stage: str) -> StageTracer:
    """The stage's tracer, exporting to standard error (`tracing = on`, which ``Settings``
    accepts only where OpenTelemetry is installed)."""
    from pipeline.runtime.tracing import StageTracer, console_provider  # the optional extra

    return StageTracer(stage, console_provider(stage))


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
        stage
        if isinstance(stage, IsolatedStage | LocalStage)
        else LocalStage(stage, settings.max_message_bytes)
    )
    registry = registry or CollectorRegistry()
    datadir = settings.data_dir / processor.name
    datadir.mkdir(parents=True, exist_ok=True)
    metrics = StageMetrics(processor.name, registry)
    runner = StageRunner(
        processor,
        metrics,
        settings.article_timeout,
        settings.max_message_bytes,
        stage_tracer(processor.name) if settings.tracing == "on" else None,
    )
    app = faust_app(settings, settings.group_id(processor.name), str(datadir))
    app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(registry, "faust"))

    partitions = settings.topic_partitions

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions[name],
        )

    source = topic(input_topic(settings, processor.name))
    articles_to = output_topic(settings, processor.name)
    sink = topic(articles_to) if articles_to is not None else None  # a sink stage publishes none
    dead_letters = topic(settings.topic_dlq)
    delivery = Delivery(dead_letters, settings)
    observer = observe_stage(app, processor, source, metrics, registry)  # type: ignore[arg-type]

    dedup = None
    if processor.name == "clean":  # the duplicate check runs in the clean stage's app
        # Here, not at the top: only the clean stage's process needs numpy for the check.
        from pipeline.runtime.dedup_wiring import wire_dedup

        dedup = wire_dedup(
            app,
            settings,
            registry,
            metrics,
            delivery,
            sink,
            topic(output_topic(settings, DEDUP)),
            topic(settings.topic_dedup_index),
        )

    def after(batch_size: int, results: Sequence[Encoded], started: float) -> None:
        runner.record(batch_size, results, started)
        observer.observe(results)

    transactions = transactions_for(app, settings, source, dead_letters)
    loop = BatchLoop(
        app, processor.name, settings, runner.process, delivery, sink, after,
        transactions=transactions,
    )  # fmt: skip

    @app.agent(source, name=f"{processor.name}-agent", concurrency=1)
    async def stage_agent(stream: faust.StreamT[Any]) -> None:
        await loop.run(stream)

    counted = {processor.name: source.get_topic_name()}
    if dedup is not None:
        counted[DEDUP] = dedup.source.get_topic_name()

    @app.on_partitions_assigned.connect
    async def count_partitions(_: faust.App, assigned: set[TP], **__: Any) -> None:
        for name, topic_name in counted.items():
            mine = sum(1 for tp in assigned if tp.topic == topic_name)
            metrics.assigned_partitions.labels(name).set(mine)

    readiness = Readiness(metrics.ready.labels(processor.name))

    @app.on_partitions_revoked.connect
    async def mark_unready(*_: Any, **__: Any) -> None:
        readiness.set_assigned(False)

    @app.on_rebalance_complete.connect
    async def mark_ready(*_: Any, **__: Any) -> None:
        readiness.set_assigned(True)

    if isinstance(processor, IsolatedStage):

        @app.task
        async def wait_for_models() -> None:
            # The code process loads its models while the consumer joins its group.
            try:
                await processor.wait_started()
            except StageUnavailable as exc:
                stop_at_start(str(exc))
            observer.models_loaded()
            readiness.set_loaded()

    else:  # a stage object: loaded already
        observer.models_loaded()
        readiness.set_loaded()

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
