"""Delivery: every result acknowledged by the broker, transient errors retried, results refused
for good reported, dead letters cut to fit the message size."""

from __future__ import annotations

import asyncio
import base64

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)
from faust.exceptions import ProducerSendError

from pipeline import codec, schemas
from pipeline.envelope import Incoming, dead_letter
from pipeline.events import Rejection
from pipeline.runtime.delivery import (
    Delivery,
    DeliveryTimedOut,
    Undeliverable,
    fit_dead_letter,
    is_transient,
)
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


def articles(*keys: str):
    return [article_for(Incoming(value=b"text", key=k.encode())) for k in keys]


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
    assert sorted(r.id for r, _ in caught.value.refused) == ["big", "x"]
    assert sink.attempts[b"big"] == 1


async def test_a_result_over_the_size_limit_is_refused_before_sending(quick):
    (article,) = articles("huge")
    article.text = "w" * 20_000
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


@pytest.mark.parametrize("value", [("é" * 400_000).encode(), bytes(range(256)) * 3000])
def test_dead_letters_are_cut_to_fit_and_say_so(value):
    letter = dead_letter("clean", Incoming(value=value, key=b"k"), Rejection("too_large", "big"))
    fitted = fit_dead_letter(letter, 100_000)
    encoded = codec.dumps(fitted)
    assert 90_000 < len(encoded) <= 100_000
    assert fitted.payload_truncated and "payload cut from" in fitted.error
    assert schemas.errors("dead-letter", codec.loads(encoded)) == []
    if fitted.payload_encoding == "base64":
        assert value.startswith(base64.b64decode(fitted.payload))
    else:
        assert value.decode().startswith(fitted.payload)


def test_a_dead_letter_that_fits_is_untouched():
    letter = dead_letter("clean", Incoming(value=b"{broken", key=b"k"), Rejection("x", "e"))
    assert fit_dead_letter(letter, 100_000) == letter
    assert not letter.payload_truncated


async def test_a_sink_stage_sends_its_dead_letters_and_keeps_its_articles(quick):
    letters = FlakyTopic({})
    message = Incoming(value=b"x", key=b"bad", topic="t", partition=0, offset=3)
    letter = dead_letter("archive", message, Rejection("invalid_event", "not an article"))
    await Delivery(letters, quick).send([*articles("a", "b"), letter], None)
    assert [key for key, _ in letters.delivered] == [b"bad"]
