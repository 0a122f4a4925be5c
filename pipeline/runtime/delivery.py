"""Delivering a batch's results to the broker: all of them, or a clear reason why not.

``Delivery.send`` sends every result (articles to the stage's output topic, dead letters to the
dead-letter topic) and waits until the broker has acknowledged each one. Transient errors (a
broker restarting, a leader moving, a connection lost) are retried until ``delivery_timeout``;
then ``DeliveryTimedOut`` is raised and the stage process restarts. A result the broker refuses
for good (too large, not authorized) raises ``Undeliverable`` at once, for the caller to turn
into a dead letter. Dead letters were cut to fit ``max_message_bytes`` when they were encoded
(``pipeline.runtime.encoded``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import faust
from aiokafka.errors import KafkaError, KafkaTimeoutError, ProducerClosed

from pipeline.runtime.encoded import RECORD_OVERHEAD, Encoded, headers_size
from pipeline.settings import Settings

log = logging.getLogger(__name__)

RETRY_DELAY_MAX = 5.0


class Undeliverable(Exception):
    """The broker refused results for good; ``refused`` pairs each with its error."""

    def __init__(self, refused: Sequence[tuple[Encoded, BaseException]]) -> None:
        self.refused = list(refused)
        first = refused[0][1]
        super().__init__(
            f"{len(self.refused)} result(s) refused, e.g. {type(first).__name__}: {first}"
        )


class DeliveryTimedOut(Exception):
    """Results could not be delivered within ``delivery_timeout``: the broker is away."""


class ResultTooLarge(Exception):
    """An encoded result is larger than ``max_message_bytes``."""


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later may succeed. faust wraps errors raised while handing a message
    to the producer in its own ``ProducerSendError``; the Kafka error is its cause."""
    cause = exc.__cause__ if isinstance(exc.__cause__, KafkaError) else exc
    if isinstance(cause, KafkaTimeoutError | ProducerClosed):
        return True
    return isinstance(cause, KafkaError) and bool(cause.retriable)


@dataclass(frozen=True, slots=True)
class _Outgoing:
    result: Encoded
    target: faust.TopicT


class Delivery:
    """Sends results and waits for the broker; see the module docstring."""

    def __init__(self, dead_letters: faust.TopicT, settings: Settings) -> None:
        self.dead_letters = dead_letters
        self.max_bytes = settings.max_message_bytes
        self.timeout = settings.delivery_timeout

    def _outgoing(self, result: Encoded, articles_to: faust.TopicT) -> _Outgoing:
        if result.is_dead_letter:  # cut to fit when it was encoded
            return _Outgoing(result, self.dead_letters)
        headers = headers_size(result.headers)
        size = len(result.key or b"") + len(result.value) + headers + RECORD_OVERHEAD
        if size > self.max_bytes:
            raise ResultTooLarge(f"result of {size} bytes; max_message_bytes is {self.max_bytes}")
        return _Outgoing(result, articles_to)

    async def send(self, results: Sequence[Encoded], articles_to: faust.TopicT | None) -> None:
        """Return once the broker has every result. Raise ``Undeliverable`` after delivering
        all the others if some were refused for good, or ``DeliveryTimedOut``. Without
        ``articles_to`` (a sink stage, which keeps its articles) only dead letters are sent."""
        pending, refused = [], []
        for result in results:
            if articles_to is None and not result.is_dead_letter:
                continue
            try:
                pending.append(self._outgoing(result, articles_to))
            except ResultTooLarge as exc:
                refused.append((result, exc))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        delay = 0.25
        while pending:
            try:
                async with asyncio.timeout_at(deadline):
                    outcomes = await self._send_once(pending)
            except TimeoutError:
                raise DeliveryTimedOut(
                    f"{len(pending)} result(s) not delivered within {self.timeout:g} s"
                ) from None
            retry = []
            for item, outcome in zip(pending, outcomes, strict=True):
                if outcome is None:
                    continue
                if is_transient(outcome):
                    retry.append((item, outcome))
                else:
                    refused.append((item.result, outcome))
            pending = [item for item, _ in retry]
            if pending:
                log.warning(
                    "%d result(s) not delivered (%r); retrying in %.2fs",
                    len(pending), retry[0][1], delay,
                )  # fmt: skip
                if loop.time() + delay > deadline:
                    raise DeliveryTimedOut(
                        f"{len(pending)} result(s) not delivered within {self.timeout:g} s"
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_DELAY_MAX)
        if refused:
            raise Undeliverable(refused)

    async def produce(
        self,
        target: faust.TopicT,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future:
        """Hand one message to the producer; the future resolves once the broker has it."""
        return await target.send(key=key, value=value, headers=headers)

    async def _send_once(self, pending: Sequence[_Outgoing]) -> list[BaseException | None]:
        """Hand every message to the producer, then wait for the broker's answers: None for a
        delivered one, else its error."""
        waiting: list[asyncio.Future | BaseException] = []
        for item in pending:
            try:
                result = item.result
                headers = list(result.headers) or None
                waiting.append(await self.produce(item.target, result.key, result.value, headers))
            except Exception as exc:
                waiting.append(exc)
        outcomes: list[BaseException | None] = []
        for future in waiting:
            if isinstance(future, BaseException):
                outcomes.append(future)
                continue
            try:
                await future
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes
