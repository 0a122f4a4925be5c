"""The `wirestream` command line. Every command builds one ``Settings`` and passes it down."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pipeline import __version__, codec
from pipeline.settings import ENV_PREFIX, REDACTED, Settings, SettingsError, describe, is_secret
from pipeline.topics.commands import eval_topics, train_topics

F = Callable[..., Any]


def _option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def settings_options(func: F) -> F:
    """Add one flag per setting; a flag overrides the `WIRESTREAM_*` variable of the same name."""
    hints = typing.get_type_hints(Settings)
    for field in reversed(dataclasses.fields(Settings)):
        kind = hints[field.name]
        metavar = "N" if kind is int else "SECONDS" if kind is float else "VALUE"
        func = click.option(
            _option_name(field.name),
            field.name,
            default=None,
            metavar=metavar,
            help=f"{field.metadata['doc']} [env {ENV_PREFIX}{field.name.upper()}]",
        )(func)
    return func


def load_settings(values: dict[str, Any]) -> Settings:
    try:
        return Settings.load(
            {name: values.pop(name) for name in list(values) if name in Settings.__slots__}
        )
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def _report(problem: str) -> None:
    click.echo(problem, err=True)


def _run(coroutine: Any) -> Any:
    """Run a command's coroutine; SIGTERM stops it as Ctrl+C does, through its cleanup."""

    async def main() -> Any:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await coroutine

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="wirestream")
def main() -> None:
    """Wirestream: raw news articles in on Kafka, clean text, named entities and IPTC topics out.

    \b
    articles.raw → clean → articles.clean → ner → articles.entities → classify → articles.enriched
    (each stage dead-letters what it cannot process to articles.dlq)
    """


@main.command()
@click.argument("paths", nargs=-1)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("out/enriched.jsonl"),
    show_default=True,
    help="Where to write the enriched events (JSON Lines).",
)
@click.option(
    "--no-samples", is_flag=True, help="Push only PATHS, not the bundled sample articles."
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Leave the pipeline running after the articles are through.",
)
@settings_options
def demo(
    paths: tuple[str, ...], output: Path, no_samples: bool, keep_running: bool, **values: Any
) -> None:
    """Run the whole pipeline on the embedded broker and push the sample articles (and PATHS).

    Starts a Kafka-compatible broker on a free 127.0.0.1 port (unless --broker is given), one
    worker process per stage, pushes the articles, prints what came out and stops everything.
    """
    from pipeline.broker import BrokerError
    from pipeline.demo import run_demo
    from pipeline.kafka import KafkaSetupError
    from pipeline.runtime.supervisor import MetricsPortInUse, StageFailed

    settings = load_settings(values)
    _setup_logging(settings)
    try:
        code = _run(
            run_demo(
                settings, paths, output, with_samples=not no_samples, keep_running=keep_running
            )
        )
    except (KafkaSetupError, BrokerError, StageFailed, MetricsPortInUse) as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@main.command()
@settings_options
def worker(**values: Any) -> None:
    """Run pipeline stages against a broker: one process per stage, metrics and health on one port.

    \b
    wirestream worker --broker kafka://kafka:9092                 # all stages
    wirestream worker --broker kafka://kafka:9092 --stages ner    # NER only (scale it out)
    """
    from pipeline.kafka import KafkaSetupError
    from pipeline.runtime.supervisor import MetricsPortInUse, StageFailed, Supervisor

    settings = load_settings(values)
    _setup_logging(settings)
    supervisor = Supervisor(settings)
    click.echo(
        f"wirestream worker: stages {','.join(settings.stages)} on {settings.broker_url}; "
        f"metrics on http://{settings.metrics_host}:{settings.metrics_port}/metrics",
        err=True,
    )
    try:
        _run(supervisor.run())
    except (KafkaSetupError, StageFailed, MetricsPortInUse) as exc:
        raise click.ClickException(str(exc)) from exc


@main.command(name="produce")
@click.argument("paths", nargs=-1, required=True)
@settings_options
def produce_command(paths: tuple[str, ...], **values: Any) -> None:
    """Push raw articles from files, folders or stdin (`-`) to the raw topic.

    .txt (first line title, rest body), .html, .json (an object or a list) and .jsonl files.
    """
    from pipeline.kafka import KafkaSetupError, ensure_topics
    from pipeline.producer import produce
    from pipeline.sources import read_articles

    settings = load_settings(values)
    articles, failures = read_articles(paths, _report)

    async def push() -> list[bytes]:
        await ensure_topics(settings)
        return await produce(settings, articles)

    try:
        keys = _run(push()) if articles else []
    except KafkaSetupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"pushed {len(keys)} articles to {settings.topic_raw} on {settings.broker_url}", err=True
    )
    if failures:
        sys.exit(1)


@main.command()
@click.option("--topic", default=None, help="Topic to read [default: the enriched topic].")
@click.option("-n", "--count", type=int, default=None, help="Stop after N messages.")
@click.option("--follow/--no-follow", default=False, help="Keep waiting for new messages.")
@click.option("--from-end", is_flag=True, help="Only messages that arrive from now on.")
@click.option(
    "--isolation",
    type=click.Choice(["read_committed", "read_uncommitted"]),
    default=None,
    help="read_committed: only messages of committed transactions [default: read_committed "
    "with processing_guarantee exactly-once, else read_uncommitted].",
)
@settings_options
def tail(
    topic: str | None,
    count: int | None,
    follow: bool,
    from_end: bool,
    isolation: str | None,
    **values: Any,
) -> None:
    """Print a topic's messages as JSON Lines (nothing is committed; no consumer group)."""
    from pipeline.producer import read_topics

    settings = load_settings(values)
    topic = topic or settings.topic_enriched

    async def read() -> None:
        seen = 0
        idle = None if follow or from_end else 2.0
        async for record in read_topics(
            settings,
            [topic],
            from_beginning=not from_end,
            idle_timeout=idle,
            isolation_level=isolation,
        ):
            sys.stdout.write((record.value or b"").decode("utf-8", "replace") + "\n")
            sys.stdout.flush()
            seen += 1
            if count is not None and seen >= count:
                return

    _run(read())


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write enriched events here (JSON Lines) instead of stdout.",
)
@settings_options
def enrich(paths: tuple[str, ...], output: Path | None, **values: Any) -> None:
    """Enrich files in this process with the stages' own code, no Kafka; JSON Lines out.

    Dead letters are written to stderr, one JSON object per line.
    """
    from pipeline.enrich import Enricher
    from pipeline.events import DeadLetter
    from pipeline.sources import read_articles

    settings = load_settings(values)
    articles, problems = read_articles(paths, _report)
    enricher = Enricher(settings)
    sink = output.open("wb") if output else sys.stdout.buffer
    try:
        for result in enricher.enrich(articles):
            if isinstance(result, DeadLetter):
                problems += 1
                sys.stderr.buffer.write(codec.dumps_line(result))
            else:
                sink.write(codec.dumps_line(result))
    finally:
        if output:
            sink.close()
        else:
            sink.flush()
    if problems:
        sys.exit(1)


@main.command()
@click.option("--port", type=int, default=9092, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
def broker(port: int, host: str) -> None:
    """Run the embedded Kafka-compatible broker (Tansu, in memory) in the foreground."""
    from pipeline.broker import EMBEDDED_SESSION_TIMEOUT, BrokerError, EmbeddedBroker

    try:
        with EmbeddedBroker(port=port, host=host, log=sys.stderr) as running:
            click.echo(f"Embedded broker listening on {running.url} (in-memory; Ctrl+C stops it)")
            click.echo(
                f"Workers: WIRESTREAM_BROKER={running.url} "
                f"WIRESTREAM_SESSION_TIMEOUT={EMBEDDED_SESSION_TIMEOUT:g} wirestream worker"
            )
            stop_signals = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
            while running.process is not None and running.process.poll() is None:
                if signal.sigtimedwait(stop_signals, 1.0) is not None:
                    break
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.argument("endpoints", nargs=-1)
@click.option(
    "-n",
    "--interval",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes (rates and latencies are over this interval).",
)
@click.option("--once", is_flag=True, help="Print one frame, measured over one interval, and exit.")
def top(endpoints: tuple[str, ...], interval: float, once: bool) -> None:
    """Live per-stage rate, latency p50/p99, lag and dead letters of running workers.

    ENDPOINTS are the workers' metrics addresses (`host:port` or URLs; several are added up).
    Default: this host's worker, at the metrics host and port settings.

    \b
    wirestream top                                  # the local worker or demo
    wirestream top ner-1:9108 ner-2:9108 other:9108 # a whole deployment
    """
    from pipeline.top import watch

    if not endpoints:
        settings = load_settings({})
        endpoints = (f"{settings.metrics_host}:{settings.metrics_port}",)
    with contextlib.suppress(KeyboardInterrupt):
        watch(endpoints, interval, once=once)


@main.command(name="settings")
@click.option("--markdown", is_flag=True, help="Print the documentation table (as in the README).")
@settings_options
def settings_command(markdown: bool, **values: Any) -> None:
    """Show every setting: its flag, environment variable, and the value in effect."""
    if markdown:
        click.echo(settings_table())
        return
    settings = load_settings(values)
    for name, env, default, doc in describe():
        value = getattr(settings, name)
        shown = ",".join(value) if isinstance(value, tuple) else value
        if is_secret(name) and value is not None:
            shown = REDACTED
        click.echo(f"{name:<20} {shown!s:<28} {env}")
        click.echo(click.style(f"    {doc} (default: {default or 'unset'})", dim=True))


@main.command()
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice(["clean", "ner", "classify"]),
    help="Only dead letters of this stage (repeat for several).",
)
@click.option(
    "--reason", "reasons", multiple=True, help="Only dead letters with this reason code (repeat)."
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    default=None,
    help="Only dead letters that failed at or after this time (UTC).",
)
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    default=None,
    help="Only dead letters that failed before this time (UTC).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be replayed; send nothing.")
@settings_options
def replay(
    stages: tuple[str, ...],
    reasons: tuple[str, ...],
    since: Any,
    until: Any,
    dry_run: bool,
    **values: Any,
) -> None:
    """Send dead letters back to the topic they came from, once their cause is fixed.

    Payloads and keys are restored byte for byte. Safe to repeat: replayed articles keep their
    `event_id`, so consumers drop any duplicate.

    \b
    wirestream replay --stage ner --reason timeout --since 2024-06-11
    """
    import datetime as dt

    from pipeline.kafka import KafkaSetupError, ensure_topics
    from pipeline.replay import Selection
    from pipeline.replay import replay as run_replay

    settings = load_settings(values)
    selection = Selection(
        stages=frozenset(stages),
        reasons=frozenset(reasons),
        since=since.replace(tzinfo=dt.UTC) if since else None,
        until=until.replace(tzinfo=dt.UTC) if until else None,
    )

    async def go() -> Any:
        await ensure_topics(settings)
        return await run_replay(settings, selection, dry_run=dry_run)

    try:
        report = _run(go())
    except KafkaSetupError as exc:
        raise click.ClickException(str(exc)) from exc
    if not hasattr(report, "selected"):  # interrupted
        sys.exit(report)
    verb = "would replay" if dry_run else "replayed"
    count = sum(report.by_topic.values())
    click.echo(
        f"read {report.read} dead letters on {settings.topic_dlq}; {report.selected} selected; "
        f"{verb} {count}"
        + "".join(f"; {n} to {topic}" for topic, n in sorted(report.by_topic.items())),
        err=True,
    )
    if report.repeated:
        click.echo(f"  {report.repeated} repeated dead letters of one message sent once", err=True)
    for why, n in sorted(report.skipped.items()):
        click.echo(f"  skipped {n}: {why}", err=True)


main.add_command(train_topics)
main.add_command(eval_topics)


def settings_table() -> str:
    lines = ["| Flag | Environment variable | Default | Meaning |", "|---|---|---|---|"]
    for name, env, default, doc in describe():
        shown = f"`{default}`" if default else "unset"
        lines.append(f"| `{_option_name(name)}` | `{env}` | {shown} | {doc} |")
    return "\n".join(lines)


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
