"""Producers and consumers a newsroom already has: librdkafka's clients (confluent-kafka for
Python, kcat on the command line) feed raw articles in and read enriched events out."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from pipeline import codec, schemas
from pipeline.kafka import bootstrap_servers
from pipeline.producer import message_key
from tests.e2e.accounting import synthetic_articles
from tests.e2e.conftest import running_worker

pytestmark = pytest.mark.e2e

ARTICLES = 12


def servers(settings) -> str:
    return ",".join(bootstrap_servers(settings.broker_url))


def confluent_produce(settings, articles: list[dict]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": servers(settings), "acks": "all"})
    for article in articles:
        producer.produce(settings.topic_raw, codec.dumps(article), key=message_key(article))
    assert producer.flush(60) == 0, "not every article was delivered"


def confluent_consume(settings, count: int, timeout: float = 120.0) -> list[tuple[bytes, dict]]:
    import time

    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": servers(settings),
            "group.id": f"{settings.app_prefix}-newsroom",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,  # the embedded broker joins after about half of it
        }
    )
    consumer.subscribe([settings.topic_enriched])
    events: list[tuple[bytes, dict]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(events) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            events.append((message.key(), codec.loads(message.value())))
    finally:
        consumer.close()
    return events


def check_events(events: list[tuple[bytes, dict]], articles: list[dict]) -> None:
    assert sorted(key for key, _ in events) == sorted(message_key(a) for a in articles)
    for key, event in events:
        assert schemas.errors("enriched-article", event) == []
        assert event["id"].encode() == key and event["entities"]


async def test_confluent_kafka_feeds_articles_in_and_reads_enriched_events_out(
    e2e_settings, tmp_path
):
    settings = e2e_settings
    articles = synthetic_articles(ARTICLES, "confluent")
    async with running_worker(settings, tmp_path, "worker"):
        await asyncio.to_thread(confluent_produce, settings, articles)
        events = await asyncio.to_thread(confluent_consume, settings, len(articles))
    check_events(events, articles)


def kcat(*args: str, feed: str | None = None) -> subprocess.CompletedProcess[str]:
    if shutil.which("kcat") is None:
        pytest.fail("kcat is not installed (Debian: apt-get install kcat); .ci/run installs it")
    return subprocess.run(
        ["kcat", *args], input=feed, capture_output=True, text=True, timeout=120, check=False
    )


async def test_kcat_feeds_articles_in_and_reads_events_out_on_kafka_not_on_the_embedded_broker(
    e2e_settings, broker, tmp_path
):
    settings = e2e_settings
    if broker.cluster is None:
        if shutil.which("kcat") is None:
            pytest.skip("kcat is not installed: nothing to show on the embedded broker")
        # The embedded broker's ApiVersions answer does not parse for kcat's librdkafka.
        listing = await asyncio.to_thread(kcat, "-b", servers(settings), "-L", "-m", "5")
        assert listing.returncode != 0
        assert "ApiVersionRequest failed: Local: Read underflow" in listing.stderr
        return
    articles = synthetic_articles(ARTICLES, "kcat")
    lines = "".join(f"{message_key(a).decode()}\t{codec.dumps(a).decode()}\n" for a in articles)
    async with running_worker(settings, tmp_path, "worker"):
        sent = await asyncio.to_thread(
            kcat, "-b", servers(settings), "-P", "-t", settings.topic_raw, "-K", "\t",
            "-X", "acks=all", feed=lines,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        events: list[tuple[bytes, dict]] = []
        async with asyncio.timeout(120):
            while len(events) < len(articles):
                read = await asyncio.to_thread(
                    kcat, "-b", servers(settings), "-C", "-t", settings.topic_enriched,
                    "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n",
                )  # fmt: skip
                assert read.returncode == 0, read.stderr
                pairs = [line.split("\t", 1) for line in read.stdout.splitlines() if line]
                events = [(key.encode(), codec.loads(value)) for key, value in pairs]
                await asyncio.sleep(1)
    check_events(events, articles)
