"""Checking what a stage emits against its topic's JSON Schema (the `validate_output` setting).

Stages build their events as typed objects, and the tests hold every stage's output to its
schema; this check is for running deployments that want proof per event (`all`) or a steady
sample (`sample`), at the cost measured by `make bench-validation`. An event that fails is not
sent on: it becomes a dead letter of the message it came from, with reason `invalid_output`.

The check runs on every event it is asked to, so it uses jsonschema-rs (compiled; about 200
times faster than the `jsonschema` package on these events, same verdicts and formats).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from pipeline import codec, schemas
from pipeline.envelope import Incoming, dead_letter
from pipeline.events import Article, Reason, Rejection, Result

# `sample` checks the first event a stage process emits and every SAMPLE_EVERY-th after it.
SAMPLE_EVERY = 100
# Violations named in a dead letter's error; the first few say what is wrong.
MAX_REPORTED = 3


@dataclass
class OutputCheck:
    """The check for one stage process; it counts the events it has seen, for sampling."""

    stage: str
    schema: str
    mode: str  # off, sample or all
    seen: int = 0

    def __call__(self, batch: Sequence[Incoming], results: list[Result]) -> list[Result]:
        """``results`` (one per message of ``batch``) with each article that fails the schema
        replaced by the dead letter of its message."""
        if self.mode == "off":
            return results
        checked: list[Result] = []
        for message, result in zip(batch, results, strict=True):
            if isinstance(result, Article) and self._due():
                result = self.verdict(message, result)
            checked.append(result)
        return checked

    def _due(self) -> bool:
        due = self.mode == "all" or self.seen % SAMPLE_EVERY == 0
        self.seen += 1
        return due

    def verdict(self, message: Incoming, article: Article) -> Result:
        """The article if it satisfies the schema, else its message's dead letter."""
        problems = errors(self.schema, codec.to_plain(article))
        if not problems:
            return article
        shown = "; ".join(problems[:MAX_REPORTED])
        more = f" (and {len(problems) - MAX_REPORTED} more)" if len(problems) > MAX_REPORTED else ""
        rejection = Rejection(
            Reason.INVALID_OUTPUT, f"output fails the {self.schema} schema: {shown}{more}"
        )
        return dead_letter(self.stage, message, rejection, article_id=article.id)


@functools.cache
def _validator(name: str) -> Any:
    registry = jsonschema_rs.Registry(
        [(contents["$id"], contents) for contents in map(schemas.load_schema, schemas.SCHEMA_NAMES)]
    )
    return jsonschema_rs.Draft202012Validator(
        schemas.load_schema(name), registry=registry, validate_formats=True
    )


def errors(name: str, instance: Any) -> list[str]:
    """Violations of schema ``name`` by ``instance`` as ``where: what``; empty when valid."""
    validator = _validator(name)
    if validator.is_valid(instance):
        return []
    found = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.instance_path)))
    return [f"{'/'.join(map(str, e.instance_path)) or '(root)'}: {e.message}" for e in found]
