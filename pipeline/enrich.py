"""`wirestream enrich`: the same stage code as the workers, in one process, without Kafka.

Each stage's output is encoded exactly as it would be on its topic before the next stage reads
it, so the results match what the streaming pipeline emits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from pipeline import codec
from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter
from pipeline.settings import STAGES, Settings
from pipeline.stages import Stage, build_stage


class Enricher:
    """All stages, loaded once, applied in order to batches of raw articles."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stages: list[Stage] = [build_stage(settings, name) for name in STAGES]

    def enrich(self, articles: Iterable[dict[str, Any] | bytes]) -> Iterator[Article | DeadLetter]:
        """Enriched articles and dead letters, in input order."""
        iterator = iter(articles)
        while batch := list(islice(iterator, self.settings.batch_size)):
            yield from self._enrich_batch(
                [a if isinstance(a, bytes) else codec.dumps(a) for a in batch]
            )

    def _enrich_batch(self, payloads: list[bytes]) -> list[Article | DeadLetter]:
        results: list[Article | DeadLetter | None] = [None] * len(payloads)
        # (position in the input, message for the next stage)
        in_flight = [(i, Incoming(value=p)) for i, p in enumerate(payloads)]
        for stage in self.stages:
            outputs = stage.process([message for _, message in in_flight])
            survivors = []
            for (position, _), output in zip(in_flight, outputs, strict=True):
                results[position] = output
                if isinstance(output, Article):
                    survivors.append((position, Incoming(value=codec.dumps(output))))
            in_flight = survivors
        return [r for r in results if r is not None]
