"""Latency of a quiet stream, per hop, on the embedded broker: `fetch_max_wait` A/B.

A worker runs every stage; articles (the samples, as `wirestream produce` reads them) are pushed
one at a time, each after the previous one came out, so no batch ever fills. Per article, each
hop's latency is the timestamp of the message it wrote minus that of the message it read (each
set when it was sent; one machine, one clock). Two settings of `fetch_max_wait` run in turn on
the same broker, rounds alternating: faust's own 1.5 s and Wirestream's default.

    python bench/latency.py [PATH ...] [--articles 11] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from throughput import machine  # noqa: E402

from pipeline.broker import EMBEDDED_SESSION_TIMEOUT, EmbeddedBroker  # noqa: E402
from pipeline.producer import produce, read_topics  # noqa: E402
from pipeline.runtime.supervisor import Supervisor  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.sources import read_sources  # noqa: E402

FAUST_FETCH_WAIT = 1.5


async def one_round(
    broker_url: str, fetch_wait: float, articles: list[dict], tag: str
) -> dict[str, list[int]]:
    """Per-hop latencies (ms) of ``articles`` pushed one by one through a fresh worker."""
    workdir = Path(tempfile.mkdtemp(prefix="wirestream-latency-"))
    settings = Settings.load(
        {
            "broker": broker_url,
            "session_timeout": EMBEDDED_SESSION_TIMEOUT,
            "idempotence": False,  # the embedded broker has no idempotent writes
            "metrics_port": 0,
            "data_dir": workdir,
            "app_prefix": f"latency-{tag}",
            "fetch_max_wait": fetch_wait,
        },
        env={},
    )
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

    with (workdir / "worker.log").open("w") as log:
        supervisor = Supervisor(settings, log_stream=log)
        await supervisor.start()
        watcher = asyncio.create_task(supervisor.supervise())
        follower = asyncio.create_task(follow())
        try:
            await supervisor.wait_ready(180)
            keys = []
            for number, article in enumerate(articles):
                key = f"{tag}-{number}"
                keys.append(key.encode())
                await produce(settings, [{**article, "id": key}])
                async with asyncio.timeout(60), arrived:
                    await arrived.wait_for(
                        lambda: settings.topic_enriched in seen.get(keys[-1], {})
                    )
        finally:
            follower.cancel()
            await supervisor.stop()
            await watcher
    hops: dict[str, list[int]] = {}
    for before, after in itertools.pairwise(topics):
        hops[after] = [seen[k][after] - seen[k][before] for k in keys]
    hops["end to end"] = [seen[k][topics[-1]] - seen[k][topics[0]] for k in keys]
    return hops


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", type=Path, default=[REPO / "samples"])
    parser.add_argument("--articles", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    articles = [r.article for r in read_sources(args.paths) if r.article][: args.articles]
    defaults = Settings.load({}, env={})
    default_wait = defaults.fetch_max_wait
    print(f"machine: {machine()}")
    print(
        f"{len(articles)} articles pushed one at a time, {args.rounds} rounds per setting, "
        f"batch timeout {defaults.batch_timeout} s"
    )
    results: dict[float, dict[str, list[int]]] = {FAUST_FETCH_WAIT: {}, default_wait: {}}
    with EmbeddedBroker(log=Path(tempfile.mkdtemp()) / "broker.log") as broker:
        for round_no in range(args.rounds):
            for wait in (FAUST_FETCH_WAIT, default_wait)[:: 1 if round_no % 2 else -1]:
                started = time.perf_counter()
                tag = f"w{int(wait * 1000)}-r{round_no}"
                hops = await one_round(broker.url, wait, articles, tag)
                for hop, values in hops.items():
                    results[wait].setdefault(hop, []).extend(values)
                seconds = time.perf_counter() - started
                print(f"round {round_no + 1}, fetch_max_wait {wait} s: {seconds:.0f} s")
    for wait, hops in results.items():
        cells = ", ".join(
            f"{hop.removeprefix('articles.')} {statistics.median(values):.0f}"
            for hop, values in hops.items()
        )
        print(f"fetch_max_wait {wait} s, median ms per hop (topic written): {cells}")
    slow = statistics.median(results[FAUST_FETCH_WAIT]["end to end"])
    fast = statistics.median(results[default_wait]["end to end"])
    print(
        f"end-to-end median: {slow:.0f} ms with faust's 1.5 s, "
        f"{fast:.0f} ms with {default_wait} s (ratio {slow / fast:.1f})"
    )


if __name__ == "__main__":
    asyncio.run(main())
