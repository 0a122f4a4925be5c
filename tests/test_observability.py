"""What stage processes report beyond their batches: lag arithmetic, content counts, readiness."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import spacy
from faust.types import TP
from prometheus_client import CollectorRegistry

from pipeline import codec
from pipeline.events import (
    Article,
    DeadLetter,
    Entity,
    Mention,
    PipelineInfo,
    Reason,
    StageInfo,
    TopicScore,
)
from pipeline.metrics import ProcessMetrics, StageMetrics
from pipeline.observability import (
    StageObserver,
    language_label,
    partition_lag,
    resident_memory_bytes,
    string_store_sizes,
)
from pipeline.runtime.encoded import encode_result
from pipeline.runtime.stage_app import build_app
from pipeline.stages.clean import CleanStage
from tests.conftest import CEASEFIRE_BODY, CEASEFIRE_TITLE
from tests.runtime.test_stage_app import Recorder, metric


@pytest.mark.parametrize(
    ("highwater", "committed", "earliest", "lag"),
    [
        (100, 90, None, 10),  # committed: the next offset the group reads
        (100, None, 40, 60),  # nothing committed yet: from the log start
        (100, 100, 0, 0),
        (100, 120, 0, 0),  # a stale high-water mark never makes lag negative
        (None, 5, 0, None),  # high-water mark not known yet
        (100, None, None, None),
    ],
)
def test_partition_lag(highwater, committed, earliest, lag):
    assert partition_lag(highwater, committed, earliest) == lag


@pytest.mark.parametrize(
    ("given", "label"),
    [
        ("en", "en"),
        ("EN-gb", "en"),
        ("pt_BR", "pt"),
        ("zh-Hant", "zh"),
        ("fil", "fil"),
        (None, "unknown"),
        ("", "unknown"),
        ("english", "unknown"),
        ("e1", "unknown"),
    ],
)
def test_language_labels_stay_bounded(given, label):
    assert language_label(given) == label


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_resident_memory_is_this_process_size():
    rss = resident_memory_bytes()
    assert rss is not None
    assert 10 * 2**20 < rss < 64 * 2**30
    ballast = bytearray(64 * 2**20)
    grown = resident_memory_bytes()
    assert grown is not None and grown - rss > 48 * 2**20
    del ballast


@dataclass
class Recognizer:
    nlp: spacy.language.Language


@dataclass
class FakeNerStage:
    recognizers: dict[str, Recognizer]
    name: str = "ner"
    info: StageInfo = field(default_factory=lambda: StageInfo("en_core_web_sm", "3.8.0"))


def test_string_store_sizes_per_spacy_pipeline_of_the_stage():
    nlp = spacy.blank("en")
    stage = FakeNerStage({"en": Recognizer(nlp), "xx": Recognizer(nlp)})
    before = string_store_sizes(stage)
    assert list(before) == ["en_pipeline"]
    nlp("Quixotically zygomorphic")
    assert string_store_sizes(stage)["en_pipeline"] > before["en_pipeline"]
    assert string_store_sizes(CleanStage(max_body_bytes=1024, detect_language=False)) == {}


def article(**fields) -> Article:
    return Article(
        id="a-1",
        text="text",
        word_count=1,
        content_hash="h",
        received_at="2026-01-01T00:00:00.000Z",
        pipeline=PipelineInfo(version="0"),
        **fields,
    )


def observer_for(stage_name: str) -> tuple[StageObserver, CollectorRegistry]:
    registry = CollectorRegistry()
    stage = FakeNerStage({})
    stage.name = stage_name
    observer = StageObserver(
        stage, "topic-in", ProcessMetrics(registry), StageMetrics(stage_name, registry)
    )
    observer.models_loaded()
    return observer, registry


def encoded(stage: str, results: list) -> list:
    return [encode_result(stage, result, 1 << 20) for result in results]


def test_each_stage_counts_what_it_adds_to_articles():
    mention = [Mention(0, 1, "x")]
    letter = DeadLetter(
        stage="clean",
        reason="invalid_json",
        error="",
        payload="",
        payload_encoding="utf-8",
        topic="raw",
        partition=0,
        offset=0,
        failed_at="2026-01-01T00:00:00.000Z",
    )

    clean, registry = observer_for("clean")
    clean.observe(
        encoded("clean", [article(language="en"), article(language="pt-BR"), article(), letter])
    )
    assert metric(registry, "wirestream_articles_by_language_total", language="en") == 1
    assert metric(registry, "wirestream_articles_by_language_total", language="pt") == 1
    assert metric(registry, "wirestream_articles_by_language_total", language="unknown") == 1

    ner, registry = observer_for("ner")
    entities = [
        Entity("Ada Lovelace", "PERSON", 2, mention * 2),
        Entity("Charles Babbage", "PERSON", 1, mention),
        Entity("London", "GPE", 1, mention),
    ]
    ner.observe(encoded("ner", [article(entities=entities), article(entities=[])]))
    assert metric(registry, "wirestream_entities_total", label="PERSON") == 2
    assert metric(registry, "wirestream_entities_total", label="GPE") == 1
    assert metric(registry, "wirestream_entities_per_article_count") == 2
    assert metric(registry, "wirestream_entities_per_article_sum") == 3

    classify, registry = observer_for("classify")
    politics = TopicScore("medtop:11000000", "politics", 0.8)
    sport = TopicScore("medtop:15000000", "sport", 0.3)
    classify.observe(
        encoded(
            "classify",
            [
                article(topics=[politics, sport], topic="medtop:11000000"),
                article(topics=[politics, sport], topic="medtop:15000000"),
                article(topics=[], topic=None),
            ],
        )
    )
    by_topic = "wirestream_articles_by_topic_total"
    assert metric(registry, by_topic, topic="medtop:11000000", topic_label="politics") == 1
    assert metric(registry, by_topic, topic="medtop:15000000", topic_label="sport") == 1
    assert metric(registry, by_topic, topic="none", topic_label="none") == 1


def test_model_info_and_every_dead_letter_reason_are_exported_from_the_start():
    _, registry = observer_for("ner")
    assert (
        metric(
            registry,
            "wirestream_model_info",
            stage="ner",
            model="en_core_web_sm",
            model_version="3.8.0",
        )
        == 1
    )
    for reason in Reason:
        sample = registry.get_sample_value(
            "wirestream_dead_letters_total", {"stage": "ner", "reason": reason.value}
        )
        assert sample == 0


class FakeConsumer:
    """What the lag sampler reads from faust's consumer."""

    def __init__(self, assigned, highwaters, committed, earliest) -> None:
        self._assigned, self._highwaters, self._earliest = assigned, highwaters, earliest
        self._committed_offset = committed
        self.earliest_asked: list[TP] = []

    def assignment(self):
        return set(self._assigned)

    async def highwaters(self, *tps):
        return {tp: self._highwaters[tp] for tp in tps}

    async def earliest_offsets(self, *tps):
        self.earliest_asked += tps
        return {tp: self._earliest[tp] for tp in tps}


async def test_lag_is_sampled_for_owned_input_partitions_and_zeroed_when_they_move():
    observer, registry = observer_for("ner")
    p0, p1, other = TP("topic-in", 0), TP("topic-in", 1), TP("some-changelog", 0)
    consumer = FakeConsumer(
        assigned=[p0, p1, other],
        highwaters={p0: 120, p1: 30},
        committed={p0: 100, p1: None},
        earliest={p1: 10},
    )
    await observer.sample_lag(consumer)

    def lag(partition: str) -> float | None:
        labels = {"stage": "ner", "topic": "topic-in", "partition": partition}
        return registry.get_sample_value("wirestream_consumer_lag_messages", labels)

    assert (lag("0"), lag("1")) == (20, 20)
    assert consumer.earliest_asked == [p1]
    assert (
        registry.get_sample_value(
            "wirestream_consumer_lag_messages",
            {"stage": "ner", "topic": "some-changelog", "partition": "0"},
        )
        is None
    )

    consumer._assigned = [p1]  # a rebalance moved partition 0 to another worker
    consumer._committed_offset = {p1: 25}
    await observer.sample_lag(consumer)
    assert (lag("0"), lag("1")) == (0, 5)


def test_a_rebalance_makes_the_stage_unready_until_it_completes():
    observer, registry = observer_for("ner")
    observer.stage_metrics.ready.labels("ner").set(1)
    observer.rebalancing()
    assert metric(registry, "wirestream_stage_ready", stage="ner") == 0


async def test_the_agent_hands_its_results_to_the_observer(settings):
    registry = CollectorRegistry()
    stage_app = build_app(settings, CleanStage(settings.max_body_bytes), registry)
    recorder = Recorder(stage_app)
    async with stage_app.agent.test_context() as agent:
        await agent.put(codec.dumps({"title": CEASEFIRE_TITLE, "body": CEASEFIRE_BODY}))
        await recorder.wait_for(1)
    assert metric(registry, "wirestream_articles_by_language_total", language="en") == 1
    info = {
        s.labels["model"]
        for s in next(m for m in registry.collect() if m.name == "wirestream_model_info").samples
    }
    assert info == {CleanStage(settings.max_body_bytes).info.model}
