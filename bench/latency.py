"""Latency of a quiet stream, per hop, on Tansu (the embedded broker), on Apache Kafka or
on both:
`fetch_max_wait` A/B.

A worker runs every stage; articles (the samples, as `wirestream produce` reads them) are pushed
one at a time, each after the previous one came out, so no batch ever fills. Per article, each
hop's latency is the timestamp of the message it wrote minus that of the message it read (each
set when it was sent; one machine, one clock). Two settings of `fetch_max_wait` run in turn on
the same broker, rounds alternating: faust's own 1.5 s and Wirestream's default. Each round has
topics of its own. With `--broker both` every round runs on both brokers (the order alternating
too). Apache Kafka is the three-node cluster `make kafka-up` started, else one started for the
run. A worker whose stages keep exiting ends the run with their exit codes and its log's end.

    python bench/latency.py [PATH ...] [--broker tansu|kafka|both] [--articles 11] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _common import (  # noqa: E402
    BROKERS,
    TANSU,
    Broker,
    WorkerDied,
    load_average,
    log_tail,
    on_topics,
    open_broker,
    unless,
)
from throughput import machine  # noqa: E402

from pipeline.producer import produce, read_topics  # noqa: E402
from pipeline.runtime.supervisor import Supervisor  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.sources import read_sources  # noqa: E402

FAUST_FETCH_WAIT = 1.5


async def stopped(supervisor: Supervisor, watcher: asyncio.Task, log: Path) -> NoReturn:
    """Raise `WorkerDied` once the supervisor has stopped: a stage kept exiting at start-up."""
    await asyncio.shield(watcher)
    codes = {s.stage: s.exit_codes for s in supervisor.stages.values() if s.exit_codes}
    raise WorkerDied(
        f"the worker stopped, its stages exiting before they were ready (exit codes {codes}); "
        f"the end of its log, {log}:\n{log_tail(log)}"
    )


async def one_round(
    base: Settings, fetch_wait: float, articles: list[dict], tag: str
) -> dict[str, list[int]]:
    """Per-hop latencies (ms) of ``articles`` pushed one by one through a fresh worker."""
    workdir = Path(tempfile.mkdtemp(prefix="wirestream-latency-"))
    settings = on_topics(base, tag).replace(data_dir=workdir, fetch_max_wait=fetch_wait)
    topics = [
        settings.topic_raw,
        settings.topic_dedup,
        settings.topic_clean,
        settings.topic_entities,
        settings.topic_enriched,
    ]
    seen: dict[bytes, dict[str, int]] = {}
    arrived = asyncio.Condition()

    async def follow() -> None:
        async for record in read_topics(settings, topics):
            async with arrived:
                seen.setdefault(record.key or b"", {})[record.topic] = record.timestamp_ms
                arrived.notify_all()

    async def push(keys: list[bytes]) -> None:
        for number, article in enumerate(articles):
            key = f"{tag}-{number}"
            keys.append(key.encode())
            await produce(settings, [{**article, "id": key}])
            async with asyncio.timeout(60), arrived:
                await arrived.wait_for(lambda: settings.topic_enriched in seen.get(keys[-1], {}))

    log = workdir / "worker.log"
    with log.open("w") as stream:
        supervisor = Supervisor(settings, log_stream=stream)
        await supervisor.start()
        watcher = asyncio.create_task(supervisor.supervise())
        follower = asyncio.create_task(follow())
        keys: list[bytes] = []
        try:
            await supervisor.wait_ready(180)
            await unless(push(keys), stopped(supervisor, watcher, log))
        finally:
            follower.cancel()
            await supervisor.stop()
            await watcher
    hops: dict[str, list[int]] = {}
    for before, after in itertools.pairwise(topics):
        hops[after.removeprefix(f"{settings.app_prefix}-")] = [
            seen[k][after] - seen[k][before] for k in keys
        ]
    hops["end to end"] = [seen[k][topics[-1]] - seen[k][topics[0]] for k in keys]
    return hops


async def measure(
    brokers: list[Broker], articles: list[dict], rounds: int
) -> dict[tuple[str, float], dict[str, list[int]]]:
    """Per-hop latencies by (broker, fetch_max_wait), every round on every broker."""
    run = uuid.uuid4().hex[:8]  # topics of this run's own on a cluster that outlives it
    default_wait = Settings.load({}, env={}).fetch_max_wait
    results: dict[tuple[str, float], dict[str, list[int]]] = {}
    for round_no in range(rounds):
        step = 1 if round_no % 2 else -1
        for broker in brokers[::step]:
            base = broker.settings_for(
                Settings.load({"app_prefix": f"latency-{run}", "metrics_port": 0}, env={})
            )
            for wait in (FAUST_FETCH_WAIT, default_wait)[::step]:
                started = time.perf_counter()
                tag = f"{broker.kind}-w{int(wait * 1000)}-r{round_no}"
                hops = await one_round(base, wait, articles, tag)
                for hop, values in hops.items():
                    results.setdefault((broker.kind, wait), {}).setdefault(hop, []).extend(values)
                seconds = time.perf_counter() - started
                shown = f"{broker.kind}, fetch_max_wait {wait} s"
                print(f"round {round_no + 1}, {shown}: {seconds:.0f} s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", type=Path, default=[REPO / "samples"])
    parser.add_argument("--broker", choices=(*BROKERS, "both"), default=TANSU)
    parser.add_argument("--articles", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    articles = [r.article for r in read_sources(args.paths) if r.article][: args.articles]
    defaults = Settings.load({}, env={})
    default_wait = defaults.fetch_max_wait
    print(f"machine: {machine()}")
    print(f"{load_average()} at the start")
    print(
        f"{len(articles)} articles pushed one at a time, {args.rounds} rounds per setting, "
        f"batch timeout {defaults.batch_timeout} s"
    )
    kinds = BROKERS if args.broker == "both" else (args.broker,)
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="wirestream-latency-"))
        brokers = [stack.enter_context(open_broker(kind, workdir)) for kind in kinds]
        for broker in brokers:
            print(f"broker {broker.kind}: {broker.description}", flush=True)
        try:
            results = asyncio.run(measure(brokers, articles, args.rounds))
        except WorkerDied as exc:
            sys.exit(f"error: {exc}")
    for (kind, wait), hops in results.items():
        cells = ", ".join(f"{hop} {statistics.median(values):.0f}" for hop, values in hops.items())
        print(f"{kind}, fetch_max_wait {wait} s, median ms per hop (topic written): {cells}")
    end_to_end = {key: statistics.median(hops["end to end"]) for key, hops in results.items()}
    for broker in brokers:
        slow, fast = (
            end_to_end[broker.kind, FAUST_FETCH_WAIT],
            end_to_end[broker.kind, default_wait],
        )
        print(
            f"{broker.kind}, end-to-end median: {slow:.0f} ms with faust's 1.5 s, "
            f"{fast:.0f} ms with {default_wait} s (ratio {slow / fast:.1f})"
        )
    if len(brokers) == 2:
        first, second = (b.kind for b in brokers)
        ratio = end_to_end[second, default_wait] / end_to_end[first, default_wait]
        print(f"{second} / {first}, end-to-end median with {default_wait} s: {ratio:.2f}")
    print(f"{load_average()} at the end")


if __name__ == "__main__":
    main()
