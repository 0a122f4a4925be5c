"""`wirestream top` without a terminal: parsing exposition text, rates, quantiles, rendering."""

from __future__ import annotations

import io

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from pipeline.metrics import ProcessMetrics, StageMetrics
from pipeline.top import (
    combine,
    compare,
    histogram_quantile,
    metrics_url,
    parse_metrics,
    render,
    watch,
)


class Worker:
    """A worker's metrics as it would export them, driven by the test."""

    def __init__(self, *stages: str) -> None:
        self.registry = CollectorRegistry()
        # One set of metric families, labelled by stage, as the worker's /metrics combines them.
        self.metrics = StageMetrics(stages[0], self.registry)
        self.process = ProcessMetrics(self.registry)
        for stage in stages:
            for outcome in ("in", "out", "failed"):
                self.metrics.messages.labels(stage, outcome)
            self.metrics.ready.labels(stage).set(1)

    def handle(self, stage: str, count: int, seconds: float, failed: int = 0) -> None:
        metrics = self.metrics
        metrics.messages.labels(stage, "in").inc(count + failed)
        metrics.messages.labels(stage, "out").inc(count)
        metrics.messages.labels(stage, "failed").inc(failed)
        if failed:
            metrics.dead_letters.labels(stage, "invalid_json").inc(failed)
        for _ in range(count):
            metrics.stage_seconds.labels(stage).observe(seconds)

    def lag(self, stage: str, partition: int, value: int) -> None:
        self.process.consumer_lag.labels(stage, f"in-{stage}", str(partition)).set(value)

    def text(self) -> str:
        return generate_latest(self.registry).decode()


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("localhost:9108", "http://localhost:9108/metrics"),
        ("http://ner-1:9108", "http://ner-1:9108/metrics"),
        ("http://ner-1:9108/", "http://ner-1:9108/metrics"),
        ("https://w.example/custom/metrics", "https://w.example/custom/metrics"),
    ],
)
def test_endpoint_addresses(address, url):
    assert metrics_url(address) == url


def test_histogram_quantile_interpolates_like_prometheus():
    buckets = {0.1: 50.0, 0.2: 100.0, float("inf"): 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.198)
    # Ranks in the +Inf bucket: the highest finite bound.
    assert histogram_quantile(0.5, {0.1: 0.0, 0.2: 0.0, float("inf"): 10.0}) == 0.2
    assert histogram_quantile(0.5, {0.1: 0.0, float("inf"): 0.0}) is None
    assert histogram_quantile(0.5, {}) is None


def test_parse_reads_each_stage_from_a_workers_exposition_text():
    worker = Worker("clean", "ner")
    worker.handle("ner", 40, 0.03, failed=2)
    worker.lag("ner", 0, 7)
    worker.lag("ner", 1, 3)
    snapshot = parse_metrics(worker.text(), taken_at=5.0)
    ner = snapshot.stages["ner"]
    assert ner.messages == {"in": 42, "out": 40, "failed": 2}
    assert ner.dead_letters == 2
    assert ner.lag == {("in-ner", "0"): 7, ("in-ner", "1"): 3}
    assert (ner.workers, ner.ready) == (1, 1)
    assert histogram_quantile(0.5, ner.latency_buckets) == pytest.approx(0.0375)
    assert snapshot.stages["clean"].messages == {"in": 0, "out": 0, "failed": 0}


def test_several_workers_add_up_and_a_partition_lag_is_its_owners():
    first, second = Worker("ner"), Worker("ner", "classify")
    first.handle("ner", 10, 0.02)
    second.handle("ner", 30, 0.02)
    first.lag("ner", 0, 0)  # moved to the second worker, which reports the real lag
    second.lag("ner", 0, 12)
    second.metrics.ready.labels("ner").set(0)
    combined = combine([parse_metrics(first.text()), parse_metrics(second.text())])
    ner = combined.stages["ner"]
    assert ner.messages["out"] == 40
    assert ner.lag == {("in-ner", "0"): 12}
    assert (ner.workers, ner.ready) == (2, 1)
    assert set(combined.stages) == {"ner", "classify"}


def test_rates_and_latency_over_the_interval_between_two_frames():
    worker = Worker("clean", "ner")
    worker.handle("ner", 100, 0.5)
    first = parse_metrics(worker.text(), taken_at=10.0)
    (row,) = [r for r in compare(None, first) if r.stage == "ner"]
    assert row.rate_in is None and not row.latency_over_interval
    assert row.p50 == pytest.approx(0.375)  # since start: every article took 0.5 s

    worker.handle("ner", 20, 0.003, failed=4)
    second = parse_metrics(worker.text(), taken_at=12.0)
    rows = compare(first, second)
    assert [r.stage for r in rows] == ["clean", "ner"]
    ner = rows[1]
    assert (ner.rate_in, ner.rate_out, ner.rate_failed) == (12.0, 10.0, 2.0)
    assert ner.latency_over_interval
    assert ner.p99 < 0.005  # the interval's fast articles, not the slow ones before
    assert ner.dead_letters == 4
    clean = rows[0]
    assert clean.rate_in == 0 and not clean.latency_over_interval and clean.p50 is None


def test_a_restarted_worker_counts_from_zero_not_backwards():
    before = Worker("ner")
    before.handle("ner", 500, 0.01)
    after = Worker("ner")  # the worker restarted: its counters began again
    after.handle("ner", 8, 0.01)
    (row,) = compare(parse_metrics(before.text(), 0.0), parse_metrics(after.text(), 2.0))
    assert row.rate_out == 4.0


def rendered(renderable) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_render_shows_a_row_per_stage_with_its_figures_and_unreachable_endpoints():
    worker = Worker("clean", "ner")
    worker.handle("clean", 5, 0.001)
    worker.handle("ner", 10, 0.02, failed=1)
    worker.lag("ner", 0, 1234)
    first = parse_metrics(worker.text(), taken_at=0.0)
    worker.handle("ner", 30, 0.02)
    second = parse_metrics(worker.text(), taken_at=2.0)
    second.errors["http://gone:9108/metrics"] = "Connection refused"
    text = rendered(render(compare(first, second), second, first, ["a:9108", "gone:9108"]))
    (ner_line,) = [line for line in text.splitlines() if line.startswith("│ ner")]
    cells = [cell.strip() for cell in ner_line.strip("│ ").split("│")]
    assert cells == ["ner", "1/1", "15.0", "15.0", "0.0", "17.5 ms", "24.9 ms", "1,234", "1"]
    assert "✗ http://gone:9108/metrics: Connection refused" in text
    assert "since start" in text  # clean's latency: it had no article in the interval
    assert "from a:9108, gone:9108" in text


def test_watch_once_prints_one_measured_frame():
    worker = Worker("ner")
    texts = iter([worker.text(), None])

    def fetch(url: str) -> str:
        text = next(texts)
        if text is None:
            worker.handle("ner", 5, 0.01)
            return worker.text()
        return text

    output = io.StringIO()
    watch(["w:9108"], 0.01, once=True, console=Console(file=output, width=120), fetcher=fetch)
    printed = output.getvalue()
    assert "Wirestream" in printed and "│ ner" in printed
    assert "http://w:9108/metrics" in printed


def test_watch_reports_an_unreachable_endpoint_instead_of_failing():
    def refuse(url: str) -> str:
        raise ConnectionRefusedError(111, "Connection refused")

    output = io.StringIO()
    watch(["nothing:1"], 0.01, once=True, console=Console(file=output, width=120), fetcher=refuse)
    assert "✗ http://nothing:1/metrics" in output.getvalue()


def test_a_stage_without_readiness_of_its_own_shows_a_dash_not_zero_of_zero():
    worker = Worker("clean")
    worker.handle("clean", 5, 0.001)
    worker.metrics.messages.labels("dedup", "in").inc(5)  # the dedup agent, in clean's process
    first = parse_metrics(worker.text(), taken_at=0.0)
    second = parse_metrics(worker.text(), taken_at=2.0)
    text = rendered(render(compare(first, second), second, first, ["a:9108"]))
    (dedup_line,) = [line for line in text.splitlines() if line.startswith("│ dedup")]
    assert dedup_line.strip("│ ").split("│")[1].strip() == "–"
