"""Delivery: every result acknowledged by the broker, transient errors retried, results refused
for good reported."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)
from faust.exceptions import ProducerSendError

from pipeline.envelope import Incoming, dead_letter
from pipeline.events import Rejection
from pipeline.runtime.delivery import Delivery, DeliveryTimedOut, Undeliverable, is_transient
from pipeline.runtime.encoded import encode_result
from tests.stage_doubles import article_for


class FlakyTopic:
    """A topic whose sends fail as scripted: an exception raised by ``send`` itself, or one set
    on the returned future, per attempt of each key."""

    def __init__(self, failures: dict[bytes, list[BaseException | tuple[str, BaseException]]]):
        self.failures = failures
        self.delivered: list[tuple[bytes | None, bytes]] = []
        self.attempts: dict[bytes | None, int] = {}

    async def send(self, key=None, value=None, **_):
        self.attempts[key] = self.attempts.get(key, 0) + 1
        script = self.failures.get(key, [])
        failure = script.pop(0) if script else None
        future = asyncio.get_running_loop().create_future()
        if isinstance(failure, tuple):
            raise failure[1]
        if failure is None:
            self.delivered.append((key, value))
            future.set_result(None)
        else:
            future.set_exception(failure)
        return future


def articles(*keys: str, text: bytes = b"text"):
    return [
        encode_result("ner", article_for(Incoming(value=text, key=k.encode())), 1 << 20)
        for k in keys
    ]


@pytest.fixture
def quick(settings):
    return settings.replace(delivery_timeout=2.0)


async def test_transient_errors_are_retried_until_delivered(quick):
    sink = FlakyTopic(
        {
            b"a": [KafkaConnectionError("down"), NotLeaderForPartitionError()],
            b"b": [("raise", ProducerSendError("x"))],
        }
    )
    sink.failures[b"b"][0][1].__cause__ = KafkaConnectionError("down")
    await Delivery(FlakyTopic({}), quick).send(articles("a", "b", "c"), sink)
    assert sorted(k for k, _ in sink.delivered) == [b"a", b"b", b"c"]
    assert sink.attempts == {b"a": 3, b"b": 2, b"c": 1}


async def test_a_result_refused_for_good_is_reported_not_retried(quick):
    sink = FlakyTopic(
        {b"big": [MessageSizeTooLargeError()], b"x": [TopicAuthorizationFailedError()]}
    )
    with pytest.raises(Undeliverable) as caught:
        await Delivery(FlakyTopic({}), quick).send(articles("ok", "big", "x"), sink)
    assert sorted(r.key for r, _ in caught.value.refused) == [b"big", b"x"]
    assert sink.attempts[b"big"] == 1


async def test_a_result_over_the_size_limit_is_refused_before_sending(quick):
    (article,) = articles("huge", text=b"w" * 20_000)
    sink = FlakyTopic({})
    with pytest.raises(Undeliverable, match="max_message_bytes"):
        await Delivery(FlakyTopic({}), quick.replace(max_message_bytes=10_000)).send(
            [article], sink
        )
    assert sink.attempts == {}


async def test_a_broker_that_stays_away_times_out(quick):
    sink = FlakyTopic({b"a": [KafkaConnectionError("down")] * 100})
    with pytest.raises(DeliveryTimedOut):
        await Delivery(FlakyTopic({}), quick.replace(delivery_timeout=1.0)).send(
            articles("a"), sink
        )


async def test_a_send_that_never_completes_times_out(quick):
    class Stuck:
        async def send(self, **_):
            return asyncio.get_running_loop().create_future()

    with pytest.raises(DeliveryTimedOut):
        await Delivery(Stuck(), quick.replace(delivery_timeout=0.5)).send(articles("a"), Stuck())


def test_transient_and_permanent_errors():
    wrapped = ProducerSendError("wrapped")
    wrapped.__cause__ = KafkaConnectionError()
    assert is_transient(wrapped) and is_transient(NotLeaderForPartitionError())
    assert not is_transient(MessageSizeTooLargeError()) and not is_transient(ValueError())


async def test_a_sink_stage_sends_its_dead_letters_and_keeps_its_articles(quick):
    letters = FlakyTopic({})
    message = Incoming(value=b"x", key=b"bad", topic="t", partition=0, offset=3)
    letter = dead_letter("archive", message, Rejection("invalid_event", "not an article"))
    encoded = encode_result("archive", letter, 1 << 20)
    await Delivery(letters, quick).send([*articles("a", "b"), encoded], None)
    assert [key for key, _ in letters.delivered] == [b"bad"]
