"""`wirestream enrich`: the same stage code as the workers, in one process, without Kafka.

Each stage's output is encoded exactly as it would be on its topic before the next stage reads
it, so the results match what the streaming pipeline emits. Input is taken a batch at a time, so
memory stays bounded whatever the input's size.
"""

from __future__ import annotations

import ctypes
import dataclasses
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

from pipeline import codec
from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter
from pipeline.settings import STAGES, Settings
from pipeline.stages import Stage, build_stage
from pipeline.validation import OutputCheck

T = TypeVar("T")

# glibc's mallopt parameter: the size from which an allocation gets its own memory map.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024

# Characters of a dead letter's payload echoed to the terminal: enough to recognise the input
# (its file and line say where the rest is), never a multi-megabyte article.
ECHO_CHARS = 2000


class Enricher:
    """All stages, loaded once, applied in order to batches of raw articles."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stages: list[Stage] = [build_stage(settings, name) for name in STAGES]
        self.checks = [
            OutputCheck(stage.name, stage.output_schema, settings.validate_output)
            for stage in self.stages
        ]

    def enrich(
        self, items: Iterable[tuple[T, dict[str, Any] | bytes]]
    ) -> Iterator[tuple[T, Article | DeadLetter]]:
        """Each (tag, raw article) with its result, enriched article or dead letter, in input
        order; the tag (where the article came from, say) is passed through untouched."""
        iterator = iter(items)
        while batch := list(islice(iterator, self.settings.batch_size)):
            tags = [tag for tag, _ in batch]
            payloads = [a if isinstance(a, bytes) else codec.dumps(a) for _, a in batch]
            del batch  # the decoded articles: only their encoding is needed from here on
            yield from zip(tags, self._enrich_batch(payloads), strict=True)

    def _enrich_batch(self, payloads: list[bytes]) -> list[Article | DeadLetter]:
        results: list[Article | DeadLetter | None] = [None] * len(payloads)
        # (position in the input, message for the next stage)
        in_flight = [(i, Incoming(value=p)) for i, p in enumerate(payloads)]
        for stage, check in zip(self.stages, self.checks, strict=True):
            messages = [message for _, message in in_flight]
            outputs = check(messages, stage.process(messages))
            survivors = []
            for (position, _), output in zip(in_flight, outputs, strict=True):
                results[position] = output
                if isinstance(output, Article):
                    survivors.append((position, Incoming(value=codec.dumps(output))))
            in_flight = survivors
        return [r for r in results if r is not None]


def located(letter: DeadLetter, file: str | None, line: int | None) -> DeadLetter:
    """The dead letter as `enrich` reports it: with the file and line of its input, and its
    payload cut to ``ECHO_CHARS`` (``payload_truncated`` says so)."""
    cut = len(letter.payload) > ECHO_CHARS
    return dataclasses.replace(
        letter,
        input_file=file,
        input_line=line,
        payload=letter.payload[:ECHO_CHARS] if cut else letter.payload,
        payload_truncated=letter.payload_truncated or cut,
    )


def return_large_buffers() -> None:
    """Have glibc map buffers of 256 KiB and more on their own, so that each is given back to
    the system when freed. By default glibc raises that threshold after the first large
    buffers are freed, and then a stream of multi-megabyte articles fragments the heap: peak
    memory grew with the input (`make bench-enrich-memory`). Elsewhere, nothing to do."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
