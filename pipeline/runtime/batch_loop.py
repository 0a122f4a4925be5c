"""The one loop every agent runs: take a batch, process it, deliver its results, acknowledge.

Every agent runs ``BatchLoop``: take a batch without acknowledging it, process it, deliver every
result to the broker, and only then acknowledge the batch, whose offsets faust commits every
``commit_interval``. Nothing is acknowledged that is not delivered, so a crash at any point loses
nothing: the uncommitted messages are delivered again, and their results carry the same
``event_id``. A failure the loop cannot turn into a dead letter ends the whole stage process (see
``fail_stop``) rather than leaving faust to restart the agent with its batch unacknowledged,
which would stall the partition's commits for good; the supervisor starts it again.

In exactly-once, ``transactions`` (``pipeline.runtime.transactions``) wraps the delivery: the
results, dead letters and the batch's offsets are committed in one Kafka transaction, and the
batch is acknowledged only after it commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import faust
from faust.types import EventT

from pipeline.envelope import Incoming, dead_letter
from pipeline.events import Reason, Rejection
from pipeline.runtime.delivery import Delivery, Undeliverable
from pipeline.runtime.encoded import Encoded, carried_headers, encode_result
from pipeline.runtime.transactions import Transactions
from pipeline.settings import Settings

log = logging.getLogger(__name__)

# The exit status of a stage process that stopped itself because it could not go on safely.
EXIT_FAILED = 70
# Events that arrive at most this far apart join the same batch.
SETTLE = 0.002
# The most events of a stage's first batch; each batch after it may take twice as many.
FIRST_BATCH = 4


def _incoming(event: EventT) -> Incoming:
    message = event.message
    headers = message.headers or ()
    return Incoming(
        value=message.value,
        key=message.key,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp=message.timestamp,
        headers=tuple(headers.items() if isinstance(headers, Mapping) else headers),
    )


async def take_ready(
    stream: faust.StreamT[Any], max_: int, within: float
) -> AsyncIterator[list[EventT]]:
    """Batches of the events that are ready, never acknowledged here.

    A batch starts with the first event to arrive, however long that takes, and takes the events
    that follow it back to back (at most ``SETTLE`` seconds apart: those of one fetch, or those
    that queued while the previous batch was processed), up to ``max_`` events or ``within``
    seconds. While a batch is out, the stream holds the next event, as faust's does. A quiet
    stream's article waits for nothing; a busy stage gets full batches. (faust's ``noack_take``
    waits ``within`` for every batch that does not fill, at every hop.)

    The first batch takes at most ``FIRST_BATCH`` events and each one after it at most twice as
    many as the one before allowed, up to ``max_``: a worker started on a backlog sends its first
    results after a few articles' work, not a full batch's at every stage.
    """
    buffer: list[EventT] = []
    arrived = asyncio.Event()
    consumed = asyncio.Event()
    # Set while no batch is out: the stream holds the next event until the batch in flight is
    # done, so that no more is in flight (and waited for by a rebalance) than one batch.
    idle = asyncio.Event()
    idle.set()
    loop = asyncio.get_running_loop()
    limit = min(FIRST_BATCH, max_)

    async def add_to_buffer(value: Any) -> Any:
        if not idle.is_set():
            await stream.wait(idle)  # type: ignore[arg-type]
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_ready found no current event")
        buffer.append(event)
        arrived.set()
        if len(buffer) >= max_:
            # Never more than ``max_``: hold the stream until the batch is taken.
            consumed.clear()
            await stream.wait(consumed)  # type: ignore[arg-type]
        return value

    acks, stream.enable_acks = stream.enable_acks, False
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))  # type: ignore[attr-defined]
    try:
        while not stream.should_stop:
            if not buffer:
                arrived.clear()
                if await stream.wait_for_stopped(arrived):  # type: ignore[arg-type]
                    break
            deadline = loop.time() + within
            while len(buffer) < limit and (left := deadline - loop.time()) > 0:
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), min(SETTLE, left))
                except TimeoutError:
                    break
            batch = buffer[:limit]
            del buffer[:limit]
            limit = min(2 * limit, max_)
            consumed.set()
            idle.clear()
            yield batch
            idle.set()
    finally:
        stream.enable_acks = acks
        stream._processors.remove(add_to_buffer)  # type: ignore[attr-defined]


class StageStopped(RuntimeError):
    """A stage cannot go on without risking a message: its process must stop and restart."""


@dataclass
class BatchLoop:
    """The one loop every agent runs: take, process, deliver, then acknowledge.

    ``process`` turns a batch into the results to send (it may leave messages out, as a
    duplicate check that drops does); ``also`` sends, through the delivery it is given, what
    else must reach the broker before the batch counts as done (the duplicate index's changes);
    ``after`` sees each delivered batch, for metrics; ``on_fatal`` ends the process when the loop
    cannot go on (``fail_stop``); ``transactions``, in exactly-once, delivers each batch in
    transactions with its offsets.
    """

    app: faust.App
    name: str
    settings: Settings
    process: Callable[[Sequence[Incoming]], Awaitable[list[Encoded]]]
    delivery: Delivery
    articles_to: faust.TopicT | None  # None for a sink stage
    after: Callable[[int, Sequence[Encoded], float], None]
    also: Callable[[Delivery], Awaitable[None]] | None = None
    on_fatal: Callable[[faust.App, str, BaseException | None], Awaitable[None]] = field(
        default=lambda app, reason, exc: fail_stop(app, reason, exc)
    )
    transactions: Transactions | None = None

    async def run(self, stream: faust.StreamT[Any]) -> None:
        """The agent's body. Returns only when the app stops; anything else stops the process."""
        try:
            # Offsets advance only after a batch's results are delivered (acked below), never
            # when a batch is merely taken off the topic, nor when the agent is cancelled in the
            # middle of one (faust's take() acks its batch even then).
            async for events in take_ready(
                stream, self.settings.batch_size, self.settings.batch_timeout
            ):
                started = time.perf_counter()
                messages = [_incoming(event) for event in events]
                processed = await self.process(messages)
                if self.transactions is None:
                    results = await self._deliver_all(self.delivery, messages, processed)
                else:
                    results = await self.transactions.commit(messages, processed, self._deliver_all)
                for event in events:
                    await stream.ack(event)
                self.after(len(events), results, started)
        except Exception as exc:  # a cancellation (the app stopping) passes through
            await self.on_fatal(self.app, f"{self.name} agent failed: {exc!r}", exc)
            return
        if not (self.app.should_stop or stream.should_stop):
            await self.on_fatal(
                self.app, f"{self.name} agent's stream ended while the app runs", None
            )

    async def _deliver_all(
        self, delivery: Delivery, messages: Sequence[Incoming], results: list[Encoded]
    ) -> list[Encoded]:
        """Deliver the results and what ``also`` sends; the results as delivered."""
        delivering = self._deliver(delivery, messages, results)
        if self.also is None:
            return await delivering
        delivered, _ = await asyncio.gather(delivering, self.also(delivery))
        return delivered

    async def _deliver(
        self, delivery: Delivery, messages: Sequence[Incoming], results: list[Encoded]
    ) -> list[Encoded]:
        """Deliver the results, each refused one replaced by its message's dead letter."""
        try:
            await delivery.send(results, self.articles_to)
            return results
        except Undeliverable as refused:
            log.warning("%s: the broker refused results for good (%s)", self.name, refused)
            failures = refused.refused
        if len(results) == len(messages):  # one result per message, in order: the usual case
            position = {id(result): n for n, result in enumerate(results)}
            letters = {
                position[id(result)]: self._letter(messages[position[id(result)]], exc)
                for result, exc in failures
            }
            await self._send_letters(delivery, list(letters.values()))
            return [letters.get(n, result) for n, result in enumerate(results)]
        # Some messages gave no result (duplicates dropped): find out whose results were
        # refused by redoing the batch one message at a time. Results delivered before are sent
        # again, as after a crash (in exactly-once too, within the transaction); consumers drop
        # them by event_id.
        delivered: list[Encoded] = []
        for message in messages:
            own = await self.process([message])
            try:
                await delivery.send(own, self.articles_to)
            except Undeliverable as exc:
                own = [self._letter(message, exc.refused[0][1])]
                await self._send_letters(delivery, own)
            delivered.extend(own)
        return delivered

    def _letter(self, message: Incoming, exc: BaseException) -> Encoded:
        rejection = Rejection(Reason.UNDELIVERABLE, f"{type(exc).__name__}: {exc}")
        letter = dead_letter(self.name, message, rejection)
        max_bytes = self.settings.max_message_bytes
        return encode_result(self.name, letter, max_bytes, carried_headers(message))

    async def _send_letters(self, delivery: Delivery, letters: Sequence[Encoded]) -> None:
        try:
            await delivery.send(letters, self.articles_to)
        except Undeliverable as lost:
            raise StageStopped(f"a dead letter was refused too: {lost}") from lost


async def fail_stop(app: faust.App, reason: str, exc: BaseException | None) -> NoReturn:
    """Stop this stage process at once, with what is delivered committed and nothing else.

    Everything acknowledged has been delivered, so committing it first is safe and spares the
    next process some duplicates; the rest is delivered again after the supervisor's restart.
    """
    log.critical("stopping this stage process to restart it: %s", reason, exc_info=exc is not None)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(app.consumer.commit(), timeout=5.0)
    logging.shutdown()
    os._exit(EXIT_FAILED)
