"""The command line as a user meets it (click's CliRunner, no broker)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipeline import codec, schemas
from pipeline.broker import free_port
from pipeline.cli import main
from tests.conftest import REPO

COMMANDS = ["demo", "worker", "produce", "tail", "enrich", "broker", "settings", "top",
            "train-topics", "eval-topics"]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_settings_show_flags_env_and_values():
    result = CliRunner().invoke(
        main, ["settings", "--partitions", "7"], env={"WIRESTREAM_BATCH_SIZE": "9"}
    )
    assert result.exit_code == 0
    lines = {
        line.split()[0]: line
        for line in result.output.splitlines()
        if line and not line.startswith(" ")
    }
    assert lines["partitions"].split()[1] == "7"
    assert lines["batch_size"].split()[1] == "9"
    assert "WIRESTREAM_SPACY_MODEL" in result.output


def test_bad_setting_is_a_usage_error_not_a_traceback():
    result = CliRunner().invoke(main, ["settings", "--partitions", "zero"])
    assert result.exit_code == 2
    assert "cannot read 'zero'" in result.output


def test_enrich_writes_valid_events_and_reports_bad_inputs(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"body": "   "}\n{"title": "no body"}\nnot json\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    sample = REPO / "samples" / "04-berlin-marathon.txt"
    result = CliRunner().invoke(main, ["enrich", str(sample), str(broken), "-o", str(out)])
    assert result.exit_code == 1  # some inputs were bad
    (event,) = [codec.loads(line) for line in out.read_bytes().splitlines()]
    assert schemas.errors("enriched-article", event) == []
    assert event["topic"] == "medtop:15000000"
    assert "skipped" in result.stderr and "broken.jsonl:3" in result.stderr
    letters = [codec.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert sorted(letter["reason"] for letter in letters) == ["empty_body", "schema_violation"]


def test_produce_to_an_unreachable_broker_says_so_without_a_traceback():
    sample = REPO / "samples" / "04-berlin-marathon.txt"
    args = [
        "produce",
        "--broker",
        f"kafka://127.0.0.1:{free_port()}",
        "--startup-timeout",
        "1",
        str(sample),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "cannot reach Kafka" in result.output
    assert "Traceback" not in result.output
