"""What the duplicate check's hop costs: latency added per article, and the rate one dedup agent
sustains, on the embedded broker with a worker running the clean stage only.

The clean agent sends each article to the one-partition dedup topic; the dedup agent sends it on
to the clean topic. Per article, the hop's added latency is the clean-topic message's timestamp
minus the dedup-topic message's (each set when an agent sent it; one machine, one clock): the time
a direct send to the clean topic did not spend. Wikinews articles (read from the shared data
folder), in three runs:

- trickle: articles pushed one at a time, each after the previous one came out (a quiet stream);
- burst: every article pushed at once (a busy stream);
- drain: near-copies of the articles, cleaned here, written straight to the dedup topic while no
  worker runs; then a worker starts, and the dedup agent's rate is the articles it emitted over
  the time between its first and last output.

    .venv/bin/python bench/dedup_latency.py [--data ../shared/data/wikinews-full] [--trickle 40]
        [--drain 2000] [--batch-timeout 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import wikinews
from _common import in_process_worker
from aiokafka import AIOKafkaProducer

from pipeline import codec
from pipeline.broker import EmbeddedBroker
from pipeline.envelope import Incoming
from pipeline.events import Article
from pipeline.kafka import client_options
from pipeline.producer import produce, read_topics
from pipeline.runtime.supervisor import Supervisor
from pipeline.settings import Settings
from pipeline.stages.clean import CleanStage


class Timestamps:
    """Broker timestamps (ms) of every message on the watched topics, by key and topic."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen: dict[bytes, dict[str, int]] = defaultdict(dict)
        self._arrived = asyncio.Condition()

    async def follow(self) -> None:
        topics = [self.settings.topic_raw, self.settings.topic_dedup, self.settings.topic_clean]
        async for record in read_topics(self.settings, topics):
            async with self._arrived:
                self.seen[record.key or b""][record.topic] = record.timestamp_ms
                self._arrived.notify_all()

    async def wait_out(self, keys: list[bytes], within: float = 120) -> list[bytes]:
        """Wait until every key is on the clean topic; the keys still missing after ``within``."""
        clean = self.settings.topic_clean
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within), self._arrived:
                await self._arrived.wait_for(lambda: all(clean in self.seen[k] for k in keys))
        return [k for k in keys if clean not in self.seen[k]]

    def hop_ms(self, keys: list[bytes]) -> list[int]:
        dedup, clean = self.settings.topic_dedup, self.settings.topic_clean
        return [self.seen[k][clean] - self.seen[k][dedup] for k in keys]

    def total_ms(self, keys: list[bytes]) -> list[int]:
        raw, clean = self.settings.topic_raw, self.settings.topic_clean
        return [self.seen[k][clean] - self.seen[k][raw] for k in keys]


def supervisor_mean(supervisor: Supervisor, histogram: str, stage: str) -> float:
    labels = {"stage": stage}
    total = supervisor.registry.get_sample_value(f"{histogram}_sum", labels) or 0.0
    count = supervisor.registry.get_sample_value(f"{histogram}_count", labels) or 1.0
    return total / count


def describe(name: str, values: list[int]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"{name} median {statistics.median(values):.0f} ms, p90 {p90} ms"


def clean_copies(articles: list[wikinews.WikinewsArticle], count: int) -> list[tuple[bytes, bytes]]:
    """Clean-article events of near-copies (paragraphs rotated), as the clean agent makes them."""
    stage = CleanStage(1 << 20, detect_language=False)
    events = []
    for n in range(count):
        source = articles[n % len(articles)]
        turn = n // len(articles) % len(source.paragraphs)
        body = "\n\n".join(source.paragraphs[turn:] + source.paragraphs[:turn])
        raw = codec.dumps({"id": f"drain-{n}", "title": source.title, "body": body})
        [article] = stage.process([Incoming(raw, timestamp=1.7e9 + n)])
        if isinstance(article, Article):
            events.append((article.id.encode(), codec.dumps(article)))
    return events


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=wikinews.DEFAULT_DIR)
    parser.add_argument("--trickle", type=int, default=40, help="articles pushed one by one")
    parser.add_argument("--drain", type=int, default=2000, help="articles for the rate run")
    parser.add_argument("--batch-timeout", type=float, default=Settings().batch_timeout)
    args = parser.parse_args()
    articles = wikinews.load(args.data)
    raw = [{"title": a.title, "body": a.text} for a in articles]
    drain_events = clean_copies(articles, args.drain)

    workdir = Path(tempfile.mkdtemp(prefix="wirestream-dedup-bench-"))
    with EmbeddedBroker(log=workdir / "broker.log") as broker:
        settings = broker.settings_for(
            Settings.load(
                {
                    "stages": ("clean",),
                    "batch_timeout": args.batch_timeout,
                    "metrics_port": 0,
                    "data_dir": workdir / "state",
                    "app_prefix": "bench",
                },
                env={},
            )
        )
        print(
            f"{len(articles)} articles; batch size {settings.batch_size}, "
            f"batch timeout {settings.batch_timeout} s"
        )
        stamps = Timestamps(settings)
        async with in_process_worker(settings, workdir / "worker.log") as supervisor:
            follower = asyncio.create_task(stamps.follow())
            trickle = []
            for i in range(args.trickle):
                [key] = await produce(settings, [{**raw[i % len(raw)], "id": f"trickle-{i}"}])
                await stamps.wait_out([key])
                trickle.append(key)
            burst = await produce(settings, [{**a, "id": f"burst-{i}"} for i, a in enumerate(raw)])
            await stamps.wait_out(burst)
            processing = supervisor_mean(supervisor, "wirestream_stage_seconds", "dedup")
        for name, keys in (("trickle", trickle), ("burst", burst)):
            print(
                f"{name:8s} ({len(keys)} articles): "
                f"{describe('dedup hop', stamps.hop_ms(keys))}; "
                f"{describe('raw to clean topic', stamps.total_ms(keys))}"
            )
        print(f"         of which in the dedup agent's check: {processing * 1000:.2f} ms/article")

        producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=5)
        await producer.start()
        try:
            pending = [
                await producer.send(settings.topic_dedup, value, key=key)
                for key, value in drain_events
            ]
            await asyncio.gather(*pending)
        finally:
            await producer.stop()
        drain = [key for key, _ in drain_events]
        async with in_process_worker(settings, workdir / "worker.log"):
            missing = await stamps.wait_out(drain)
        follower.cancel()
        emitted = sorted(stamps.seen[k][settings.topic_clean] for k in drain if k not in missing)
        rate = (len(emitted) - 1) / ((emitted[-1] - emitted[0]) / 1000)
        print(
            f"drain    ({len(drain)} near-copies): one dedup agent emits {rate:.0f} articles/s "
            f"({1000 / rate:.2f} ms per article, batches included); "
            f"{len(missing)} never came out"
        )


if __name__ == "__main__":
    asyncio.run(main())
