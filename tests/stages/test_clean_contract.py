"""The clean stage's contract: what is accepted, what is dead-lettered and why."""

import pytest

from pipeline import codec, schemas
from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter, Reason
from pipeline.stages.clean import CleanStage, parse_raw
from tests.conftest import CEASEFIRE_BODY, CEASEFIRE_TITLE


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe\x00", Reason.NOT_UTF8),
        (b"{not json", Reason.INVALID_JSON),
        (b"[1, 2]", Reason.SCHEMA_VIOLATION),
        (b'{"title": "no body"}', Reason.SCHEMA_VIOLATION),
        (b'{"body": 42}', Reason.SCHEMA_VIOLATION),
        (b'{"body": "x", "content_type": "application/pdf"}', Reason.SCHEMA_VIOLATION),
        (None, Reason.EMPTY_BODY),
        (b'{"body": "' + b"a" * 200 + b'"}', Reason.TOO_LARGE),
    ],
)
def test_bad_raw_messages_are_rejected_with_a_stable_reason(payload, reason):
    assert parse_raw(payload, max_bytes=100).reason == reason


def test_a_batch_yields_one_result_per_message_in_order():
    stage = CleanStage(max_body_bytes=1 << 20)
    batch = [
        Incoming(
            value=codec.dumps({"title": CEASEFIRE_TITLE, "body": CEASEFIRE_BODY, "id": "a1"}),
            timestamp=1.7e9,
        ),
        Incoming(
            value=codec.dumps({"body": "   \n\t "}), key=b"k2", topic="raw", partition=1, offset=9
        ),
        Incoming(
            value=codec.dumps({"body": "<p>Short HTML fragment.</p>", "url": "https://n.example/x"})
        ),
    ]
    first, second, third = stage.process(batch)
    assert isinstance(first, Article) and first.id == "a1" and first.title == CEASEFIRE_TITLE
    assert first.received_at == "2023-11-14T22:13:20.000Z"
    assert first.timings["clean_ms"] >= 0
    assert isinstance(second, DeadLetter) and second.reason == Reason.EMPTY_BODY
    assert (second.topic, second.partition, second.offset, second.key) == ("raw", 1, 9, "k2")
    assert (
        isinstance(third, Article)
        and third.text == "Short HTML fragment."
        and third.id.startswith("url-")
    )
    assert schemas.errors("clean-article", codec.to_plain(first)) == []
    assert schemas.errors("dead-letter", codec.to_plain(second)) == []


def test_metadata_is_passed_through_untouched():
    stage = CleanStage(max_body_bytes=1 << 20)
    metadata = {"feed": "wire", "nested": {"list": [1, "two", None]}}
    (article,) = stage.process(
        [Incoming(value=codec.dumps({"body": "Text.", "metadata": metadata}))]
    )
    assert article.metadata == metadata


def test_metadata_too_deep_to_write_again_is_a_schema_violation():
    # Readable by the JSON parser, yet deeper than its writer goes: refused up front, since the
    # stage could not write its article.
    for depth, outcome in [(200, None), (300, Reason.SCHEMA_VIOLATION)]:
        nested = '{"m":' * depth + "1" + "}" * depth
        payload = b'{"body": "Text.", "metadata": ' + nested.encode() + b"}"
        result = parse_raw(payload, 1 << 20)
        assert getattr(result, "reason", None) == outcome, depth


def test_an_unexpected_error_becomes_a_stage_error_dead_letter(monkeypatch):
    def explode(*_, **__):
        raise RuntimeError("boom")

    monkeypatch.setattr("pipeline.stages.clean.clean_article", explode)
    (letter,) = CleanStage(max_body_bytes=1 << 20).process([Incoming(value=b'{"body": "x"}')])
    assert isinstance(letter, DeadLetter)
    assert letter.reason == Reason.STAGE_ERROR and "boom" in letter.error
