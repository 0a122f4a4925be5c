"""Where a stage's consumer group reads its input topic: the start of a new group
(`start_from`) and `wirestream reset-offsets`.

A group's position is its committed offsets, so both commit offsets for the group while none of
its consumers is running; faust then starts each partition at the committed offset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.errors import for_code
from aiokafka.protocol.admin import (
    DescribeGroupsRequest,
    DescribeGroupsRequest_v0,
    DescribeGroupsRequest_v2,
)

from pipeline.kafka import client_options, wait_for_broker
from pipeline.producer import offsets_at, topic_partitions
from pipeline.settings import Settings
from pipeline.stages import input_topic

Position = str | dt.datetime


class OffsetsError(RuntimeError):
    """A group cannot be moved now; the message says why."""


def describe_position(position: Position) -> str:
    return position if isinstance(position, str) else position.isoformat()


class _DescribeGroups(DescribeGroupsRequest):
    """DescribeGroups at version 2 at most: aiokafka 0.14 reads a version 3 answer with the
    version 2 layout and fails, and version 2 says all that is needed here."""

    def prepare(self, versions: dict[int, tuple[int, int]]) -> Any:
        highest = versions.get(self.API_KEY, (0, 0))[1]
        return self.build(DescribeGroupsRequest_v2 if highest >= 2 else DescribeGroupsRequest_v0)


async def live_members(settings: Settings, group: str) -> int:
    client = AIOKafkaClient(**client_options(settings), request_timeout_ms=10_000)
    try:
        await client.bootstrap()
        coordinator = await client.coordinator_lookup(CoordinationType.GROUP, group)
        response = await client.send(coordinator, _DescribeGroups([group]))
    finally:
        await client.close()
    [description] = response.to_object()["groups"]
    if description["error_code"]:
        raise for_code(description["error_code"])(f"cannot describe group {group}")
    return len(description["members"])


async def group_state(
    settings: Settings, group: str, topic: str
) -> tuple[int, dict[TopicPartition, int]]:
    """The group's live members and its committed offsets on the topic."""
    members = await live_members(settings, group)
    committed = {}
    consumer = _consumer(settings, group)
    try:
        await consumer.start()
        for tp in await topic_partitions(consumer, [topic]):
            offset = await consumer.committed(tp)
            if offset is not None and offset >= 0:
                committed[tp] = offset
    finally:
        await consumer.stop()
    return members, committed


def _consumer(settings: Settings, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(**client_options(settings), group_id=group, enable_auto_commit=False)


async def _move(
    settings: Settings, group: str, topic: str, position: Position, *, commit: bool
) -> dict[TopicPartition, int]:
    """The offsets of ``position`` on the topic's partitions; committed for the group unless
    ``commit`` is false."""
    consumer = _consumer(settings, group)
    try:
        await consumer.start()
        partitions = await topic_partitions(consumer, [topic])
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
        members, committed = await group_state(settings, group, topic)
        if members or committed:
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
    members, committed = await group_state(settings, group, topic)
    if members:
        raise OffsetsError(
            f"group {group} has {members} live member(s); stop the {stage} workers first "
            f"(their commits would undo the move)"
        )
    moved = await _move(settings, group, topic, position, commit=not dry_run)
    if not moved:
        raise OffsetsError(f"topic {topic} does not exist (yet); nothing to move")
    return {tp: (committed.get(tp), offset) for tp, offset in moved.items()}
