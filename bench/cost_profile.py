"""Where a full worker's CPU goes: CPU seconds per article by process, bytes per article by topic.

A worker runs every stage on the embedded broker; after a warm-up, a fixed set of articles is
pushed and read back from the enriched topic. Each process's CPU time (user + system, from
``/proc`` through psutil) is read before and after, and divided by the articles. The dedup agent
shares the clean stage's process (and event loop); its line is the time it spent on its
articles there, from the worker's metrics, which the clean stage process's line includes. The
raw spaCy line is ``nlp.pipe`` over the same cleaned texts in this process, no Kafka: the NER
ceiling's cost.
Bytes are key plus value of the messages each topic received during the run.

    python bench/cost_profile.py [CORPUS ...] [--articles N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _common import in_process_worker  # noqa: E402
from throughput import DEFAULT_CORPUS, load_corpus, machine  # noqa: E402

from pipeline import codec  # noqa: E402
from pipeline.broker import EmbeddedBroker  # noqa: E402
from pipeline.producer import end_offsets, produce, read_topics  # noqa: E402
from pipeline.runtime.supervisor import Supervisor  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.stages.ner import load_nlp  # noqa: E402

# The supervisor runs in the bench's own process, with the producer and the reader of results.
BENCH_PROCESS = "supervisor + bench producer and reader"


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def worker_processes(broker: EmbeddedBroker, supervisor: Supervisor) -> dict[str, int]:
    """Process name -> pid: the broker, the supervisor, each stage process and its code."""
    pids = {"broker": broker.process.pid, BENCH_PROCESS: psutil.Process().pid}
    for stage in supervisor.stages.values():
        assert stage.process is not None
        pids[f"{stage.stage} stage process"] = stage.process.pid
        for child in psutil.Process(stage.process.pid).children():
            pids[f"{stage.stage} code process"] = child.pid
    return pids


def dedup_seconds(supervisor: Supervisor) -> float:
    """Seconds the dedup agent spent on articles so far (its per-article time histogram)."""
    for metric in supervisor.registry.collect():
        if metric.name == "wirestream_stage_seconds":
            for sample in metric.samples:
                if sample.name.endswith("_sum") and sample.labels.get("stage") == "dedup":
                    return sample.value
    return 0.0


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def topic_bytes(settings: Settings, start: dict, topics: list[str]) -> dict[str, int]:
    sizes: dict[str, int] = defaultdict(int)
    async for record in read_topics(settings, topics, start=start, idle_timeout=3.0):
        sizes[record.topic] += len(record.key or b"") + len(record.value or b"")
    return sizes


async def one_round(
    settings: Settings,
    broker: EmbeddedBroker,
    supervisor: Supervisor,
    articles: list[dict],
    tag: str,
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    topics = [
        settings.topic_raw,
        settings.topic_dedup,
        settings.topic_clean,
        settings.topic_entities,
        settings.topic_enriched,
        settings.topic_dlq,
        settings.topic_dedup_index,
    ]
    start = await end_offsets(settings, topics)
    pids = worker_processes(broker, supervisor)
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    dedup_before = dedup_seconds(supervisor)
    batch = [{**a, "id": f"{tag}-{i}"} for i, a in enumerate(articles)]
    enriched_start = {tp: o for tp, o in start.items() if tp.topic == settings.topic_enriched}
    texts: list[str] = []
    await produce(settings, batch)
    async with asyncio.timeout(900):
        async for record in read_topics(settings, [settings.topic_enriched], start=enriched_start):
            texts.append(codec.loads(record.value)["text"])
            if len(texts) >= len(batch):
                break
    # The last batch's commit and metrics: what the run cost, not what is still in flight.
    await asyncio.sleep(1.0)
    cpu = {name: (cpu_seconds(pid) - before[name]) / len(batch) for name, pid in pids.items()}
    cpu["dedup agent (in clean stage process)"] = (dedup_seconds(supervisor) - dedup_before) / len(
        batch
    )
    sizes = await topic_bytes(settings, start, topics)
    per_topic = {topic: sizes.get(topic, 0) / len(batch) for topic in topics}
    return cpu, per_topic, texts


def ceiling_cpu(nlp, texts: list[str], batch_size: int) -> float:
    process = psutil.Process()
    times = process.cpu_times()
    started = times.user + times.system
    with nlp.memory_zone():
        for _ in nlp.pipe(texts, batch_size=batch_size):
            pass
    times = process.cpu_times()
    return (times.user + times.system - started) / len(texts)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", nargs="*", type=Path, default=[DEFAULT_CORPUS])
    parser.add_argument("--articles", type=int, default=200, help="articles per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    corpus = load_corpus(args.corpus)
    articles = (corpus * (args.articles // len(corpus) + 1))[: args.articles]
    print(f"machine: {machine()}")
    print(f"{len(articles)} articles per round, {args.rounds} rounds, medians")
    workdir = Path(tempfile.mkdtemp(prefix="wirestream-profile-"))
    cpu_rounds: list[dict[str, float]] = []
    peaks: dict[str, float] = {}
    byte_rounds: list[dict[str, float]] = []
    ceiling: list[float] = []
    with EmbeddedBroker(log=workdir / "broker.log") as broker:
        settings = broker.settings_for(
            Settings.load(
                {
                    "metrics_port": 0,
                    "data_dir": workdir / "state",
                    "app_prefix": "profile",
                    # A shared machine's stalls must not kill a code process in the middle of a
                    # batch: that would be counted as the pipeline's cost.
                    "article_timeout": 300.0,
                },
                env={},
            )
        )
        nlp = load_nlp(settings.spacy_model)
        async with in_process_worker(settings, workdir / "workers.log") as supervisor:
            await one_round(settings, broker, supervisor, articles[:20], "warmup")
            for round_no in range(args.rounds):
                started = time.perf_counter()
                cpu, sizes, texts = await one_round(
                    settings, broker, supervisor, articles, f"r{round_no}"
                )
                print(f"round {round_no + 1}: {time.perf_counter() - started:.1f} s")
                cpu_rounds.append(cpu)
                byte_rounds.append(sizes)
                ceiling.append(ceiling_cpu(nlp, texts, settings.batch_size))
            pids = worker_processes(broker, supervisor)
            peaks = {name: peak_rss_mib(pid) for name, pid in pids.items()}

    print()
    print("| process | CPU ms per article | peak RSS MiB |")
    print("|---|---|---|")
    total = 0.0
    for name in cpu_rounds[0]:
        value = statistics.median(r[name] for r in cpu_rounds) * 1000
        if not name.startswith("dedup agent") and name != BENCH_PROCESS:
            total += value
        peak = f"{peaks[name]:.0f}" if name in peaks else "–"
        print(f"| {name} | {value:.1f} | {peak} |")
    print(f"| **worker and broker** (all but the bench's own process) | **{total:.1f}** | – |")
    raw = statistics.median(ceiling) * 1000
    print(f"| raw `nlp.pipe`, NER only (the ceiling's cost) | {raw:.1f} | – |")
    print(f"\nworker and broker / raw NER: {total / raw:.2f}")
    worker = sum(v for k, v in peaks.items() if k not in ("broker", BENCH_PROCESS))
    print(f"peak RSS of the worker's stage and code processes: {worker:.0f} MiB")
    print()
    print("| topic | bytes per article |")
    print("|---|---|")
    for topic in byte_rounds[0]:
        print(f"| {topic} | {statistics.median(r[topic] for r in byte_rounds):,.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
