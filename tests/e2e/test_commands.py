"""`produce` and `tail` as a user runs them, against the embedded broker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline import codec

pytestmark = pytest.mark.e2e


def wirestream(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--broker", settings.broker_url],
        env={**os.environ, "WIRESTREAM_IDEMPOTENCE": "off"},  # the embedded broker lacks it
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_produce_streams_a_file_and_tail_reads_it_back(e2e_settings, tmp_path):
    topic = ["--topic-raw", e2e_settings.topic_raw]
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(
        b"".join(codec.dumps_line({"id": f"a{n}", "body": f"Story {n}."}) for n in range(3))
        + b"not json\n"
    )
    # The embedded broker lacks idempotent writes; the settings under test say whether to ask.
    idempotence = ["--idempotence", str(e2e_settings.idempotence).lower()]
    pushed = wirestream(e2e_settings, "produce", str(feed), *topic, *idempotence)
    assert pushed.returncode == 1, pushed.stderr  # one line could not be read
    assert f"skipped {feed}:4: not JSON" in pushed.stderr
    assert f"pushed 3 articles to {e2e_settings.topic_raw}" in pushed.stderr
    assert "Traceback" not in pushed.stderr

    shown = wirestream(e2e_settings, "tail", "-t", e2e_settings.topic_raw, "-n", "3")
    assert shown.returncode == 0, shown.stderr
    assert sorted(codec.loads(line)["id"] for line in shown.stdout.splitlines()) == [
        "a0", "a1", "a2",
    ]  # fmt: skip


def test_a_kafka_error_is_one_line_not_a_traceback(e2e_settings):
    # The embedded broker has no idempotent writes; the producer's request for them fails.
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "produce", "-", "--broker", e2e_settings.broker_url,
         "--topic-raw", e2e_settings.topic_raw, "--idempotence", "on"],
        input='{"body": "x"}\n', capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("Error: Kafka answered UnknownError")
