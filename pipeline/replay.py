"""``wirestream replay``: send dead letters back to the topic they came from.

Once the cause of a failure is fixed (a model, a limit, a bug), the dead letters chosen by stage,
reason and time are re-injected into their source topic, payload and key restored byte for byte
(base64 ones decoded), so the stage that failed on them processes them again.

Safe to run more than once: the dead-letter topic is read up to its end as it was when the replay
started (letters written by the replayed messages failing again are left for a later replay);
one original message dead-lettered twice (a crash, then redelivery) is sent once; and an article
that gets through twice yields the same ``event_id``, which consumers drop as a duplicate.
Letters whose payload was cut to fit (``payload_truncated``) cannot be restored and are skipped.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from pipeline import codec
from pipeline.envelope import parse_timestamp
from pipeline.kafka import producer_options
from pipeline.producer import end_offsets, read_topics
from pipeline.settings import Settings

REPLAYED_FROM_HEADER = "wirestream-replayed-from"


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters to replay; an empty set or None means any."""

    stages: frozenset[str] = frozenset()
    reasons: frozenset[str] = frozenset()
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def matches(self, letter: Mapping[str, Any]) -> bool:
        if self.stages and letter.get("stage") not in self.stages:
            return False
        if self.reasons and letter.get("reason") not in self.reasons:
            return False
        if self.since is None and self.until is None:
            return True
        try:
            failed_at = parse_timestamp(letter["failed_at"])
        except (KeyError, TypeError, ValueError):
            return False
        if self.since is not None and failed_at < self.since:
            return False
        return self.until is None or failed_at < self.until


@dataclass(frozen=True, slots=True)
class Restored:
    """The original message of a dead letter, as it was on its source topic."""

    topic: str
    key: bytes | None
    value: bytes | None
    origin: tuple[str, int | None, int | None]  # source topic, partition, offset


def _decode(text: str | None, encoding: str | None) -> bytes | None:
    if text is None:
        return None
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")


def restore(letter: Mapping[str, Any], allowed_topics: Iterable[str]) -> Restored | str:
    """The dead letter's original message, or why it cannot be replayed."""
    topic = letter.get("topic")
    if not topic:
        return "no source topic (not from a worker)"
    if topic not in set(allowed_topics):
        return f"source topic {topic!r} is not an input topic of this pipeline"
    if letter.get("payload_truncated"):
        return "payload was cut to fit the message size limit"
    value = _decode(letter["payload"], letter["payload_encoding"])
    key_encoding = letter.get("key_encoding")
    if key_encoding is None and letter.get("key") is not None:
        key_encoding = "utf-8"  # dead letters written before key_encoding existed
    key = _decode(letter.get("key"), key_encoding)
    return Restored(topic, key, value, (topic, letter.get("partition"), letter.get("offset")))


@dataclass
class ReplayReport:
    read: int = 0
    selected: int = 0
    sent: int = 0
    repeated: int = 0  # the same original message dead-lettered more than once
    skipped: dict[str, int] = field(default_factory=dict)
    by_topic: dict[str, int] = field(default_factory=dict)


async def replay(
    settings: Settings, selection: Selection, *, dry_run: bool = False
) -> ReplayReport:
    """Re-inject the selected dead letters; see the module docstring."""
    chooser = _Chooser(
        selection, (settings.topic_raw, settings.topic_clean, settings.topic_entities)
    )
    # Up to the end as it is now, partition by partition.
    ends = {
        tp.partition: end
        for tp, end in (await end_offsets(settings, [settings.topic_dlq])).items()
        if end > 0
    }
    if ends:
        async for record in read_topics(settings, [settings.topic_dlq], idle_timeout=5.0):
            end = ends.get(record.partition)
            if end is None or record.offset >= end:
                continue
            chooser.consider(record.value, f"{record.partition}:{record.offset}")
            if record.offset + 1 >= end:
                del ends[record.partition]
                if not ends:
                    break
    report = chooser.report
    if dry_run:
        return report
    producer = AIOKafkaProducer(**producer_options(settings))
    try:
        await producer.start()  # in the try: a failed start still closes the client
        for restored, origin in chooser.chosen:
            await producer.send_and_wait(
                restored.topic,
                restored.value,
                key=restored.key,
                headers=[(REPLAYED_FROM_HEADER, origin.encode())],
            )
            report.sent += 1
    finally:
        await producer.stop()
    return report


class _Chooser:
    """Picks the dead letters to replay, one record of the dead-letter topic at a time."""

    def __init__(self, selection: Selection, allowed_topics: Iterable[str]) -> None:
        self.selection = selection
        self.allowed = tuple(allowed_topics)
        self.report = ReplayReport()
        self.chosen: list[tuple[Restored, str]] = []
        self._seen: set[tuple[str, int | None, int | None]] = set()

    def consider(self, value: bytes | None, where: str) -> None:
        report = self.report
        report.read += 1
        try:
            letter = codec.loads(value or b"")
        except codec.JSONDecodeError:
            letter = None
        if not isinstance(letter, dict) or "payload" not in letter:
            report.skipped["not a dead letter"] = report.skipped.get("not a dead letter", 0) + 1
            return
        if not self.selection.matches(letter):
            return
        report.selected += 1
        restored = restore(letter, self.allowed)
        if isinstance(restored, str):
            report.skipped[restored] = report.skipped.get(restored, 0) + 1
            return
        if restored.origin[2] is not None and restored.origin in self._seen:
            report.repeated += 1
            return
        self._seen.add(restored.origin)
        self.chosen.append((restored, where))
        report.by_topic[restored.topic] = report.by_topic.get(restored.topic, 0) + 1
