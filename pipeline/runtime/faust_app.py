"""The faust app class Wirestream's stages run on: faust's, with the consumer's fetch wait and
the producer's idempotence settings.

faust creates its aiokafka consumer with ``fetch_max_wait_ms=1500`` and no way to change it. A
broker may hold a fetch that long when some of the partitions asked for have no new data, even
after others get some (the embedded broker does, on topics of several partitions), which then
costs up to 1.5 s per stage. ``fetch_max_wait`` bounds it; on a broker that answers as soon as
data arrives, it only sets how often an idle consumer asks again.

In exactly-once (``pipeline.runtime.transactions``) the consumer reads committed data only, and
faust commits no offsets itself: each batch's offsets are committed in its transaction, and a
commit of faust's own, arriving after a later transaction's, would move them back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from pipeline.kafka import faust_broker_url, faust_credentials
from pipeline.settings import Settings


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_consumer(self, loop: asyncio.AbstractEventLoop) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_consumer(loop)
        # Read by the consumer's fetcher, which ``start()`` creates after this.
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms
        consumer._isolation_level = self.app.isolation_level
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        if self.app.transactional:  # the batch loop's transactions commit the offsets
            return True
        return await super()._commit(offsets)


class _Producer(faust_aiokafka.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        # faust asks for idempotence only inside its own transactions, which Wirestream does
        # not use.
        extra = dict(super()._settings_extra())
        if self.app.idempotence:
            extra["enable_idempotence"] = True
        return extra


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer
    Producer = _Producer


class StageFaustApp(faust.App):
    """``faust.App`` whose consumers hold a fetch at most ``fetch_max_wait`` seconds, whose
    producer writes idempotently if ``idempotence``, and which, when ``transactional``, reads
    committed data only and leaves offset commits to the batch loop."""

    def __init__(
        self,
        *args: Any,
        fetch_max_wait: float,
        idempotence: bool = False,
        transactional: bool = False,
        **kwargs: Any,
    ) -> None:
        self.fetch_max_wait_ms = max(1, round(fetch_max_wait * 1000))
        self.idempotence = idempotence
        self.transactional = transactional
        self.isolation_level = "read_committed" if transactional else "read_uncommitted"
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> _Transport:
        return _Transport(self.conf.broker_consumer, self)


def faust_app(settings: Settings, group: str, datadir: str) -> faust.App:
    """A faust app configured with Wirestream's settings. faust's own exactly-once mode stays
    off in both guarantees: Wirestream's batch loop owns the transactions."""
    return StageFaustApp(
        group,
        fetch_max_wait=settings.fetch_max_wait,
        idempotence=settings.idempotence,
        transactional=settings.exactly_once,
        broker=faust_broker_url(settings.broker_url),
        broker_credentials=faust_credentials(settings),
        store="memory://",
        # No tables, so no standbys: with faust's default of one, its sticky assignor lets a
        # worker keep up to ceil(partitions / workers) partitions, and a third worker joining two
        # that hold two of four each gets none; without, each worker gets at least one.
        table_standby_replicas=0,
        autodiscover=False,
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        broker_commit_interval=settings.commit_interval,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=settings.max_message_bytes,
        producer_compression_type=(
            None if settings.compression_type == "none" else settings.compression_type
        ),
        # Sends go out at once and are awaited, never held back until a commit.
        stream_publish_on_commit=False,
        # On a rebalance, wait for the batch in flight to be delivered and acked, and commit it.
        stream_wait_empty=True,
        datadir=datadir,
        logging_config=None,
    )
