"""Results encoded once for the broker: dead letters cut to fit, summaries that carry what the
stage process needs, a result that cannot be encoded dead-lettered alone."""

from __future__ import annotations

import base64

import pytest

from pipeline import codec, schemas
from pipeline.envelope import Incoming, dead_letter
from pipeline.events import Article, Entity, Reason, Rejection, TopicScore
from pipeline.runtime.encoded import (
    Summary,
    encode_result,
    fit_dead_letter,
    process_encoded,
)
from tests.stage_doubles import MisbehavingStage, article_for


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


def test_an_article_is_encoded_once_with_its_summary():
    article = article_for(Incoming(value=b"text", key=b"a1"))
    article.entities = [
        Entity(name="Oslo", label="LOC", count=1, mentions=[]),
        Entity(name="Ann", label="PER", count=1, mentions=[]),
    ]
    article.record_time("ner", 0.25)
    encoded = encode_result("ner", article, 1 << 20)
    assert encoded.key == b"a1" and codec.loads(encoded.value) == codec.loads(codec.dumps(article))
    assert encoded.summary == Summary(seconds=0.25, content=("LOC", "PER"))
    assert encoded.decode() == article


def test_a_finished_event_carries_its_latency_and_primary_topic():
    article = article_for(Incoming(value=b"text", key=b"a1"))
    article.topics = [TopicScore("medtop:15000000", "sport", 0.9)]
    article.topic = "medtop:15000000"
    article.enriched_at = "2024-06-11T08:00:02.500Z"  # received at 08:00:00.000
    summary = encode_result("classify", article, 1 << 20).summary
    assert summary.latency == 2.5 and summary.content == ("medtop:15000000", "sport")


def test_a_dead_letter_is_keyed_by_its_article_and_says_its_reason():
    letter = dead_letter("ner", Incoming(value=b"x", key=b"k"), Rejection("timeout", "slow"), "a9")
    encoded = encode_result("ner", letter, 1 << 20)
    assert encoded.key == b"a9" and encoded.is_dead_letter
    assert encoded.summary.dead_letter == "timeout"


def test_a_result_that_cannot_be_encoded_is_dead_lettered_alone():
    batch = [Incoming(value=b"ok", key=b"m0"), Incoming(value=b"deep", key=b"m1", offset=1)]
    first, second = process_encoded(MisbehavingStage(), batch, 1 << 20)
    assert isinstance(first.decode(), Article) and not first.is_dead_letter
    assert second.summary.dead_letter == Reason.STAGE_ERROR
    assert "Recursion limit reached" in second.decode().error
    assert second.decode().offset == 1


@pytest.mark.parametrize("stage", ["clean", "ner"])
def test_only_the_clean_stage_sends_a_fingerprint(stage):
    from pipeline.stages.clean import CleanStage
    from pipeline.stages.dedup import FINGERPRINT_HEADER

    raw = codec.dumps({"id": "a1", "title": "T", "body": "Some words of a story. " * 20})
    if stage == "clean":
        (encoded,) = process_encoded(
            CleanStage(1 << 20, detect_language=False), [Incoming(value=raw)], 1 << 20
        )
        assert [name for name, _ in encoded.headers] == [FINGERPRINT_HEADER]
    else:
        (encoded,) = process_encoded(MisbehavingStage(), [Incoming(value=b"x")], 1 << 20)
        assert encoded.headers == ()


TRACE = ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")


def test_results_and_dead_letters_carry_their_message_headers():
    from pipeline.stages.clean import CleanStage
    from pipeline.stages.dedup import FINGERPRINT_HEADER

    headers = (TRACE, ("x-tenant", b"desk-7"), ("wirestream-replayed-from", b"clean"))
    raw = codec.dumps({"id": "a1", "title": "T", "body": "Some words of a story. " * 20})
    good = Incoming(value=raw, headers=(*headers, (FINGERPRINT_HEADER, b"stale")))
    bad = Incoming(value=b"{not json", key=b"b1", offset=1, headers=headers)
    article, letter = process_encoded(
        CleanStage(1 << 20, detect_language=False), [good, bad], 1 << 20
    )
    # The message's headers, less the one-hop fingerprint, which the stage sets anew.
    assert article.headers[:3] == headers
    assert [name for name, _ in article.headers[3:]] == [FINGERPRINT_HEADER]
    assert dict(article.headers)[FINGERPRINT_HEADER] != b"stale"
    assert letter.is_dead_letter and letter.headers == headers


def test_a_dead_letter_of_a_failing_message_keeps_its_headers():
    batch = [Incoming(value=b"deep", key=b"m1", offset=1, headers=(TRACE,))]
    (letter,) = process_encoded(MisbehavingStage(), batch, 1 << 20)
    assert letter.summary.dead_letter == Reason.STAGE_ERROR and letter.headers == (TRACE,)
