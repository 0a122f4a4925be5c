"""A dict kept in a compacted, one-partition Kafka topic: the duplicate index's state.

``ChangelogDict`` is an ordinary mapping that remembers which keys changed since its changes were
last taken; the owner sends those changes (JSON values, tombstones for deleted keys) and awaits
them like any other result. ``read_changelog`` reads such a topic back into a dict.

Why not a faust table: when a table's changelog holds data, faust recovers it at start-up through
a path that lets the consumer fetch input topics ahead of their committed offsets; the skipped
offsets then count as a gap that faust treats as acknowledged, and those input messages are never
processed (measured on the embedded broker with a backlog at start-up: up to two thirds of 300 raw
messages lost, none without the table; faust-streaming issue #596 describes the race). An app
without tables does not take that path. Awaiting the changelog writes with the results, before the
input is acknowledged, also makes each decision durable before it counts as done.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline import codec
from pipeline.kafka import client_options
from pipeline.settings import Settings

# A deleted key, in the changes taken from a ``ChangelogDict``: a tombstone on the topic.
DELETED = None


class ChangelogDict(MutableMapping[str, Any]):
    """A dict with string keys and JSON values that keeps track of its changes for a changelog."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = dict(data or {})
        self._changes: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._changes[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._changes[key] = DELETED

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def take_changes(self) -> dict[str, Any]:
        """Each key changed since the last call, with its value now (``DELETED`` if gone)."""
        changes, self._changes = self._changes, {}
        return changes

    def reset(self, data: dict[str, Any]) -> None:
        """Hold exactly ``data`` (read back from the changelog), with no changes pending."""
        self._data = data
        self._changes = {}


def encode_change(key: str, value: Any) -> tuple[bytes, bytes | None]:
    """A change as a Kafka message: UTF-8 key, JSON value or a tombstone."""
    return key.encode(), None if value is DELETED else codec.dumps(value)


async def end_offset(settings: Settings, topic: str) -> int:
    """The offset the next message written to the topic's one partition will get."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        isolation_level=settings.isolation_level,
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        return (await consumer.end_offsets([partition]))[partition]
    finally:
        await consumer.stop()


async def read_changelog(settings: Settings, topic: str) -> tuple[dict[str, Any], int]:
    """What the topic's one partition holds now, key by key (the last value wins, a tombstone
    deletes), and the offset after the last message read."""
    # From the beginning by the reset policy, not a seek that the consumer's own reset may race.
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=settings.isolation_level,  # never an aborted transaction's changes
    )
    await consumer.start()
    data: dict[str, Any] = {}
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        end = (await consumer.end_offsets([partition]))[partition]
        while await consumer.position(partition) < end:
            batches = await consumer.getmany(partition, timeout_ms=1000, max_records=10_000)
            for message in batches.get(partition, ()):
                key = message.key.decode() if message.key is not None else ""
                if message.value is None:
                    data.pop(key, None)
                else:
                    data[key] = codec.loads(message.value)
        return data, end
    finally:
        await consumer.stop()
