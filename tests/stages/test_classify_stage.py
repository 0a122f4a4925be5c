"""The classify stage's own logic, with a fixed stand-in model (the real one is tested in
tests/topics/)."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline import codec, schemas
from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter, Reason, StageInfo, TopicScore
from pipeline.stages.classify import ClassifyStage, pipeline_fingerprint, select_topics
from pipeline.stages.ner import EntityRecognizer, NerStage, load_nlp

POLITICS = TopicScore("medtop:11000000", "politics", 0.81)
CONFLICT = TopicScore("medtop:16000000", "conflict, war and peace", 0.47)
SPORT = TopicScore("medtop:15000000", "sport", 0.02)


class FixedModel:
    info = StageInfo(model="fixed", model_version="1")

    def __init__(self) -> None:
        self.inputs: list[str] = []

    def predict(self, texts: Sequence[str]) -> list[list[TopicScore]]:
        self.inputs.extend(texts)
        return [[SPORT, CONFLICT, POLITICS] for _ in texts]


def test_topics_above_threshold_best_first_and_primary():
    kept, primary = select_topics([SPORT, CONFLICT, POLITICS], 0.25)
    assert kept == [POLITICS, CONFLICT] and primary == POLITICS.code
    assert select_topics([SPORT], 0.25) == ([], None)


def _entities_message(clean_article_bytes: bytes) -> bytes:
    ner = NerStage(EntityRecognizer(load_nlp("en_core_web_sm")))
    (article,) = ner.process([Incoming(value=clean_article_bytes)])
    return codec.dumps(article)


def test_enriched_events_are_complete_valid_and_deterministic(clean_article_bytes):
    message = Incoming(value=_entities_message(clean_article_bytes))
    model = FixedModel()
    stage = ClassifyStage(model, threshold=0.25)
    (first,) = stage.process([message])
    (again,) = stage.process([message])
    assert isinstance(first, Article)
    assert model.inputs[0].startswith(first.title + "\n\n")
    assert first.topic == POLITICS.code and [t.code for t in first.topics] == [
        POLITICS.code,
        CONFLICT.code,
    ]
    assert first.event_id == again.event_id
    assert first.pipeline.stages["classify"] == FixedModel.info
    assert {"clean_ms", "ner_ms", "classify_ms", "end_to_end_ms"} <= set(first.timings)
    assert schemas.errors("enriched-article", codec.to_plain(first)) == []


def test_event_id_changes_with_the_models():
    article = Article.from_dict(
        codec.loads(
            b'{"id":"a","text":"t","word_count":1,"content_hash":"sha256:0","received_at":"2026-01-01T00:00:00Z","pipeline":{"version":"1","stages":{"ner":{"model":"m","model_version":"1"}}}}'
        )
    )
    before = pipeline_fingerprint(article.pipeline)
    article.pipeline.stages["ner"] = StageInfo(model="m", model_version="2")
    assert pipeline_fingerprint(article.pipeline) != before


class BrokenModel(FixedModel):
    def predict(self, texts: Sequence[str]) -> list[list[TopicScore]]:
        raise RuntimeError("weights missing")


def test_a_model_failure_dead_letters_each_article(clean_article_bytes):
    message = Incoming(value=_entities_message(clean_article_bytes))
    results = ClassifyStage(BrokenModel(), threshold=0.25).process([message, Incoming(value=b"x")])
    assert [type(r) for r in results] == [DeadLetter, DeadLetter]
    assert [r.reason for r in results] == [Reason.STAGE_ERROR, Reason.INVALID_EVENT]


class PoisonedModel(FixedModel):
    """Fails on any batch holding the poisoned text, like a model crashing on one input."""

    def predict(self, texts: Sequence[str]) -> list[list[TopicScore]]:
        if any("POISON" in text for text in texts):
            raise ValueError("model crashed")
        return super().predict(texts)


def test_one_article_the_model_fails_on_is_dead_lettered_alone(clean_article_bytes):
    poisoned = codec.loads(_entities_message(clean_article_bytes))
    poisoned["text"] = "POISON " + poisoned["text"]
    poisoned["id"] = "poisoned"
    batch = [
        Incoming(value=_entities_message(clean_article_bytes)),
        Incoming(value=codec.dumps(poisoned)),
        Incoming(value=b"x"),
        Incoming(value=_entities_message(clean_article_bytes)),
    ]
    results = ClassifyStage(PoisonedModel(), threshold=0.25).process(batch)
    assert [type(r) for r in results] == [Article, DeadLetter, DeadLetter, Article]
    assert (results[1].reason, results[1].article_id) == (Reason.STAGE_ERROR, "poisoned")
    assert results[2].reason == Reason.INVALID_EVENT
    assert results[0].topic == results[3].topic == POLITICS.code
