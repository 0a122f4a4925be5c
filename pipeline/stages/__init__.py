"""The pipeline's stages: pure processing over batches of messages, no Kafka."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pipeline.envelope import Incoming
from pipeline.events import Result, StageInfo
from pipeline.settings import Settings


class Stage(Protocol):
    name: str
    input_schema: str
    output_schema: str
    info: StageInfo

    def process(self, batch: Sequence[Incoming]) -> list[Result]:
        """One result per message, in order: the article to emit, or its dead letter."""
        ...


def build_stage(settings: Settings, name: str) -> Stage:
    """Create a stage, loading its models now (at worker start, never at import)."""
    if name == "clean":
        from pipeline.stages.clean import CleanStage

        return CleanStage(max_body_bytes=settings.max_body_bytes)
    if name == "ner":
        from pipeline.stages.ner import build_ner_stage

        return build_ner_stage(settings)
    if name == "classify":
        from pipeline.stages.classify import ClassifyStage
        from pipeline.topics.model import load_topic_model

        return ClassifyStage(load_topic_model(settings.classify_model), settings.classify_threshold)
    raise ValueError(f"unknown stage {name!r}")


def input_topic(settings: Settings, name: str) -> str:
    return {
        "clean": settings.topic_raw,
        "ner": settings.topic_clean,
        "classify": settings.topic_entities,
    }[name]


def output_topic(settings: Settings, name: str) -> str:
    return {
        "clean": settings.topic_clean,
        "ner": settings.topic_entities,
        "classify": settings.topic_enriched,
    }[name]
