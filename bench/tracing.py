"""Cost of `tracing = on` per article: the clean stage run by the stage process's runner on the
sample articles, with and without spans (exported as JSON to /dev/null, the export's flush
included), side by side in each round.

    python bench/tracing.py [--rounds 7] [--copies 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from typing import TextIO

from prometheus_client import CollectorRegistry

from pipeline import codec
from pipeline.demo import sample_dir
from pipeline.envelope import Incoming
from pipeline.metrics import StageMetrics
from pipeline.runtime.encoded import Encoded
from pipeline.runtime.runner import LocalStage, StageRunner
from pipeline.runtime.tracing import StageTracer, console_provider
from pipeline.settings import Settings
from pipeline.sources import read_sources
from pipeline.stages import build_stage

TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def run(runner: StageRunner, messages: list[Incoming], batch: int) -> float:
    """Seconds per article for the runner over ``messages``, its spans' export included."""
    began = time.perf_counter()
    for start in range(0, len(messages), batch):
        await runner.process(messages[start : start + batch])
    if runner.tracer is not None:
        runner.tracer.provider.force_flush()
    return (time.perf_counter() - began) / len(messages)


def tracer_alone(
    tracer: StageTracer, batches: list[list[Incoming]], results: list[list[Encoded]]
) -> float:
    """Seconds per article of the tracer's own work (spans, headers, export) on results made
    beforehand: the cost, without the stage's own time to blur it."""
    began = time.perf_counter()
    for batch, encoded in zip(batches, results, strict=True):
        tracer.trace(batch, encoded, time.time_ns())
    tracer.provider.force_flush()
    return (time.perf_counter() - began) / sum(len(batch) for batch in batches)


async def measure(args: argparse.Namespace, devnull: TextIO) -> None:
    settings = Settings.load(env={})
    raw = [codec.dumps(r.article) for r in read_sources([sample_dir()]) if r.article]
    messages = [
        Incoming(payload, None, "articles.raw", 0, n, headers=(("traceparent", TRACEPARENT),))
        for n, payload in enumerate(raw * args.copies)
    ]
    stage = LocalStage(build_stage(settings, "clean"), settings.max_message_bytes, threaded=False)
    metrics = StageMetrics("clean", CollectorRegistry())

    def runner(tracer: StageTracer | None) -> StageRunner:
        limits = (settings.article_timeout, settings.max_message_bytes)
        return StageRunner(stage, metrics, *limits, tracer)

    off = runner(None)
    tracer = StageTracer("clean", console_provider("clean", devnull))
    on = runner(tracer)
    await run(off, messages, settings.batch_size)  # warm-up: lazy loads and caches
    await run(on, messages, settings.batch_size)
    size = settings.batch_size
    batches = [messages[start : start + size] for start in range(0, len(messages), size)]
    results = [await off.process(batch) for batch in batches]
    timings: dict[str, list[float]] = {"off": [], "on": [], "alone": []}
    for _ in range(args.rounds):
        timings["off"].append(await run(off, messages, settings.batch_size))
        timings["on"].append(await run(on, messages, settings.batch_size))
        timings["alone"].append(tracer_alone(tracer, batches, results))
    tracer.close()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; clean stage, {len(messages)} articles "
        f"({len(raw)} samples × {args.copies}) in batches of {settings.batch_size}; medians of "
        f"{args.rounds} rounds"
    )
    off_us = statistics.median(timings["off"]) * 1e6
    on_us = statistics.median(timings["on"]) * 1e6
    diffs = [(b - a) * 1e6 for a, b in zip(timings["off"], timings["on"], strict=True)]
    print(f"tracing off: {off_us:,.1f} µs per article")
    print(f"tracing on:  {on_us:,.1f} µs per article")
    print(
        f"cost of a span per article: {statistics.median(diffs):,.1f} µs (median of the rounds' "
        f"differences), {statistics.median(diffs) / off_us:.1%} of the clean stage's work"
    )
    alone_us = statistics.median(timings["alone"]) * 1e6
    print(f"the tracer's own work alone: {alone_us:,.1f} µs per article")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="Rounds, each with and without.")
    parser.add_argument("--copies", type=int, default=20, help="Times the samples are sent.")
    args = parser.parse_args()
    with open(os.devnull, "w") as devnull:
        asyncio.run(measure(args, devnull))


if __name__ == "__main__":
    main()
