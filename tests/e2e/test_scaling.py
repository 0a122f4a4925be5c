"""NER workers joining and leaving a running pipeline under a stream of articles.

A full worker runs first; three NER-only workers (`wirestream worker --stages ner`) join one
after another, each taking a share of the NER stage's partitions; then one is stopped with
SIGTERM and one is killed with `kill -9` while its NER code is in the middle of a batch. Each
NER worker processes part of the stream, the partitions of a worker that leaves move to the
others, the accounting invariant holds (duplicates counted), no article hits the time limit, and
the workers that stay never restart a stage.

It runs on either broker, scaled down (`make test`, `make test-kafka`); `make soak-kafka` runs it
at full size on Apache Kafka and prints its figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from pipeline.broker import free_port
from pipeline.producer import produce
from pipeline.settings import Settings
from tests.e2e.accounting import (
    SOAK,
    count,
    kill,
    metric,
    settle,
    stage_pids,
    synthetic_articles,
    wait_gone,
    wait_ready,
    worker_command,
)
from tests.e2e.test_reliability import report

pytestmark = pytest.mark.e2e

RATE = 40.0 if SOAK else 20.0  # articles produced per second, for as long as the scenario runs
# Seconds of steady stream after each join or leave, once the partitions are shared again.
HOLD = 30.0 if SOAK else 2.0
STREAM_LIMIT = 900.0  # seconds: the stream fails the test if it runs out of articles first
SETTLE_TIMEOUT = 600.0 if SOAK else 240.0
REBALANCE_TIMEOUT = 120.0
NER_WORKERS = 3

Member = tuple[Settings, subprocess.Popen[bytes]]


async def stream(settings: Settings, articles: list[dict], stop: asyncio.Event) -> set[str]:
    """Produce the articles at ``RATE`` until ``stop``; the ids of those produced."""
    produced: set[str] = set()
    step = max(int(RATE / 4), 1)
    for start in range(0, len(articles), step):
        if stop.is_set():
            return produced
        chunk = articles[start : start + step]
        await produce(settings, chunk)
        produced.update(article["id"] for article in chunk)
        await asyncio.sleep(0.25)
    raise AssertionError(f"the stream ran out of articles after {len(produced)}")


async def ner_partitions(settings: Settings) -> int:
    """Partitions of the NER stage's input the worker holds; 0 while it cannot be asked."""
    with contextlib.suppress(aiohttp.ClientError):
        return int(await metric(settings, "wirestream_assigned_partitions", stage="ner"))
    return 0


async def until_shared(members: dict[str, Member], partitions: int) -> float:
    """Seconds until each member holds a NER partition and together they hold them all."""
    started = time.monotonic()
    async with asyncio.timeout(REBALANCE_TIMEOUT):
        while True:
            for name, (_, process) in members.items():
                assert process.poll() is None, f"{name} exited with {process.returncode}"
            held = [await ner_partitions(settings) for settings, _ in members.values()]
            if all(held) and sum(held) == partitions:
                return round(time.monotonic() - started, 1)
            await asyncio.sleep(0.1)


async def processed(settings: Settings) -> int:
    """Messages the worker's NER stage has taken and delivered."""
    return int(await metric(settings, "wirestream_messages_total", stage="ner", outcome="in"))


def computing(pid: int) -> bool:
    """The process is running (state R), not waiting: NER code between a batch's frame and
    its results."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "R"
    return False


async def kill_mid_batch(process: subprocess.Popen[bytes]) -> None:
    """`kill -9` of a NER-only worker's processes while its NER code works on a batch (one the
    stage process has taken and not acknowledged), all at once, as when its host goes."""
    (stage,) = stage_pids(process.pid)
    (code,) = stage_pids(stage)
    async with asyncio.timeout(60):
        while not computing(code):
            await asyncio.sleep(0.002)
    for pid in (code, stage, process.pid):
        kill(pid)
    await wait_gone([code, stage, process.pid], timeout=10)


async def test_ner_workers_join_leave_and_one_killed_mid_batch_lose_nothing(e2e_settings, tmp_path):
    base = e2e_settings
    partitions = base.partitions
    assert partitions == NER_WORKERS + 1, "one NER partition for each worker"
    articles = synthetic_articles(int(RATE * STREAM_LIMIT), "scale")
    stop = asyncio.Event()
    joined: dict[str, float] = {}
    done: dict[str, int] = {}
    with contextlib.ExitStack() as workers:

        def start(name: str, settings: Settings) -> Member:
            log = tmp_path / f"{name}.log"
            return settings, workers.enter_context(worker_command(settings, log))

        members = {"full": start("full", base.replace(metrics_port=free_port()))}
        await wait_ready(*members["full"], timeout=180)
        producing = asyncio.create_task(stream(base, articles, stop))
        try:
            for n in range(1, NER_WORKERS + 1):
                settings = base.replace(stages=("ner",), metrics_port=free_port())
                members[f"ner-{n}"] = start(f"ner-{n}", settings)
                joined[f"ner-{n}"] = await until_shared(members, partitions)
                await asyncio.sleep(HOLD)
            # Every NER worker has processed part of the stream.
            async with asyncio.timeout(120):
                while not all([await processed(s) for s, _ in members.values()]):
                    await asyncio.sleep(0.2)

            graceful, graceful_process = members.pop("ner-2")
            done["ner-2"] = await processed(graceful)
            graceful_process.send_signal(signal.SIGTERM)
            after_sigterm = await until_shared(members, partitions)
            # A worker stopped by a signal exits with 130 once its stages have stopped.
            assert await asyncio.to_thread(graceful_process.wait, 30) == 130
            assert "did not stop in time" not in (tmp_path / "ner-2.log").read_text()
            await asyncio.sleep(HOLD)

            killed, killed_process = members.pop("ner-3")
            done["ner-3"] = await processed(killed)
            await kill_mid_batch(killed_process)
            after_kill = await until_shared(members, partitions)
            await asyncio.sleep(HOLD)
        finally:
            stop.set()
            expected = await producing
        await settle(base, expected, SETTLE_TIMEOUT)
        for name, (settings, process) in members.items():
            assert process.poll() is None, f"{name} exited with {process.returncode}"
            await wait_ready(settings, process, timeout=30)
            done[name] = await processed(settings)
        restarts = {
            name: await metric(settings, "wirestream_stage_restarts_total")
            for name, (settings, _) in members.items()
        }
    ledger = await count(base, expected)
    ledger.check()
    assert not ledger.dead, f"dead letters: {dict(list(ledger.dead.items())[:3])}"
    assert all(done.values()), f"a NER worker processed nothing: {done}"
    assert not any(restarts.values()), f"stage restarts of the workers that stayed: {restarts}"
    report(
        "NER workers joining, leaving and killed mid-batch",
        articles=len(expected),
        ner_messages_by_worker=done,
        seconds_from_start_to_partitions_shared=joined,
        seconds_until_taken_over_after_sigterm=after_sigterm,
        seconds_until_taken_over_after_kill_9=after_kill,
        duplicates=ledger.duplicates,
    )
