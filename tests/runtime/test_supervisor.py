"""The supervisor without a broker: start-up failures are clear messages, not tracebacks;
health and metrics endpoints answer before the stages run."""

from __future__ import annotations

import asyncio
import platform
import shutil
import socket
import time

import aiohttp
import pytest
from click.testing import CliRunner

from pipeline.broker import free_port
from pipeline.cli import main
from pipeline.kafka import BrokerUnavailable, bootstrap_servers, faust_broker_url
from pipeline.runtime.supervisor import MetricsPortInUse, Supervisor


def test_broker_urls_in_every_common_spelling():
    assert bootstrap_servers("kafka://a:9092;kafka://b:9093") == ["a:9092", "b:9093"]
    assert bootstrap_servers("a:1,b") == ["a:1", "b:9092"]
    assert faust_broker_url("a:1,b:2") == "kafka://a:1;kafka://b:2"


async def test_an_unreachable_broker_gives_a_clear_error_after_retrying(settings, caplog):
    unreachable = settings.replace(broker=f"kafka://127.0.0.1:{free_port()}", startup_timeout=1.5)
    supervisor = Supervisor(unreachable)
    with pytest.raises(BrokerUnavailable, match=r"cannot reach Kafka at kafka://127\.0\.0\.1"):
        await supervisor.run()
    assert "retrying" in caplog.text
    assert not supervisor.metrics_dir.exists()


async def test_a_taken_metrics_port_is_a_clear_error_before_any_broker_retry(settings):
    with socket.socket() as taken, socket.socket() as broker:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker.bind(("127.0.0.1", 0))
        broker.listen()
        broker.setblocking(False)
        busy = settings.replace(
            metrics_port=port,
            broker=f"kafka://127.0.0.1:{broker.getsockname()[1]}",
            startup_timeout=30,
        )
        supervisor = Supervisor(busy)
        with pytest.raises(MetricsPortInUse, match=rf"metrics port {port} .*--metrics-port"):
            await supervisor.run()
        with pytest.raises(BlockingIOError):  # no client ever connected to the broker
            broker.accept()
    assert not supervisor.metrics_dir.exists()


def test_the_worker_command_says_which_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["worker", "--metrics-port", str(port)])
    assert result.exit_code == 1
    assert f"Error: metrics port {port} on 127.0.0.1 is already in use" in result.output
    assert "WIRESTREAM_METRICS_PORT" in result.output


async def test_health_and_metrics_endpoints_before_the_stages_run(settings):
    supervisor = Supervisor(settings)
    await supervisor._start_http()
    base = supervisor.metrics_url.removesuffix("/metrics")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as response:
                assert (response.status, await response.json()) == (503, {"alive": False})
            async with session.get(f"{base}/readyz") as response:
                assert response.status == 503
                assert await response.json() == {
                    "ready": False,
                    "stages": dict.fromkeys(settings.stages, False),
                    "partitions": dict.fromkeys(settings.stages, 0),
                }
            async with session.get(supervisor.metrics_url) as response:
                text = await response.text()
    finally:
        await supervisor.stop()
    assert "wirestream_worker_up 0.0" in text
    assert "wirestream_worker_ready 0.0" in text
    assert f'wirestream_build_info{{python_version="{platform.python_version()}"' in text
    for stage in settings.stages:
        assert f'wirestream_stage_restarts_total{{stage="{stage}"}} 0.0' in text


async def test_restart_backoff_starts_over_after_a_stage_ran_well(settings):
    from pipeline.runtime.supervisor import BACKOFF_RESET_AFTER

    class Exited:
        pid, returncode = 4242, -9

    supervisor = Supervisor(settings)
    try:
        stage = supervisor.stages["ner"]
        stage.restarts, stage.was_ready, stage.process = 5, True, Exited()
        stage.started_at = time.monotonic() - BACKOFF_RESET_AFTER - 1
        await supervisor._check(stage)
        assert stage.restarts == 1  # reset, then counted: the next delay is 1 s, not 30 s
        assert stage.restart_at - time.monotonic() < 1.5
        stage.process, stage.was_ready = Exited(), True
        stage.started_at = time.monotonic()  # died again at once: the backoff grows
        await supervisor._check(stage)
        assert stage.restarts == 2
    finally:
        await supervisor.stop()


def test_stage_metrics_leave_out_a_file_a_starting_process_has_not_sized(tmp_path):
    from prometheus_client import CollectorRegistry
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    from pipeline.runtime.supervisor import StageMetrics

    name = "wirestream_stage_ready"
    written = MmapedDict(str(tmp_path / "gauge_livesum_4242.db"))
    written.write_value(mmap_key(name, name, ["stage"], ["ner"], ""), 1.0, 0.0)
    written.close()
    (tmp_path / "gauge_livesum_4343.db").touch()  # created, not yet sized
    collector = StageMetrics(CollectorRegistry(), path=str(tmp_path))
    [metric] = [m for m in collector.collect() if m.name == name]
    assert [(s.labels["stage"], s.value) for s in metric.samples] == [("ner", 1.0)]


def test_a_metrics_file_being_created_reads_as_not_ready_yet(settings):
    supervisor = Supervisor(settings)
    try:
        # A starting stage process has created its file but not yet sized it.
        (supervisor.metrics_dir / "gauge_livemax_4242.db").touch()
        assert supervisor.stage_readiness() == dict.fromkeys(settings.stages, False)
    finally:
        shutil.rmtree(supervisor.metrics_dir)


async def test_stage_processes_start_while_the_broker_does_and_wait_for_it(settings):
    """They load their models meanwhile and join their groups only once released (their
    standard input closed); a broker that fails to start takes them down with the worker."""
    supervisor = Supervisor(settings.replace(broker=f"kafka://127.0.0.1:{free_port()}"))
    held: list[bool] = []

    async def broker_fails() -> None:
        await asyncio.sleep(1.0)
        for stage in supervisor.stages.values():
            assert stage.process is not None and stage.process.stdin is not None
            held.append(stage.process.returncode is None and not stage.process.stdin.is_closing())
        raise RuntimeError("the broker did not start")

    with pytest.raises(RuntimeError, match="the broker did not start"):
        await supervisor.start(broker_fails())
    assert held == [True] * len(settings.stages)
    assert all(s.process is not None and s.process.returncode is not None
               for s in supervisor.stages.values())  # fmt: skip
    assert not supervisor.metrics_dir.exists()
