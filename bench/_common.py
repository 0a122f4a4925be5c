"""Helpers shared by the benchmarks: paths, article messages as the NER stage receives them, the
broker a benchmark runs on, and waits that end when the worker under test dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pipeline import __version__, codec, ids
from pipeline.broker import EmbeddedBroker
from pipeline.cluster import KAFKA_VERSION, KafkaCluster
from pipeline.envelope import Incoming
from pipeline.events import Article, PipelineInfo
from pipeline.runtime.supervisor import Supervisor
from pipeline.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

TANSU, KAFKA = "tansu", "kafka"
BROKERS = (TANSU, KAFKA)
# Apache Kafka's smallest session timeout (group.min.session.timeout.ms): Tansu's too.
KAFKA_SESSION_TIMEOUT = 6.0

T = TypeVar("T")


def article_message(
    text: str, title: str | None = None, article_id: str = "bench", language: str | None = None
) -> Incoming:
    """A clean-article message carrying ``text``, as the clean stage writes it."""
    article = Article(
        id=article_id,
        text=text,
        title=title,
        language=language,
        word_count=len(text.split()),
        content_hash=ids.content_hash(text),
        received_at="2024-01-01T00:00:00.000Z",
        pipeline=PipelineInfo(version=__version__),
    )
    return Incoming(value=codec.dumps(article), key=article_id.encode())


def median(values: Iterable[float]) -> float:
    return statistics.median(values)


@dataclass(frozen=True)
class Broker:
    """A broker a benchmark runs on: its kind, a line that says what it is, and what every
    worker and client on it needs (its URL, and that broker's own settings)."""

    kind: str
    description: str
    settings_for: Callable[[Settings], Settings]


@contextlib.contextmanager
def kafka_cluster() -> Iterator[KafkaCluster]:
    """The Apache Kafka cluster `make kafka-up` started, else a three-node one for the run."""
    recorded = KafkaCluster.load()
    if recorded is not None and all(node.alive() for node in recorded.nodes):
        recorded.wait_ready()
        yield recorded
        return
    with KafkaCluster(3) as started:
        yield started


@contextlib.contextmanager
def open_broker(kind: str, workdir: Path) -> Iterator[Broker]:
    """Tansu, started for the run, or the Apache Kafka cluster."""
    if kind == TANSU:
        with EmbeddedBroker(log=workdir / "broker.log") as tansu:
            yield Broker(kind, f"{tansu.describe()} at {tansu.url}", tansu.settings_for)
        return
    with kafka_cluster() as kafka:

        def on_kafka(settings: Settings) -> Settings:
            return settings.replace(
                broker=kafka.url,
                session_timeout=KAFKA_SESSION_TIMEOUT,
                replication_factor=kafka.replication,
                min_insync_replicas=kafka.min_insync,
            )

        description = f"Apache Kafka {KAFKA_VERSION}, {len(kafka.nodes)} nodes (KRaft)"
        yield Broker(kind, f"{description} at {kafka.url}", on_kafka)


def on_topics(base: Settings, tag: str) -> Settings:
    """The settings with topics and consumer groups of their own, named after ``tag`` and the
    base's `app_prefix`."""
    name = f"{base.app_prefix}-{tag}"
    return base.replace(
        app_prefix=name,
        **{
            f"topic_{topic.replace('-', '_')}": f"{name}-{topic}"
            for topic in ("raw", "dedup", "dedup-index", "clean", "entities", "enriched", "dlq")
        },
    )


@contextlib.asynccontextmanager
async def in_process_worker(
    settings: Settings, log: Path, ready_timeout: float = 180.0
) -> AsyncIterator[Supervisor]:
    """A worker's supervisor run in this process (its stage processes as children), ready;
    stopped on exit. Its processes' output is appended to ``log``."""
    with log.open("a") as stream:
        async with Supervisor(settings, log_stream=stream).running(ready_timeout) as supervisor:
            yield supervisor


class WorkerDied(RuntimeError):
    """The worker a benchmark waits on has exited; the message says how, with its log's end."""


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


async def unless(work: Awaitable[T], failure: Coroutine[Any, Any, NoReturn]) -> T:
    """The result of ``work``, unless ``failure`` (a watch that only ends by raising, say
    `WorkerDied`) raises first: then that, at once, and ``work`` is cancelled."""
    working, watching = asyncio.ensure_future(work), asyncio.ensure_future(failure)
    try:
        done, _ = await asyncio.wait((working, watching), return_when=asyncio.FIRST_COMPLETED)
        if working not in done:
            watching.result()
        return working.result()
    finally:
        for task in (working, watching):
            task.cancel()
        await asyncio.gather(working, watching, return_exceptions=True)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min)"
