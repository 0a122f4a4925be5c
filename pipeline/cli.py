"""The `wirestream` command line. Every command builds one ``Settings`` and passes it down.

Each command takes the settings it uses, as flags grouped by section in its `--help`; the same
settings come from `WIRESTREAM_*` environment variables.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import click

from pipeline import __version__, codec
from pipeline.settings import (
    CLASSIFICATION,
    CONNECTION,
    ENV_PREFIX,
    GROUPS,
    METRICS,
    NER,
    REDACTED,
    STAGES,
    TOPICS,
    Settings,
    SettingsError,
    describe,
    is_secret,
    option_name,
)
from pipeline.topics.commands import eval_topics, train_topics

F = Callable[..., Any]
INTERRUPTED = 128 + signal.SIGINT  # the shell's code for a command stopped by Ctrl+C


def _in(*groups: str) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Settings) if f.metadata["group"] in groups)


# The settings each command uses.
KAFKA = (*(name for name in _in(CONNECTION) if name != "embedded_broker"), "log_level")
EVERYTHING = tuple(f.name for f in dataclasses.fields(Settings))
DEMO = tuple(name for name in EVERYTHING if name != "start_from")  # its topics start empty
WORKER = tuple(name for name in EVERYTHING if name != "embedded_broker")
PRODUCE = (*KAFKA, *_in(TOPICS))
TAIL = (*KAFKA, "topic_enriched", "start_from")
REPLAY = PRODUCE
RESET = (*KAFKA, "app_prefix", "topic_raw", "topic_clean", "topic_entities", "topic_enriched",
         "plugins", "sinks")  # fmt: skip
ENRICH = ("batch_size", "max_body_bytes", "validate_output", *_in(NER, CLASSIFICATION), "log_level")
TOP = _in(METRICS)
BROKER = ("embedded_broker",)


class SettingOption(click.Option):
    """A flag for one setting; `--help` lists it under its setting's section."""

    def __init__(self, *args: Any, section: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section


class SectionedCommand(click.Command):
    """`--help` with the command's own options first, then its settings by section."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            section = param.section if isinstance(param, SettingOption) else "Options"
            sections.setdefault(section, []).append(record)
        for title in ("Options", *GROUPS):
            if sections.get(title):
                with formatter.section(title):
                    formatter.write_dl(sections[title])


def _click_type(name: str, kind: Any, meta: typing.Mapping[str, Any]) -> click.ParamType:
    if meta["choices"]:
        return click.Choice(meta["choices"], case_sensitive=False)
    if kind is int:
        return click.INT
    if kind is float:
        return click.FLOAT
    return click.STRING


def with_settings(names: Iterable[str]) -> Callable[[F], F]:
    """Add a flag for each named setting; a flag overrides the `WIRESTREAM_*` variable."""
    wanted = set(names)

    def decorate(func: F) -> F:
        hints = typing.get_type_hints(Settings)
        for field in reversed(dataclasses.fields(Settings)):
            if field.name not in wanted:
                continue
            meta = field.metadata
            kind = hints[field.name]
            default = describe_default(field.name)
            default_note = f"default: {default}; " if default else ""
            func = click.option(
                option_name(field.name),
                field.name,
                cls=SettingOption,
                section=meta["group"],
                type=_click_type(field.name, kind, meta),
                default=None,
                metavar=meta["metavar"] or ("N" if kind is int else "VALUE"),
                help=f"{meta['doc']} [{default_note}env {ENV_PREFIX}{field.name.upper()}]",
            )(func)
        return func

    return decorate


def describe_default(name: str) -> str:
    return next(default for setting, _, default, _ in describe() if setting == name)


def load_settings(values: dict[str, Any]) -> Settings:
    """The settings from the environment and the command's flags (removed from ``values``)."""
    try:
        return Settings.load(
            {name: values.pop(name) for name in list(values) if name in Settings.__slots__}
        )
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def _report(problem: str) -> None:
    click.echo(problem, err=True)


def _run(coroutine: Any) -> Any:
    """Run a command's coroutine. Ctrl+C and SIGTERM cancel it, so that it cleans up, and then
    the command exits with 130."""
    signals = (signal.SIGINT, signal.SIGTERM)
    interrupted = False

    async def main() -> Any:
        nonlocal interrupted
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def stop() -> None:
            nonlocal interrupted
            interrupted = True
            task.cancel()

        for sig in signals:
            loop.add_signal_handler(sig, stop)
        return await coroutine

    try:
        result = asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise SystemExit(INTERRUPTED) from None
    if interrupted:
        raise SystemExit(INTERRUPTED)
    return result


class Wirestream(click.Group):
    """Ctrl+C ends every command with 130, and a problem the user can fix (an unreachable
    broker, a port in use, a file that cannot be written) is one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise SystemExit(INTERRUPTED) from None
        except SettingsError as exc:
            raise click.UsageError(str(exc)) from exc
        except Exception as exc:
            if _is_user_error(exc):
                raise click.ClickException(str(exc)) from exc
            if _is_kafka_error(exc):
                raise click.ClickException(
                    f"Kafka answered {type(exc).__name__}: {exc} (the log above may say more)"
                ) from exc
            raise


# Errors whose message tells the user what to do, by module and class: looked up only among
# the modules already imported, so that a command does not import Kafka or faust to start.
USER_ERRORS = (
    ("pipeline.kafka", "KafkaSetupError"),
    ("pipeline.broker", "BrokerError"),
    ("pipeline.offsets", "OffsetsError"),
    ("pipeline.runtime.supervisor", "StageFailed"),
    ("pipeline.runtime.supervisor", "MetricsPortInUse"),
)


def _is_kafka_error(exc: Exception) -> bool:
    """An error the broker answered with: a setting or the cluster is at fault, not the code."""
    kind = getattr(sys.modules.get("aiokafka.errors"), "KafkaError", None)
    return isinstance(kind, type) and isinstance(exc, kind)


def _is_user_error(exc: Exception) -> bool:
    for module, name in USER_ERRORS:
        kind = getattr(sys.modules.get(module), name, None)
        if isinstance(kind, type) and isinstance(exc, kind):
            return True
    return False


@click.group(
    cls=Wirestream,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="wirestream")
def main() -> None:
    """Wirestream: raw news articles in on Kafka, clean text, named entities and IPTC topics out.

    \b
    articles.raw → clean → articles.clean → ner → articles.entities → classify → articles.enriched
    (each stage dead-letters what it cannot process to articles.dlq)
    """


def _writable(path: Path, *, make_folder: bool = False) -> Path:
    """The output path, checked (its folder made, if asked) before any work: an output that
    cannot be written is a one-line error now, not a traceback after the work is done."""
    try:
        if make_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):
            pass
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write {path}: {exc.strerror or exc}", param_hint="'-o' / '--output'"
        ) from None
    return path


@main.command(cls=SectionedCommand)
@click.argument("paths", nargs=-1, type=click.Path(exists=True, allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
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
@with_settings(DEMO)
def demo(
    paths: tuple[str, ...], output: Path, no_samples: bool, keep_running: bool, **values: Any
) -> None:
    """Run the whole pipeline on the embedded broker and push the sample articles (and PATHS).

    Starts a broker on a free 127.0.0.1 port unless --broker is given (Apache Kafka where Java
    is, else Tansu; --embedded-broker chooses), one worker process per stage, pushes the
    articles, prints what came out and stops everything.
    """
    from pipeline.demo import run_demo

    settings = load_settings(values)
    _setup_logging(settings)
    _writable(output, make_folder=True)
    code = _run(
        run_demo(settings, paths, output, with_samples=not no_samples, keep_running=keep_running)
    )
    sys.exit(code)


@main.command(cls=SectionedCommand)
@with_settings(WORKER)
def worker(**values: Any) -> None:
    """Run pipeline stages against a broker: one process per stage, metrics and health on one port.

    \b
    wirestream worker --broker kafka://kafka:9092                 # all stages
    wirestream worker --broker kafka://kafka:9092 --stages ner    # NER only (scale it out)
    """
    from pipeline.offsets import apply_start_position
    from pipeline.runtime.supervisor import Supervisor

    settings = load_settings(values)
    _setup_logging(settings)
    supervisor = Supervisor(settings)
    click.echo(
        f"wirestream worker: stages {','.join(settings.stages)} on {settings.broker_url}; "
        f"metrics on http://{settings.metrics_host}:{settings.metrics_port}/metrics",
        err=True,
    )

    async def run() -> None:
        for line in await apply_start_position(settings, settings.stages):
            click.echo(line, err=True)
        await supervisor.run()

    _run(run())
    # The supervisor returns only once Ctrl+C or SIGTERM has stopped it.
    sys.exit(INTERRUPTED)


@main.command(name="produce", cls=SectionedCommand)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@with_settings(PRODUCE)
def produce_command(paths: tuple[str, ...], **values: Any) -> None:
    """Push raw articles from files, folders or stdin (`-`) to the raw topic.

    .txt (first line title, rest body), .html, .json (an object or a list) and .jsonl files
    (read a line at a time). A progress bar shows on a terminal.
    """
    from pipeline.kafka import ensure_topics
    from pipeline.producer import produce
    from pipeline.progress import InputProgress
    from pipeline.sources import read_sources, total_size

    settings = load_settings(values)
    _setup_logging(settings)
    failures = 0

    async def push() -> int:
        nonlocal failures
        await ensure_topics(settings)
        with InputProgress("produce", total_size(paths)) as progress:

            def articles() -> Iterable[dict[str, Any]]:
                nonlocal failures
                for record in read_sources(paths):
                    progress.advance(record.size, articles=record.article is not None)
                    if record.error is not None:
                        failures += 1
                        progress.echo(f"skipped {record.origin}: {record.error}")
                    elif record.article is not None:
                        yield record.article

            return len(await produce(settings, articles()))

    sent = _run(push())
    click.echo(f"pushed {sent} articles to {settings.topic_raw} on {settings.broker_url}", err=True)
    if failures:
        sys.exit(1)


@main.command(cls=SectionedCommand)
@click.option("-t", "--topic", default=None, help="Topic to read [default: the enriched topic].")
@click.option(
    "-n",
    "--count",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Stop after N messages.",
)
@click.option("-f", "--follow/--no-follow", default=False, help="Keep waiting for new messages.")
@click.option(
    "--isolation",
    type=click.Choice(["read_committed", "read_uncommitted"]),
    default=None,
    help="read_committed: only messages of committed transactions [default: read_committed "
    "with processing_guarantee exactly-once, else read_uncommitted].",
)
@with_settings(TAIL)
def tail(
    topic: str | None, count: int | None, follow: bool, isolation: str | None, **values: Any
) -> None:
    """Print a topic's messages as JSON Lines (nothing is committed; no consumer group).

    Starts where --start-from says: `earliest` (default), `latest` (only messages that arrive
    from now on; implies --follow) or an ISO 8601 time.
    """
    from pipeline.kafka import wait_for_broker
    from pipeline.producer import read_topics

    settings = load_settings(values)
    _setup_logging(settings)
    topic = topic or settings.topic_enriched
    position = settings.start_position()

    async def read() -> None:
        await wait_for_broker(settings)
        seen = 0
        idle = None if follow or position == "latest" else 2.0
        async for record in read_topics(
            settings, [topic], position=position, idle_timeout=idle, isolation_level=isolation
        ):
            sys.stdout.write((record.value or b"").decode("utf-8", "replace") + "\n")
            sys.stdout.flush()
            seen += 1
            if count is not None and seen >= count:
                return

    _run(read())


@main.command(cls=SectionedCommand)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    default=Path("-"),
    help="Write enriched events here (JSON Lines); `-` is standard output [default: -].",
)
@with_settings(ENRICH)
def enrich(paths: tuple[str, ...], output: Path, **values: Any) -> None:
    """Enrich files in this process with the stages' own code, no Kafka; JSON Lines out.

    Input streams: JSON Lines are read and written a batch at a time. Dead letters go to
    stderr, one JSON object per line, with the file and line of their input (`input_file`,
    `input_line`) and their payload cut to 2,000 characters. A progress bar shows on a terminal.
    """
    from pipeline.enrich import Enricher, located, return_large_buffers
    from pipeline.events import DeadLetter
    from pipeline.progress import InputProgress
    from pipeline.sources import read_sources, total_size

    settings = load_settings(values)
    _setup_logging(settings)
    return_large_buffers()
    to_stdout = str(output) == "-"
    sink: IO[bytes] = sys.stdout.buffer if to_stdout else _writable(output).open("wb")
    problems = 0
    try:
        enricher = Enricher(settings)  # models load only once the paths are known to be good
        with InputProgress("enrich", total_size(paths)) as progress:

            def articles() -> Iterable[tuple[tuple[str | None, int | None], dict[str, Any]]]:
                nonlocal problems
                for record in read_sources(paths):
                    progress.advance(record.size)
                    if record.error is not None:
                        problems += 1
                        progress.echo(f"skipped {record.origin}: {record.error}")
                    elif record.article is not None:
                        yield (record.file, record.line), record.article

            for (file, line), result in enricher.enrich(articles()):
                progress.advance(0, articles=1)
                if isinstance(result, DeadLetter):
                    problems += 1
                    letter = located(result, file, line)
                    progress.echo(codec.dumps(letter).decode())
                else:
                    sink.write(codec.dumps_line(result))
    finally:
        if to_stdout:
            sink.flush()
        else:
            sink.close()
    if problems:
        sys.exit(1)


@main.command(cls=SectionedCommand)
@click.option("-p", "--port", type=int, default=9092, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@with_settings(BROKER)
def broker(port: int, host: str, **values: Any) -> None:
    """Run the embedded broker in the foreground until Ctrl+C: Apache Kafka (one node) where
    Java is, else Tansu (in memory); --embedded-broker chooses. Its data goes at exit.
    """
    from pipeline.embedded import embedded_broker

    settings = load_settings(values)
    running, note = embedded_broker(settings.embedded_broker, port=port, host=host, log=sys.stderr)
    if note:
        click.echo(f"Note: {note}", err=True)
    with running:
        click.echo(f"{running.describe()} listening on {running.url}; Ctrl+C stops it")
        given = settings.as_strings()
        workers = " ".join(  # the settings a worker needs for this broker
            f"{ENV_PREFIX}{name.upper()}={value}"
            for name, value in running.settings_for(settings).as_strings().items()
            if given.get(name) != value
        )
        click.echo(f"Workers: {workers} wirestream worker")
        click.echo("The first worker (or `wirestream produce`) creates the pipeline's topics.")
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        while running.alive():
            if signal.sigtimedwait(stop_signals, 1.0) is not None:
                break
        else:
            return  # the broker process ended by itself
    sys.exit(INTERRUPTED)


@main.command(cls=SectionedCommand)
@click.argument("endpoints", nargs=-1)
@click.option(
    "-i",
    "--interval",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between refreshes (rates and latencies are over this interval).",
)
@click.option("--once", is_flag=True, help="Print one frame, measured over one interval, and exit.")
@with_settings(TOP)
def top(endpoints: tuple[str, ...], interval: float, once: bool, **values: Any) -> None:
    """Live per-stage rate, latency p50/p99, lag and dead letters of running workers.

    ENDPOINTS are the workers' metrics addresses (`host:port` or URLs; several are added up).
    Default: this host's worker, at the metrics host and port settings.

    \b
    wirestream top                                  # the local worker or demo
    wirestream top ner-1:9108 ner-2:9108 other:9108 # a whole deployment
    """
    from pipeline.top import watch

    settings = load_settings(values)
    if not endpoints:
        endpoints = (f"{settings.metrics_host}:{settings.metrics_port}",)
    watch(endpoints, interval, once=once)


@main.command(name="settings", cls=SectionedCommand)
@click.option("--markdown", is_flag=True, help="Print the documentation table (as in the README).")
@with_settings(EVERYTHING)
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


_DATE = click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"])


@main.command(cls=SectionedCommand)
@click.option(
    "-s",
    "--stage",
    "stages",
    multiple=True,
    metavar="STAGE",
    help="Only dead letters of this stage, built-in or plugin (repeat for several).",
)
@click.option(
    "--reason", "reasons", multiple=True, help="Only dead letters with this reason code (repeat)."
)
@click.option(
    "--since", type=_DATE, default=None, help="Only dead letters that failed at or after (UTC)."
)
@click.option("--until", type=_DATE, default=None, help="Only dead letters that failed before.")
@click.option("--dry-run", is_flag=True, help="Count what would be replayed; send nothing.")
@with_settings(REPLAY)
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

    from pipeline.kafka import ensure_topics
    from pipeline.replay import Selection
    from pipeline.replay import replay as run_replay

    settings = load_settings(values)
    _setup_logging(settings)
    selection = Selection(
        stages=frozenset(stages),
        reasons=frozenset(reasons),
        since=since.replace(tzinfo=dt.UTC) if since else None,
        until=until.replace(tzinfo=dt.UTC) if until else None,
    )

    async def go() -> Any:
        await ensure_topics(settings)
        return await run_replay(settings, selection, dry_run=dry_run)

    report = _run(go())
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


@main.command(name="reset-offsets", cls=SectionedCommand)
@click.option(
    "-s",
    "--stage",
    required=True,
    metavar="STAGE",
    help="The stage whose consumer group moves (on its input topic): clean, ner, classify, or "
    "a plugin or sink named by --plugins or --sinks.",
)
@click.option(
    "--to",
    "to",
    required=True,
    metavar="earliest|latest|TIME",
    help="Where the group goes: the first, the next new, or the first message at or after an "
    "ISO 8601 time (UTC unless it says otherwise).",
)
@click.option("--dry-run", is_flag=True, help="Show the new offsets; change nothing.")
@with_settings(RESET)
def reset_offsets(stage: str, to: str, dry_run: bool, **values: Any) -> None:
    """Move a stage's consumer group on its input topic: to reprocess, or to skip a backlog.

    Refused while the group has live members: stop that stage's workers first.

    \b
    wirestream reset-offsets --stage ner --to 2024-06-11T08:00:00Z
    """
    from pipeline.kafka import wait_for_broker
    from pipeline.offsets import reset
    from pipeline.settings import parse_start_position

    settings = load_settings(values)
    _setup_logging(settings)
    known = (*STAGES, *settings.plugins, *settings.sinks)
    if stage not in known:
        raise click.BadParameter(
            f"{stage!r} is not one of {', '.join(known)}", param_hint="'--stage'"
        )
    try:
        position = parse_start_position(to, "--to")
    except SettingsError as exc:
        raise click.BadParameter(str(exc), param_hint="'--to'") from None

    async def go() -> dict[Any, tuple[int | None, int]]:
        await wait_for_broker(settings)
        return await reset(settings, stage, position, dry_run=dry_run)

    moved = _run(go())
    verb = "would move" if dry_run else "moved"
    click.echo(f"{settings.group_id(stage)}: {verb} {len(moved)} partitions", err=True)
    for tp, (old, new) in sorted(moved.items()):
        was = "none" if old is None else old
        click.echo(f"  {tp.topic}[{tp.partition}]: {was} -> {new}", err=True)


main.add_command(train_topics)
main.add_command(eval_topics)


def settings_table() -> str:
    """The README's settings reference: one table per section, with the commands taking each."""
    users: dict[str, list[str]] = {}
    for name, command in sorted(main.commands.items()):
        for param in command.params:
            if isinstance(param, SettingOption) and param.name and name != "settings":
                users.setdefault(param.name, []).append(name)
    rows = {row[0]: row for row in describe()}
    out: list[str] = []
    for section in GROUPS:
        fields = [f.name for f in dataclasses.fields(Settings) if f.metadata["group"] == section]
        out += [
            f"#### {section}",
            "",
            "| Flag | Environment variable | Default | Commands | Meaning |",
        ]
        out.append("|---|---|---|---|---|")
        for name in fields:
            _, env, default, doc = rows[name]
            shown = f"`{default}`" if default else "unset"
            commands = ", ".join(f"`{c}`" for c in users.get(name, []))
            out.append(f"| `{option_name(name)}` | `{env}` | {shown} | {commands} | {doc} |")
        out.append("")
    return "\n".join(out).strip()


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
