"""The clean stage over messages: the seed article, language, dead letters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline import codec, schemas
from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter
from pipeline.stages.clean import CleanStage, clean_text, split_paragraphs

SEED = Path(__file__).resolve().parents[3] / "shared" / "samples" / "seed-article.txt"
BODY = (
    "The regional council approved the budget on Monday after a long debate.\n\n"
    "Spending on roads rises by a fifth, while the culture budget is cut by a tenth.\n\n"
    "Opposition members said the cuts would close two theatres in the north."
)


def message(payload: dict, timestamp: float = 1_700_000_000.0) -> Incoming:
    return Incoming(codec.dumps(payload), timestamp=timestamp)


@pytest.fixture(scope="module")
def stage() -> CleanStage:
    return CleanStage(1 << 20)


@pytest.mark.skipif(not SEED.exists(), reason="shared seed article not present")
def test_seed_article() -> None:
    title, body = SEED.read_text(encoding="utf-8").split("\n", 1)
    cleaned = clean_text(body, title=title)
    assert cleaned.text.count(title) == 0
    assert "Telegram" not in cleaned.text
    assert cleaned.source_credit == "Vestnik Kavkaza"
    # Every sentence of the story is there, with quotes made plain.
    story = body.replace("’’", '"').replace("’", "'")
    story = story.rsplit("Vestnik Kavkaza", 1)[0].split(title, 2)[-1]
    for sentence in re.split(r"(?<=[.!?])\s+", " ".join(story.split())):
        assert sentence in " ".join(cleaned.text.split()), sentence


def test_article_event_with_language(stage: CleanStage) -> None:
    [article] = stage.process([message({"title": "Budget approved", "body": BODY})])
    assert isinstance(article, Article)
    assert article.language == "en"
    assert 0.5 < article.language_confidence <= 1.0
    assert article.pipeline.stages["clean"].model == "fasttext-lid.176.ftz"
    assert schemas.errors("clean-article", codec.to_plain(article)) == []


def test_empty_after_cleaning_is_a_dead_letter(stage: CleanStage) -> None:
    [result] = stage.process([message({"body": "<p><script>x()</script></p>"})])
    assert isinstance(result, DeadLetter)
    assert result.reason == "empty_body"


def test_paragraph_splitting_joins_hard_wraps_only() -> None:
    assert split_paragraphs("One line\ncontinues here.\nNew paragraph.\n\nThird.") == [
        "One line continues here.",
        "New paragraph.",
        "Third.",
    ]
