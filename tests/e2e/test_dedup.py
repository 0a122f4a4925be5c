"""Duplicates across partitions, workers and restarts, on the embedded broker."""

from __future__ import annotations

import asyncio

import pytest

from pipeline import codec
from pipeline.producer import end_offsets, produce
from tests.conftest import CEASEFIRE_BODY, CEASEFIRE_TITLE
from tests.e2e.conftest import collect, counter, running_worker
from tests.runtime.test_stage_app import REWRITE_BODY

pytestmark = pytest.mark.e2e


def ids_on_different_partitions(settings, count: int) -> list[str]:
    """Article ids whose keys the producer's partitioner puts on ``count`` different partitions."""
    from aiokafka.partitioner import DefaultPartitioner

    partitioner = DefaultPartitioner()
    partitions = list(range(settings.partitions))
    chosen: dict[int, str] = {}
    for n in range(100):
        candidate = f"wire-{n}"
        chosen.setdefault(partitioner(candidate.encode(), partitions, partitions), candidate)
        if len(chosen) == count:
            return list(chosen.values())
    raise AssertionError("no ids found")


def story(article_id: str, body: str, title: str = CEASEFIRE_TITLE) -> dict:
    return {"id": article_id, "title": title, "body": body}


async def test_copies_under_other_ids_are_marked_across_partitions_and_a_worker_restart(
    e2e_settings, tmp_path
):
    settings = e2e_settings.replace(stages=("clean",))
    first, rewrite, copy = ids_on_different_partitions(settings, 3)
    async with running_worker(settings, tmp_path, "before-restart"):
        await produce(settings, [story(first, CEASEFIRE_BODY)])
        await collect(settings, [settings.topic_clean], 1)
    # Pushed while no worker runs: the next one starts with a backlog and the index on the broker.
    await produce(
        settings,
        [
            story(rewrite, REWRITE_BODY, title="Ministers meet in Geneva to prepare truce talks"),
            story(copy, CEASEFIRE_BODY),
        ],
    )
    async with running_worker(settings, tmp_path, "after-restart") as worker:
        records = await collect(settings, [settings.topic_raw, settings.topic_clean], 6)
        # Read while the worker runs: its metrics files go when it stops.
        annotated = counter(worker, "wirestream_duplicates_total", mode="annotated")
        owned = counter(worker, "wirestream_assigned_partitions", stage="dedup")

    raw = {r.key: r.partition for r in records if r.topic == settings.topic_raw}
    assert len(set(raw.values())) == 3
    clean = {
        r.key.decode(): codec.loads(r.value) for r in records if r.topic == settings.topic_clean
    }
    assert clean[first]["duplicate_of"] is None
    assert clean[rewrite]["duplicate_of"] == first
    assert 0.5 <= clean[rewrite]["duplicate_similarity"] < 1
    assert (clean[copy]["duplicate_of"], clean[copy]["duplicate_similarity"]) == (first, 1.0)
    assert (annotated, owned) == (2, 1)


async def test_drop_mode_emits_the_first_only_and_counts_the_drops(e2e_settings, tmp_path):
    settings = e2e_settings.replace(stages=("clean",), dedup_mode="drop")
    first, rewrite, copy = ids_on_different_partitions(settings, 3)
    async with running_worker(settings, tmp_path, "worker") as worker:
        # Which copy counts as first is the order of arrival at the duplicate check, and articles
        # on different partitions may overtake each other: let the first one through alone.
        await produce(settings, [story(first, CEASEFIRE_BODY)])
        await collect(settings, [settings.topic_clean], 1)
        await produce(
            settings,
            [
                story(rewrite, REWRITE_BODY),
                story(copy, CEASEFIRE_BODY),
                story("other", "Beekeepers in the valley report a record honey harvest this year."),
            ],
        )
        async with asyncio.timeout(60):
            while counter(worker, "wirestream_messages_total", stage="dedup", outcome="in") < 4:
                await asyncio.sleep(0.2)
        offsets = await end_offsets(settings, [settings.topic_clean])
        records = await collect(settings, [settings.topic_clean], 2)
        # Every raw message is accounted for: emitted, dead-lettered or counted as dropped.
        raw_in = counter(worker, "wirestream_messages_total", stage="clean", outcome="in")
        emitted = counter(worker, "wirestream_messages_total", stage="dedup", outcome="out")
        failed = counter(worker, "wirestream_messages_total", stage="clean", outcome="failed")
        failed += counter(worker, "wirestream_messages_total", stage="dedup", outcome="failed")
        dropped = counter(worker, "wirestream_duplicates_total", mode="dropped")

    assert sum(offsets.values()) == 2
    assert sorted(r.key.decode() for r in records) == sorted([first, "other"])
    assert (raw_in, emitted, failed, dropped) == (4, 2, 0, 2)


async def test_the_index_topic_reads_back_each_keys_last_value_and_honours_tombstones(e2e_settings):
    from aiokafka import AIOKafkaProducer

    from pipeline.changelog import DELETED, encode_change, end_offset, read_changelog
    from pipeline.kafka import client_options, ensure_topics

    settings = e2e_settings
    await ensure_topics(settings)
    changes = [("d:a", {"n": 0}), ("d:b", {"n": 1}), ("d:a", DELETED), ("d:b", {"n": 2})]
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        for key, value in changes:
            key_bytes, value_bytes = encode_change(key, value)
            await producer.send_and_wait(settings.topic_dedup_index, value_bytes, key=key_bytes)
    finally:
        await producer.stop()
    assert await read_changelog(settings, settings.topic_dedup_index) == ({"d:b": {"n": 2}}, 4)
    assert await end_offset(settings, settings.topic_dedup_index) == 4


async def test_a_dedup_topic_with_several_partitions_is_refused(e2e_settings):
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from pipeline.kafka import TopicMisconfigured, client_options, ensure_topics

    settings = e2e_settings
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.topic_dedup, 2, 1)])
    finally:
        await admin.close()
    with pytest.raises(TopicMisconfigured, match="exactly one"):
        await ensure_topics(settings)
