"""A real Prometheus scrapes a running worker while articles flow: every alert rule loads, and
every dashboard query and every alert expression evaluates to series.

Alert expressions compare against thresholds, so a healthy pipeline makes them return nothing;
they are evaluated with each comparison made ``bool`` (``x > bool 0.05``), which returns every
series the alert watches. A misspelt metric or label then shows up as an empty result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from pipeline.broker import free_port
from pipeline.kafka import client_options
from pipeline.producer import produce, produce_raw
from pipeline.settings import Settings
from tests.conftest import REPO
from tests.e2e.conftest import running_worker
from tests.e2e.test_pipeline import sample_articles

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
# Grafana's variables, as a query over the last minute of a 1 s scrape resolves them.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$job": ".+", "${datasource}": "prometheus"}
COMPARISON_WITH_NUMBER = re.compile(r"(==|!=|>=|<=|>|<)(\s*)(?=[-+]?(\d|\.\d))")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        PROMETHEUS is None or PROMTOOL is None,
        reason="Prometheus is not installed: `apt-get install -y prometheus` (Debian, Ubuntu) or "
        "put the prometheus and promtool binaries on PATH",
    ),
]


def with_boolean_comparisons(expr: str) -> str:
    """``a > 0.05`` → ``a > bool 0.05``: every watched series, valued 0 or 1."""
    return COMPARISON_WITH_NUMBER.sub(r"\1 bool\2", expr)


def alert_rules() -> list[dict[str, Any]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += [rule for rule in group["rules"] if "alert" in rule]
    return rules


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # panels inside a collapsed row


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target, with Grafana's variables filled in."""
    queries = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        row = ""
        for panel in panels(dashboard):
            if panel["type"] == "row":
                row = panel["title"]
                continue
            for target in panel.get("targets", []):
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                queries.append((f"{path.name}: {row} / {panel['title']} [{target['refId']}]", expr))
    return queries


def scrape_config(worker_address: str, rules: list[Path]) -> dict[str, Any]:
    """The shipped Prometheus configuration, pointed at one local worker and scraping fast."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(path) for path in rules]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "wirestream"]
    del job["dns_sd_configs"]
    job["static_configs"] = [{"targets": [worker_address], "labels": {"service": "local"}}]
    job.pop("relabel_configs", None)
    config["scrape_configs"] = [job]
    return config


@contextlib.asynccontextmanager
async def running_prometheus(config: dict[str, Any], workdir: Path) -> AsyncIterator[str]:
    """Prometheus on a free local port with its storage in ``workdir``; stopped on exit."""
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("w") as log:
        process = await asyncio.create_subprocess_exec(
            PROMETHEUS,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session, asyncio.timeout(30):
            while True:
                assert process.returncode is None, log_path.read_text()
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{url}/-/ready") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def query(session: aiohttp.ClientSession, url: str, expr: str) -> list[dict[str, Any]]:
    async with session.get(f"{url}/api/v1/query", params={"query": expr}) as response:
        body = await response.json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    return body["data"]["result"]


async def keep_producing(settings: Settings, articles: list[dict], stop: asyncio.Event) -> None:
    """A round of the sample articles every second, each round under new ids."""
    round_number = 0
    while not stop.is_set():
        batch = [{**a, "id": f"flow-{round_number}-{i}"} for i, a in enumerate(articles)]
        await produce(settings, batch)
        round_number += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def dead_letter_at_every_stage(settings: Settings) -> None:
    """A malformed message on each stage's input topic, so every stage has dead letters."""
    await produce_raw(settings, [(b"broken-raw", b'{"body": "unterminated')])
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        for topic in (settings.topic_clean, settings.topic_entities):
            await producer.send_and_wait(topic, b"not an article", key=b"broken-" + topic.encode())
    finally:
        await producer.stop()


async def wait_until(session, url: str, expr: str, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not await query(session, url, expr):
            await asyncio.sleep(0.5)


def test_every_alert_rule_file_passes_promtool():
    for path in RULE_FILES:
        result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True)
        assert result.returncode == 0, result.stdout + result.stderr
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests
    result = subprocess.run(
        [PROMTOOL, "test", "rules", *map(str, tests)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_shipped_scrape_config_is_valid():
    result = subprocess.run(
        [PROMTOOL, "check", "config", str(PROMETHEUS_DIR / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_dashboards_and_alerts_return_series_from_a_live_worker(e2e_settings, tmp_path):
    settings = e2e_settings
    stop = asyncio.Event()
    async with running_worker(settings, tmp_path, "worker") as worker:
        address = f"127.0.0.1:{worker.port}"
        async with (
            running_prometheus(scrape_config(address, RULE_FILES), tmp_path) as url,
            aiohttp.ClientSession() as session,
        ):
            flow = asyncio.create_task(keep_producing(settings, sample_articles(), stop))
            try:
                await dead_letter_at_every_stage(settings)
                await wait_until(session, url, f'up{{instance="{address}"}} == 1')
                # Through the whole pipeline, with a lag sample from every stage.
                await wait_until(
                    session, url, 'wirestream_messages_total{stage="classify",outcome="out"} > 0'
                )
                await wait_until(
                    session, url, "count(count by (stage) (wirestream_consumer_lag_messages)) == 3"
                )
                await wait_until(
                    session, url, 'sum(wirestream_dead_letters_total{stage="classify"}) > 0'
                )
                # Each round repeats the texts under new ids: near-duplicates from the second on.
                await wait_until(session, url, "sum(wirestream_duplicates_total) > 0")
                # Several scrapes of a counter, so that rates span several samples.
                await wait_until(
                    session,
                    url,
                    'count_over_time(wirestream_messages_total{stage="classify",outcome="out"}[1m])'
                    " >= 5",
                )

                async with session.get(f"{url}/api/v1/rules") as response:
                    groups = (await response.json())["data"]["groups"]
                loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
                empty = []
                for rule in alert_rules():
                    name = rule["alert"]
                    assert name in loaded, f"alert {name} not loaded by Prometheus"
                    assert loaded[name]["health"] == "ok", (name, loaded[name].get("lastError"))
                    if not await query(session, url, with_boolean_comparisons(rule["expr"])):
                        empty.append(f"alert {name}: {rule['expr']}")
                for where, expr in dashboard_queries():
                    if not await query(session, url, expr):
                        empty.append(f"{where}: {expr}")
            finally:
                stop.set()
                await flow
    assert not empty, "queries that returned no series:\n" + "\n".join(empty)
