"""Liveness and readiness of a real worker: not ready while loading, ready once consuming with its
partitions, neither while a stage process is down, both again after the supervisor restarts it."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import aiohttp
import pytest

from pipeline.runtime.supervisor import Supervisor
from tests.e2e.conftest import READY_TIMEOUT, counter

pytestmark = pytest.mark.e2e


async def probe(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with session.get(url) as response:
        return response.status, await response.json()


async def until_status(session, url: str, status: int, timeout: float) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            code, body = await probe(session, url)
            if code == status:
                return body
            await asyncio.sleep(0.1)


async def test_probes_follow_the_stage_process_through_start_crash_and_restart(
    e2e_settings, tmp_path
):
    settings = e2e_settings.replace(stages=("clean",))
    with (tmp_path / "worker.log").open("w") as log:
        supervisor = Supervisor(settings, log_stream=log)
        await supervisor.start()
        watcher = asyncio.create_task(supervisor.supervise())
        base = supervisor.metrics_url.removesuffix("/metrics")
        try:
            async with aiohttp.ClientSession() as session:
                status, body = await probe(session, f"{base}/readyz")
                assert status == 503 and body["stages"] == {"clean": False}
                assert (await probe(session, f"{base}/healthz"))[0] == 200

                body = await until_status(session, f"{base}/readyz", 200, READY_TIMEOUT)
                assert body == {
                    "ready": True,
                    "stages": {"clean": True},
                    "partitions": {"clean": settings.partitions},
                }

                os.kill(supervisor.stages["clean"].process.pid, signal.SIGKILL)
                await until_status(session, f"{base}/healthz", 503, 10)
                assert (await probe(session, f"{base}/readyz"))[0] == 503

                await until_status(session, f"{base}/healthz", 200, 30)
                await until_status(session, f"{base}/readyz", 200, READY_TIMEOUT)
                restarts = counter(supervisor, "wirestream_stage_restarts_total", stage="clean")
        finally:
            await supervisor.stop()
            await watcher
    assert restarts == 1
