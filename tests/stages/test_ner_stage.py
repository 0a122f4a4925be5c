"""The NER stage over batches: spaCy loading, grouping, and failures as dead letters."""

from __future__ import annotations

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from pipeline import codec, schemas
from pipeline.entities import repair
from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter, Entity, Reason
from pipeline.stages.ner import (
    SPACY_BATCH,
    EntityRecognizer,
    NerStage,
    build_ner_stage,
    load_nlp,
    resolve_model,
    unneeded_components,
)


@pytest.fixture(scope="module")
def recognizer() -> EntityRecognizer:
    return EntityRecognizer(load_nlp("en_core_web_sm"))


def test_only_the_components_ner_needs_are_loaded(recognizer):
    # Left out at load, not loaded and disabled: the tagger, parser and lemmatizer take no memory.
    assert recognizer.nlp.component_names == ["ner", "wirestream_entity_repair"]
    assert recognizer.nlp.pipe_names == ["ner", "wirestream_entity_repair"]
    assert recognizer.info.model and recognizer.info.model_version


def test_spacy_takes_a_stages_batch_in_small_groups(settings, monkeypatch, clean_article_bytes):
    # A whole batch of long articles at once holds all their activations: memory, not speed.
    stage = build_ner_stage(settings.replace(batch_size=32))
    groups: list[int] = []
    pipe = Language.pipe

    def recording_pipe(nlp, texts, **options):
        groups.append(options.get("batch_size"))
        return pipe(nlp, texts, **options)

    monkeypatch.setattr(Language, "pipe", recording_pipe)
    stage.process([Incoming(value=clean_article_bytes)] * 32)
    assert groups == [SPACY_BATCH] and SPACY_BATCH < 32


def test_the_embedding_layer_an_entity_component_listens_to_is_kept():
    def listening_to(upstream: str) -> dict:
        return {"tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "upstream": upstream}}

    config = {
        "nlp": {"pipeline": ["tok2vec", "tagger", "parser", "ner", "lemmatizer"]},
        "components": {
            "tok2vec": {"factory": "tok2vec"},
            "tagger": {"factory": "tagger", "model": listening_to("tok2vec")},
            "parser": {"factory": "parser", "model": listening_to("tok2vec")},
            "ner": {"factory": "ner", "model": listening_to("tok2vec")},
            "lemmatizer": {"factory": "lemmatizer"},
        },
    }
    assert unneeded_components(config) == ["tagger", "parser", "lemmatizer"]
    config["components"]["ner"]["model"] = listening_to("*")
    assert unneeded_components(config) == ["tagger", "parser", "lemmatizer"]
    config["components"]["ner"]["model"] = {"tok2vec": {"@architectures": "spacy.Tok2Vec.v2"}}
    assert unneeded_components(config) == ["tok2vec", "tagger", "parser", "lemmatizer"]


def test_a_missing_model_names_the_setting():
    with pytest.raises(OSError, match="WIRESTREAM_SPACY_MODEL"):
        resolve_model("xx_no_such_model")


def test_batch_results_keep_order_and_offsets_point_into_the_text(recognizer, clean_article_bytes):
    stage = NerStage(recognizer)
    results = stage.process(
        [
            Incoming(value=clean_article_bytes),
            Incoming(value=b"{}"),
            Incoming(value=clean_article_bytes),
        ]
    )
    first, bad, third = results
    assert isinstance(first, Article) and isinstance(third, Article)
    assert isinstance(bad, DeadLetter) and bad.reason == Reason.INVALID_EVENT
    names = {(e.name, e.label) for e in first.entities}
    assert ("Geneva", "GPE") in names
    for entity in first.entities:
        for mention in entity.mentions:
            assert first.text[mention.start : mention.end] == mention.text
    assert first.pipeline.stages["ner"] == recognizer.info
    assert first.timings["ner_ms"] > 0
    assert schemas.errors("entities-article", codec.to_plain(first)) == []


class FlakyRecognizer:
    """Fails on any batch containing the poisoned text, like a model crashing on one input."""

    def __init__(self, real: EntityRecognizer) -> None:
        self.real = real
        self.info = real.info
        self.language = real.language

    def recognize(
        self, texts: list[str], titles: list[str | None], datelines: list[str | None]
    ) -> list[list[Entity]]:
        if any("POISON" in t for t in texts):
            raise ValueError("model crashed")
        return self.real.recognize(texts, titles, datelines)


def test_one_bad_article_in_a_batch_is_dead_lettered_alone(recognizer, clean_article_bytes):
    poisoned = codec.loads(clean_article_bytes)
    poisoned["text"] = "POISON " + poisoned["text"]
    poisoned["id"] = "poisoned"
    stage = NerStage(FlakyRecognizer(recognizer))
    good, bad = stage.process(
        [Incoming(value=clean_article_bytes), Incoming(value=codec.dumps(poisoned))]
    )
    assert isinstance(good, Article) and good.entities
    assert isinstance(bad, DeadLetter)
    assert (bad.reason, bad.article_id) == (Reason.STAGE_ERROR, "poisoned")


@Language.component("test_record_dateline")
def record_dateline(doc: Doc) -> Doc:
    seen = doc.user_data.get(repair.DATELINE)
    doc.ents = [Span(doc, 0, 1, label=f"DATELINE {seen}")]
    return doc


def test_the_articles_dateline_reaches_the_label_repair(clean_article_bytes):
    nlp = spacy.blank("en")
    nlp.add_pipe("test_record_dateline")
    stage = NerStage(EntityRecognizer(nlp))
    article = Article.from_dict(codec.loads(clean_article_bytes))
    article.dateline = "GENEVA"
    (with_dateline,) = stage.process([Incoming(value=codec.dumps(article))])
    article.dateline = None
    (without,) = stage.process([Incoming(value=codec.dumps(article))])
    assert [e.label for e in with_dateline.entities] == ["DATELINE GENEVA"]
    assert [e.label for e in without.entities] == ["DATELINE None"]
