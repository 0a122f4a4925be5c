"""Agent tests with faust's test_context(): the wiring around a stage, no broker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from pipeline import codec
from pipeline.app import build_app
from pipeline.envelope import Incoming
from pipeline.models import Article, DeadLetter, Reason, StageInfo
from pipeline.stages.clean import CleanStage
from tests.conftest import CEASEFIRE_BODY, CEASEFIRE_TITLE


class Recorder:
    """Stands in for the output topics: records what the agent sends."""

    def __init__(self, stage_app) -> None:
        self.sent: list[tuple[str, bytes | None, dict]] = []
        stage_app.sink.send = self._sender("out")
        stage_app.dead_letters.send = self._sender("dlq")

    def _sender(self, name: str):
        async def send(key=None, value=None, **_):
            self.sent.append((name, key, codec.loads(value)))
            delivered = asyncio.get_running_loop().create_future()
            delivered.set_result(None)
            return delivered

        return send

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
