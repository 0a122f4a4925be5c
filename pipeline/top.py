"""``wirestream top``: a live terminal view of running workers, read from their ``/metrics``.

Pure parts, tested without a terminal: ``parse_metrics`` turns one endpoint's text into per-stage
figures, ``combine`` adds up several endpoints, ``compare`` turns two snapshots into rates and
interval latencies, ``render`` lays them out as a rich table. ``watch`` loops over them live.
"""

from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

SCRAPE_TIMEOUT = 3.0
END_TO_END = "end-to-end"


@dataclass
class StageFigures:
    """Cumulative figures of one stage, as exported (summed over the endpoints combined)."""

    messages: dict[str, float] = field(default_factory=dict)  # by outcome: in, out, failed
    dead_letters: float = 0.0
    latency_buckets: dict[float, float] = field(default_factory=dict)  # upper bound: count
    lag: dict[tuple[str, str], float] = field(default_factory=dict)  # (topic, partition): lag
    workers: int = 0  # endpoints that run the stage
    ready: int = 0  # of which report it ready


@dataclass
class Snapshot:
    """One scrape of one or more endpoints, at ``taken_at`` (monotonic seconds)."""

    taken_at: float
    stages: dict[str, StageFigures] = field(default_factory=dict)
    end_to_end_buckets: dict[float, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # endpoint: why it could not be read


@dataclass(frozen=True)
class StageRow:
    stage: str
    workers: int
    ready: int
    rate_in: float | None  # messages per second over the interval; None on the first frame
    rate_out: float | None
    rate_failed: float | None
    p50: float | None  # seconds
    p99: float | None
    latency_over_interval: bool  # False: quantiles since start, no article in the interval
    lag: float
    dead_letters: float


def metrics_url(address: str) -> str:
    """``host:port``, ``http://host:port`` or a full URL, as the URL of a metrics endpoint."""
    url = address if "://" in address else f"http://{address}"
    parts = urlsplit(url)
    return url if parts.path not in ("", "/") else f"{parts.scheme}://{parts.netloc}/metrics"


def parse_metrics(text: str, taken_at: float = 0.0) -> Snapshot:
    """The per-stage figures in one endpoint's exposition text."""
    snapshot = Snapshot(taken_at)

    def figures(stage: str) -> StageFigures:
        return snapshot.stages.setdefault(stage, StageFigures())

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            stage = labels.get("stage")
            if sample.name == "wirestream_messages_total" and stage:
                outcome = labels["outcome"]
                messages = figures(stage).messages
                messages[outcome] = messages.get(outcome, 0.0) + sample.value
            elif sample.name == "wirestream_dead_letters_total" and stage:
                figures(stage).dead_letters += sample.value
            elif sample.name == "wirestream_stage_seconds_bucket" and stage:
                buckets = figures(stage).latency_buckets
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            elif sample.name == "wirestream_end_to_end_seconds_bucket":
                bound = float(labels["le"])
                snapshot.end_to_end_buckets[bound] = (
                    snapshot.end_to_end_buckets.get(bound, 0.0) + sample.value
                )
            elif sample.name == "wirestream_consumer_lag_messages" and stage:
                key = (labels["topic"], labels["partition"])
                lag = figures(stage).lag
                lag[key] = max(lag.get(key, 0.0), sample.value)
            elif sample.name == "wirestream_stage_ready" and stage:
                figures(stage).workers += 1
                figures(stage).ready += int(sample.value >= 1)
    return snapshot


def combine(snapshots: Sequence[Snapshot]) -> Snapshot:
    """Several endpoints as one: counts add up, a partition's lag is its owner's (the max)."""
    combined = Snapshot(max((s.taken_at for s in snapshots), default=0.0))
    for snapshot in snapshots:
        combined.errors.update(snapshot.errors)
        for bound, count in snapshot.end_to_end_buckets.items():
            combined.end_to_end_buckets[bound] = combined.end_to_end_buckets.get(bound, 0.0) + count
        for stage, figures in snapshot.stages.items():
            into = combined.stages.setdefault(stage, StageFigures())
            for outcome, count in figures.messages.items():
                into.messages[outcome] = into.messages.get(outcome, 0.0) + count
            into.dead_letters += figures.dead_letters
            for bound, count in figures.latency_buckets.items():
                into.latency_buckets[bound] = into.latency_buckets.get(bound, 0.0) + count
            for key, lag in figures.lag.items():
                into.lag[key] = max(into.lag.get(key, 0.0), lag)
            into.workers += figures.workers
            into.ready += figures.ready
    return combined


def histogram_quantile(quantile: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative buckets (upper bound: count).

    Linear interpolation inside the bucket the rank falls in; the highest finite bound when it
    falls in the ``+Inf`` bucket; None without observations.
    """
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = quantile * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def _increase(value: float, before: float) -> float:
    """A counter's increase; one that went down was reset (a restarted worker): read from zero."""
    return value - before if value >= before else value


def _delta(current: Mapping[float, float], previous: Mapping[float, float]) -> dict[float, float]:
    return {bound: _increase(count, previous.get(bound, 0.0)) for bound, count in current.items()}


def compare(previous: Snapshot | None, current: Snapshot) -> list[StageRow]:
    """Rates and latency quantiles over the interval between two snapshots; on the first frame
    (no previous snapshot) no rates, and latencies since start."""
    elapsed = current.taken_at - previous.taken_at if previous else 0.0
    rows = []
    for stage, figures in current.stages.items():
        before = previous.stages.get(stage) if previous else None
        rates: dict[str, float | None] = dict.fromkeys(("in", "out", "failed"))
        if before is not None and elapsed > 0:
            for outcome in rates:
                now, then = figures.messages.get(outcome, 0.0), before.messages.get(outcome, 0.0)
                rates[outcome] = _increase(now, then) / elapsed
        buckets = figures.latency_buckets
        window = _delta(buckets, before.latency_buckets) if before else {}
        over_interval = bool(window) and max(window.values()) > 0
        chosen = window if over_interval else buckets
        rows.append(
            StageRow(
                stage=stage,
                workers=figures.workers,
                ready=figures.ready,
                rate_in=rates["in"],
                rate_out=rates["out"],
                rate_failed=rates["failed"],
                p50=histogram_quantile(0.5, chosen),
                p99=histogram_quantile(0.99, chosen),
                latency_over_interval=over_interval,
                lag=sum(figures.lag.values()),
                dead_letters=figures.dead_letters,
            )
        )
    order = {name: position for position, name in enumerate(("clean", "ner", "classify"))}
    return sorted(rows, key=lambda row: (order.get(row.stage, len(order)), row.stage))


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:,.1f} ms" if value < 1 else f"{value:,.2f} s"


def render(
    rows: Sequence[StageRow], current: Snapshot, previous: Snapshot | None, sources: Sequence[str]
) -> RenderableType:
    """The table and the lines around it."""
    table = Table(title="Wirestream — live per stage", title_justify="left", expand=False)
    table.add_column("stage", style="bold")
    table.add_column("ready", justify="right")
    table.add_column("in/s", justify="right")
    table.add_column("out/s", justify="right")
    table.add_column("failed/s", justify="right")
    table.add_column("p50", justify="right")
    table.add_column("p99", justify="right")
    table.add_column("lag", justify="right")
    table.add_column("dead letters", justify="right")
    since_start = False
    for row in rows:
        latency_style = "" if row.latency_over_interval else "dim"
        since_start |= not row.latency_over_interval and row.p50 is not None
        ready_style = "green" if row.workers and row.ready == row.workers else "red"
        table.add_row(
            row.stage,
            # The dedup agent runs in the clean stage's processes: no readiness of its own.
            Text(f"{row.ready}/{row.workers}", style=ready_style) if row.workers else Text("–"),
            _rate(row.rate_in),
            _rate(row.rate_out),
            Text(_rate(row.rate_failed), style="red" if row.rate_failed else ""),
            Text(_seconds(row.p50), style=latency_style),
            Text(_seconds(row.p99), style=latency_style),
            Text(f"{row.lag:,.0f}", style="yellow" if row.lag else ""),
            Text(f"{row.dead_letters:,.0f}", style="red" if row.dead_letters else ""),
        )
    lines: list[RenderableType] = [table]
    window = _delta(current.end_to_end_buckets, previous.end_to_end_buckets) if previous else {}
    recent = bool(window) and max(window.values()) > 0
    end_to_end = window if recent else current.end_to_end_buckets
    p50, p99 = histogram_quantile(0.5, end_to_end), histogram_quantile(0.99, end_to_end)
    if p50 is not None:
        scope = "over the interval" if recent else "since start"
        lines.append(Text(f"end-to-end p50 {_seconds(p50)}, p99 {_seconds(p99)} ({scope})"))
    if since_start:
        lines.append(Text("dim latency: since start (no article in the last interval)", "dim"))
    if not rows and not current.errors:
        lines.append(Text("no Wirestream stages at these endpoints yet", "yellow"))
    for source, error in current.errors.items():
        lines.append(Text(f"✗ {source}: {error}", style="red"))
    lines.append(Text(f"from {', '.join(sources)}", style="dim"))
    return Group(*lines)


def fetch(url: str, timeout: float = SCRAPE_TIMEOUT) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (operator-given endpoints)
        return response.read().decode("utf-8")


def scrape(
    urls: Sequence[str],
    pool: ThreadPoolExecutor,
    fetcher: Callable[[str], str] = fetch,
    clock: Callable[[], float] = time.monotonic,
) -> Snapshot:
    """Read every endpoint at once; an endpoint that cannot be read is an error line."""

    def one(url: str) -> Snapshot:
        try:
            return parse_metrics(fetcher(url), clock())
        except (OSError, urllib.error.URLError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return Snapshot(clock(), errors={url: str(reason)})

    return combine(list(pool.map(one, urls)))


def watch(
    addresses: Iterable[str],
    interval: float,
    *,
    once: bool = False,
    console: Console | None = None,
    fetcher: Callable[[str], str] = fetch,
) -> None:
    """Refresh the view every ``interval`` seconds until interrupted; with ``once``, print one
    frame with rates over one interval and return."""
    urls = [metrics_url(address) for address in addresses]
    console = console or Console()
    with ThreadPoolExecutor(max_workers=min(len(urls), 16)) as pool:
        previous = scrape(urls, pool, fetcher)
        if once:
            time.sleep(interval)
            current = scrape(urls, pool, fetcher)
            console.print(render(compare(previous, current), current, previous, urls))
            return
        view = render(compare(None, previous), previous, None, urls)
        with Live(view, console=console, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(interval)
                current = scrape(urls, pool, fetcher)
                live.update(render(compare(previous, current), current, previous, urls))
                live.refresh()
                previous = current
