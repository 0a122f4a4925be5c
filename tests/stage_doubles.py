"""Stages that misbehave on purpose, for the tests of what runs them (built in child processes
by ``pipeline.runtime.sandbox`` through ``build``, or used in this process).

A message's value says what to do: ``sleep`` hangs, ``die`` kills the process, ``hog`` asks for
more memory than the limit allows, ``deep`` gives a result nested too deep to encode; anything
else becomes a small article.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from pipeline import __version__
from pipeline.envelope import Incoming, dead_letter
from pipeline.events import Article, DeadLetter, PipelineInfo, Reason, Rejection, StageInfo
from pipeline.settings import Settings


def article_for(message: Incoming, metadata: dict | None = None) -> Article:
    text = (message.value or b"").decode("utf-8", "replace")
    return Article(
        id=(message.key or b"no-key").decode(),
        text=text,
        word_count=len(text.split()),
        content_hash="sha256:" + "0" * 64,
        received_at="2024-06-11T08:00:00.000Z",
        pipeline=PipelineInfo(version=__version__, stages={}),
        metadata=metadata,
    )


class MisbehavingStage:
    name = "ner"
    input_schema = "clean-article"
    output_schema = "entities-article"
    info = StageInfo(model="double", model_version="1")

    def __init__(self, name: str = "ner") -> None:
        self.name = name
        self.calls = 0

    def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        self.calls += 1
        results: list[Article | DeadLetter] = []
        for message in batch:
            value = message.value or b""
            if value == b"sleep":
                time.sleep(600)
            elif value == b"die":
                os._exit(3)
            elif value == b"hog":
                try:
                    hoard = bytearray(4 << 30)  # over any limit the tests set
                except MemoryError as exc:
                    rejection = Rejection(Reason.STAGE_ERROR, repr(exc))
                    results.append(dead_letter(self.name, message, rejection))
                    continue
                del hoard
            elif value == b"deep":
                nested: dict = {}
                for _ in range(400):  # orjson encodes at most 254 levels
                    nested = {"n": nested}
                results.append(article_for(message, metadata=nested))
                continue
            results.append(article_for(message))
        return results


def build(settings: Settings, name: str) -> MisbehavingStage:
    """Factory in the shape of ``pipeline.stages.build_stage``."""
    return MisbehavingStage(name)


# Seconds ``build_slowly`` takes, as a model's loading does.
SLOW_LOAD = 1.5


def build_slowly(settings: Settings, name: str) -> MisbehavingStage:
    """Factory whose stage takes ``SLOW_LOAD`` seconds to load."""
    time.sleep(SLOW_LOAD)
    return MisbehavingStage(name)


def build_reporting_credentials(settings: Settings, name: str) -> MisbehavingStage:
    """A stage whose info tells what credentials its process was given."""
    stage = MisbehavingStage(name)
    stage.info = StageInfo(model=settings.security_protocol, model_version=settings.sasl_password)
    return stage
