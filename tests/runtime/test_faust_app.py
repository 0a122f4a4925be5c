"""The stage apps' faust settings: the consumer's fetch wait and isolation, the producer's
idempotence and compression, and how partitions are shared among a stage's workers."""

from __future__ import annotations

import asyncio

from faust.assignor.client_assignment import CopartitionedAssignment
from faust.assignor.copartitioned_assignor import CopartitionedAssignor
from faust.types import TP

from pipeline.runtime.faust_app import faust_app
from pipeline.settings import Settings


async def test_the_consumer_holds_a_fetch_at_most_fetch_max_wait(tmp_path):
    settings = Settings.load({"broker": "kafka://127.0.0.1:9092", "fetch_max_wait": 0.05}, env={})
    app = faust_app(settings, "wirestream-test", str(tmp_path))
    consumer = app.consumer._thread._create_consumer(asyncio.get_running_loop())
    assert consumer._fetch_max_wait_ms == 50
    assert Settings.load({}, env={}).fetch_max_wait == 0.1


async def test_in_exactly_once_the_consumer_reads_committed_data_and_faust_commits_nothing(
    tmp_path,
):
    """The batch loop's transactions commit the offsets; a commit of faust's own, landing after
    a later transaction's, would move them back."""
    for guarantee, isolation in (
        ("at-least-once", "read_uncommitted"),
        ("exactly-once", "read_committed"),
    ):
        settings = Settings.load(
            {"broker": "kafka://127.0.0.1:9092", "processing_guarantee": guarantee}, env={}
        )
        app = faust_app(settings, f"wirestream-{guarantee}", str(tmp_path / guarantee))
        consumer = app.consumer._thread._create_consumer(asyncio.get_running_loop())
        assert consumer._isolation_level == isolation
    # Exactly-once: nothing reaches the consumer thread (which would commit to Kafka).
    app.consumer._thread = None
    assert await app.consumer._commit({TP("articles.raw", 0): 10}) is True


async def test_the_producer_is_idempotent_and_compresses_as_the_settings_say(tmp_path):
    base = {"broker": "kafka://127.0.0.1:9092"}
    for overrides, idempotent, compression in (
        ({}, True, None),
        ({"idempotence": "false", "compression_type": "lz4"}, False, "lz4"),
        ({"compression_type": "zstd"}, True, "zstd"),
    ):
        settings = Settings.load({**base, **overrides}, env={})
        producer = faust_app(settings, "wirestream-test", str(tmp_path)).producer._new_producer()
        assert (producer._txn_manager is not None) is idempotent, overrides
        assert producer._compression_type == compression, overrides


def test_a_worker_joining_two_that_hold_every_partition_gets_a_share(tmp_path):
    """The assignment faust's assignor makes with the app's standby setting, from two workers
    holding two of four partitions each, when a third joins (a NER worker scaling out)."""
    settings = Settings.load({"broker": "kafka://127.0.0.1:9092"}, env={})
    app = faust_app(settings, "wirestream-test", str(tmp_path))
    topics = {"articles.clean"}
    members = {
        "first": CopartitionedAssignment(actives={0, 1}, standbys={2, 3}, topics=topics),
        "second": CopartitionedAssignment(actives={2, 3}, standbys={0, 1}, topics=topics),
        "joining": CopartitionedAssignment(actives=set(), standbys=set(), topics=topics),
    }
    assigned = CopartitionedAssignor(topics, members, 4, app.assignor.replicas).get_assignment()
    actives = {name: sorted(member.actives) for name, member in assigned.items()}
    assert all(actives.values()), actives
    assert sorted(p for held in actives.values() for p in held) == [0, 1, 2, 3]
