"""Cost of `validate_output` per event: each stage's real output on the sample articles,
checked against its topic's schema, beside the stage's own work on the article, and beside the
`jsonschema` package the tests use (the alternative the check does not use).

`all` pays the check on every event; `sample` on one in 100 (the per-event figure / 100).

    python bench/validation.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

from pipeline import codec, schemas
from pipeline.demo import sample_dir
from pipeline.enrich import Enricher
from pipeline.envelope import Incoming
from pipeline.events import Article
from pipeline.settings import Settings
from pipeline.sources import read_sources
from pipeline.validation import SAMPLE_EVERY, OutputCheck


def per_call(action: Callable[[], object], rounds: int) -> float:
    """Median seconds of ``action``."""
    timings = []
    for _ in range(rounds):
        began = time.perf_counter()
        action()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20, help="Times each event is checked.")
    args = parser.parse_args()
    enricher = Enricher(Settings.load(env={}))
    raw = [codec.dumps(r.article) for r in read_sources([sample_dir()]) if r.article]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {len(raw)} sample articles; medians of {args.rounds} "
        "rounds per event"
    )
    print(f"{'stage':<9} {'schema':<17} {'all':>9} {'sample':>9} {'stage work':>11} "
          f"{'all/work':>9} {'jsonschema':>11}")  # fmt: skip
    messages = [Incoming(value=payload) for payload in raw]
    for stage in enricher.stages:
        stage.process(messages)  # warm-up: lazy loads and caches
        work = per_call(lambda: stage.process(messages), 3) / len(messages)  # noqa: B023
        outputs = stage.process(messages)
        check = OutputCheck(stage.name, stage.output_schema, "all")
        pairs = [(m, a) for m, a in zip(messages, outputs, strict=True) if isinstance(a, Article)]
        ours, theirs = [], []
        for message, article in pairs:
            assert check.verdict(message, article) is article
            plain = codec.to_plain(article)
            ours.append(per_call(lambda: check.verdict(message, article), args.rounds))  # noqa: B023
            theirs.append(
                per_call(lambda: schemas.errors(stage.output_schema, plain), args.rounds)  # noqa: B023
            )
        event = statistics.median(ours)
        print(
            f"{stage.name:<9} {stage.output_schema:<17} {event * 1e6:>6.0f} µs "
            f"{event / SAMPLE_EVERY * 1e6:>6.1f} µs {work * 1e3:>8.2f} ms {event / work:>9.2%} "
            f"{statistics.median(theirs) * 1e6:>8.0f} µs"
        )
        messages = [Incoming(value=codec.dumps(a)) for _, a in pairs]


if __name__ == "__main__":
    main()
