"""A worker cut off from the cluster: two workers on their own test hosts (network namespaces,
each joined to a bridge by a veth pair), one's link taken down under a stream. Its partitions
move to the other worker, nothing is lost, and when the link returns it rejoins without a crash
or a restart loop.

Needs a cluster (`pytest --broker kafka`) and root for `ip netns`; the cluster of this test is
one Apache Kafka node listening on the bridge, where both namespaces reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from pipeline.cluster import KafkaCluster
from tests.e2e.accounting import (
    SOAK,
    count,
    metric,
    progress,
    settle,
    synthetic_articles,
    wait_ready,
    worker_command,
)
from tests.e2e.test_reliability import produce_gradually, report

pytestmark = pytest.mark.e2e

ARTICLES = 2000 if SOAK else 240
CUT_SECONDS = 60.0 if SOAK else 20.0
METRICS_PORT = 9108


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def isolated_hosts(count: int) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """A bridge with an address for the cluster, and ``count`` namespaces on it:
    yields the bridge address and (namespace, root-side link, address) per host."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("the network partition test needs root and iproute2 (`ip netns`)")
    tag = uuid.uuid4().hex[:4]
    net = f"10.{77 + int(tag[:2], 16) % 100}.{int(tag[2:], 16)}"
    bridge, hosts = f"wsb{tag}", []
    ip("link", "add", bridge, "type", "bridge")
    try:
        ip("addr", "add", f"{net}.1/24", "dev", bridge)
        ip("link", "set", bridge, "up")
        for n in range(count):
            namespace, link, address = f"ws{tag}{n}", f"wsv{tag}{n}", f"{net}.{10 + n}"
            ip("netns", "add", namespace)
            hosts.append((namespace, link, address))
            ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            ip("link", "set", link, "master", bridge, "up")
            ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
            ip("-n", namespace, "link", "set", "eth0", "up")
            ip("-n", namespace, "link", "set", "lo", "up")
        yield f"{net}.1", hosts
    finally:
        for namespace, link, _ in hosts:
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("link", "del", link)
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("netns", "del", namespace)
        ip("link", "del", bridge)


async def test_a_worker_cut_off_for_a_while_hands_over_its_partitions_and_rejoins(
    e2e_settings, cluster, tmp_path
):
    with isolated_hosts(2) as (bridge_address, hosts):
        kafka = await asyncio.to_thread(KafkaCluster(1, host=bridge_address).start)
        try:
            await cut_off_scenario(e2e_settings, kafka, hosts, tmp_path)
        finally:
            await asyncio.to_thread(kafka.stop)


async def cut_off_scenario(e2e_settings, kafka: KafkaCluster, hosts, tmp_path) -> None:
    base = e2e_settings.replace(broker=kafka.url, replication_factor=1, min_insync_replicas=1)
    articles = synthetic_articles(ARTICLES, "cut")
    expected = {a["id"] for a in articles}
    workers = [
        base.replace(metrics_host=address, metrics_port=METRICS_PORT) for _, _, address in hosts
    ]
    log = tmp_path / "workers.log"
    (first_ns, first_link, _), (second_ns, _, _) = hosts
    with (
        worker_command(workers[0], log, ["ip", "netns", "exec", first_ns]) as first,
        worker_command(workers[1], log, ["ip", "netns", "exec", second_ns]) as second,
    ):
        for settings, process in zip(workers, (first, second), strict=True):
            await wait_ready(settings, process, timeout=180)
        producing = asyncio.create_task(produce_gradually(base, articles, ARTICLES / 20))
        await progress(base, expected, len(articles) // 5, timeout=180)
        ip("link", "set", first_link, "down")
        cut = time.monotonic()
        try:
            # The other worker takes every partition once the group drops the cut-off member.
            async with asyncio.timeout(120):
                while await metric(workers[1], "wirestream_assigned_partitions", stage="ner") < 4:
                    await asyncio.sleep(0.5)
            moved = round(time.monotonic() - cut, 1)
            await asyncio.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut)))
        finally:
            ip("link", "set", first_link, "up")
        await producing
        await settle(base, expected, 600 if SOAK else 240)
        # Back in the group, holding partitions again, the same processes as before.
        async with asyncio.timeout(120):
            while await metric(workers[0], "wirestream_assigned_partitions", stage="ner") < 1:
                await asyncio.sleep(0.5)
        rejoined = round(time.monotonic() - cut - CUT_SECONDS, 1)
        restarts = {
            stage: await metric(workers[0], "wirestream_stage_restarts_total", stage=stage)
            for stage in ("clean", "ner", "classify")
        }
        assert first.poll() is None and second.poll() is None, "a worker exited"
    ledger = await count(base, expected)
    ledger.check()
    # A stage may restart once when its deliveries time out while cut off, never in a loop.
    assert all(n <= 1 for n in restarts.values()), restarts
    report(
        "worker cut off from the cluster",
        articles=len(articles),
        cut_seconds=CUT_SECONDS,
        seconds_until_partitions_moved=moved,
        rejoined_within_seconds_of_link_up=rejoined,
        stage_restarts_of_cut_off_worker=restarts,
        duplicates=ledger.duplicates,
    )
