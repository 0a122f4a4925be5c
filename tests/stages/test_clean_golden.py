"""Golden corpus: tricky raw articles written for the project, each with the clean text and
metadata it must yield (``tests/stages/golden/*.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import codec, schemas
from pipeline.events import Article, RawArticle
from pipeline.stages.clean import clean_article
from pipeline.stages.language import LanguageDetector

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.json"))


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


def test_corpus_has_at_least_thirty_cases() -> None:
    assert len(GOLDEN) >= 30


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_case(path: Path, detector: LanguageDetector) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    article = clean_article(
        RawArticle.from_dict(case["raw"]), received_at="2024-06-01T12:00:00.000Z", detector=detector
    )
    assert isinstance(article, Article), article
    for field, expected in case["expected"].items():
        got = getattr(article, field)
        if field == "published_at":  # pages give dates in several precisions
            assert got is not None
            assert got.startswith(expected), (field, got)
        else:
            assert got == expected, f"{field}: {got!r} != {expected!r}"
    assert schemas.errors("clean-article", codec.to_plain(article)) == []
