"""The tone of each article, as a Wirestream plugin stage: VADER (a lexicon and rules for English
news and social text, MIT licence) scores each sentence of the title and text; the article gets
their mean under ``extensions["sentiment"]``.

VADER reads its lexicon from its own package: nothing is downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any, Protocol

from pipeline.envelope import Incoming, dead_letter, decode_article, process_each
from pipeline.events import Article, DeadLetter, Rejection, Result, StageInfo
from pipeline.settings import Settings

# VADER's usual cut-offs on the compound score.
POSITIVE_FROM, NEGATIVE_FROM = 0.05, -0.05
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class Scorer(Protocol):
    """What the stage needs of VADER's analyzer."""

    def polarity_scores(self, text: str) -> dict[str, float]: ...


def sentences(article: Article) -> list[str]:
    parts = [article.title or "", *_SENTENCE_END.split(article.text)]
    return [part.strip() for part in parts if part.strip()]


def tone(analyzer: Scorer, texts: Sequence[str]) -> dict[str, Any]:
    """The mean of the sentences' scores, and the label of the mean compound score."""
    scores = [analyzer.polarity_scores(text) for text in texts]
    count = len(scores)

    def mean(key: str) -> float:
        return round(sum(s[key] for s in scores) / count, 4) if count else 0.0

    compound = mean("compound")
    label = "neutral"
    if compound >= POSITIVE_FROM:
        label = "positive"
    elif compound <= NEGATIVE_FROM:
        label = "negative"
    return {
        "compound": compound,
        "positive": mean("pos"),
        "neutral": mean("neu"),
        "negative": mean("neg"),
        "label": label,
        "sentences": count,
    }


class SentimentStage:
    """Enriched articles in, the same articles out with ``extensions[<name>]``."""

    input_schema = "enriched-article"
    output_schema = "enriched-article"

    def __init__(self, name: str, analyzer: Scorer) -> None:
        self.name = name
        self.analyzer = analyzer
        self.info = StageInfo(model="vader", model_version=version("vaderSentiment"))

    def process(self, batch: Sequence[Incoming]) -> list[Result]:
        # process_each: one result per message, timings[<name>_ms], and an exception becomes
        # that message's stage_error dead letter.
        return process_each(self.name, batch, self._one)

    def _one(self, message: Incoming) -> Article | DeadLetter:
        article = decode_article(message)
        if isinstance(article, Rejection):
            return dead_letter(self.name, message, article)
        article.extensions = {
            **(article.extensions or {}),
            self.name: tone(self.analyzer, sentences(article)),
        }
        article.pipeline.stages[self.name] = self.info
        return article


def build(settings: Settings, name: str) -> SentimentStage:
    """The entry point: called in the stage's own process at worker start."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentStage(name, SentimentIntensityAnalyzer())
