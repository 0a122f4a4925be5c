"""End-to-end throughput through the embedded broker, against the raw spaCy ceiling.

Pushes a corpus through a running `wirestream worker` (all stages, one process each) on the
embedded broker and times raw-topic-in to enriched-topic-out. In the same run, on the same
cleaned texts, it times spaCy's `nlp.pipe` with the same components and no Kafka: the ceiling.
Rounds alternate pipeline and ceiling so machine drift hits both; medians are reported.

    python bench/throughput.py [CORPUS ...] [--articles N] [--rounds R]

CORPUS: .csv files with `title`/`text` columns (Wikinews), or anything `wirestream produce`
reads. Default: the full-text Wikinews articles under ../shared/data/wikinews-full/.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline import codec  # noqa: E402
from pipeline.broker import EMBEDDED_SESSION_TIMEOUT, EmbeddedBroker  # noqa: E402
from pipeline.producer import end_offsets, produce, read_topics  # noqa: E402
from pipeline.runtime.supervisor import Supervisor  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
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
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_pids(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="utf-8") as handle:
        return [int(child) for child in handle.read().split()]


def stage_peaks(pid: int) -> str:
    """Peak RSS of a stage process and of its code process (the child that holds the models)."""
    children = child_pids(pid)
    code = f" + code {max(peak_rss_mib(c) for c in children):.0f}" if children else ""
    return f"{peak_rss_mib(pid):.0f}{code} MiB"


async def pipeline_round(
    settings: Settings, articles: list[dict], tag: str
) -> tuple[float, list[str]]:
    batch = [{**a, "id": f"{tag}-{i}"} for i, a in enumerate(articles)]

    start_offsets = await end_offsets(settings, [settings.topic_enriched])
    started = time.perf_counter()
    await produce(settings, batch)
    texts: list[str] = []
    async with asyncio.timeout(900):
        async for record in read_topics(settings, [settings.topic_enriched], start=start_offsets):
            texts.append(codec.loads(record.value)["text"])
            if len(texts) >= len(batch):
                break
    return time.perf_counter() - started, texts


def ceiling_round(nlp, texts: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    with nlp.memory_zone():
        for _ in nlp.pipe(texts, batch_size=batch_size):
            pass
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", nargs="*", type=Path, default=[DEFAULT_CORPUS])
    parser.add_argument("--articles", type=int, default=200, help="articles per round")
    parser.add_argument("--rounds", type=int, default=3)
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
    with EmbeddedBroker(log=workdir / "broker.log") as broker:
        settings = Settings.load(
            {
                "broker": broker.url,
                "session_timeout": EMBEDDED_SESSION_TIMEOUT,
                "idempotence": False,  # the embedded broker has no idempotent writes
                "metrics_port": 0,
                "data_dir": workdir / "state",
                "app_prefix": "bench",
            },
        )
        nlp = load_nlp(settings.spacy_model)
        with (workdir / "workers.log").open("w") as log:
            supervisor = Supervisor(settings, log_stream=log)
            await supervisor.start()
            watcher = asyncio.create_task(supervisor.supervise())
            try:
                await supervisor.wait_ready(180)
                await pipeline_round(settings, articles[:20], "warmup")
                rows = []
                for round_no in range(args.rounds):
                    seconds, texts = await pipeline_round(settings, articles, f"r{round_no}")
                    ceiling = ceiling_round(nlp, texts, settings.batch_size)
                    rows.append((len(texts) / seconds, len(texts) / ceiling))
                    pipe_rate, raw_rate = rows[-1]
                    print(
                        f"round {round_no + 1}: pipeline {pipe_rate:.1f} articles/s, "
                        f"raw spaCy {raw_rate:.1f} articles/s, ratio {pipe_rate / raw_rate:.2f}"
                    )
                peaks = {
                    s.stage: stage_peaks(s.process.pid)
                    for s in supervisor.stages.values()
                    if s.process
                }
            finally:
                await supervisor.stop()
                watcher.cancel()
    pipe = statistics.median(r[0] for r in rows)
    ceil = statistics.median(r[1] for r in rows)
    ratio = statistics.median(r[0] / r[1] for r in rows)
    print(
        f"median: pipeline {pipe:.1f} articles/s, raw spaCy ceiling {ceil:.1f} articles/s, "
        f"ratio {ratio:.2f}"
    )
    print("peak RSS per stage process: " + ", ".join(f"{k} {v}" for k, v in peaks.items()))


if __name__ == "__main__":
    asyncio.run(main())
