"""Exactly-once: a batch's results, dead letters and input offsets in one Kafka transaction.

With ``processing_guarantee=exactly-once`` each agent's ``BatchLoop`` hands its processed batch to
``Transactions.commit``. For each input partition in the batch, one transaction of that
partition's producer holds the partition's results, their dead letters, what the loop's ``also``
sends (the duplicate index's changes) and the partition's next offset for the stage's consumer
group (``send_offsets_to_transaction``). The batch is acknowledged to faust only once its
transactions have committed, and faust commits no offsets of its own in this mode
(``pipeline.runtime.faust_app``). Every stage reads with ``read_committed``: the messages of an
aborted transaction are never processed, so a crash leaves nothing half-written behind.

Fencing. aiokafka commits offsets in a transaction with TxnOffsetCommit v0, which carries no
consumer-group generation, so the group cannot fence a process that lost a partition without
noticing (a zombie). The transactional id is instead stable per stage and input partition,
``<group>-<topic>-<partition>``: the process that owns the partition now starts a producer with
it, which bumps the id's epoch at the transaction coordinator, aborts whatever the previous owner
left open, and makes every later send or commit of the previous owner fail (ProducerFenced).
faust may have read the partition's committed offset before that fencing; the first transaction
of each new producer reads it again, and if the previous owner got further in between, the
process stops to start again from there.

Any error in a transaction aborts it and stops the stage process (``fail_stop``): the supervisor
restarts it, and it reads again from the committed offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faust.types import TP

from pipeline.envelope import Incoming
from pipeline.kafka import client_options, producer_options
from pipeline.runtime.delivery import Delivery
from pipeline.runtime.encoded import Encoded
from pipeline.settings import Settings

log = logging.getLogger(__name__)

ABORT_TIMEOUT = 5.0

# The batch loop's delivery of a batch (results, dead letters, ``also``) through a delivery.
Deliver = Callable[[Delivery, Sequence[Incoming], list[Encoded]], Awaitable[list[Encoded]]]


class TransactionFailed(RuntimeError):
    """A batch's transaction did not commit; the stage process must restart."""


class TransactionalDelivery(Delivery):
    """``Delivery`` through one transactional producer, inside its open transaction."""

    def __init__(
        self, dead_letters: faust.TopicT, settings: Settings, producer: AIOKafkaProducer
    ) -> None:
        super().__init__(dead_letters, settings)
        self.producer = producer

    async def produce(
        self,
        target: faust.TopicT,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future:
        # No partition: aiokafka's default partitioner, as for faust's sends.
        return await self.producer.send(
            target.get_topic_name(), key=key, value=value, headers=headers
        )


class Transactions:
    """One transactional producer per owned partition of an agent's input topic; see the module
    docstring."""

    def __init__(
        self, app: faust.App, settings: Settings, source: faust.TopicT, dead_letters: faust.TopicT
    ) -> None:
        self.settings = settings
        self.group_id = app.conf.id
        self.topic = source.get_topic_name()
        self.dead_letters = dead_letters
        self._producers: dict[int, asyncio.Task[AIOKafkaProducer]] = {}
        self._unchecked: set[int] = set()
        app.on_partitions_assigned.connect(self._on_assigned)

    def transactional_id(self, partition: int) -> str:
        return f"{self.group_id}-{self.topic}-{partition}"

    async def _on_assigned(self, _: faust.App, assigned: set[TP], **__: Any) -> None:
        """Stop the producers of partitions this process no longer owns; start (and so fence
        with) those of its new ones, in the background: the rebalance does not wait on them."""
        mine = {tp.partition for tp in assigned if tp.topic == self.topic}
        for partition in set(self._producers) - mine:
            await self._stop(self._producers.pop(partition))
        for partition in mine - set(self._producers):
            self._producers[partition] = asyncio.ensure_future(self._start(partition))
            self._unchecked.add(partition)

    async def _start(self, partition: int) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            # Transactions need idempotence, whatever the `idempotence` setting says.
            **{**producer_options(self.settings), "enable_idempotence": True},
            transactional_id=self.transactional_id(partition),
        )
        await producer.start()  # InitProducerId: the previous owner is fenced from here on
        return producer

    @staticmethod
    async def _stop(starting: asyncio.Task[AIOKafkaProducer]) -> None:
        if not starting.done():
            starting.cancel()
        with contextlib.suppress(BaseException):
            await (await starting).stop()

    async def commit(
        self, messages: Sequence[Incoming], results: list[Encoded], deliver: Deliver
    ) -> list[Encoded]:
        """Deliver the batch and commit its offsets, one transaction per input partition; the
        results as delivered. Raises ``TransactionFailed`` if a transaction did not commit."""
        parts = _by_partition(messages, results)
        delivered = await asyncio.gather(
            *(self._commit_partition(p, ms, rs, deliver) for p, (ms, rs) in parts.items())
        )
        return [result for part in delivered for result in part]

    async def _commit_partition(
        self, partition: int, messages: list[Incoming], results: list[Encoded], deliver: Deliver
    ) -> list[Encoded]:
        starting = self._producers.get(partition)
        if starting is None:
            raise TransactionFailed(f"a batch holds {self.topic}[{partition}], not assigned here")
        producer = await starting
        if partition in self._unchecked:
            await self._check_position(partition, min(m.offset for m in messages))
            self._unchecked.discard(partition)
        tp = TopicPartition(self.topic, partition)
        await producer.begin_transaction()
        try:
            delivered = await deliver(
                TransactionalDelivery(self.dead_letters, self.settings, producer),
                messages,
                results,
            )
            async with asyncio.timeout(self.settings.delivery_timeout):
                next_offset = max(m.offset for m in messages) + 1
                await producer.send_offsets_to_transaction({tp: next_offset}, self.group_id)
                await producer.commit_transaction()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.abort_transaction(), ABORT_TIMEOUT)
            raise TransactionFailed(
                f"transaction {self.transactional_id(partition)} aborted: {exc!r}"
            ) from exc
        return delivered

    async def _check_position(self, partition: int, first: int) -> None:
        """Stop if a previous owner committed past this process's position before it was
        fenced: the messages in between are done, and must not be done again."""
        tp = TopicPartition(self.topic, partition)
        admin = AIOKafkaAdminClient(**client_options(self.settings))
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(self.group_id, partitions=[tp])
        finally:
            await admin.close()
        committed = offsets[tp].offset if tp in offsets else -1
        if committed > first:
            raise TransactionFailed(
                f"{self.topic}[{partition}] was committed up to {committed} by its previous "
                f"owner after this process read it from {first}; restarting from there"
            )


def transactions_for(
    app: faust.App, settings: Settings, source: faust.TopicT, dead_letters: faust.TopicT
) -> Transactions | None:
    """The transactions of the agent reading ``source``: in exactly-once only."""
    return Transactions(app, settings, source, dead_letters) if settings.exactly_once else None


def _by_partition(
    messages: Sequence[Incoming], results: list[Encoded]
) -> dict[int, tuple[list[Incoming], list[Encoded]]]:
    """The batch's messages and results by input partition. Stages give one result per message,
    in order; only the duplicate check, whose input has one partition, may give fewer."""
    parts: dict[int, tuple[list[Incoming], list[Encoded]]] = {}
    if len(results) == len(messages):
        for message, result in zip(messages, results, strict=True):
            mine, theirs = parts.setdefault(message.partition, ([], []))
            mine.append(message)
            theirs.append(result)
        return parts
    partitions = {message.partition for message in messages}
    if len(partitions) != 1:
        raise TransactionFailed(
            f"{len(results)} results for {len(messages)} messages of several partitions: "
            "they cannot be told apart into per-partition transactions"
        )
    return {partitions.pop(): (list(messages), results)}
