"""`wirestream demo`: the whole pipeline on the embedded broker, the sample articles through it.

The embedded broker (``pipeline.embedded``) starts while the stage processes load their models.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from pipeline import codec
from pipeline.broker import EmbeddedBroker
from pipeline.embedded import EmbeddedKafka, embedded_broker
from pipeline.producer import end_offsets, produce, read_topics
from pipeline.runtime.supervisor import Supervisor
from pipeline.settings import Settings
from pipeline.sources import read_articles

READY_TIMEOUT = 180.0
RESULT_TIMEOUT = 300.0


def sample_dir() -> Path:
    bundled = Path(__file__).parent / "_bundled" / "samples"
    return bundled if bundled.is_dir() else Path(__file__).resolve().parent.parent / "samples"


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def summarize(event: dict[str, Any], top_entities: int = 8) -> str:
    """A few readable lines about one enriched event."""
    title = event.get("title") or "(untitled)"
    lines = [f"■ {title}"]
    meta = [f"language: {event.get('language') or 'unknown'}", f"{event['word_count']} words"]
    if event.get("source"):
        meta.append(f"source: {event['source']}")
    lines.append("  " + " · ".join(meta))
    topics = ", ".join(f"{t['label']} {t['score']:.2f}" for t in event.get("topics") or [])
    lines.append(f"  topics:   {topics or '(none above threshold)'}")
    entities = sorted(event.get("entities") or [], key=lambda e: -e.get("salience", e["count"]))
    shown = ", ".join(f"{e['name']} ({e['label']}, {e['count']})" for e in entities[:top_entities])
    lines.append(f"  entities: {shown or '(none)'}")
    return "\n".join(lines)


def stage_counts(supervisor: Supervisor) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for metric in supervisor.registry.collect():
        if metric.name != "wirestream_messages":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts.setdefault(sample.labels["stage"], Counter())[sample.labels["outcome"]] += (
                    int(sample.value)
                )
    return counts


async def run_demo(
    settings: Settings,
    paths: Sequence[str],
    output: Path,
    *,
    with_samples: bool = True,
    keep_running: bool = False,
    echo: Any = click.echo,
) -> int:
    """Run the demo; returns the process exit code."""
    output.parent.mkdir(parents=True, exist_ok=True)
    log_path = output.parent / "demo-workers.log"
    with contextlib.ExitStack() as stack:
        broker_ready = None
        if settings.broker is None:
            broker, note = embedded_broker(
                settings.embedded_broker, log=output.parent / "demo-broker.log"
            )
            stack.callback(broker.stop)
            settings = broker.settings_for(settings)
            if note:
                echo(f"Note: {note}")
            echo(f"Starting the embedded broker, {broker.describe()}, on {broker.url}")
            # It starts while the stage processes load their models.
            broker_ready = asyncio.create_task(_start_broker(broker, echo))
        else:
            echo(f"Using broker {settings.broker}")
        if settings.metrics_port and not _port_free(settings.metrics_host, settings.metrics_port):
            echo(f"Port {settings.metrics_port} is busy; serving metrics on a free port instead")
            settings = settings.replace(metrics_port=0)
        log_file: IO[str] = stack.enter_context(log_path.open("w", encoding="utf-8"))
        supervisor = Supervisor(settings, log_stream=log_file)
        try:
            return await _demo(
                settings, supervisor, broker_ready, paths, output, with_samples, keep_running, echo
            )
        finally:
            if broker_ready is not None:
                broker_ready.cancel()  # if the demo ended before the broker was ready
            echo("Stopping workers…")
            await supervisor.stop()


async def _start_broker(broker: EmbeddedKafka | EmbeddedBroker, echo: Any) -> None:
    started = time.monotonic()
    await broker.start_async()
    echo(f"Broker ready in {time.monotonic() - started:.1f}s")


async def _demo(
    settings: Settings,
    supervisor: Supervisor,
    broker_ready: asyncio.Task[None] | None,
    paths: Sequence[str],
    output: Path,
    with_samples: bool,
    keep_running: bool,
    echo: Any,
) -> int:
    started = time.monotonic()
    log_path = output.parent / "demo-workers.log"
    echo(f"Starting stages {', '.join(settings.stages)} (worker log: {log_path})…")
    await supervisor.start(broker_ready)
    watcher = asyncio.create_task(supervisor.supervise())
    await supervisor.wait_ready(READY_TIMEOUT)
    echo(f"Workers ready in {time.monotonic() - started:.1f}s; metrics at {supervisor.metrics_url}")

    sources = [*([sample_dir()] if with_samples else []), *paths]
    articles, unreadable = read_articles(sources, lambda problem: echo(f"  {problem}", err=True))
    if not articles:
        echo("No articles to push.", err=True)
        return 1

    watched = [settings.topic_enriched, settings.topic_dlq]
    start = await end_offsets(settings, watched)
    pushed_at = time.monotonic()
    expected = Counter(await produce(settings, articles))
    echo(f"Pushed {sum(expected.values())} articles to {settings.topic_raw}\n")

    enriched, dead = [], []
    with output.open("wb") as sink:
        async with asyncio.timeout(RESULT_TIMEOUT):
            async for record in read_topics(settings, watched, start=start):
                if record.key is None or expected[record.key] <= 0:
                    continue
                expected[record.key] -= 1
                event = codec.loads(record.value or b"{}")
                if record.topic == settings.topic_dlq:
                    dead.append(event)
                else:
                    enriched.append(event)
                    sink.write(codec.dumps_line(event))
                    echo(summarize(event) + "\n")
                if expected.total() == 0:
                    break
    elapsed = time.monotonic() - pushed_at

    for letter in dead:
        echo(f"✗ dead letter from {letter['stage']}: {letter['reason']}: {letter['error'][:160]}")
    echo(
        f"{len(enriched)} enriched, {len(dead)} dead-lettered in {elapsed:.1f}s "
        f"→ {output} ({len(enriched)} events)"
    )
    for stage, counts in stage_counts(supervisor).items():
        in_, out, failed = counts["in"], counts["out"], counts["failed"]
        echo(f"  {stage:<9} in {in_:>4}  out {out:>4}  failed {failed:>4}")
    echo(f"Metrics: {supervisor.metrics_url}")
    if keep_running:
        echo("Workers keep running (--keep-running); press Ctrl+C to stop. Meanwhile:")
        echo(f"  wirestream produce --broker {settings.broker_url} FILE...   # push more")
        echo(f"  wirestream top {supervisor.metrics_url}   # live figures")
        await watcher
    watcher.cancel()
    return 0 if not unreadable else 1
