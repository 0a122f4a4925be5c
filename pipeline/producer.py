"""Pushing raw articles to Kafka and reading topics back (`produce`, `tail`, the demo)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from pipeline import codec, ids
from pipeline.kafka import client_options
from pipeline.settings import Settings


def message_key(article: dict[str, Any]) -> bytes:
    """The article id as the clean stage will derive it, so every topic is keyed alike."""
    body = article.get("body")
    return ids.article_id(
        article.get("id") if isinstance(article.get("id"), str) else None,
        article.get("url") if isinstance(article.get("url"), str) else None,
        body if isinstance(body, str) else "",
    ).encode()


async def produce(settings: Settings, articles: Iterable[dict[str, Any]]) -> list[bytes]:
    """Send raw articles to the raw topic; returns their keys once the broker has them all."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=5)
    await producer.start()
    try:
        keys, pending = [], []
        for article in articles:
            key = message_key(article)
            keys.append(key)
            pending.append(await producer.send(settings.topic_raw, codec.dumps(article), key=key))
        await asyncio.gather(*pending)
        return keys
    finally:
        await producer.stop()


async def produce_raw(
    settings: Settings, values: Sequence[tuple[bytes | None, bytes | None]]
) -> None:
    """Send (key, value) byte pairs as they are: for tests and for replays."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        pending = [await producer.send(settings.topic_raw, value, key=key) for key, value in values]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    # The metadata of every topic, fetched now. The consumer's own (`partitions_for_topic`)
    # covers only topics it has subscribed to on Apache Kafka, so it knows none of these.
    cluster = await consumer._client.fetch_all_metadata()
    return [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(cluster.partitions_for_topic(topic) or ())
    ]


async def end_offsets(settings: Settings, topics: Sequence[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topics)
        return await consumer.end_offsets(partitions) if partitions else {}
    finally:
        await consumer.stop()


async def read_topics(
    settings: Settings,
    topics: Sequence[str],
    *,
    start: dict[TopicPartition, int] | None = None,
    from_beginning: bool = True,
    idle_timeout: float | None = None,
) -> AsyncIterator[Record]:
    """Read topics without joining a consumer group (nothing is committed).

    Starts at ``start`` offsets where given, else at the beginning (or the end). If
    ``idle_timeout`` is set, stops once it has read up to the topics' ends as they were at the
    start and then ``idle_timeout`` seconds pass without a message: a cluster's first fetches
    (leaders looked up, connections opened) may take longer than that.
    """
    # Partitions without a `start` begin where the reset policy says: seeking them one by one
    # after `assign` races the consumer's own reset, which may land after the seek (on Apache
    # Kafka it skipped whole partitions).
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topics)
        if not partitions:
            return
        consumer.assign(partitions)
        for tp, offset in (start or {}).items():
            if tp in partitions:
                consumer.seek(tp, offset)
        ends = await consumer.end_offsets(partitions) if idle_timeout is not None else {}
        while True:
            batches = await consumer.getmany(timeout_ms=int((idle_timeout or 1.0) * 1000))
            if not batches and idle_timeout is not None:
                positions = [await consumer.position(tp) for tp in partitions]
                if all(at >= ends[tp] for tp, at in zip(partitions, positions, strict=True)):
                    return
            for tp, messages in batches.items():
                for m in messages:
                    yield Record(tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp)
    finally:
        await consumer.stop()
