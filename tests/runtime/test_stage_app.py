"""Agent tests with faust's test_context(): the wiring around a stage, no broker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from pipeline import codec
from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter, Reason, StageInfo
from pipeline.metrics import StageMetrics
from pipeline.runtime.stage_app import Readiness, build_app
from pipeline.stages.clean import CleanStage
from tests.conftest import CEASEFIRE_BODY, CEASEFIRE_TITLE

REWRITE_BODY = (
    CEASEFIRE_BODY.replace("met in Geneva on Tuesday", "gathered in Geneva on Tuesday")
    .replace("officials said", "diplomats said")
    .replace("next month", "in the coming weeks")
)


class Recorder:
    """Stands in for the broker: records what the agents send ("out" is the stage agent's sink,
    the dedup topic for clean; "clean" is the dedup agent's, the clean topic), what the duplicate
    index writes to its topic (``index``), and serves ``index_topic`` as that topic's contents."""

    def __init__(self, stage_app, index_topic: dict | None = None) -> None:
        self.sent: list[tuple[str, bytes | None, dict]] = []
        self.index: list[tuple[bytes, dict | None]] = []
        self.reads = 0
        stage_app.sink.send = self._sender("out")
        stage_app.dead_letters.send = self._sender("dlq")
        if stage_app.dedup is not None:
            stage_app.dedup.sink.send = self._sender("clean")
            stage_app.dedup.index_topic.send = self._index_writer
            state = stage_app.dedup.state
            state.end_offset = self._index_end
            state.read = lambda: self._read_index(index_topic or {})

    def _sender(self, name: str):
        async def send(key=None, value=None, **_):
            self.sent.append((name, key, codec.loads(value)))
            return self._delivered(len(self.sent))

        return send

    async def _index_writer(self, key=None, value=None, **_):
        self.index.append((key, None if value is None else codec.loads(value)))
        return self._delivered(len(self.index) - 1)

    async def _index_end(self) -> int:
        return len(self.index)

    async def _read_index(self, contents: dict) -> tuple[dict, int]:
        self.reads += 1
        return dict(contents), len(self.index)

    @staticmethod
    def _delivered(offset: int) -> asyncio.Future:
        delivered = asyncio.get_running_loop().create_future()
        delivered.set_result(SimpleNamespace(offset=offset))
        return delivered

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.sent) < count:
                await asyncio.sleep(0.02)


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_clean_agent_emits_articles_keyed_by_id_and_dead_letters_with_reasons(settings):
    registry = CollectorRegistry()
    stage_app = build_app(settings, CleanStage(settings.max_body_bytes), registry)
    recorder = Recorder(stage_app)
    async with stage_app.agent.test_context() as agent:
        await agent.put(
            codec.dumps({"id": "story-1", "title": CEASEFIRE_TITLE, "body": CEASEFIRE_BODY}),
            key=b"story-1",
        )
        await agent.put(b"{broken", key=b"bad-1")
        await agent.put(
            codec.dumps({"id": "story-2", "body": "After the bad one, the flow goes on."})
        )
        await recorder.wait_for(3)
    (out1, key1, article1), (dlq, key2, letter), (out2, key3, _) = recorder.sent
    assert (out1, key1, article1["id"], article1["title"]) == (
        "out",
        b"story-1",
        "story-1",
        CEASEFIRE_TITLE,
    )
    assert (dlq, key2, letter["reason"], letter["payload"]) == (
        "dlq",
        b"bad-1",
        "invalid_json",
        "{broken",
    )
    assert (out2, key3) == ("out", b"story-2")
    assert metric(registry, "wirestream_messages_total", stage="clean", outcome="in") == 3
    assert metric(registry, "wirestream_messages_total", stage="clean", outcome="out") == 2
    assert metric(registry, "wirestream_messages_total", stage="clean", outcome="failed") == 1
    assert (
        metric(registry, "wirestream_dead_letters_total", stage="clean", reason="invalid_json") == 1
    )
    assert metric(registry, "wirestream_stage_seconds_count", stage="clean") == 2
    assert metric(registry, "wirestream_batch_size_count", stage="clean") >= 1


def clean_article(article_id: str, body: str, timestamp: float = 1.7e9) -> bytes:
    """A story as the clean agent puts it on the dedup topic."""
    raw = codec.dumps({"id": article_id, "title": CEASEFIRE_TITLE, "body": body})
    [article] = CleanStage(1 << 20, detect_language=False).process(
        [Incoming(raw, timestamp=timestamp)]
    )
    assert isinstance(article, Article)
    return codec.dumps(article)


async def test_clean_agent_feeds_the_one_partition_dedup_topic(settings):
    stage_app = build_app(settings, CleanStage(settings.max_body_bytes), CollectorRegistry())
    assert stage_app.dedup is not None
    assert stage_app.sink is stage_app.dedup.source
    assert stage_app.sink.get_topic_name() == settings.topic_dedup
    assert stage_app.sink.partitions == 1
    assert stage_app.dedup.sink.get_topic_name() == settings.topic_clean
    assert stage_app.dedup.index_topic.get_topic_name() == settings.topic_dedup_index
    assert stage_app.dedup.agent.concurrency == 1


async def test_dedup_agent_annotates_copies_under_other_ids_and_counts_them(settings):
    registry = CollectorRegistry()
    stage_app = build_app(settings, CleanStage(settings.max_body_bytes), registry)
    recorder = Recorder(stage_app)
    async with stage_app.dedup.agent.test_context() as agent:
        await agent.put(clean_article("story-1", CEASEFIRE_BODY), key=b"story-1")
        await agent.put(clean_article("rewrite-1", REWRITE_BODY, 1.7e9 + 60), key=b"rewrite-1")
        await agent.put(b"{not an article", key=b"junk-1")
        await agent.put(clean_article("copy-1", CEASEFIRE_BODY, 1.7e9 + 120), key=b"copy-1")
        await recorder.wait_for(4)
    sent = {key: (name, value) for name, key, value in recorder.sent}
    assert sent[b"story-1"][0] == "clean"
    assert sent[b"story-1"][1]["duplicate_of"] is None
    assert sent[b"rewrite-1"][0] == "clean"
    assert sent[b"rewrite-1"][1]["duplicate_of"] == "story-1"
    assert 0.5 <= sent[b"rewrite-1"][1]["duplicate_similarity"] < 1
    assert sent[b"copy-1"][1]["duplicate_of"] == "story-1"
    assert sent[b"copy-1"][1]["duplicate_similarity"] == 1.0
    assert sent[b"junk-1"][0] == "dlq"
    assert (sent[b"junk-1"][1]["stage"], sent[b"junk-1"][1]["reason"]) == (
        "dedup",
        "invalid_event",
    )
    assert sorted(stage_app.dedup.state.entries) == ["d:copy-1", "d:rewrite-1", "d:story-1"]
    # One index-topic message per remembered article, whatever the index holds.
    assert [key for key, _ in recorder.index] == [b"d:story-1", b"d:rewrite-1", b"d:copy-1"]
    assert recorder.reads == 1  # loaded once, before the first check
    assert metric(registry, "wirestream_duplicates_total", mode="annotated") == 2
    assert metric(registry, "wirestream_duplicates_total", mode="dropped") == 0
    assert metric(registry, "wirestream_duplicate_index_entries") == 3
    assert metric(registry, "wirestream_messages_total", stage="dedup", outcome="in") == 4
    assert metric(registry, "wirestream_messages_total", stage="dedup", outcome="out") == 3
    assert metric(registry, "wirestream_messages_total", stage="dedup", outcome="failed") == 1
    assert metric(registry, "wirestream_stage_seconds_count", stage="dedup") == 3


async def test_dedup_agent_in_drop_mode_emits_firsts_only_and_counts_the_drops(settings):
    registry = CollectorRegistry()
    stage_app = build_app(
        settings.replace(dedup_mode="drop"), CleanStage(settings.max_body_bytes), registry
    )
    recorder = Recorder(stage_app)
    async with stage_app.dedup.agent.test_context() as agent:
        await agent.put(clean_article("story-1", CEASEFIRE_BODY), key=b"story-1")
        await agent.put(clean_article("copy-1", CEASEFIRE_BODY, 1.7e9 + 60), key=b"copy-1")
        await agent.put(clean_article("other-1", "A different story entirely, about bees."))
        await recorder.wait_for(2)
        async with asyncio.timeout(10):
            while metric(registry, "wirestream_messages_total", stage="dedup", outcome="in") < 3:
                await asyncio.sleep(0.02)
    assert [key for _, key, _ in recorder.sent] == [b"story-1", b"other-1"]
    assert metric(registry, "wirestream_duplicates_total", mode="dropped") == 1
    assert metric(registry, "wirestream_duplicates_total", mode="annotated") == 0
    # The accounting: in = out + failed + dropped.
    assert metric(registry, "wirestream_messages_total", stage="dedup", outcome="out") == 2
    assert metric(registry, "wirestream_messages_total", stage="dedup", outcome="failed") == 0


async def test_dedup_agent_loads_the_index_topic_and_finds_copies_of_earlier_articles(settings):
    """What a restarted worker, or the next owner of the dedup partition, does first."""
    from pipeline.stages.dedup import DuplicateIndex, fingerprint

    earlier: dict = {}
    DuplicateIndex(earlier, window_seconds=3600, max_entries=10).check(
        "story-1", fingerprint(codec.loads(clean_article("story-1", CEASEFIRE_BODY))["text"]), 1.7e9
    )
    stage_app = build_app(settings, CleanStage(settings.max_body_bytes), CollectorRegistry())
    recorder = Recorder(stage_app, index_topic=codec.loads(codec.dumps(earlier)))
    async with stage_app.dedup.agent.test_context() as agent:
        await agent.put(clean_article("copy-1", CEASEFIRE_BODY, 1.7e9 + 60), key=b"copy-1")
        await recorder.wait_for(1)
    [(_, _, copy)] = recorder.sent
    assert (copy["duplicate_of"], copy["duplicate_similarity"]) == ("story-1", 1.0)


def test_dedup_state_drops_its_entries_when_another_process_owns_the_partition(settings):
    from pipeline.metrics import DedupMetrics
    from pipeline.runtime.dedup_wiring import DedupState

    state = DedupState(settings, DedupMetrics(CollectorRegistry()))
    state.entries["d:a"] = {"n": 0}
    state.current, state.known_end = True, 1
    state.on_assignment(owner=True)
    assert (state.current, state.known_end, len(state.entries)) == (False, 1, 1)
    state.on_assignment(owner=False)
    assert (state.current, state.known_end, len(state.entries)) == (False, None, 0)


async def test_dedup_state_reads_the_index_topic_only_if_someone_else_wrote_to_it(settings):
    from pipeline.metrics import DedupMetrics
    from pipeline.runtime.dedup_wiring import DedupState

    state = DedupState(settings, DedupMetrics(CollectorRegistry()))
    reads = []
    end = 5

    async def end_offset() -> int:
        return end

    async def read() -> tuple[dict, int]:
        reads.append(end)
        return {}, end

    state.end_offset, state.read = end_offset, read
    await state.ensure_current()  # a fresh process always reads
    state.on_assignment(owner=True)
    await state.ensure_current()  # kept the partition, nothing new: no read
    end = 9
    state.on_assignment(owner=True)
    await state.ensure_current()  # another owner wrote in between: read again
    assert reads == [5, 9]


class ExplodingStage:
    """A stage with a bug that escapes its own error handling."""

    name = "ner"
    input_schema = "clean-article"
    output_schema = "entities-article"
    info = StageInfo()

    def __init__(self) -> None:
        self.calls = 0

    def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        self.calls += 1
        if self.calls == 1:
            raise MemoryError("simulated")
        return []


async def test_a_stage_that_raises_dead_letters_the_batch_and_the_agent_keeps_consuming(settings):
    stage = ExplodingStage()
    stage_app = build_app(settings, stage, CollectorRegistry())
    recorder = Recorder(stage_app)
    async with stage_app.agent.test_context() as agent:
        await agent.put(b'{"id": "a"}', key=b"a")
        await recorder.wait_for(1)
        await agent.put(b'{"id": "b"}', key=b"b")
        async with asyncio.timeout(10):
            while stage.calls < 2:
                await asyncio.sleep(0.02)
    name, key, letter = recorder.sent[0]
    assert (name, key, letter["reason"], letter["stage"]) == (
        "dlq",
        b"a",
        Reason.STAGE_ERROR,
        "ner",
    )
    assert "simulated" in letter["error"]


@pytest.mark.parametrize("stage_name", ["clean", "ner", "classify"])
def test_each_stage_is_its_own_consumer_group(settings, stage_name):
    class Named(ExplodingStage):
        name = stage_name

    stage_app = build_app(settings, Named(), CollectorRegistry())
    assert stage_app.app.conf.id == f"{settings.app_prefix}-{stage_name}"
    assert stage_app.agent.concurrency == 1


def test_a_stage_is_ready_once_its_models_are_loaded_and_its_rebalance_is_complete():
    registry = CollectorRegistry()
    readiness = Readiness(StageMetrics("ner", registry).ready.labels("ner"))

    def ready() -> float | None:
        return registry.get_sample_value("wirestream_stage_ready", {"stage": "ner"})

    readiness.set_assigned(True)  # joined while the models still load
    assert ready() == 0
    readiness.set_loaded()
    assert ready() == 1
    readiness.set_assigned(False)  # a rebalance
    assert ready() == 0
    readiness.set_assigned(True)
    assert ready() == 1
    registry = CollectorRegistry()
    readiness = Readiness(StageMetrics("ner", registry).ready.labels("ner"))
    readiness.set_loaded()  # loaded before the join
    assert ready() == 0
