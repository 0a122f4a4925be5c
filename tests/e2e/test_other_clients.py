"""Producers and consumers a newsroom already has: librdkafka's clients (confluent-kafka for
Python, kcat on the command line) feed raw articles in and read enriched events out, on the
broker of the session and on the one `wirestream demo` starts by default."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from pipeline import codec, schemas
from pipeline.kafka import bootstrap_servers
from pipeline.producer import message_key
from pipeline.settings import ENV_PREFIX, Settings
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
    """Exactly one valid enriched event per article (other events on the topic left aside)."""
    keys = {message_key(a) for a in articles}
    events = [(key, event) for key, event in events if key in keys]
    assert sorted(key for key, _ in events) == sorted(keys)
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
    async with running_worker(settings, tmp_path, "worker"):
        await asyncio.to_thread(kcat_produce, settings, articles)
        events = await kcat_consume(settings, articles)
    check_events(events, articles)


def kcat_produce(settings: Settings, articles: list[dict]) -> None:
    lines = "".join(f"{message_key(a).decode()}\t{codec.dumps(a).decode()}\n" for a in articles)
    sent = kcat(
        "-b", servers(settings), "-P", "-t", settings.topic_raw, "-K", "\t", "-X", "acks=all",
        feed=lines,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr


async def kcat_consume(settings: Settings, articles: list[dict]) -> list[tuple[bytes, dict]]:
    """The enriched topic from the beginning, read again until every article's event is there."""
    keys = {message_key(a) for a in articles}
    async with asyncio.timeout(120):
        while True:
            read = await asyncio.to_thread(
                kcat, "-b", servers(settings), "-C", "-t", settings.topic_enriched,
                "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n",
            )  # fmt: skip
            assert read.returncode == 0, read.stderr
            pairs = [line.split("\t", 1) for line in read.stdout.splitlines() if line]
            events = [(key.encode(), codec.loads(value)) for key, value in pairs]
            if keys <= {key for key, _ in events}:
                return events
            await asyncio.sleep(1)


async def test_the_demos_default_broker_takes_kcat_and_confluent_kafka_where_java_is(tmp_path):
    """`wirestream demo` as a user runs it (no broker given, `embedded_broker` auto): with Java
    here (as in CI) it starts Apache Kafka, which both librdkafka clients can feed and read;
    Ctrl+C then removes its data."""
    if shutil.which("java") is None:
        pytest.fail("java is not installed: the demo's default broker is then Tansu (CI has Java)")
    shutil.which("kcat") or kcat()  # fails, saying how to install it
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env |= {f"{ENV_PREFIX}DATA_DIR": str(tmp_path / "state"), f"{ENV_PREFIX}METRICS_PORT": "0"}
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pipeline", "demo", "--keep-running",
        "-o", str(tmp_path / "out.jsonl"),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert demo.stdout is not None
    said: list[str] = []
    try:
        async with asyncio.timeout(240):
            while not said or not said[-1].startswith("Workers keep running"):
                line = (await demo.stdout.readline()).decode()
                assert line, "the demo ended early:\n" + "".join(said)
                said.append(line.rstrip("\n"))
        started = next(line for line in said if line.startswith("Starting the embedded broker"))
        assert "Apache Kafka" in started and not any(line.startswith("Note:") for line in said)
        data = re.search(r"data and log in (\S+),", started).group(1)
        url = re.search(r" on (kafka://\S+)$", started).group(1)
        assert await asyncio.to_thread(os.path.isdir, data)
        settings = Settings.load({"broker": url}, env={})
        by_kcat = synthetic_articles(ARTICLES, "demo-kcat")
        by_confluent = synthetic_articles(ARTICLES, "demo-confluent")
        await asyncio.to_thread(kcat_produce, settings, by_kcat)
        await asyncio.to_thread(confluent_produce, settings, by_confluent)
        articles = by_kcat + by_confluent
        check_events(await kcat_consume(settings, articles), articles)
        # The demo's 11 sample articles are on the enriched topic too.
        events = await asyncio.to_thread(confluent_consume, settings, len(articles) + 11)
        check_events(events, articles)
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(demo.communicate(), 60)
    assert demo.returncode == 130, "\n".join(said) + rest[0].decode()
    assert not await asyncio.to_thread(os.path.exists, data)  # its data went with it
