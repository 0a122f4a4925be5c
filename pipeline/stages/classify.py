"""Classify stage: articles with entities in, finished enriched events out.

The topic model itself lives in ``pipeline.topics``; this module applies it to a batch, keeps
the topics above the threshold, and stamps the event's identity and provenance.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from pipeline import ids
from pipeline.envelope import (
    Incoming,
    dead_letter,
    decode_article,
    isoformat,
    parse_timestamp,
    utc_now,
    whole_or_each,
)
from pipeline.events import (
    Article,
    DeadLetter,
    PipelineInfo,
    Reason,
    Rejection,
    StageInfo,
    TopicScore,
)

STAGE = "classify"


class TopicModel(Protocol):
    """What the classify stage needs from a topic model (see ``pipeline.topics.model``)."""

    info: StageInfo

    def predict(self, texts: Sequence[str]) -> list[list[TopicScore]]:
        """Every topic with a calibrated score in 0..1 for each text, best first."""
        ...


def classifier_input(article: Article) -> str:
    """The title carries much of a story's topic, so it is classified with the text."""
    return f"{article.title}\n\n{article.text}" if article.title else article.text


def select_topics(
    scores: Sequence[TopicScore], threshold: float
) -> tuple[list[TopicScore], str | None]:
    """Topics at or above the threshold, best first, and the primary topic's code."""
    kept = sorted((s for s in scores if s.score >= threshold), key=lambda s: -s.score)
    return kept, (kept[0].code if kept else None)


def pipeline_fingerprint(pipeline: PipelineInfo) -> str:
    """Code and model versions that shaped an event; part of its deterministic id."""
    parts = [f"wirestream={pipeline.version}"]
    for stage, info in sorted(pipeline.stages.items()):
        parts.append(f"{stage}={info.model or '-'}@{info.model_version or '-'}")
    return "|".join(parts)


def finish(
    article: Article, scores: Sequence[TopicScore], threshold: float, info: StageInfo
) -> Article:
    """Attach topics and stamp the event id, completion time and end-to-end latency."""
    article.topics, article.topic = select_topics(scores, threshold)
    article.pipeline.stages[STAGE] = info
    article.event_id = ids.event_id(
        article.id, article.content_hash, pipeline_fingerprint(article.pipeline)
    )
    now = utc_now()
    article.enriched_at = isoformat(now)
    latency = (now - parse_timestamp(article.received_at)).total_seconds()
    article.record_time("end_to_end", max(latency, 0.0))
    if article.entities is None:
        article.entities = []
    return article


class ClassifyStage:
    """The classify stage over a batch of entities-article messages."""

    name = STAGE
    input_schema = "entities-article"
    output_schema = "enriched-article"

    def __init__(self, model: TopicModel, threshold: float) -> None:
        self.model = model
        self.threshold = threshold
        self.info = model.info

    def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        results: list[Article | DeadLetter] = []
        articles: list[tuple[Article, Incoming]] = []
        for message in batch:
            decoded = decode_article(message)
            if isinstance(decoded, Rejection):
                results.append(dead_letter(STAGE, message, decoded))
            else:
                articles.append((decoded, message))
                results.append(decoded)
        if not articles:
            return results

        def run(items: Sequence[tuple[Article, Incoming]]) -> list[Article | DeadLetter]:
            started = time.perf_counter()
            predictions = self.model.predict([classifier_input(a) for a, _ in items])
            per_article = (time.perf_counter() - started) / len(items)
            for (article, _), scores in zip(items, predictions, strict=True):
                article.record_time(STAGE, per_article)
                finish(article, scores, self.threshold, self.info)
            return [article for article, _ in items]

        def letter(item: tuple[Article, Incoming], exc: Exception) -> DeadLetter:
            article, message = item
            rejection = Rejection(Reason.STAGE_ERROR, repr(exc))
            return dead_letter(STAGE, message, rejection, article.id)

        # One article the model fails on is dead-lettered alone, not with its batch.
        outcomes = iter(whole_or_each(f"{STAGE} stage", articles, run, letter))
        return [next(outcomes) if isinstance(r, Article) else r for r in results]
