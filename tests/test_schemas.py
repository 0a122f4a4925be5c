"""The typed models and the JSON Schemas describe the same events."""

import dataclasses

import pytest

from pipeline import schemas
from pipeline.events import Article, DeadLetter, Entity, Mention, RawArticle, TopicScore


def _properties(name: str, definition: str | None = None) -> set[str]:
    schema = schemas.load_schema(name)
    if definition:
        schema = schema["$defs"][definition]
    return set(schema["properties"])


@pytest.mark.parametrize(
    ("model", "schema", "definition"),
    [
        (Article, "enriched-article", None),
        (Article, "clean-article", None),
        (Article, "entities-article", None),
        (Entity, "enriched-article", "entity"),
        (Mention, "enriched-article", "mention"),
        (TopicScore, "enriched-article", "topic"),
        (DeadLetter, "dead-letter", None),
    ],
)
def test_model_fields_match_schema_properties(model, schema, definition):
    fields = {f.name for f in dataclasses.fields(model)}
    assert fields == _properties(schema, definition)


def test_raw_article_model_covers_the_raw_schema():
    fields = {f.name for f in dataclasses.fields(RawArticle)}
    assert fields == _properties("raw-article") - {"schema_version"}


def test_every_schema_is_a_valid_2020_12_schema_with_a_version_field():
    for name in schemas.SCHEMA_NAMES:
        schema = schemas.load_schema(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        schemas.validator(name).check_schema(schema)
        if name != "raw-article":
            assert "schema_version" in schema["required"]


def test_raw_schema_accepts_minimal_and_rejects_wrong_types():
    assert schemas.errors("raw-article", {"body": "text"}) == []
    assert schemas.errors("raw-article", {"body": "t", "extra": 1, "metadata": {"any": [1]}}) == []
    problems = schemas.errors("raw-article", {"title": 5})
    assert any("body" in p for p in problems) and any("title" in p for p in problems)


def test_timestamps_must_be_date_times():
    letter = {
        "schema_version": "1.0", "stage": "clean", "reason": "invalid_json", "error": "x",
        "payload": "", "payload_encoding": "utf-8", "topic": None, "partition": None,
        "offset": None, "failed_at": "yesterday",
    }  # fmt: skip
    assert any("failed_at" in p for p in schemas.errors("dead-letter", letter))
