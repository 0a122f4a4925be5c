"""Property-based fuzzing of each stage's pure functions with hostile strategies: whatever comes
in, they return a result or a rejection (never raise), and what they return is well-formed."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import codec, schemas
from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter, RawArticle, Reason, Rejection
from pipeline.stages import dedup
from pipeline.stages.classify import ClassifyStage, select_topics
from pipeline.stages.clean import CleanStage, clean_article, parse_raw
from pipeline.stages.ner import EntityRecognizer, NerStage, load_nlp
from pipeline.topics.model import load_topic_model
from tests.hostile import clean_event

FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Text with the characters that break things: controls, NUL, bidi marks, surrogates-to-be,
# combining marks, emoji, markup and JSON punctuation, mixed with plain words.
_NASTY = st.sampled_from(
    [
        "\x00", "\x1b", "\u202e", "\u2066", "\u200d", "\ufeff", "\u0301" * 40, "😀", "👩\u200d👧",
        "<p>", "</div>", "<!--", "&amp;", "&#0;", '"', "\\", "{", "]", "\r\n", "\u2028", "\n\n",
        "Port Elling", "Ines Varga", "MOSCOW (Reuters) - ", "By ", "©", "ﬁ", "Ã©", "\ufffd",
    ]
)  # fmt: skip
NASTY_TEXT = st.lists(st.one_of(st.text(max_size=30), _NASTY), max_size=30).map("".join)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | NASTY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NASTY_TEXT, inner, max_size=4),
    max_leaves=20,
)
RAW_DOCUMENTS = st.fixed_dictionaries(
    {"body": st.one_of(NASTY_TEXT, JSON_VALUES)},
    optional={
        "id": st.one_of(NASTY_TEXT, JSON_VALUES),
        "title": st.one_of(NASTY_TEXT, JSON_VALUES),
        "url": NASTY_TEXT,
        "language": st.one_of(NASTY_TEXT, st.none()),
        "content_type": st.sampled_from(["text/plain", "text/html", None, "x"]),
        "metadata": JSON_VALUES,
    },
)
PAYLOADS = st.one_of(
    st.binary(max_size=300),
    NASTY_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
    RAW_DOCUMENTS.map(codec.dumps),
)


@FUZZ
@given(payload=PAYLOADS)
def test_clean_parse_and_clean_never_raise(payload):
    raw = parse_raw(payload, 1 << 20)
    assert isinstance(raw, RawArticle | Rejection)
    if isinstance(raw, RawArticle):
        article = clean_article(raw, received_at="2024-06-11T08:00:00.000Z")
        assert isinstance(article, Article | Rejection)
        if isinstance(article, Article):
            assert article.text.strip() and article.word_count > 0


@pytest.fixture(scope="module")
def clean_stage() -> CleanStage:
    return CleanStage(1 << 20)


@FUZZ
@given(payloads=st.lists(PAYLOADS, min_size=1, max_size=4))
def test_the_clean_stage_gives_one_schema_valid_result_per_message(clean_stage, payloads):
    results = clean_stage.process([Incoming(value=p, key=b"k") for p in payloads])
    assert len(results) == len(payloads)
    for result in results:
        if isinstance(result, DeadLetter):
            assert schemas.errors("dead-letter", codec.to_plain(result)) == []
        else:
            assert schemas.errors("clean-article", codec.to_plain(result)) == []


@pytest.fixture(scope="module")
def ner_stage() -> NerStage:
    return NerStage(EntityRecognizer(load_nlp("en_core_web_sm")))


@FUZZ
@given(texts=st.lists(NASTY_TEXT.filter(str.strip), min_size=1, max_size=3))
def test_ner_mentions_always_point_into_the_text(ner_stage, texts):
    results = ner_stage.process([Incoming(value=clean_event(t)) for t in texts])
    assert len(results) == len(texts)
    for text, result in zip(texts, results, strict=True):
        assert isinstance(result, Article), result
        for entity in result.entities or []:
            for mention in entity.mentions:
                assert 0 <= mention.start < mention.end <= len(text)
                assert text[mention.start : mention.end] == mention.text


@pytest.fixture(scope="module")
def classify_stage() -> ClassifyStage:
    return ClassifyStage(load_topic_model(), 0.25)


def _echoed(letter: DeadLetter) -> bytes:
    if letter.payload_encoding == "base64":
        return base64.b64decode(letter.payload)
    return letter.payload.encode("utf-8")


@FUZZ
@given(payload=st.one_of(st.binary(max_size=200), JSON_VALUES.map(codec.dumps)))
def test_ner_and_classify_reject_malformed_events_as_data(ner_stage, classify_stage, payload):
    # Random bytes and random JSON are never an article event; a good event beside one in the
    # same batch still comes out enriched.
    good = clean_event("Ines Varga spoke for the harbour authority in Port Elling on Monday.")
    batch = [
        Incoming(value=payload, key=b"bad", topic="t", partition=2, offset=7),
        Incoming(value=good, key=b"good", topic="t", partition=2, offset=8),
    ]
    for stage in (ner_stage, classify_stage):
        letter, article = stage.process(batch)
        assert isinstance(letter, DeadLetter), letter
        assert (letter.stage, letter.reason) == (stage.name, Reason.INVALID_EVENT)
        assert (letter.topic, letter.partition, letter.offset, letter.key) == ("t", 2, 7, "bad")
        assert _echoed(letter) == payload  # replayable byte for byte
        assert schemas.errors("dead-letter", codec.to_plain(letter)) == []
        assert isinstance(article, Article), article
        if stage is ner_stage:
            assert [e.name for e in article.entities or []] == ["Ines Varga", "Port Elling"]
        else:  # the title, "Ships collide in fog"
            assert article.topic == "medtop:03000000"


@FUZZ
@given(texts=st.lists(NASTY_TEXT.filter(str.strip), min_size=1, max_size=4))
def test_classify_scores_stay_in_range_and_events_validate(classify_stage, texts):
    results = classify_stage.process([Incoming(value=clean_event(t)) for t in texts])
    for result in results:
        assert isinstance(result, Article)
        assert all(0.0 <= topic.score <= 1.0 for topic in result.topics or [])
        assert result.event_id
        assert schemas.errors("enriched-article", codec.to_plain(result)) == []


@FUZZ
@given(scores=st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=20))
def test_topic_selection_is_sorted_and_above_the_threshold(scores):
    from pipeline.events import TopicScore

    kept, primary = select_topics([TopicScore(f"c{i}", "x", s) for i, s in enumerate(scores)], 0.3)
    assert [t.score for t in kept] == sorted((t.score for t in kept), reverse=True)
    assert all(t.score >= 0.3 for t in kept)
    assert primary == (kept[0].code if kept else None)


@FUZZ
@given(text=NASTY_TEXT, other=NASTY_TEXT)
def test_dedup_fingerprints_are_deterministic_and_similarity_bounded(text, other):
    first, again = dedup.fingerprint(text), dedup.fingerprint(text)
    assert first.content_hash == again.content_hash
    assert (first.signature == again.signature).all()
    assert 0.0 <= first.similarity(dedup.fingerprint(other).signature) <= 1.0
    assert first.similarity(again.signature) == 1.0


@FUZZ
@given(items=st.lists(st.tuples(NASTY_TEXT, NASTY_TEXT, st.floats(0, 1e6)), max_size=12))
def test_the_duplicate_index_never_raises_and_stays_bounded(items):
    index = dedup.DuplicateIndex({}, window_seconds=3600, max_entries=5)
    for article_id, text, seen_at in items:
        match = index.check(article_id, dedup.fingerprint(text), seen_at)
        assert match is None or 0.0 <= match.similarity <= 1.0
    assert len(index) <= 5
