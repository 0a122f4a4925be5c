"""A broker that is not there at start-up: each command retries, then says so in one clear line
and exits 1, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.broker import free_port
from tests.conftest import REPO


@pytest.mark.parametrize(
    "command",
    [
        ["worker", "--metrics-port", "0"],
        ["produce", "samples"],
        ["demo", "--no-samples", "samples"],
    ],
    ids=["worker", "produce", "demo"],
)
def test_an_unreachable_broker_is_a_clear_error_after_retries(command, tmp_path):
    broker = f"kafka://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
    env.update(WIRESTREAM_STARTUP_TIMEOUT="2", WIRESTREAM_DATA_DIR=str(tmp_path / "state"))
    extra = ["-o", str(tmp_path / "out.jsonl")] if command[0] == "demo" else []
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", *command, *extra, "--broker", broker],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"Error: cannot reach Kafka at {broker}" in output
    assert "retrying" in output
    assert "Traceback" not in output
