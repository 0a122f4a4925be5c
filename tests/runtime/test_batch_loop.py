"""The batch loop's batches: what is ready, at once; never more than the batch size."""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter, StageInfo
from pipeline.runtime.batch_loop import FIRST_BATCH
from pipeline.runtime.stage_app import build_app
from tests.runtime.test_stage_app import Recorder
from tests.stage_doubles import article_for


class CountingStage:
    name = "ner"
    input_schema = "clean-article"
    output_schema = "entities-article"
    info = StageInfo()

    def __init__(self) -> None:
        self.batches: list[int] = []

    def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        self.batches.append(len(batch))
        return [article_for(m) for m in batch]


async def test_a_lone_message_does_not_wait_for_the_batch_window(settings):
    stage_app = build_app(settings.replace(batch_timeout=5.0), CountingStage(), CollectorRegistry())
    recorder = Recorder(stage_app)
    async with stage_app.agent.test_context() as agent:
        started = time.perf_counter()
        await agent.put(b"alone", key=b"a")
        await recorder.wait_for(1, timeout=4.0)
        assert time.perf_counter() - started < 1.0


async def batch_sizes(settings, messages: int, batch_size: int) -> list[int]:
    """The sizes of the batches a stage takes of ``messages`` put one after the other."""
    stage = CountingStage()
    stage_app = build_app(settings.replace(batch_size=batch_size), stage, CollectorRegistry())
    recorder = Recorder(stage_app)
    async with stage_app.agent.test_context() as agent:
        for n in range(messages):
            await agent.put(f"m{n}".encode(), key=f"k{n}".encode())
        await recorder.wait_for(messages)
    return stage.batches


async def test_messages_ready_together_make_one_batch_of_at_most_the_batch_size(settings):
    batches = await batch_sizes(settings, 10, batch_size=4)
    assert sum(batches) == 10 and max(batches) == 4
    assert len(batches) <= 4


async def test_batches_grow_from_a_few_messages_to_the_batch_size(settings):
    # A worker started on a backlog sends its first results after a few articles' work.
    batches = await batch_sizes(settings, 60, batch_size=16)
    assert sum(batches) == 60
    allowed = [min(FIRST_BATCH * 2**n, 16) for n in range(len(batches))]
    assert all(size <= most for size, most in zip(batches, allowed, strict=True))
    assert max(batches) == 16
