"""Offsets never run ahead of delivery: the hazards faust leaves open, closed by Wirestream's
settings and batch loop (faust's test_context(), no broker).

faust commits what streams acknowledge. `stream.take()` acknowledges a batch when the loop moves
past it, and also when the agent is cancelled in the middle of it (its `finally` acks), so a
shutdown or rebalance would commit messages never delivered; agent concurrency above one lets a
later batch's acks run ahead of an earlier one's. The tests below show Wirestream's loop does
neither, and one runs the same scenario with faust's acking take to show the test would catch it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from prometheus_client import CollectorRegistry

import pipeline.runtime.batch_loop as batch_loop
from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter, Reason, StageInfo
from pipeline.runtime.stage_app import build_app
from tests.runtime.test_stage_app import Recorder
from tests.stage_doubles import article_for


class GatedStage:
    """Processes at once, except a message whose value is `wait`: that one blocks until the
    test opens the gate."""

    name = "ner"
    input_schema = "clean-article"
    output_schema = "entities-article"
    info = StageInfo()

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        if any(m.value == b"wait" for m in batch):
            self.waiting.set()
            self.gate.wait(30)
        return [article_for(m) for m in batch]


async def until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("take", "in_flight_acked"),
    [("take_ready", False), ("take_events", True)],
    ids=["wirestream-loop", "with-faust-acking-take"],
)
async def test_a_batch_in_flight_is_not_acked_when_the_agent_is_cancelled(
    settings, monkeypatch, take, in_flight_acked
):
    if take != "take_ready":
        # The same loop over faust's own take: the hazard this test exists to catch.
        monkeypatch.setattr(
            batch_loop, "take_ready", lambda stream, max_, within: stream.take_events(max_, within)
        )
    stage = GatedStage()
    stage_app = build_app(settings.replace(batch_size=2), stage, CollectorRegistry())
    recorder = Recorder(stage_app)
    try:
        async with stage_app.agent.test_context() as agent:
            delivered = [await agent.put(b"one", key=b"a"), await agent.put(b"two", key=b"b")]
            await recorder.wait_for(2)
            await until(lambda: all(e.message.acked for e in delivered))
            in_flight = await agent.put(b"wait", key=b"c")
            await until(stage.waiting.is_set)
            # Leaving the context stops the agent: a shutdown or a revoked partition.
        await asyncio.sleep(0.2)  # let a cancelled generator's cleanup run, as it would
    finally:
        stage.gate.set()
    assert [key for _, key, _ in recorder.sent] == [b"a", b"b"]
    assert in_flight.message.acked is in_flight_acked


async def test_results_are_delivered_before_their_messages_are_acked(settings):
    stage_app = build_app(settings.replace(batch_size=4), GatedStage(), CollectorRegistry())
    acked_at_send: list[bool] = []
    events = []
    recorder = Recorder(stage_app)
    send = stage_app.sink.send

    async def watching_send(**kwargs):
        acked_at_send.append(any(e.message.acked for e in events))
        return await send(**kwargs)

    stage_app.sink.send = watching_send
    async with stage_app.agent.test_context() as agent:
        for n in range(4):
            events.append(await agent.put(f"m{n}".encode(), key=f"k{n}".encode()))
        await recorder.wait_for(4)
        await until(lambda: all(e.message.acked for e in events))
    assert acked_at_send == [False] * 4


async def test_a_result_the_broker_refuses_becomes_a_dead_letter_of_its_message(settings):
    stage_app = build_app(settings, GatedStage(), CollectorRegistry())
    recorder = Recorder(stage_app)
    send = stage_app.sink.send

    async def refusing_send(key=None, value=None, **kwargs):
        if key == b"big":
            raise MessageSizeTooLargeError()
        return await send(key=key, value=value, **kwargs)

    stage_app.sink.send = refusing_send
    async with stage_app.agent.test_context() as agent:
        events = [
            await agent.put(b"fine", key=b"ok-1"),
            await agent.put(b"huge", key=b"big"),
            await agent.put(b"fine", key=b"ok-2"),
        ]
        await recorder.wait_for(3)
        await until(lambda: all(e.message.acked for e in events))
    outcomes = sorted((name, key, letter.get("reason")) for name, key, letter in recorder.sent)
    assert outcomes == [
        ("dlq", b"big", Reason.UNDELIVERABLE),
        ("out", b"ok-1", None),
        ("out", b"ok-2", None),
    ]
    letter = next(letter for name, _, letter in recorder.sent if name == "dlq")
    assert (letter["payload"], letter["stage"]) == ("huge", "ner")


async def test_a_dead_letter_the_broker_refuses_stops_the_process_unacked(settings):
    stage_app = build_app(settings, GatedStage(), CollectorRegistry())
    Recorder(stage_app)
    fatal: list[str] = []

    async def refuse(**_):
        raise MessageSizeTooLargeError()

    async def record_fatal(app, reason, exc):
        fatal.append(reason)

    stage_app.sink.send = stage_app.dead_letters.send = refuse
    stage_app.loop.on_fatal = record_fatal
    async with stage_app.agent.test_context() as agent:
        event = await agent.put(b"anything", key=b"k")
        await until(lambda: bool(fatal))
    assert "dead letter was refused too" in fatal[0]
    assert not event.message.acked


@pytest.mark.parametrize("stage_name", ["clean", "ner", "classify"])
def test_settings_that_keep_offsets_behind_delivery(settings, stage_name):
    class Named(GatedStage):
        name = stage_name

    stage_app = build_app(settings, Named(), CollectorRegistry())
    conf = stage_app.app.conf
    assert stage_app.agent.concurrency == 1  # one batch at a time per partition set
    assert conf.stream_publish_on_commit is False  # sends are not held until a commit
    assert conf.stream_wait_empty is True  # a rebalance waits for the batch in flight
    assert conf.broker_commit_interval == settings.commit_interval
    assert conf.producer_acks == -1  # acknowledged by every in-sync replica


async def test_fail_stop_commits_what_was_delivered_and_exits_70(settings, monkeypatch):
    stage_app = build_app(settings, GatedStage(), CollectorRegistry())
    calls: list[str] = []

    async def commit():
        calls.append("commit")

    def exit_now(code: int) -> None:
        calls.append(f"exit {code}")
        raise SystemExit(code)

    monkeypatch.setattr(stage_app.app.consumer, "commit", commit)
    monkeypatch.setattr(batch_loop.os, "_exit", exit_now)
    with pytest.raises(SystemExit):
        await batch_loop.fail_stop(stage_app.app, "testing", None)
    assert calls == ["commit", f"exit {batch_loop.EXIT_FAILED}"]
