"""Entities people can use, through the NER stage with the real model: a story written for
this test, the seed article when it is present, per-language routing and user rule files."""

from __future__ import annotations

import json

import pytest

from pipeline import codec, schemas
from pipeline.envelope import Incoming
from pipeline.events import Article, Entity, PipelineInfo, StageInfo
from pipeline.settings import Settings
from pipeline.stages.clean import clean_text
from pipeline.stages.ner import (
    EntityRecognizer,
    NerStage,
    build_ner_stage,
    language_key,
    load_nlp,
    read_patterns,
)
from tests.conftest import SEED_ARTICLE

# Written for this test, with the mess of wire copy: titles before names, a surname with a
# possessive, a transliterated given name, a hyphenated town, aliases of the United States, a
# source credit and an app link at the end.
STORY_TITLE = "Talks in Stratford-upon-Avon, day one: Daniel Whitmore"
STORY = """Canadian Prime Minister Daniel Whitmore, who arrived in Germany on Sunday, met \
German Chancellor Helga Brandt and Polish Energy Minister Tomasz Nowicki at the city hall on \
Monday evening. Whitmore and Nowicki briefed the chancellor on the pipeline negotiations.

The meeting was also attended by the U.S. Ambassador to Germany Laura Kemp.

At the start of the talks, Helga Brandt said that Germany always welcomes visitors from \
Ottawa. "We are glad you came," she said.

Daniel Whitmore thanked Brandt for the invitation and offered help after the floods that hit \
Stratford-upon-Avon last week, the Reuters agency reported.

The Prime Minister said the United States and Canada would back the project. Whitmore's \
office said the agreement could be signed in May.

Earlier in the day Whitmore had breakfast with Tomas Nowicki. The Prime Minister also spoke \
with Whitmore's own trade envoy, officials said.

Novaya Vesti

in Telegram"""


@pytest.fixture(scope="module")
def recognizer() -> EntityRecognizer:
    return EntityRecognizer(load_nlp("en_core_web_sm"))


def message(text: str, title: str | None = None, language: str | None = None) -> Incoming:
    article = Article(
        id="test",
        text=text,
        title=title,
        language=language,
        word_count=len(text.split()),
        content_hash="sha256:" + "0" * 64,
        received_at="2024-01-01T00:00:00.000Z",
        pipeline=PipelineInfo(version="0"),
    )
    return Incoming(value=codec.dumps(article))


def entities_named(entities: list[Entity], name: str) -> list[Entity]:
    return [e for e in entities if e.name == name]


def check_entities(article: Article) -> None:
    """What holds for every article: offsets, counts, order, salience range, schema."""
    assert article.entities is not None
    for entity in article.entities:
        assert entity.count == len(entity.mentions)
        assert entity.first_offset == entity.mentions[0].start
        assert 0.0 <= entity.salience <= 1.0
        for mention in entity.mentions:
            assert article.text[mention.start : mention.end] == mention.text
    saliences = [e.salience for e in article.entities]
    assert saliences == sorted(saliences, reverse=True)
    assert schemas.errors("entities-article", codec.to_plain(article)) == []


def test_a_wire_story_yields_one_entity_per_person_and_place(recognizer):
    (article,) = NerStage(recognizer).process([message(STORY, STORY_TITLE)])
    assert isinstance(article, Article)
    check_entities(article)
    entities = article.entities

    (whitmore,) = entities_named(entities, "Daniel Whitmore")
    assert whitmore.label == "PERSON" and whitmore.in_title
    assert whitmore.count >= 5
    assert {"Whitmore", "Prime Minister"} <= {m.text for m in whitmore.mentions}
    assert entities[0] is whitmore

    (nowicki,) = entities_named(entities, "Tomasz Nowicki")
    assert {"Tomas Nowicki", "Nowicki"} <= {m.text for m in nowicki.mentions}
    (brandt,) = entities_named(entities, "Helga Brandt")
    assert "Brandt" in {m.text for m in brandt.mentions}

    (town,) = [e for e in entities if "Stratford" in e.name]
    assert (town.name, town.label, town.in_title) == ("Stratford-upon-Avon", "GPE", True)
    (usa,) = entities_named(entities, "United States")
    assert {"U.S.", "United States"} <= {m.text for m in usa.mentions}

    people = {e.name for e in entities if e.label == "PERSON"}
    assert not people & {"Novaya Vesti", "Telegram", "Whitmore", "Brandt", "Nowicki"}


@pytest.mark.skipif(not SEED_ARTICLE.exists(), reason="seed article not present")
def test_the_seed_article_meets_the_issue(recognizer):
    title, body = SEED_ARTICLE.read_text(encoding="utf-8").split("\n", 1)
    text = clean_text(body, title=title).text
    (article,) = NerStage(recognizer).process([message(text, title)])
    check_entities(article)
    entities = article.entities

    (kerry,) = entities_named(entities, "John Kerry")
    assert kerry.label == "PERSON" and kerry.count >= 8
    (putin,) = entities_named(entities, "Vladimir Putin")
    assert "Putin" in {m.text for m in putin.mentions}
    (lavrov,) = entities_named(entities, "Sergey Lavrov")
    assert {"Sergei Lavrov", "Lavrov"} <= {m.text for m in lavrov.mentions}
    (rostov,) = [e for e in entities if "Rostov" in e.name]
    assert (rostov.name, rostov.label) == ("Rostov-on-Don", "GPE")
    (steinmeier,) = [e for e in entities if "Steinmeier" in e.name]
    assert steinmeier.label == "PERSON"
    people = {e.name for e in entities if e.label == "PERSON"}
    assert not people & {"Vestnik Kavkaza", "Telegram"}
    assert entities[0].name in {"John Kerry", "Vladimir Putin"}
    assert len([e for e in entities if "Kerry" in e.name or "Lavrov" in e.name]) == 2


def test_languages_route_to_their_model_and_others_are_skipped_with_a_reason(recognizer):
    # The English model stands in for a German one: routing, not German NER, is under test.
    stage = NerStage(recognizer, {"de": recognizer})
    text = "Angela Merkel visited Paris on Monday."
    english, unknown, german, basque = stage.process(
        [
            message(text, language="en-GB"),
            message(text),
            message(text, language="de"),
            message(text, language="eu"),
        ]
    )
    for article in (english, unknown, german):
        assert article.entities and article.skipped is None
        assert article.pipeline.stages["ner"] == recognizer.info
    assert basque.entities == []
    assert basque.skipped == {"entities": "no spaCy model for language 'eu'"}
    assert basque.pipeline.stages["ner"] == StageInfo(model=None, model_version=None)
    for article in (english, unknown, german, basque):
        assert schemas.errors("entities-article", codec.to_plain(article)) == []


def test_language_codes_reduce_to_their_primary_tag():
    assert language_key("en-US") == "en"
    assert language_key("DE_at") == "de"
    assert language_key(None) is None
    assert language_key("und") is None


def test_settings_build_per_language_models_once_and_stamp_rule_files(tmp_path):
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text(
        json.dumps({"label": "GPE", "pattern": "Crimea"})
        + "\n"
        + json.dumps({"label": "ORG", "pattern": [{"LOWER": "vestnik"}, {"LOWER": "kavkaza"}]})
        + "\n",
        encoding="utf-8",
    )
    settings = Settings.load(
        {"spacy_models": "fr=en_core_web_sm", "ner_patterns": str(patterns)}, env={}
    )
    stage = build_ner_stage(settings)
    assert stage.recognizer_for("fr") is stage.default
    assert stage.default.nlp.pipe_names == [
        "ner",
        "wirestream_entity_repair",
        "wirestream_patterns",
    ]
    assert "+rules." in stage.info.model_version

    text = "Talks turned to Crimea, Vestnik Kavkaza reports."
    (article,) = stage.process([message(text)])
    labels = {e.name: e.label for e in article.entities}
    assert labels["Crimea"] == "GPE"
    assert labels["Vestnik Kavkaza"] == "ORG"


def test_a_broken_patterns_file_fails_at_start_with_its_line(tmp_path):
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text('{"label": "ORG", "pattern": "Acme"}\n{"pattern": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"patterns.jsonl:2"):
        read_patterns(patterns)


def test_spacy_models_setting_must_be_language_model_pairs():
    from pipeline.settings import SettingsError

    with pytest.raises(SettingsError, match="lang=model"):
        Settings.load({"spacy_models": "en_core_web_sm"}, env={})
    settings = Settings.load({"spacy_models": "EN=en_core_web_md, de=/models/de"}, env={})
    assert settings.language_models() == {"en": "en_core_web_md", "de": "/models/de"}
