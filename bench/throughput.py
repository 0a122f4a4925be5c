"""End-to-end throughput, start-up, memory and latency on Tansu (the embedded broker), on Apache
Kafka or on both, against the raw spaCy NER ceiling, as a new user would see them.

Each round, on fresh topics: N articles are pushed to the raw topic (4 partitions), then
`wirestream worker` processes are launched, as commands: one full worker, and then one full
worker plus a second `wirestream worker --stages ner`. Start-up is launch to the first enriched
event; once the backlog is through, the same articles are pushed again, and the steady rate is
their number over the time from the first push to the last enriched event; peak RSS is the sum
of the peaks of every process of a worker's tree. In the same round, on the same cleaned texts,
spaCy's `nlp.pipe` with the same components, in the NER stage's groups of texts and with no
Kafka, runs in one process, and in two processes at once on half the texts each: the 1- and
2-process ceilings, which no broker is part of. With `--broker both` each round runs the
workers on both brokers (the order alternating between rounds) and the ceilings once.
Medians of the rounds; each ratio is taken within a round. Last, latency at half load: one full
worker is offered articles one at a time at half its median steady rate (with both brokers,
half the slower one's, on each); latency is the enriched message's broker timestamp minus the
raw message's. A worker that exits ends the run with its exit status and the end of its log.

Apache Kafka is the three-node cluster `make kafka-up` started, else one started for the run.

    python bench/throughput.py [CORPUS ...] [--broker tansu|kafka|both] [--articles N]
        [--rounds R] [--latency-articles M]

CORPUS: .csv files with `title`/`text` columns (Wikinews), or anything `wirestream produce`
reads. Default: the full-text Wikinews articles under ../shared/data/wikinews-full/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
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
    median,
    on_topics,
    open_broker,
    unless,
)
from aiokafka import AIOKafkaProducer  # noqa: E402

from pipeline import codec  # noqa: E402
from pipeline.kafka import ensure_topics, producer_options  # noqa: E402
from pipeline.producer import end_offsets, produce, read_topics  # noqa: E402
from pipeline.settings import ENV_PREFIX, Settings  # noqa: E402
from pipeline.sources import read_sources  # noqa: E402
from pipeline.stages.ner import SPACY_BATCH, load_nlp  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "wikinews-full"


def load_corpus(paths: list[Path]) -> list[dict]:
    articles: list[dict] = []
    for path in paths:
        files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
        for file in files:
            if file.suffix == ".csv":
                with file.open(encoding="utf-8", newline="") as handle:
                    for row in csv.DictReader(handle):
                        if row.get("text", "").strip():
                            articles.append(
                                {
                                    "title": row.get("title"),
                                    "body": row["text"],
                                    "url": row.get("url"),
                                }
                            )
            else:
                articles.extend(r.article for r in read_sources([file]) if r.article)
    return articles


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as handle:
        mem_kb = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
    python = platform.python_version()
    return f"{os.cpu_count()} cores, {cpu}, {mem_kb / 1024**2:.0f} GiB RAM, Python {python}"


def peak_rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_tree(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="utf-8") as handle:
            children = [int(child) for child in handle.read().split()]
    except OSError:
        return [pid]
    return [pid, *(p for child in children for p in process_tree(child))]


def tree_peak_mib(pid: int) -> float:
    """The sum of the peak RSS of every process of a worker's tree."""
    return sum(peak_rss_mib(p) for p in process_tree(pid))


@dataclass
class Worker:
    """A `wirestream worker` command launched by the benchmark, with its own log."""

    process: subprocess.Popen[bytes]
    stages: str
    log: Path


def launch(settings: Settings, stages: str, log: Path, n: int = 0) -> Worker:
    """`wirestream worker` as a command, with its own data directory."""
    own = settings.replace(stages=tuple(stages.split(",")), data_dir=settings.data_dir / str(n))
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for name, value in own.as_strings().items():
        env[ENV_PREFIX + name.upper()] = value
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "worker"],
            env=env,
            stdout=output,
            stderr=output,
            stdin=subprocess.DEVNULL,
        )
    return Worker(process, stages, log)


async def exits(workers: Sequence[Worker]) -> NoReturn:
    """Raise `WorkerDied` as soon as one of ``workers`` has exited: nothing it was to process
    will come, so waiting on would only run into the benchmark's time limit."""
    while True:
        for worker in workers:
            code = worker.process.poll()
            if code is not None:
                raise WorkerDied(
                    f"`wirestream worker --stages {worker.stages}` (pid {worker.process.pid}) "
                    f"exited with {code}; the end of its log, {worker.log}:\n"
                    + log_tail(worker.log)
                )
        await asyncio.sleep(0.5)


def stop(worker: Worker) -> None:
    worker.process.send_signal(signal.SIGTERM)
    try:
        worker.process.wait(30)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()


@dataclass
class Run:
    startup: float  # launch to the first enriched event, seconds
    steady: float  # articles/s after the first
    peaks: list[float]  # MiB per worker tree
    texts: list[str]


async def enriched(settings: Settings, count: int, start: dict | None = None) -> list[tuple]:
    """(arrival time, text) of the next ``count`` enriched events from ``start``."""
    out = []
    async with asyncio.timeout(1800):
        async for record in read_topics(settings, [settings.topic_enriched], start=start):
            out.append((time.perf_counter(), codec.loads(record.value)["text"]))
            if len(out) >= count:
                return out
    return out


async def run_workers(
    base: Settings, articles: list[dict], tag: str, workers: list[str], logs: Path
) -> Run:
    """Push the articles, launch the workers and time their first enriched event (start-up);
    then, once they are through, push the articles again and time them all through (the steady
    rate, pipeline fill included); stop the workers. A worker that exits ends the run with
    `WorkerDied`."""
    settings = on_topics(base, tag)
    await ensure_topics(settings)
    await produce(settings, [{**a, "id": f"{tag}-{i}"} for i, a in enumerate(articles)])
    launched = time.perf_counter()
    running = [
        launch(settings, stages, logs / f"{tag}-{n}.log", n) for n, stages in enumerate(workers)
    ]
    try:
        backlog = await unless(enriched(settings, len(articles)), exits(running))
        startup = backlog[0][0] - launched
        offsets = await end_offsets(settings, [settings.topic_enriched])
        pushed = time.perf_counter()
        await produce(settings, [{**a, "id": f"{tag}-again-{i}"} for i, a in enumerate(articles)])
        steady = await unless(enriched(settings, len(articles), offsets), exits(running))
        peaks = [tree_peak_mib(w.process.pid) for w in running]
    finally:
        for worker in running:
            stop(worker)
    rate = len(steady) / (steady[-1][0] - pushed)
    return Run(startup, rate, peaks, [text for _, text in steady])


def ceiling_1(nlp, texts: list[str], batch_size: int) -> float:
    """Articles/s of `nlp.pipe` in this process."""
    started = time.perf_counter()
    with nlp.memory_zone():
        for _ in nlp.pipe(texts, batch_size=batch_size):
            pass
    return len(texts) / (time.perf_counter() - started)


_nlp = _barrier = None


def _load(model: str, barrier) -> None:
    global _nlp, _barrier
    _nlp, _barrier = load_nlp(model), barrier


def _timed_pipe(texts: list[str], batch_size: int) -> float:
    _barrier.wait()  # both processes loaded: start together
    started = time.perf_counter()
    with _nlp.memory_zone():
        for _ in _nlp.pipe(texts, batch_size=batch_size):
            pass
    return time.perf_counter() - started


def ceiling_2(model: str, texts: list[str], batch_size: int) -> float:
    """Articles/s of `nlp.pipe` in two processes at once, half the texts each."""
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    with ProcessPoolExecutor(
        2, mp_context=context, initializer=_load, initargs=(model, barrier)
    ) as pool:
        halves = [texts[0::2], texts[1::2]]
        times = list(pool.map(_timed_pipe, halves, [batch_size] * 2))
    return len(texts) / max(times)


async def latency_run(base: Settings, articles: list[dict], rate: float, logs: Path) -> list[float]:
    """Raw-to-enriched latencies (ms) of articles offered one at a time at ``rate`` per second
    to a full worker that has started and caught up."""
    settings = on_topics(base, "latency")
    await ensure_topics(settings)
    worker = launch(settings, "clean,ner,classify", logs / "latency.log")
    try:
        return await unless(offered(settings, articles, rate), exits([worker]))
    finally:
        stop(worker)


async def offered(settings: Settings, articles: list[dict], rate: float) -> list[float]:
    await produce(settings, [{**articles[0], "id": "latency-warmup"}])
    async with asyncio.timeout(600):
        async for _ in read_topics(settings, [settings.topic_enriched]):
            break
    sent: dict[str, float] = {}
    producer = AIOKafkaProducer(**producer_options(settings))
    await producer.start()

    async def offer() -> None:
        started = time.perf_counter()
        for n, article in enumerate(articles):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            key = f"latency-{n}"
            sent[key] = time.time()
            value = codec.dumps({**article, "id": key})
            await producer.send_and_wait(settings.topic_raw, value, key=key.encode())

    offering = asyncio.create_task(offer())
    latencies: list[float] = []
    try:
        async with asyncio.timeout(1800):
            async for record in read_topics(settings, [settings.topic_enriched]):
                key = (record.key or b"").decode()
                if key in sent:
                    latencies.append(record.timestamp_ms - sent[key] * 1000)
                if len(latencies) >= len(articles):
                    break
        await offering
    finally:
        offering.cancel()
        await producer.stop()
    return sorted(latencies)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


@dataclass
class Round:
    runs: dict[str, tuple[Run, Run]]  # by broker: one full worker; the same plus a NER worker
    c1: float  # the 1- and 2-process ceilings, articles/s
    c2: float


async def measure(
    brokers: list[Broker], articles: list[dict], latency_articles: list[dict], rounds: int,
    workdir: Path,
) -> tuple[list[Round], float, dict[str, list[float]]]:  # fmt: skip
    """The rounds (the brokers' order alternating), then latency at half load on each broker
    at the same offered rate: half the slowest broker's median rate of one full worker."""
    run = uuid.uuid4().hex[:8]  # topics of this run's own on a cluster that outlives it
    bases = {}
    for broker in brokers:
        (workdir / broker.kind).mkdir()
        bases[broker.kind] = broker.settings_for(
            Settings.load(
                {
                    "app_prefix": f"bench-{run}",
                    "metrics_port": 0,
                    "data_dir": workdir / broker.kind / "state",
                },
                env={},
            )
        )
    # The ceilings run spaCy in groups of texts as the NER stage does.
    model, batch_size = bases[brokers[0].kind].spacy_model, SPACY_BATCH
    nlp = load_nlp(model)
    results = []
    for r in range(rounds):
        runs = {}
        for broker in brokers[:: 1 if r % 2 == 0 else -1]:
            base, logs = bases[broker.kind], workdir / broker.kind
            one = await run_workers(base, articles, f"one-{r}", ["clean,ner,classify"], logs)
            two = await run_workers(base, articles, f"two-{r}", ["clean,ner,classify", "ner"], logs)
            runs[broker.kind] = (one, two)
        texts = next(iter(runs.values()))[0].texts
        result = Round(runs, ceiling_1(nlp, texts, batch_size), ceiling_2(model, texts, batch_size))
        results.append(result)
        for kind, (one, two) in result.runs.items():
            print(
                f"round {r + 1}, {kind}: one worker {one.steady:.1f} art/s / ceiling "
                f"{result.c1:.1f} = {one.steady / result.c1:.2f}, start-up {one.startup:.1f} s, "
                f"peak RSS {one.peaks[0]:.0f} MiB; with a NER worker {two.steady:.1f} / "
                f"2-process ceiling {result.c2:.1f} = {two.steady / result.c2:.2f}, NER worker "
                f"{two.peaks[1]:.0f} MiB",
                flush=True,
            )
    half = min(median(r.runs[b.kind][0].steady for r in results) for b in brokers) / 2
    latencies = {}
    for broker in brokers:
        latencies[broker.kind] = await latency_run(
            bases[broker.kind], latency_articles, half, workdir / broker.kind
        )
    return results, half, latencies


def report(
    brokers: list[Broker], rounds: list[Round], half: float, latencies: dict[str, list[float]]
) -> None:
    print()
    print(f"medians of {len(rounds)} rounds (ratios taken within each round):")
    print("| system | steady art/s | ÷ ceiling | start-up s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    print(
        f"| raw `nlp.pipe`, NER only, 1 / 2 processes | {median(r.c1 for r in rounds):.1f} / "
        f"{median(r.c2 for r in rounds):.1f} | 1.00 | – | – |"
    )
    for broker in brokers:
        ones = [r.runs[broker.kind][0] for r in rounds]
        twos = [r.runs[broker.kind][1] for r in rounds]
        print(
            f"| {broker.kind}: `wirestream worker` (all stages) | "
            f"{median(o.steady for o in ones):.1f} | "
            f"{median(r.runs[broker.kind][0].steady / r.c1 for r in rounds):.2f} of 1-process | "
            f"{median(o.startup for o in ones):.1f} | {median(o.peaks[0] for o in ones):.0f} |"
        )
        print(
            f"| {broker.kind}: the same + `wirestream worker --stages ner` | "
            f"{median(t.steady for t in twos):.1f} | "
            f"{median(r.runs[broker.kind][1].steady / r.c2 for r in rounds):.2f} of 2-process | "
            f"{median(t.startup for t in twos):.1f} | "
            f"{median(t.peaks[0] for t in twos):.0f} + {median(t.peaks[1] for t in twos):.0f} |"
        )
    if len(brokers) == 2:
        first, second = (b.kind for b in brokers)
        ratios = [
            median(r.runs[second][k].steady / r.runs[first][k].steady for r in rounds)
            for k in (0, 1)
        ]
        print(
            f"\n{second} / {first}, median of the rounds' ratios: one worker {ratios[0]:.2f}, "
            f"with a NER worker {ratios[1]:.2f}"
        )
    print()
    for broker in brokers:
        values = latencies[broker.kind]
        print(
            f"{broker.kind}: latency at half load ({half:.1f} articles/s offered, {len(values)} "
            f"articles, raw to enriched broker timestamps): p50 {percentile(values, 0.5):.0f} ms, "
            f"p95 {percentile(values, 0.95):.0f} ms, p99 {percentile(values, 0.99):.0f} ms, "
            f"max {values[-1]:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", nargs="*", type=Path, default=[DEFAULT_CORPUS])
    parser.add_argument("--articles", type=int, default=200, help="articles per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-articles", type=int, default=60)
    parser.add_argument("--broker", choices=(*BROKERS, "both"), default=TANSU)
    args = parser.parse_args()

    corpus = load_corpus(args.corpus)
    if not corpus:
        sys.exit(f"no articles found in {', '.join(map(str, args.corpus))}")
    articles = (corpus * (args.articles // len(corpus) + 1))[: args.articles]
    print(f"machine: {machine()}")
    print(f"{load_average()} at the start")
    sources = ", ".join(map(str, args.corpus))
    print(f"corpus: {len(corpus)} articles from {sources}")
    print(f"{len(articles)} articles per round, {args.rounds} rounds")

    workdir = Path(tempfile.mkdtemp(prefix="wirestream-bench-"))
    kinds = BROKERS if args.broker == "both" else (args.broker,)
    with contextlib.ExitStack() as stack:
        brokers = [stack.enter_context(open_broker(kind, workdir)) for kind in kinds]
        for broker in brokers:
            print(f"broker {broker.kind}: {broker.description}", flush=True)
        try:
            rounds, half, latencies = asyncio.run(
                measure(brokers, articles, corpus[: args.latency_articles], args.rounds, workdir)
            )
        except WorkerDied as exc:
            sys.exit(f"error: {exc}")
    report(brokers, rounds, half, latencies)
    print(f"{load_average()} at the end")


if __name__ == "__main__":
    main()
