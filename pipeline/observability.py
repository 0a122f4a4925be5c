"""What a stage process reports besides its batches: consumer lag, memory, models, readiness
across rebalances, and what the articles contain.

``observe_stage`` wires a ``StageObserver`` into a stage's faust app: a timer samples lag, memory
and the spaCy string stores every ``SAMPLE_INTERVAL`` seconds, and a revoked assignment marks the
stage unready until the rebalance completes. The agent hands each batch's results to
``StageObserver.observe``. The arithmetic lives in pure functions, tested without Kafka.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry

from pipeline.events import Reason
from pipeline.metrics import ProcessMetrics, StageMetrics
from pipeline.runtime.encoded import Encoded
from pipeline.stages import Stage

log = logging.getLogger(__name__)

# Often enough for a 15 s scrape interval and for alerts that look at minutes; each sample costs
# one offsets request to the broker.
SAMPLE_INTERVAL = 5.0
UNKNOWN = "unknown"
NONE = "none"
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


def partition_lag(highwater: int | None, committed: int | None, earliest: int | None) -> int | None:
    """Messages a consumer group has not committed yet in one partition.

    ``committed`` is the offset the group will read next; before the group's first commit it reads
    from ``earliest``. None when the high-water mark is not known yet.
    """
    if highwater is None:
        return None
    start = committed if committed is not None else earliest
    if start is None:
        return None
    return max(highwater - start, 0)


def language_label(language: str | None) -> str:
    """A bounded label for a language: the primary ISO 639 subtag, or ``unknown``.

    Producers may send any string as the language; metrics must not grow a series per typo.
    """
    if not language:
        return UNKNOWN
    primary = language.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if _LANGUAGE_CODE.fullmatch(primary) else UNKNOWN


def resident_memory_bytes() -> int | None:
    """This process's resident set size, from ``/proc`` (None where there is no ``/proc``)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def string_store_sizes(stage: Stage) -> dict[str, int]:
    """Strings in each spaCy pipeline a stage holds, by model name: the NER stage holds one
    recognizer per language model (``recognizers``), other stages none."""
    sizes = {}
    for recognizer in getattr(stage, "recognizers", {}).values():
        nlp = recognizer.nlp
        sizes[f"{nlp.meta.get('lang', 'xx')}_{nlp.meta.get('name', 'pipeline')}"] = len(
            nlp.vocab.strings
        )
    return sizes


def sample_process(metrics: ProcessMetrics, stage: Stage) -> None:
    """Record this process's resident memory and the size of the stage's spaCy string stores."""
    rss = resident_memory_bytes()
    if rss is not None:
        metrics.resident_memory.labels(stage.name).set(rss)
    for model, size in string_store_sizes(stage).items():
        metrics.spacy_strings.labels(stage.name, model).set(size)


class StageObserver:
    """Records one stage process's lag, memory, model state and article content."""

    def __init__(
        self,
        stage: Stage,
        source_topic: str,
        metrics: ProcessMetrics,
        stage_metrics: StageMetrics,
    ) -> None:
        self.stage = stage
        self.source_topic = source_topic
        self.metrics = metrics
        self.stage_metrics = stage_metrics
        self._lag_reported: set[TP] = set()
        # Every reason at zero from the start: rate() and alerts then see a stage's first dead
        # letter as an increase, not as a new series.
        for reason in Reason:
            stage_metrics.dead_letters.labels(stage.name, reason.value)

    def models_loaded(self) -> None:
        """Export the stage's model and version, once its code has loaded them."""
        info = self.stage.info
        name = self.stage.name
        self.metrics.model_info.labels(name, info.model or NONE, info.model_version or NONE).set(1)

    # --- content -----------------------------------------------------------------------------

    def observe(self, results: Sequence[Encoded]) -> None:
        """Count what the stage's emitted articles contain (each stage what it added), from
        their summaries (``pipeline.runtime.encoded.content_labels``)."""
        metrics, name = self.metrics, self.stage.name
        for result in results:
            if result.is_dead_letter:
                continue
            content = result.summary.content
            if name == "clean":
                metrics.languages.labels(language_label(content[0] if content else None)).inc()
            elif name == "ner":
                metrics.entities_per_article.observe(len(content))
                for label in content:
                    metrics.entities.labels(label).inc()
            elif name == "classify":
                code, label = content if len(content) == 2 else (NONE, NONE)
                metrics.topics.labels(code, label).inc()

    # --- periodic samples -------------------------------------------------------------------

    def record_lag(self, lags: Mapping[TP, int]) -> None:
        """Set the lag of the partitions this process owns; zero those it no longer owns, so
        that the owner's value is the one a ``max`` across processes shows."""
        for tp, lag in lags.items():
            self.metrics.consumer_lag.labels(self.stage.name, tp.topic, str(tp.partition)).set(lag)
        for tp in self._lag_reported - set(lags):
            self.metrics.consumer_lag.labels(self.stage.name, tp.topic, str(tp.partition)).set(0)
        self._lag_reported |= set(lags)

    async def sample_lag(self, consumer: Any) -> None:
        """Read the high-water marks of the owned partitions from the broker and the committed
        offsets faust keeps (the offsets it committed, or found committed when assigned)."""
        owned = [tp for tp in consumer.assignment() if tp.topic == self.source_topic]
        if not owned:
            self.record_lag({})
            return
        highwaters = await consumer.highwaters(*owned)
        committed = {tp: consumer._committed_offset.get(tp) for tp in owned}
        uncommitted = [tp for tp in owned if committed[tp] is None]
        earliest = await consumer.earliest_offsets(*uncommitted) if uncommitted else {}
        lags = {}
        for tp in owned:
            lag = partition_lag(highwaters.get(tp), committed[tp], earliest.get(tp))
            if lag is not None:
                lags[tp] = lag
        self.record_lag(lags)

    def sample_process(self) -> None:
        sample_process(self.metrics, self.stage)

    def rebalancing(self) -> None:
        """A rebalance started: the consumer stops fetching until it completes, when the app's
        ``mark_ready`` sets the stage ready again."""
        self.stage_metrics.ready.labels(self.stage.name).set(0)


def observe_stage(
    app: faust.App,
    stage: Stage,
    source: faust.TopicT,
    stage_metrics: StageMetrics,
    registry: CollectorRegistry,
    interval: float = SAMPLE_INTERVAL,
) -> StageObserver:
    """Create the stage's observer and its timer and rebalance hook in the app."""
    metrics = ProcessMetrics(registry)
    observer = StageObserver(stage, source.get_topic_name(), metrics, stage_metrics)

    @app.timer(interval, name=f"{stage.name}-observer")
    async def sample() -> None:
        observer.sample_process()
        try:
            await observer.sample_lag(app.consumer)
        except Exception as exc:  # the broker may be away for a moment; the next tick retries
            log.debug("could not sample consumer lag: %r", exc)

    @app.on_partitions_revoked.connect
    async def mark_unready(*_: Any, **__: Any) -> None:
        observer.rebalancing()

    return observer
