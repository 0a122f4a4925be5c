"""Where a stage's consumer group reads its input topic: the start of a new group
(`start_from`) and `wirestream reset-offsets`.

A group's position is its committed offsets, so both commit offsets for the group while none of
its consumers is running; faust then starts each partition at the committed offset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.kafka import client_options, wait_for_broker
from pipeline.producer import offsets_at
from pipeline.settings import Settings
from pipeline.stages import input_topic

Position = str | dt.datetime


class OffsetsError(RuntimeError):
    """A group cannot be moved now; the message says why."""


def describe_position(position: Position) -> str:
    return position if isinstance(position, str) else position.isoformat()


async def group_state(settings: Settings, group: str) -> tuple[int, dict[TopicPartition, int]]:
    """The group's live members and its committed offsets."""
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=10_000)
    try:
        await admin.start()
        [response] = await admin.describe_consumer_groups([group])
        description = response.to_object()["groups"][0]
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    members = 0 if description["group_state"] in ("Dead", "Empty") else len(description["members"])
    return members, {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    await consumer.topics()
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


async def _move(
    settings: Settings, group: str, topic: str, position: Position, *, commit: bool
) -> dict[TopicPartition, int]:
    """The offsets of ``position`` on the topic's partitions; committed for the group unless
    ``commit`` is false."""
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=group, enable_auto_commit=False
    )
    try:
        await consumer.start()
        partitions = await _partitions(consumer, topic)
        if not partitions:
            return {}
        targets = await offsets_at(consumer, partitions, position)
        if commit:
            consumer.assign(partitions)
            await consumer.commit(targets)
        return targets
    finally:
        await consumer.stop()


async def apply_start_position(settings: Settings, stages: Sequence[str]) -> list[str]:
    """Give each stage's group that has no position yet the `start_from` one; what was done, for
    the user. `earliest` is what a group without offsets does anyway: nothing to commit."""
    position = settings.start_position()
    if position == "earliest":
        return []
    await wait_for_broker(settings)
    done = []
    for stage in stages:
        group, topic = settings.group_id(stage), input_topic(settings, stage)
        members, committed = await group_state(settings, group)
        if members or any(tp.topic == topic for tp in committed):
            done.append(f"{group} already has a position on {topic}; start_from does not move it")
            continue
        moved = await _move(settings, group, topic, position, commit=True)
        if moved:
            done.append(
                f"{group} starts on {topic} at {describe_position(position)}: "
                + ", ".join(f"[{tp.partition}] {offset}" for tp, offset in sorted(moved.items()))
            )
    return done


async def reset(
    settings: Settings, stage: str, position: Position, *, dry_run: bool = False
) -> dict[TopicPartition, tuple[int | None, int]]:
    """Move the stage's group on its input topic to ``position``: each partition's (old, new)
    offset. Refused while the group has live members, whose commits would undo the move."""
    group, topic = settings.group_id(stage), input_topic(settings, stage)
    await wait_for_broker(settings)
    members, committed = await group_state(settings, group)
    if members:
        raise OffsetsError(
            f"group {group} has {members} live member(s); stop the {stage} workers first "
            f"(their commits would undo the move)"
        )
    moved = await _move(settings, group, topic, position, commit=not dry_run)
    if not moved:
        raise OffsetsError(f"topic {topic} does not exist (yet); nothing to move")
    return {tp: (committed.get(tp), offset) for tp, offset in moved.items()}
