"""Stage code in a child process: results come back whole, a batch over the time limit or a dead
child costs only its culprit, memory is capped, and no child outlives its use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter, Reason
from pipeline.metrics import StageMetrics
from pipeline.runtime.encoded import Encoded
from pipeline.runtime.runner import StageRunner
from pipeline.runtime.sandbox import IsolatedStage, StageDied, StageTimeout

DOUBLES = "tests.stage_doubles:build"


def message(value: bytes | None, offset: int = 0, key: bytes | None = None) -> Incoming:
    return Incoming(
        value=value,
        key=key if key is not None else f"m{offset}".encode(),
        topic="clean-x",
        partition=1,
        offset=offset,
        timestamp=1.7e9,
    )


def decoded(results: list[Encoded]) -> list[Article | DeadLetter]:
    return [result.decode() for result in results]


def outcome(result: Article | DeadLetter) -> str:
    return result.reason if isinstance(result, DeadLetter) else result.id


def environment_of(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


def asleep(pid: int) -> bool:
    """Whether the process waits in a sleep call (not on its input, for instance)."""
    return "nanosleep" in Path(f"/proc/{pid}/wchan").read_text()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
async def isolated(settings):
    stage = IsolatedStage(settings.replace(stage_memory_limit=512), "ner", factory=DOUBLES)
    await stage.start()
    yield stage
    stage.close()


def runner(stage, time_limit: float = 2.0) -> StageRunner:
    return StageRunner(stage, StageMetrics("ner", CollectorRegistry()), time_limit, 1 << 20)


async def test_a_batch_that_comes_before_the_models_waits_for_them_outside_its_time_limit(settings):
    stage = IsolatedStage(settings, "ner", factory="tests.stage_doubles:build_slowly")
    stage.launch()  # returns at once: the models load while the stage process goes on
    try:
        results = decoded(await stage.process([message(b"first", 0)], 0.5))
        assert [(r.id, r.text) for r in results] == [("m0", "first")]
        assert stage.info.model == "double" and stage.restarts == 0
    finally:
        stage.close()


async def test_results_come_back_from_the_child(isolated):
    results = decoded(await isolated.process([message(b"first", 0), message(b"second", 1)], 5.0))
    assert [(r.id, r.text) for r in results] == [("m0", "first"), ("m1", "second")]
    assert isolated.info.model == "double"


async def test_a_batch_over_the_time_limit_kills_the_child(isolated):
    pid = isolated.pid
    with pytest.raises(StageTimeout):
        await isolated.process([message(b"sleep")], 0.5)
    assert not alive(pid), "the child is killed, not left running"
    results = decoded(await isolated.process([message(b"after")], 5.0))
    assert [r.text for r in results] == ["after"]
    assert isolated.pid != pid and isolated.restarts == 1


async def test_only_the_slow_article_of_a_batch_is_dead_lettered_as_timeout(isolated):
    batch = [message(b"one", 0), message(b"sleep", 1), message(b"three", 2)]
    results = decoded(await runner(isolated, time_limit=1.0).process(batch))
    assert [outcome(r) for r in results] == ["m0", Reason.TIMEOUT, "m2"]
    letter = results[1]
    assert (letter.stage, letter.offset, letter.payload) == ("ner", 1, "sleep")
    assert "time limit of 1 s" in letter.error


async def test_a_child_that_dies_costs_only_its_article(isolated):
    pid = isolated.pid
    with pytest.raises(StageDied, match="died"):
        await isolated.process([message(b"die")], 5.0)
    assert not alive(pid)
    batch = [message(b"before", 0), message(b"die", 1), message(b"after", 2)]
    results = decoded(await runner(isolated).process(batch))
    assert [outcome(r) for r in results] == ["m0", Reason.STAGE_ERROR, "m2"]
    assert "died (3)" in results[1].error


async def test_the_memory_limit_turns_a_hungry_article_into_a_dead_letter(isolated):
    results = decoded(await isolated.process([message(b"hog", 0), message(b"fine", 1)], 10.0))
    assert [outcome(r) for r in results] == [Reason.STAGE_ERROR, "m1"]
    assert "MemoryError" in results[0].error


async def test_a_result_that_cannot_be_encoded_is_dead_lettered_alone(isolated):
    results = decoded(await isolated.process([message(b"ok", 0), message(b"deep", 1)], 10.0))
    assert [outcome(r) for r in results] == ["m0", Reason.STAGE_ERROR]
    assert "Recursion limit reached" in results[1].error


async def test_a_cancelled_batch_leaves_no_child_behind(isolated):
    import asyncio

    pid = isolated.pid
    task = asyncio.create_task(isolated.process([message(b"sleep")], 60.0))
    async with asyncio.timeout(10):  # until the child is in the batch, asleep in the double
        while not asleep(pid):
            await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(pid) and isolated.pid is None


async def test_the_child_gets_no_kafka_credentials(settings):
    secured = settings.replace(
        security_protocol="SASL_PLAINTEXT", sasl_username="svc", sasl_password="hunter2-secret"
    )
    stage = IsolatedStage(secured, "ner", factory="tests.stage_doubles:build_reporting_credentials")
    await stage.start()
    try:
        assert (stage.info.model, stage.info.model_version) == ("PLAINTEXT", None)
        assert b"hunter2-secret" not in environment_of(stage.pid)
    finally:
        stage.close()
