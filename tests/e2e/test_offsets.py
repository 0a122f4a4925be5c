"""Start positions on the embedded broker: where a new stage group starts (`start_from`) and
`wirestream reset-offsets`, refused while the group has live members."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys

import pytest
from aiokafka import AIOKafkaConsumer

from pipeline.kafka import client_options, ensure_topics
from pipeline.offsets import OffsetsError, apply_start_position, group_state, reset
from pipeline.producer import produce, read_topics
from tests.e2e.accounting import synthetic_articles
from tests.e2e.conftest import running_worker

pytestmark = pytest.mark.e2e


async def produce_in_batches(settings, articles: list[dict]) -> set[bytes]:
    """Several messages to a batch: a partition's end must count every message of its last
    batch (the embedded broker's own answer counts only the first)."""
    return set(await produce(settings, articles))


async def produce_before_and_after(settings) -> tuple[set[bytes], dt.datetime, set[bytes]]:
    """Articles produced before a moment and after it."""
    await ensure_topics(settings)
    before = await produce_in_batches(settings, synthetic_articles(5, "before"))
    await asyncio.sleep(0.05)  # message timestamps are in milliseconds
    moment = dt.datetime.now(tz=dt.UTC)
    await asyncio.sleep(0.05)
    after = await produce_in_batches(settings, synthetic_articles(3, "after"))
    return before, moment, after


async def committed_total(settings, stage: str) -> int:
    _, committed = await group_state(settings, settings.group_id(stage), settings.topic_raw)
    return sum(committed.values())


async def test_reset_offsets_moves_a_stopped_group_and_refuses_a_live_one(e2e_settings):
    settings = e2e_settings
    _, moment, _ = await produce_before_and_after(settings)
    assert await committed_total(settings, "clean") == 0

    moved = await reset(settings, "clean", moment)
    assert sum(new for _, new in moved.values()) == 5  # the first message after the moment
    assert await committed_total(settings, "clean") == 5
    moved = await reset(settings, "clean", "latest", dry_run=True)
    assert sum(new for _, new in moved.values()) == 8
    assert await committed_total(settings, "clean") == 5  # a dry run changes nothing
    await reset(settings, "clean", "latest")
    assert await committed_total(settings, "clean") == 8
    await reset(settings, "clean", "earliest")
    assert await committed_total(settings, "clean") == 0

    member = AIOKafkaConsumer(
        settings.topic_raw,
        **client_options(settings),
        group_id=settings.group_id("clean"),
        session_timeout_ms=int(settings.session_timeout * 1000),
        heartbeat_interval_ms=int(settings.heartbeat_interval * 1000),
    )
    await member.start()
    try:
        async with asyncio.timeout(60):
            while not member.assignment():
                await asyncio.sleep(0.1)
        with pytest.raises(OffsetsError, match="live member"):
            await reset(settings, "clean", "latest")
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "pipeline", "reset-offsets", "--stage", "clean", "--to",
             "latest", "--broker", settings.broker_url, "--app-prefix", settings.app_prefix,
             "--topic-raw", settings.topic_raw],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 1 and "live member" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    finally:
        await member.stop()
    assert await committed_total(settings, "clean") == 0


async def clean_keys(settings) -> set[bytes]:
    return {
        record.key
        async for record in read_topics(settings, [settings.topic_clean], idle_timeout=3.0)
        if record.key is not None
    }


@pytest.mark.parametrize("start", ["latest", "time"])
async def test_a_new_group_starts_where_start_from_says(e2e_settings, tmp_path, start):
    before, moment, after = await produce_before_and_after(e2e_settings)
    settings = e2e_settings.replace(
        stages=("clean",), start_from="latest" if start == "latest" else moment.isoformat()
    )
    done = await apply_start_position(settings, settings.stages)
    assert len(done) == 1 and settings.group_id("clean") in done[0]
    later = synthetic_articles(2, "later")
    async with running_worker(settings, tmp_path, f"start-{start}"):
        later_keys = await produce_in_batches(settings, later)
        expected = later_keys | (after if start == "time" else set())
        async with asyncio.timeout(120):
            while not expected <= await clean_keys(settings):
                await asyncio.sleep(0.5)
    assert await clean_keys(settings) == expected  # nothing from before the start
    assert not before & await clean_keys(settings)
    # The group has a position now: start_from leaves it alone from here on.
    again = await apply_start_position(settings, settings.stages)
    assert "already has a position" in again[0]
