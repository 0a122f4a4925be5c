"""Prometheus metrics of the stages.

Worker processes run one stage each and write their metrics to a shared multiprocess directory;
the supervising ``wirestream worker`` process serves them all on one port. Gauges say how values
of several processes combine (``multiprocess_mode``): ``livemax`` where each process reports the
same thing or one owner reports it, ``livesum`` where the processes' values add up. The reference
table of every metric is in ``deploy/README.md``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
)
END_TO_END_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
ENTITY_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200)


class ProcessMetrics:
    """What a stage process reports about itself and its content, besides its batches.

    Recorded by ``pipeline.observability.StageObserver``: consumer lag per partition, memory,
    model identity and state, and what the articles contain (languages, entities, topics).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.consumer_lag = Gauge(
            "wirestream_consumer_lag_messages",
            "Messages in a partition of the stage's input topic not yet committed by its consumer "
            "group (high-water mark minus committed offset), reported by the partition's owner.",
            ["stage", "topic", "partition"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.resident_memory = Gauge(
            "wirestream_process_resident_memory_bytes",
            "Resident memory of the stage's process.",
            ["stage"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.spacy_strings = Gauge(
            "wirestream_spacy_strings",
            "Strings in a spaCy pipeline's StringStore; flat in a healthy long-running worker.",
            ["stage", "model"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.model_info = Gauge(
            "wirestream_model_info",
            "Always 1: the model a stage process has loaded, as labels.",
            ["stage", "model", "model_version"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.languages = Counter(
            "wirestream_articles_by_language",
            "Articles the clean stage emitted, by language (ISO 639 code; `unknown` if none).",
            ["language"],
            registry=registry,
        )
        self.entities = Counter(
            "wirestream_entities",
            "Distinct entities the NER stage found in articles, by label; divided by the articles "
            "out of NER, the mean number of entities of a label per article.",
            ["label"],
            registry=registry,
        )
        self.entities_per_article = Histogram(
            "wirestream_entities_per_article",
            "Distinct entities found in one article, all labels together.",
            buckets=ENTITY_BUCKETS,
            registry=registry,
        )
        self.topics = Counter(
            "wirestream_articles_by_topic",
            "Enriched articles by primary topic (IPTC media-topic code and label; `none` when no "
            "topic reached the threshold).",
            ["topic", "topic_label"],
            registry=registry,
        )


class StageMetrics:
    """The metrics one stage process records, labelled by stage.

    The clean stage's process also runs the duplicate check, whose batches are recorded under the
    stage label ``dedup`` (see ``DedupMetrics``).
    """

    def __init__(self, stage: str, registry: CollectorRegistry | None = None) -> None:
        self.stage = stage
        registry = registry or CollectorRegistry()
        self.messages = Counter(
            "wirestream_messages",
            "Messages per stage: in (taken off the input topic), out (emitted), "
            "failed (dead-lettered).",
            ["stage", "outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "wirestream_dead_letters",
            "Messages sent to the dead-letter topic, by reason code.",
            ["stage", "reason"],
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "wirestream_stage_seconds",
            "Processing time per article in a stage (a batch's time shared by its articles).",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "wirestream_batch_seconds",
            "Time to process and deliver one batch, from take to acknowledgement.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "wirestream_batch_size",
            "Messages per batch taken from the input topic.",
            ["stage"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.end_to_end_seconds = Histogram(
            "wirestream_end_to_end_seconds",
            "From the raw message's broker timestamp to the enriched event's emission.",
            buckets=END_TO_END_BUCKETS,
            registry=registry,
        )
        self.ready = Gauge(
            "wirestream_stage_ready",
            "1 when the stage's models are loaded and its consumer has its assignment; 0 while "
            "starting and during a rebalance.",
            ["stage"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.assigned_partitions = Gauge(
            "wirestream_assigned_partitions",
            "Partitions of the stage's input topic assigned to this process.",
            ["stage"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.track(stage)
        self.ready.labels(stage).set(0)

    def track(self, stage: str) -> None:
        """Export the stage's message counters at zero before its first message."""
        for outcome in ("in", "out", "failed"):
            self.messages.labels(stage, outcome)


class DedupMetrics:
    """What the duplicate check adds to the clean stage's metrics.

    Accounting: ``wirestream_messages_total{stage="dedup"}`` counts ``in`` = ``out`` + ``failed`` +
    ``wirestream_duplicates_total{mode="dropped"}``; so every raw message ends as exactly one of an
    emitted article, a dead letter or a counted drop (replays after a crash aside, which Kafka's
    at-least-once delivery repeats whole).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duplicates = Counter(
            "wirestream_duplicates",
            "Articles found to repeat an earlier one, exactly or nearly, by what was done with "
            "them: annotated (emitted with duplicate_of set) or dropped (not emitted).",
            ["mode"],
            registry=registry,
        )
        self.index_entries = Gauge(
            "wirestream_duplicate_index_entries",
            "Articles the duplicate index remembers; only the process that owns the dedup "
            "partition holds any.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.rebuild_seconds = Gauge(
            "wirestream_duplicate_index_rebuild_seconds",
            "How long the last rebuild of the duplicate index took: reading its entries back from "
            "the index topic and deriving the lookups, when this process took the partition.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        for mode in ("annotated", "dropped"):
            self.duplicates.labels(mode)
