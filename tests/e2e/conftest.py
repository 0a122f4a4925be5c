"""End-to-end fixtures: one embedded broker for the session, real worker processes per test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest

from pipeline.broker import EMBEDDED_SESSION_TIMEOUT, EmbeddedBroker
from pipeline.producer import Record, read_topics
from pipeline.runtime.supervisor import Supervisor
from pipeline.settings import Settings

READY_TIMEOUT = 120.0

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log=log) as running:
        yield running


@pytest.fixture
def e2e_settings(settings: Settings, broker: EmbeddedBroker) -> Settings:
    return settings.replace(
        broker=broker.url, session_timeout=EMBEDDED_SESSION_TIMEOUT, batch_timeout=0.1
    )


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, log_dir: Path, name: str) -> AsyncIterator[Supervisor]:
    """A `wirestream worker` (supervisor and stage processes), ready, stopped on exit."""
    with (log_dir / f"{name}.log").open("w", encoding="utf-8") as log:
        supervisor = Supervisor(settings, log_stream=log)
        await supervisor.start()
        watcher = asyncio.create_task(supervisor.supervise())
        try:
            await supervisor.wait_ready(READY_TIMEOUT)
            yield supervisor
        finally:
            await supervisor.stop()
            await watcher


async def collect(
    settings: Settings, topics: Sequence[str], count: int, timeout: float = 120.0
) -> list[Record]:
    """Read the topics from the beginning until ``count`` messages have arrived."""
    records: list[Record] = []
    async with asyncio.timeout(timeout):
        async for record in read_topics(settings, topics):
            records.append(record)
            if len(records) >= count:
                break
    return records


def counter(supervisor: Supervisor, name: str, **labels: str) -> float:
    return supervisor.registry.get_sample_value(name, labels) or 0.0
