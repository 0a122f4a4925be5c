"""Exactly-once: refused where the broker has no transactions, and, on Apache Kafka, the
behaviour of Kafka transactions through aiokafka that the stages rely on.

The kill -9 scenarios in exactly-once are in ``test_reliability`` (they take ``guarantee``).
Tests marked ``transactions`` need a broker with transactions: they run with ``--broker kafka``
and are deselected (never reported as passed) on the embedded broker.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import ProducerFenced

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.kafka import (
    TransactionsUnsupported,
    check_transactions,
    client_options,
    ensure_topics,
)
from pipeline.producer import read_topics
from pipeline.runtime.supervisor import Supervisor
from pipeline.settings import Settings
from tests.e2e.accounting import worker_environment

pytestmark = pytest.mark.e2e


async def test_exactly_once_is_refused_at_start_up_on_the_embedded_broker(settings, tmp_path):
    with EmbeddedBroker(log=tmp_path / "broker.log") as embedded:
        eos = settings.replace(
            broker=embedded.url, processing_guarantee="exactly-once", metrics_port=free_port()
        )
        worker = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "pipeline", "worker"],
            env=worker_environment(eos),
            capture_output=True,
            text=True,
            timeout=120,
        )
        # Refused before any stage process is started.
        supervisor = Supervisor(eos.replace(metrics_port=0))
        with pytest.raises(TransactionsUnsupported):
            await supervisor.start()
        started = [stage.process for stage in supervisor.stages.values()]
        await supervisor.stop()
    assert worker.returncode == 1, worker.stderr
    assert "exactly-once needs a broker with Kafka transactions" in worker.stderr
    assert "Traceback" not in worker.stderr
    assert started == [None, None, None]


# --- what the stages rely on, checked on Apache Kafka ----------------------------------------


def _producer(settings: Settings, transactional_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_options(settings), transactional_id=transactional_id, enable_idempotence=True
    )


async def _committed(settings: Settings, group: str, tp: TopicPartition) -> int:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
    finally:
        await admin.close()
    return offsets[tp].offset if tp in offsets else -1


async def _committed_values(settings: Settings, topic: str) -> list[bytes]:
    eos = settings.replace(processing_guarantee="exactly-once")
    records = read_topics(eos, [topic], idle_timeout=2.0)
    return [record.value async for record in records if record.value is not None]


@pytest.mark.transactions
async def test_a_new_producer_epoch_fences_the_previous_owner_and_aborts_its_transaction(
    e2e_settings,
):
    """The zombie's open transaction is aborted (its records and offsets never show) and its
    commit fails, once the new owner has started a producer with the same transactional id."""
    settings = e2e_settings
    await ensure_topics(settings)
    out, source = settings.topic_enriched, TopicPartition(settings.topic_raw, 0)
    group, tid = settings.group_id("fence"), f"{settings.app_prefix}-fence-0"
    zombie = _producer(settings, tid)
    await zombie.start()
    owner = _producer(settings, tid)
    try:
        await zombie.begin_transaction()
        await (await zombie.send(out, b"from the zombie", key=b"z"))
        await zombie.send_offsets_to_transaction({source: 7}, group)
        await owner.start()  # a new epoch: aborts the zombie's transaction
        with pytest.raises(ProducerFenced):
            await zombie.commit_transaction()
        async with owner.transaction():
            await (await owner.send(out, b"from the owner", key=b"o"))
            await owner.send_offsets_to_transaction({source: 3}, group)
    finally:
        await owner.stop()
        await zombie.stop()
    assert await _committed_values(settings, out) == [b"from the owner"]
    assert await _committed(settings, group, source) == 3


@pytest.mark.transactions
async def test_an_aborted_transaction_moves_no_offset_and_shows_no_record(e2e_settings):
    settings = e2e_settings
    await ensure_topics(settings)
    out, source = settings.topic_enriched, TopicPartition(settings.topic_raw, 1)
    group = settings.group_id("abort")
    producer = _producer(settings, f"{settings.app_prefix}-abort-1")
    await producer.start()
    try:
        async with producer.transaction():
            await (await producer.send(out, b"kept", key=b"k"))
            await producer.send_offsets_to_transaction({source: 5}, group)
        await producer.begin_transaction()
        await (await producer.send(out, b"aborted", key=b"a"))
        await producer.send_offsets_to_transaction({source: 9}, group)
        await producer.abort_transaction()
    finally:
        await producer.stop()
    # A read_committed reader ends its read past the markers (the tests' accounting relies on it).
    assert await _committed_values(settings, out) == [b"kept"]
    assert await _committed(settings, group, source) == 5
    uncommitted = [r.value async for r in read_topics(settings, [out], idle_timeout=2.0)]
    assert uncommitted == [b"kept", b"aborted"]
    assert await _tail(settings, out, "read_committed") == ["kept"]
    assert await _tail(settings, out, "read_uncommitted") == ["kept", "aborted"]


async def _tail(settings: Settings, topic: str, isolation: str) -> list[str]:
    """`wirestream tail --isolation ...` of the topic, line by line."""
    tail = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pipeline", "tail", "--topic", topic, "--isolation", isolation],
        env=worker_environment(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tail.returncode == 0, tail.stderr
    return tail.stdout.splitlines()


@pytest.mark.transactions
async def test_the_start_up_check_passes_on_apache_kafka(e2e_settings):
    await check_transactions(e2e_settings.replace(processing_guarantee="exactly-once"))
