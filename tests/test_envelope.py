import base64
import gc
import logging
import weakref
from collections.abc import Sequence

from pipeline import codec, schemas
from pipeline.envelope import Incoming, dead_letter, decode_article, whole_or_each
from pipeline.events import Article, Reason, Rejection


def test_dead_letters_keep_the_payload_and_where_it_came_from():
    message = Incoming(value=b"\xff\xfe bad", key=b"k", topic="articles.raw", partition=2, offset=7)
    letter = dead_letter("clean", message, Rejection(Reason.NOT_UTF8, "bad bytes"))
    assert letter.payload_encoding == "base64"
    assert base64.b64decode(letter.payload) == b"\xff\xfe bad"
    assert (letter.topic, letter.partition, letter.offset, letter.key) == (
        "articles.raw",
        2,
        7,
        "k",
    )
    assert schemas.errors("dead-letter", codec.to_plain(letter)) == []


def test_internal_events_that_are_not_articles_are_rejected():
    assert decode_article(Incoming(value=b"nope")).reason == Reason.INVALID_EVENT
    assert decode_article(Incoming(value=b'{"id": "x"}')).reason == Reason.INVALID_EVENT
    assert decode_article(Incoming(value=None)).reason == Reason.INVALID_EVENT


def test_received_at_comes_from_the_broker_timestamp():
    assert Incoming(value=b"", timestamp=0.0).received_at() == "1970-01-01T00:00:00.000Z"


def test_articles_round_trip(clean_article_bytes):
    article = decode_article(Incoming(value=clean_article_bytes))
    assert isinstance(article, Article)
    assert codec.dumps(article) == clean_article_bytes


def test_article_events_with_fields_of_the_wrong_type_are_rejected(clean_article_bytes):
    for field, value in [("language", 5), ("timings", "fast"), ("title", ["a"]), ("id", None)]:
        event = {**codec.loads(clean_article_bytes), field: value}
        rejection = decode_article(Incoming(value=codec.dumps(event)))
        assert isinstance(rejection, Rejection), field
        assert rejection.reason == Reason.INVALID_EVENT
        assert field in rejection.error


def test_article_events_whose_received_at_is_not_a_time_are_rejected(clean_article_bytes):
    event = {**codec.loads(clean_article_bytes), "received_at": "yesterday"}
    rejection = decode_article(Incoming(value=codec.dumps(event)))
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.INVALID_EVENT
    assert "received_at" in rejection.error and "yesterday" in rejection.error


def test_what_a_memory_error_left_in_reference_cycles_is_freed_before_the_next_try(caplog):
    class Arrays:
        """Stands for the arrays of work that ran out of memory, in a reference cycle."""

    made: list[weakref.ref] = []
    alive_at_each_try: list[int] = []

    def run(items: Sequence[str]) -> list[str]:
        alive_at_each_try.append(sum(ref() is not None for ref in made))
        arrays = Arrays()
        arrays.cycle = arrays  # type: ignore[attr-defined]  # freed by the cycle collector only
        made.append(weakref.ref(arrays))
        if "huge" in items:
            raise MemoryError("over the cap")
        return list(items)

    # Warnings off: the captured log records would keep the exceptions, and their frames, alive.
    caplog.set_level(logging.ERROR, logger="pipeline.envelope")
    gc.disable()  # no collection but the one under test
    try:
        results = whole_or_each("test", ["huge", "small"], run, lambda item, exc: f"letter {item}")
    finally:
        gc.enable()
    assert results == ["letter huge", "small"]
    assert alive_at_each_try == [0, 0, 0]
