"""End-to-end throughput, start-up, memory and latency on the embedded broker, against the raw
spaCy NER ceiling, as a new user would see them.

Each round, on fresh topics: N articles are pushed to the raw topic (4 partitions), then
`wirestream worker` processes are launched, as commands: one full worker, and then one full
worker plus a second `wirestream worker --stages ner`. Start-up is launch to the first enriched
event; once the backlog is through, the same articles are pushed again, and the steady rate is
their number over the time from the first push to the last enriched event; peak RSS is the sum
of the peaks of every process of a worker's tree. In the same round, on the same cleaned texts,
spaCy's `nlp.pipe` with the same components and no Kafka runs in one process, and in two
processes at once on half the texts each: the 1- and 2-process ceilings.
Medians of the rounds; each ratio is taken within a round. Last, latency at half load: one full
worker is offered articles one at a time at half its median steady rate; latency is the enriched
message's broker timestamp minus the raw message's.

    python bench/throughput.py [CORPUS ...] [--articles N] [--rounds R] [--latency-articles M]

CORPUS: .csv files with `title`/`text` columns (Wikinews), or anything `wirestream produce`
reads. Default: the full-text Wikinews articles under ../shared/data/wikinews-full/.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaProducer  # noqa: E402

from pipeline import codec  # noqa: E402
from pipeline.broker import EMBEDDED_SESSION_TIMEOUT, EmbeddedBroker  # noqa: E402
from pipeline.kafka import ensure_topics, producer_options  # noqa: E402
from pipeline.producer import end_offsets, produce, read_topics  # noqa: E402
from pipeline.settings import ENV_PREFIX, Settings  # noqa: E402
from pipeline.sources import read_sources  # noqa: E402
from pipeline.stages.ner import load_nlp  # noqa: E402

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


def on_topics(base: Settings, tag: str) -> Settings:
    """The settings with topics and consumer groups of their own."""
    return base.replace(
        app_prefix=f"bench-{tag}",
        topic_raw=f"raw-{tag}",
        topic_dedup=f"dedup-{tag}",
        topic_dedup_index=f"dedup-index-{tag}",
        topic_clean=f"clean-{tag}",
        topic_entities=f"entities-{tag}",
        topic_enriched=f"enriched-{tag}",
        topic_dlq=f"dlq-{tag}",
    )


def launch(settings: Settings, stages: str, log: Path, n: int = 0) -> subprocess.Popen[bytes]:
    """`wirestream worker` as a command, with its own data directory."""
    own = settings.replace(stages=tuple(stages.split(",")), data_dir=settings.data_dir / str(n))
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for name, value in own.as_strings().items():
        env[ENV_PREFIX + name.upper()] = value
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline", "worker"],
            env=env,
            stdout=output,
            stderr=output,
            stdin=subprocess.DEVNULL,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
    base: Settings, articles: list[dict], tag: str, workers: list[str], log: Path
) -> Run:
    """Push the articles, launch the workers and time their first enriched event (start-up);
    then, once they are through, push the articles again and time them all through (the steady
    rate, pipeline fill included); stop the workers."""
    settings = on_topics(base, tag)
    await ensure_topics(settings)
    await produce(settings, [{**a, "id": f"{tag}-{i}"} for i, a in enumerate(articles)])
    launched = time.perf_counter()
    processes = [launch(settings, stages, log, n) for n, stages in enumerate(workers)]
    peaks = [0.0] * len(processes)
    try:
        backlog = await enriched(settings, len(articles))
        startup = backlog[0][0] - launched
        offsets = await end_offsets(settings, [settings.topic_enriched])
        pushed = time.perf_counter()
        await produce(settings, [{**a, "id": f"{tag}-again-{i}"} for i, a in enumerate(articles)])
        steady = await enriched(settings, len(articles), offsets)
        peaks = [tree_peak_mib(p.pid) for p in processes]
    finally:
        for process in processes:
            stop(process)
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


async def latency_run(base: Settings, articles: list[dict], rate: float, log: Path) -> list[float]:
    """Raw-to-enriched latencies (ms) of articles offered one at a time at ``rate`` per second
    to a full worker that has started and caught up."""
    settings = on_topics(base, "latency")
    await ensure_topics(settings)
    process = launch(settings, "clean,ner,classify", log)
    try:
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
        async with asyncio.timeout(1800):
            async for record in read_topics(settings, [settings.topic_enriched]):
                key = (record.key or b"").decode()
                if key in sent:
                    latencies.append(record.timestamp_ms - sent[key] * 1000)
                if len(latencies) >= len(articles):
                    break
        await offering
        await producer.stop()
    finally:
        stop(process)
    return sorted(latencies)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", nargs="*", type=Path, default=[DEFAULT_CORPUS])
    parser.add_argument("--articles", type=int, default=200, help="articles per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-articles", type=int, default=60)
    args = parser.parse_args()

    corpus = load_corpus(args.corpus)
    if not corpus:
        sys.exit(f"no articles found in {', '.join(map(str, args.corpus))}")
    articles = (corpus * (args.articles // len(corpus) + 1))[: args.articles]
    print(f"machine: {machine()}")
    sources = ", ".join(map(str, args.corpus))
    print(f"corpus: {len(corpus)} articles from {sources}")
    print(f"{len(articles)} articles per round, {args.rounds} rounds")

    workdir = Path(tempfile.mkdtemp(prefix="wirestream-bench-"))
    log = workdir / "workers.log"
    rows = []
    with EmbeddedBroker(log=workdir / "broker.log") as broker:
        base = Settings.load(
            {
                "broker": broker.url,
                "session_timeout": EMBEDDED_SESSION_TIMEOUT,
                "idempotence": False,  # the embedded broker has no idempotent writes
                "metrics_port": 0,
                "data_dir": workdir / "state",
            },
            env={},
        )
        nlp = load_nlp(base.spacy_model)
        for r in range(args.rounds):
            one = await run_workers(base, articles, f"one-{r}", ["clean,ner,classify"], log)
            two = await run_workers(base, articles, f"two-{r}", ["clean,ner,classify", "ner"], log)
            c1 = ceiling_1(nlp, one.texts, base.batch_size)
            c2 = ceiling_2(base.spacy_model, one.texts, base.batch_size)
            rows.append((one, two, c1, c2))
            print(
                f"round {r + 1}: one worker {one.steady:.1f} art/s / ceiling {c1:.1f} = "
                f"{one.steady / c1:.2f}, start-up {one.startup:.1f} s, peak RSS "
                f"{one.peaks[0]:.0f} MiB; with a NER worker {two.steady:.1f} / 2-process "
                f"ceiling {c2:.1f} = {two.steady / c2:.2f}, NER worker {two.peaks[1]:.0f} MiB"
            )
        half = statistics.median(one.steady for one, *_ in rows) / 2
        latencies = await latency_run(base, corpus[: args.latency_articles], half, log)

    def median(values) -> float:
        return statistics.median(values)

    print()
    print(f"medians of {args.rounds} rounds (ratios taken within each round):")
    print("| system | steady art/s | ÷ ceiling | start-up s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    print(
        f"| raw `nlp.pipe`, NER only, 1 / 2 processes | {median(r[2] for r in rows):.1f} / "
        f"{median(r[3] for r in rows):.1f} | 1.00 | – | – |"
    )
    print(
        f"| `wirestream worker` (all stages) | {median(r[0].steady for r in rows):.1f} | "
        f"{median(r[0].steady / r[2] for r in rows):.2f} of 1-process | "
        f"{median(r[0].startup for r in rows):.1f} | {median(r[0].peaks[0] for r in rows):.0f} |"
    )
    print(
        f"| the same + `wirestream worker --stages ner` | {median(r[1].steady for r in rows):.1f}"
        f" | {median(r[1].steady / r[3] for r in rows):.2f} of 2-process | "
        f"{median(r[1].startup for r in rows):.1f} | "
        f"{median(r[1].peaks[0] for r in rows):.0f} + {median(r[1].peaks[1] for r in rows):.0f} |"
    )
    print(
        f"\nlatency at half load ({half:.1f} articles/s offered, {len(latencies)} articles, "
        f"raw to enriched broker timestamps): p50 {percentile(latencies, 0.5):.0f} ms, "
        f"p95 {percentile(latencies, 0.95):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
        f"max {latencies[-1]:.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
