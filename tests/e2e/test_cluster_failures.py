"""Apache Kafka brokers failing under a stream of articles: `kill -9` of the broker leading the
most partitions, and a rolling restart of every broker, each checked with the accounting
invariant (the broker frozen for a while is in test_reliability.py, on either broker).

They need a cluster (`pytest --broker kafka`, `make test-kafka`); `make soak-kafka` runs them at
full size and prints their figures.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.cluster import KafkaCluster, Node
from pipeline.kafka import client_options
from pipeline.producer import read_topics
from pipeline.settings import Settings
from tests.e2e.accounting import (
    SOAK,
    Ledger,
    busiest_leader,
    count,
    progress,
    settle,
    synthetic_articles,
)
from tests.e2e.conftest import running_worker
from tests.e2e.test_reliability import produce_gradually, report

pytestmark = pytest.mark.e2e

ARTICLES = 5000 if SOAK else 400
RATE = 40.0  # articles produced per second
SETTLE_TIMEOUT = 900.0 if SOAK else 300.0


async def watch(settings: Settings, expected: set[str], seen: list[tuple[float, int]]) -> None:
    """Record (time, articles accounted for) as results come out of the pipeline."""
    ledger = Ledger(expected)
    async for record in read_topics(settings, [settings.topic_enriched, settings.topic_dlq]):
        ledger.add(record.topic, settings, record.key, record.value)
        seen.append((time.monotonic(), len(ledger.accounted)))


def seconds_until_throughput_is_back(seen: list[tuple[float, int]], since: float) -> float:
    """From ``since`` until articles come out over 2 s at half the rate they are produced."""
    window, wanted = 2.0, RATE * 2.0 / 2
    for n, (at, total) in enumerate(seen):
        if at < since + window:
            continue
        before = max((c for t, c in seen[:n] if t <= at - window), default=0)
        if total - before >= wanted:
            return round(at - since, 1)
    raise AssertionError("throughput never came back")


async def in_sync(settings: Settings, timeout: float = 180.0) -> None:
    """Until every partition of the pipeline's topics has all its replicas in sync again."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        async with asyncio.timeout(timeout):
            while True:
                described = await admin.describe_topics(list(settings.topic_partitions))
                partitions = [p for topic in described for p in topic["partitions"]]
                if partitions and all(len(p["isr"]) == len(p["replicas"]) for p in partitions):
                    return
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def restart(cluster: KafkaCluster, node: Node) -> None:
    await asyncio.to_thread(cluster.start_node, node)
    await cluster.until_ready(180)


async def test_kill_9_of_the_busiest_leader_under_a_stream_loses_nothing(
    e2e_settings, cluster, tmp_path
):
    settings = e2e_settings
    articles = synthetic_articles(ARTICLES, "leader")
    expected = {a["id"] for a in articles}
    seen: list[tuple[float, int]] = []
    async with running_worker(settings, tmp_path, "worker") as worker:
        watcher = asyncio.create_task(watch(settings, expected, seen))
        producing = asyncio.create_task(produce_gradually(settings, articles, ARTICLES / RATE))
        await progress(settings, expected, len(articles) // 4, timeout=180)
        node = cluster.node(await busiest_leader(settings))
        node.signal(signal.SIGKILL)
        killed = time.monotonic()
        try:
            assert await asyncio.to_thread(node.wait, 30)
            await producing
            await settle(settings, expected, SETTLE_TIMEOUT)
            back = seconds_until_throughput_is_back(seen, killed)
            restarts = {s: worker.restarts.labels(s)._value.get() for s in worker.stages}
        finally:
            watcher.cancel()
            await restart(cluster, node)
    ledger = await count(settings, expected)
    ledger.check()
    assert not ledger.dead, f"dead letters: {dict(list(ledger.dead.items())[:3])}"
    report(
        "kill -9 of the busiest leader (Apache Kafka)",
        articles=len(articles),
        broker=node.node_id,
        duplicates=ledger.duplicates,
        seconds_until_throughput_back=back,
        stage_restarts=restarts,
    )


async def test_a_rolling_restart_of_every_broker_under_a_stream_loses_nothing(
    e2e_settings, cluster, tmp_path
):
    settings = e2e_settings
    articles = synthetic_articles(ARTICLES, "rolling")
    expected = {a["id"] for a in articles}
    took: dict[int, float] = {}
    async with running_worker(settings, tmp_path, "worker") as worker:
        # Long enough for the stream to last through the restarts (each takes 10-30 s).
        seconds = max(ARTICLES / RATE, 90.0)
        producing = asyncio.create_task(produce_gradually(settings, articles, seconds))
        await progress(settings, expected, len(articles) // 6, timeout=180)
        for node in cluster.nodes:
            started = time.monotonic()
            node.signal(signal.SIGTERM)  # a controlled shutdown: leadership moves first
            if not await asyncio.to_thread(node.wait, 60):
                node.signal(signal.SIGKILL)
                await asyncio.to_thread(node.wait, 10)
            await restart(cluster, node)
            await in_sync(settings)
            took[node.node_id] = round(time.monotonic() - started, 1)
        await producing
        await settle(settings, expected, SETTLE_TIMEOUT)
        restarts = {s: worker.restarts.labels(s)._value.get() for s in worker.stages}
    ledger = await count(settings, expected)
    ledger.check()
    assert not ledger.dead, f"dead letters: {dict(list(ledger.dead.items())[:3])}"
    report(
        "rolling restart of every broker (Apache Kafka)",
        articles=len(articles),
        seconds_per_broker_until_back_in_sync=took,
        duplicates=ledger.duplicates,
        stage_restarts=restarts,
    )
