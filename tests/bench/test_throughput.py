"""`make bench`: a worker it launched that exits ends the wait at once, saying how it ended."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

import throughput
from _common import WorkerDied, on_topics, unless


def started(command: str, log: Path) -> throughput.Worker:
    """A stand-in for a launched `wirestream worker`: a Python command writing to ``log``."""
    with log.open("ab") as output:
        process = subprocess.Popen([sys.executable, "-c", command], stdout=output, stderr=output)
    return throughput.Worker(process, "clean,ner,classify", log)


async def test_a_worker_that_exits_ends_the_wait_with_its_status_and_its_log(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))
    worker = started("import sys; print('OSError: no model here'); sys.exit(3)", log)
    cancelled = asyncio.Event()

    async def events_that_never_come() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    began = time.monotonic()
    with pytest.raises(WorkerDied) as died:
        await unless(events_that_never_come(), throughput.exits([worker]))
    assert time.monotonic() - began < 10
    message = str(died.value)
    assert f"(pid {worker.process.pid}) exited with 3" in message
    assert "--stages clean,ner,classify" in message
    assert message.endswith("OSError: no model here")
    assert "line 99" in message and "line 10\n" not in message  # the end of the log only
    assert cancelled.is_set()


async def test_while_every_worker_runs_the_wait_gives_its_result(tmp_path):
    worker = started("import time; time.sleep(60)", tmp_path / "worker.log")
    try:
        assert await unless(asyncio.sleep(0.8, result=42), throughput.exits([worker])) == 42
        assert worker.process.poll() is None
    finally:
        worker.process.kill()
        worker.process.wait()


def test_each_tag_has_topics_and_groups_of_its_own(settings):
    base = settings.replace(app_prefix="bench-run1")
    one, two = on_topics(base, "one-0"), on_topics(base, "two-0")
    names = ("raw", "dedup", "dedup_index", "clean", "entities", "enriched", "dlq")
    ones = [getattr(one, f"topic_{name}") for name in names]
    assert len(set(ones)) == len(names)
    assert all(topic.startswith("bench-run1-one-0-") for topic in ones)
    assert not set(ones) & {getattr(two, f"topic_{name}") for name in names}
    assert (one.app_prefix, two.app_prefix) == ("bench-run1-one-0", "bench-run1-two-0")
