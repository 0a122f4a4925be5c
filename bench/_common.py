"""Helpers shared by the benchmarks: paths, article messages as the NER stage receives them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from pipeline import __version__, codec, ids
from pipeline.envelope import Incoming
from pipeline.events import Article, PipelineInfo

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def article_message(
    text: str, title: str | None = None, article_id: str = "bench", language: str | None = None
) -> Incoming:
    """A clean-article message carrying ``text``, as the clean stage writes it."""
    article = Article(
        id=article_id,
        text=text,
        title=title,
        language=language,
        word_count=len(text.split()),
        content_hash=ids.content_hash(text),
        received_at="2024-01-01T00:00:00.000Z",
        pipeline=PipelineInfo(version=__version__),
    )
    return Incoming(value=codec.dumps(article), key=article_id.encode())


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
