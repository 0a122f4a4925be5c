"""The throughput cost of exactly-once against at-least-once, on Apache Kafka.

Two workers (all stages, one process each) run side by side on the three-node cluster that
`make kafka-up` started (else one started for the run), one per processing guarantee, each with
its own topics and groups. Each round pushes the same articles through one, then the other (the
order alternates between rounds, so that machine drift hits both), and times raw-topic-in to
the last enriched event out, read as a consumer of that guarantee reads (`read_committed` in
exactly-once). Medians of the rounds and their ratio are printed.

Bodies are cut to their first ``--chars`` characters (a news lead): what exactly-once adds is a
cost per batch (a transaction per input partition), which shows best where NER is quick.

    python bench/exactly_once.py [CORPUS ...] [--articles N] [--rounds R] [--chars C]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _common import KAFKA_SESSION_TIMEOUT, in_process_worker, kafka_cluster  # noqa: E402
from throughput import DEFAULT_CORPUS, load_corpus, machine  # noqa: E402

from pipeline import codec  # noqa: E402
from pipeline.cluster import KafkaCluster  # noqa: E402
from pipeline.producer import end_offsets, produce, read_topics  # noqa: E402
from pipeline.settings import PROCESSING_GUARANTEES, Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", nargs="*", type=Path, default=[DEFAULT_CORPUS])
    parser.add_argument("--articles", type=int, default=300, help="articles per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chars", type=int, default=600, help="characters kept of each body")
    args = parser.parse_args()

    corpus = [{**a, "body": a["body"][: args.chars]} for a in load_corpus(args.corpus)]
    if not corpus:
        sys.exit(f"no articles found in {', '.join(map(str, args.corpus))}")
    articles = (corpus * (args.articles // len(corpus) + 1))[: args.articles]
    print(f"machine: {machine()} (shared with other work while measured)")
    print(
        f"{len(articles)} articles per round (bodies cut to {args.chars} characters), "
        f"{args.rounds} rounds, each guarantee in turn"
    )
    with kafka_cluster() as kafka:
        print(f"broker: Apache Kafka, {len(kafka.nodes)} nodes at {kafka.url}")
        rates = asyncio.run(measure(kafka, articles, args.rounds))
    alo, eos = (statistics.median(rates[g]) for g in PROCESSING_GUARANTEES)
    per_round = statistics.median(e / a for a, e in zip(*rates.values(), strict=True))
    print(
        f"median: at-least-once {alo:.1f} articles/s, exactly-once {eos:.1f} articles/s, "
        f"ratio exactly-once/at-least-once {eos / alo:.2f} (median of the rounds' ratios "
        f"{per_round:.2f})"
    )


def guarantee_settings(kafka: KafkaCluster, guarantee: str, workdir: Path) -> Settings:
    """Settings of one guarantee's worker: its own topics, groups and state."""
    tag = guarantee.replace("-", "")
    topics = {
        f"topic_{name}": f"bench-{tag}-{name}"
        for name in ("raw", "clean", "entities", "enriched", "dlq", "dedup")
    }
    return Settings.load(
        {
            "broker": kafka.url,
            "processing_guarantee": guarantee,
            "replication_factor": kafka.replication,
            "min_insync_replicas": kafka.min_insync,
            "session_timeout": KAFKA_SESSION_TIMEOUT,
            "metrics_port": 0,
            "data_dir": workdir / tag,
            "app_prefix": f"bench-{tag}",
            "topic_dedup_index": f"bench-{tag}-dedup-index",
            **topics,
        },
        env={},
    )


async def pipeline_round(
    settings: Settings, articles: list[dict], tag: str
) -> tuple[float, list[str]]:
    """Seconds from the first push to the last of the articles' enriched events, and their
    texts, read as a consumer of the settings' guarantee reads."""
    start = await end_offsets(settings, [settings.topic_enriched])
    started = time.perf_counter()
    await produce(settings, [{**a, "id": f"{tag}-{i}"} for i, a in enumerate(articles)])
    texts: list[str] = []
    async with asyncio.timeout(900):
        async for record in read_topics(settings, [settings.topic_enriched], start=start):
            texts.append(codec.loads(record.value)["text"])
            if len(texts) >= len(articles):
                break
    return time.perf_counter() - started, texts


async def measure(kafka: KafkaCluster, articles: list[dict], rounds: int) -> dict[str, list[float]]:
    """Articles per second of each guarantee, round by round."""
    workdir = Path(tempfile.mkdtemp(prefix="wirestream-bench-eos-"))
    settings = {g: guarantee_settings(kafka, g, workdir) for g in PROCESSING_GUARANTEES}
    rates: dict[str, list[float]] = {guarantee: [] for guarantee in PROCESSING_GUARANTEES}
    async with contextlib.AsyncExitStack() as stack:
        for guarantee, each in settings.items():
            await stack.enter_async_context(
                in_process_worker(each, workdir / f"{guarantee}.log", ready_timeout=300)
            )
            await pipeline_round(each, articles[:20], "warmup")
        for round_no in range(rounds):
            order = PROCESSING_GUARANTEES[:: 1 if round_no % 2 == 0 else -1]
            shown = []
            for guarantee in order:
                seconds, texts = await pipeline_round(settings[guarantee], articles, f"r{round_no}")
                rates[guarantee].append(len(texts) / seconds)
                shown.append(f"{guarantee} {rates[guarantee][-1]:.1f} articles/s")
            print(f"round {round_no + 1}: " + ", ".join(shown), flush=True)
    return rates


if __name__ == "__main__":
    main()
