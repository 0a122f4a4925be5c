"""`wirestream replay` on the embedded broker: dead letters go back to their topic once the cause
is fixed, byte for byte, and replaying twice adds nothing a consumer keeps."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from pipeline import codec
from pipeline.producer import produce, produce_raw, read_topics
from pipeline.replay import Selection, replay
from tests.e2e.accounting import (
    count,
    enriched,
    settle,
    synthetic_articles,
    worker_environment,
)
from tests.e2e.conftest import running_worker

pytestmark = pytest.mark.e2e


async def dead_letters(settings) -> list[dict]:
    return [
        codec.loads(record.value)
        async for record in read_topics(settings, [settings.topic_dlq], idle_timeout=2.0)
    ]


async def letters_for(settings, key: str, at_least: int, timeout: float) -> list[dict]:
    """The dead letters of ``key``, once there are ``at_least`` of them."""
    async with asyncio.timeout(timeout):
        while True:
            letters = [letter for letter in await dead_letters(settings) if letter["key"] == key]
            if len(letters) >= at_least:
                return letters


async def test_replay_after_the_cause_is_fixed(e2e_settings, tmp_path):
    # The cause: a message size limit too small for NER's output on articles naming many
    # people (each mention is listed), though their clean text and dead letters fit.
    cramped = e2e_settings.replace(max_message_bytes=10_000)
    long_ones = [
        {**article, "body": "Ines Varga met Tomas Brenner in Port Elling. " * 120}
        for article in synthetic_articles(4, "long")
    ]
    short_ones = synthetic_articles(2, "short")
    expected = {a["id"] for a in long_ones + short_ones} | {"not-utf8"}
    async with running_worker(cramped, tmp_path, "cramped"):
        await produce(cramped, long_ones + short_ones)
        await produce_raw(cramped, [(b"not-utf8", b'{"body": "caf\xe9"}')])
        await settle(cramped, expected, timeout=120)
    before = await count(cramped, expected)
    assert set(before.event_ids) == {a["id"] for a in short_ones}
    assert dict(before.dead) == {
        **{a["id"]: {"undeliverable"} for a in long_ones},  # at NER
        "not-utf8": {"not_utf8"},
    }

    fixed = e2e_settings  # the default limit
    dry = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pipeline", "replay", "--stage", "ner", "--reason",
         "undeliverable", "--dry-run"],
        env=worker_environment(fixed), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert f"would replay 4; 4 to {fixed.topic_clean}" in dry.stderr
    async with running_worker(fixed, tmp_path, "fixed"):
        first = await replay(fixed, Selection(reasons=frozenset({"undeliverable"})))
        # Every article is accounted for already (as a dead letter): wait for the events.
        await enriched(fixed, expected - {"not-utf8"}, timeout=120)
        again = await replay(fixed, Selection(reasons=frozenset({"undeliverable"})))
        bytes_back = await replay(fixed, Selection(reasons=frozenset({"not_utf8"})))
        await enriched(fixed, expected - {"not-utf8"}, timeout=120)
        letters = await letters_for(fixed, "not-utf8", 2, timeout=60)
    after = await count(fixed, expected)
    assert (first.sent, again.sent, bytes_back.sent) == (4, 4, 1)
    # Every long article enriched once over, whatever the number of replays.
    assert set(after.event_ids) == expected - {"not-utf8"}
    assert all(len(ids) == 1 for ids in after.event_ids.values())
    # The non-UTF-8 message went back as the very same bytes, and failed the same way.
    original, replayed = letters[0], letters[-1]
    assert replayed["payload_encoding"] == "base64"
    assert (replayed["payload"], replayed["reason"]) == (original["payload"], "not_utf8")
