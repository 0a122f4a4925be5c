"""Pushing raw articles to Kafka and reading topics back (`produce`, `tail`, the demo)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from pipeline import codec, ids
from pipeline.kafka import client_options, producer_options
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
    producer = AIOKafkaProducer(**producer_options(settings), linger_ms=5)
    try:
        await producer.start()  # in the try: a failed start still closes the client
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
    settings: Settings,
    values: Sequence[tuple[bytes | None, bytes | None]],
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Send (key, value) byte pairs as they are, each with ``headers``: for tests and replays."""
    producer = AIOKafkaProducer(**producer_options(settings))
    try:
        await producer.start()  # in the try: a failed start still closes the client
        pending = [
            await producer.send(settings.topic_raw, value, key=key, headers=list(headers) or None)
            for key, value in values
        ]
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
    headers: tuple[tuple[str, bytes], ...] = ()


async def topic_partitions(
    consumer: AIOKafkaConsumer, topics: Sequence[str]
) -> list[TopicPartition]:
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
        partitions = await topic_partitions(consumer, topics)
        return await fetched_ends(consumer, partitions) if partitions else {}
    finally:
        await consumer.stop()


async def fetched_ends(
    consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    """Each partition's end offset as the consumer's isolation level sees it (the last stable
    offset for `read_committed`), confirmed by a fetch; leaves ``partitions`` assigned, at
    positions to be set by the caller.

    Asked for a partition's end, some Kafka-compatible brokers (Tansu) answer the offset after
    the first message of its last batch, not after its last message; the end that a fetch
    reports is right. One fetch from just before the answer corrects it where it is short.
    """
    ends = dict(await consumer.end_offsets(partitions))
    probed = [tp for tp in partitions if ends[tp] > 0]
    if not probed:
        return ends
    consumer.assign(probed)
    for tp in probed:
        consumer.seek(tp, ends[tp] - 1)
    # The consumer's own setting (aiokafka keeps it private), as its `end_offsets` above uses.
    read_committed = consumer._isolation_level == "read_committed"
    fetched = consumer.last_stable_offset if read_committed else consumer.highwater
    waiting, deadline = set(probed), asyncio.get_running_loop().time() + 5.0
    while waiting and asyncio.get_running_loop().time() < deadline:
        await consumer.getmany(*waiting, timeout_ms=200)
        for tp in list(waiting):
            if (end := fetched(tp)) is not None:
                ends[tp] = max(ends[tp], end)
                waiting.discard(tp)
    return ends


async def read_topics(
    settings: Settings,
    topics: Sequence[str],
    *,
    start: dict[TopicPartition, int] | None = None,
    position: str | dt.datetime = "earliest",
    idle_timeout: float | None = None,
    isolation_level: str | None = None,
) -> AsyncIterator[Record]:
    """Read topics without joining a consumer group (nothing is committed), with the settings'
    isolation level unless ``isolation_level`` is given (``read_committed`` hides messages of
    open and aborted transactions).

    Starts at ``start`` offsets where given, else at ``position``: `earliest`, `latest` or the
    first message at or after a time. If ``idle_timeout`` is set, stops once it has read up to
    the topics' ends as they were at the start and then ``idle_timeout`` seconds pass without a
    message: a cluster's first fetches (leaders looked up, connections opened) may take longer
    than that.
    """
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="latest" if position == "latest" else "earliest",
        isolation_level=isolation_level or settings.isolation_level,
    )
    try:
        # Also after a failed start, so that no unclosed client is left behind.
        await consumer.start()
        partitions = await topic_partitions(consumer, topics)
        if not partitions:
            return
        ends = await fetched_ends(consumer, partitions) if idle_timeout is not None else {}
        unset = [tp for tp in partitions if not (start and tp in start)]
        offsets = {**await offsets_at(consumer, unset, position), **(start or {})}
        # Every position set right after `assign`, with no await between: the consumer's own
        # reset cannot run in between and land after a seek (on Apache Kafka it skipped whole
        # partitions).
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, offsets[tp])
        while True:
            batches = await consumer.getmany(timeout_ms=int((idle_timeout or 1.0) * 1000))
            if not batches and idle_timeout is not None:
                positions = [await consumer.position(tp) for tp in partitions]
                if all(at >= ends[tp] for tp, at in zip(partitions, positions, strict=True)):
                    return
            for tp, messages in batches.items():
                for m in messages:
                    yield Record(
                        tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp,
                        tuple(m.headers or ()),
                    )  # fmt: skip
    finally:
        await consumer.stop()


async def offsets_at(
    consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition], position: str | dt.datetime
) -> dict[TopicPartition, int]:
    """Each partition's offset at ``position``: its first message (`earliest`), its end
    (`latest`), or its first message at or after a time (its end if there is none). May change
    the consumer's assignment."""
    if not partitions:
        return {}
    if position == "earliest":
        return dict(await consumer.beginning_offsets(partitions))
    ends = await fetched_ends(consumer, partitions)
    if position == "latest":
        return ends
    assert isinstance(position, dt.datetime)
    moment = int(position.timestamp() * 1000)
    found = await consumer.offsets_for_times(dict.fromkeys(partitions, moment))
    # No message at or after the time: Kafka answers None, some brokers a timestamp of -1.
    return {
        tp: hit.offset if (hit := found.get(tp)) and hit.timestamp >= 0 else ends[tp]
        for tp in partitions
    }
