"""Bytes per event on Apache Kafka for each `compression_type`: raw articles and enriched events.

Enriches BBC News articles with the stage code (no Kafka), then sends the same raw articles and
the same enriched events with Wirestream's producer options to one Apache Kafka node, a topic
per codec, and divides the size of each topic's log on disk (record batches as the broker keeps
them) by the number of messages. Also times the sends (median of 3 rounds).

    python bench/compression.py [--articles N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaProducer  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402

from bench._common import SHARED_DATA  # noqa: E402
from pipeline import codec  # noqa: E402
from pipeline.cluster import KafkaCluster  # noqa: E402
from pipeline.enrich import Enricher  # noqa: E402
from pipeline.events import Article  # noqa: E402
from pipeline.kafka import producer_options  # noqa: E402
from pipeline.settings import COMPRESSION_TYPES, Settings  # noqa: E402

CORPUS = SHARED_DATA / "bbc" / "bbc-dev.jsonl"
ROUNDS = 3


def load(count: int) -> list[dict]:
    with CORPUS.open(encoding="utf-8") as lines:
        rows = [codec.loads(line) for line, _ in zip(lines, range(count), strict=False)]
    return [{"id": r["id"], "title": r["title"], "body": r["body"]} for r in rows]


async def send(settings: Settings, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    # A short linger lets batches form, as they do under a stream.
    producer = AIOKafkaProducer(**producer_options(settings), linger_ms=20)
    await producer.start()
    try:
        started = time.perf_counter()
        pending = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*pending)
        return time.perf_counter() - started
    finally:
        await producer.stop()


def topic(kind: str, compression: str, round_: int) -> str:
    return f"{kind.replace(' ', '-')}-{compression}-{round_}"


def log_bytes(cluster: KafkaCluster, topic: str) -> int:
    folder = cluster.nodes[0].home / "data" / f"{topic}-0"
    return sum(path.stat().st_size for path in folder.glob("*.log"))


async def measure(cluster: KafkaCluster, kinds: dict[str, list[tuple[bytes, bytes]]]) -> None:
    base = Settings.load({"broker": cluster.url}, env={})
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    topics = [topic(kind, codec_, n) for kind in kinds for codec_ in COMPRESSION_TYPES
              for n in range(ROUNDS)]  # fmt: skip
    await admin.create_topics([NewTopic(t, 1, 1) for t in topics])
    await admin.close()
    print(f"{'messages':<16}{'compression':<13}{'bytes/message':>14}{'vs none':>9}{'send s':>9}")
    for kind, messages in kinds.items():
        plain = None
        for compression in COMPRESSION_TYPES:
            settings = base.replace(compression_type=compression)
            seconds = [
                await send(settings, topic(kind, compression, n), messages) for n in range(ROUNDS)
            ]
            size = log_bytes(cluster, topic(kind, compression, 0)) / len(messages)
            plain = plain or size
            print(
                f"{kind:<16}{compression:<13}{size:>14,.0f}{size / plain:>9.2f}"
                f"{statistics.median(seconds):>9.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=400)
    args = parser.parse_args()
    articles = load(args.articles)
    enricher = Enricher(Settings.load({}, env={}))
    events = [e for e in enricher.enrich(articles) if isinstance(e, Article)]
    kinds = {
        "raw articles": [(a["id"].encode(), codec.dumps(a)) for a in articles],
        "enriched events": [(e.id.encode(), codec.dumps(e)) for e in events],
    }
    print(
        f"Bytes per message on Apache Kafka, by compression_type: {len(articles)} BBC News "
        f"articles, {len(events)} enriched events; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores (shared machine); send time median of {ROUNDS} rounds"
    )
    with KafkaCluster(1) as cluster:
        asyncio.run(measure(cluster, kinds))


if __name__ == "__main__":
    main()
