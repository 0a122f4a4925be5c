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
from faust.types import TP

from pipeline import codec
from pipeline.broker import EmbeddedBroker, free_port
from pipeline.envelope import Incoming, dead_letter
from pipeline.events import Reason, Rejection
from pipeline.kafka import (
    TransactionsUnsupported,
    check_transactions,
    client_options,
    ensure_topics,
)
from pipeline.producer import read_topics
from pipeline.runtime.encoded import encode_result
from pipeline.runtime.faust_app import faust_app
from pipeline.runtime.supervisor import Supervisor
from pipeline.runtime.transactions import TransactionFailed, Transactions
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
        # Refused before any stage joined its group: its process, held while it loaded its
        # models, is stopped.
        supervisor = Supervisor(eos.replace(metrics_port=0))
        with pytest.raises(TransactionsUnsupported):
            await supervisor.start()
        started = [stage.process for stage in supervisor.stages.values()]
        await supervisor.stop()
    assert worker.returncode == 1, worker.stderr
    assert "exactly-once needs a broker with Kafka transactions" in worker.stderr
    assert "Traceback" not in worker.stderr
    assert all(process is not None and process.returncode is not None for process in started)


# --- what the stages rely on, checked on Apache Kafka ----------------------------------------


def _producer(settings: Settings, transactional_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_options(settings), transactional_id=transactional_id, enable_idempotence=True
    )


async def _committed(settings: Settings, group: str, tp: TopicPartition, expected: int) -> int:
    """The group's committed offset, read until it is ``expected`` (for at most 30 s): a
    transaction's offsets show once its commit markers are written, just after the commit."""
    deadline = asyncio.get_running_loop().time() + 30.0
    while True:
        admin = AIOKafkaAdminClient(**client_options(settings))
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
        finally:
            await admin.close()
        offset = offsets[tp].offset if tp in offsets else -1
        if offset == expected or asyncio.get_running_loop().time() > deadline:
            return offset
        await asyncio.sleep(0.2)


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
    assert await _committed(settings, group, source, 3) == 3


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
    assert await _committed(settings, group, source, 5) == 5
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


# --- the stages' transactions, on Apache Kafka --------------------------------------------------


def _letters(settings: Settings, partition: int, offsets: range) -> tuple[list, list]:
    """Messages of the raw topic's partition and a dead letter for each: a batch's results."""
    messages = [
        Incoming(value=b"{}", key=f"a{partition}-{n}".encode(), topic=settings.topic_raw,
                 partition=partition, offset=n, timestamp=1.7e9)
        for n in offsets
    ]  # fmt: skip
    rejection = Rejection(Reason.EMPTY_BODY, "a test batch")
    letters = [dead_letter("clean", message, rejection) for message in messages]
    return messages, [
        encode_result("clean", letter, settings.max_message_bytes) for letter in letters
    ]


async def _deliver(delivery, messages, results):
    await delivery.send(results, delivery.dead_letters)
    return results


def _transactions(settings: Settings, tmp_path) -> Transactions:
    app = faust_app(settings, settings.group_id("clean"), str(tmp_path))
    raw, dlq = (
        app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                  value_serializer="raw")
        for name in (settings.topic_raw, settings.topic_dlq)
    )  # fmt: skip
    return Transactions(app, settings, raw, dlq)


@pytest.mark.transactions
async def test_each_input_partition_commits_its_results_and_next_offset_together(
    e2e_settings, tmp_path
):
    settings = e2e_settings.replace(processing_guarantee="exactly-once")
    await ensure_topics(settings)
    transactions = _transactions(settings, tmp_path)
    await transactions._on_assigned(None, {TP(settings.topic_raw, 0), TP(settings.topic_raw, 1)})
    zero, zero_letters = _letters(settings, 0, range(3))
    one, one_letters = _letters(settings, 1, range(5, 7))
    # Interleaved as a batch over two partitions comes.
    messages = [zero[0], one[0], zero[1], one[1], zero[2]]
    letters = [zero_letters[0], one_letters[0], zero_letters[1], one_letters[1], zero_letters[2]]
    try:
        delivered = await transactions.commit(messages, letters, _deliver)
    finally:
        await transactions._on_assigned(None, set())  # stops the producers
    assert sorted(letter.key for letter in delivered) == sorted(m.key for m in messages)
    group = settings.group_id("clean")
    assert await _committed(settings, group, TopicPartition(settings.topic_raw, 0), 3) == 3
    assert await _committed(settings, group, TopicPartition(settings.topic_raw, 1), 7) == 7
    keys = [
        codec.loads(value)["key"] for value in await _committed_values(settings, settings.topic_dlq)
    ]
    assert sorted(keys) == sorted(m.key.decode() for m in messages)


@pytest.mark.transactions
async def test_a_partition_its_previous_owner_committed_further_stops_the_new_owner(
    e2e_settings, tmp_path
):
    """faust read the committed offset (3) before the new owner's producer fenced the previous
    owner, which committed up to 10 in between: the new owner must not redo 3..9."""
    settings = e2e_settings.replace(processing_guarantee="exactly-once")
    await ensure_topics(settings)
    transactions = _transactions(settings, tmp_path)
    source = TopicPartition(settings.topic_raw, 0)
    previous = _producer(settings, transactions.transactional_id(0))
    await previous.start()
    try:
        async with previous.transaction():
            await previous.send_offsets_to_transaction({source: 10}, settings.group_id("clean"))
    finally:
        await previous.stop()
    await transactions._on_assigned(None, {TP(settings.topic_raw, 0)})
    try:
        messages, letters = _letters(settings, 0, range(3, 5))
        with pytest.raises(TransactionFailed, match="committed up to 10"):
            await transactions.commit(messages, letters, _deliver)
        assert await _committed_values(settings, settings.topic_dlq) == []
        # Once its position is the committed one, the same process goes on.
        messages, letters = _letters(settings, 0, range(10, 12))
        await transactions.commit(messages, letters, _deliver)
    finally:
        await transactions._on_assigned(None, set())
    assert await _committed(settings, settings.group_id("clean"), source, 12) == 12
