"""The command line as a user meets it (click's CliRunner, no broker)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from pipeline import codec, schemas
from pipeline.broker import free_port
from pipeline.cli import SettingOption, _run, main
from tests.conftest import REPO

COMMANDS = ["demo", "worker", "produce", "tail", "enrich", "broker", "settings", "top",
            "train-topics", "eval-topics", "replay", "reset-offsets"]  # fmt: skip
SAMPLE = REPO / "samples" / "04-berlin-marathon.txt"


def settings_of(command: str) -> set[str]:
    return {p.name for p in main.commands[command].params if isinstance(p, SettingOption)}


def help_of(command: str) -> str:
    result = CliRunner().invoke(main, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    assert "Usage: " in help_of(command)


def test_each_command_takes_only_the_settings_it_uses():
    assert settings_of("train-topics") == settings_of("eval-topics") == set()
    assert settings_of("broker") == {"embedded_broker"}
    assert "embedded_broker" in settings_of("demo")
    assert not {"embedded_broker"} & (settings_of("worker") | settings_of("produce"))
    assert settings_of("top") == {"metrics_host", "metrics_port"}
    enrich = settings_of("enrich")
    assert {"spacy_model", "classify_threshold", "batch_size", "validate_output"} <= enrich
    assert not {"broker", "dedup_threshold", "topic_raw", "metrics_port"} & enrich
    tail = settings_of("tail")
    assert {"broker", "sasl_password", "start_from", "topic_enriched"} <= tail
    assert not {"dedup_threshold", "batch_size", "spacy_model"} & tail
    assert len(help_of("enrich").splitlines()) < 80


def test_help_groups_settings_by_section_with_fitting_metavars():
    text = help_of("worker")
    sections = [line for line in text.splitlines() if line and not line[0].isspace()]
    assert sections[-9:] == [
        "Connection and security:", "Topics:", "Consumer groups:", "Stage limits:", "NER:",
        "Classification:", "Duplicates:", "Metrics:", "General:",
    ]  # fmt: skip
    assert "--dedup-threshold 0..1" in text and "--classify-threshold 0..1" in text
    assert "--dedup-window-hours HOURS" in text and "--metrics-port PORT" in text
    assert "--log-level [debug|info|warning|error|critical]" not in text  # a named metavar
    assert "--log-level LEVEL" in text


def test_short_flags_mean_the_same_in_every_command():
    meaning: dict[str, set[str]] = {}
    for command in main.commands.values():
        for param in command.params:
            flags = getattr(param, "opts", [])
            longs = {flag for flag in flags if flag.startswith("--")}
            for short in (flag for flag in flags if len(flag) == 2):
                meaning.setdefault(short, set()).update(longs)
    assert all(len(longs) == 1 for longs in meaning.values()), meaning
    assert meaning["-n"] == {"--count"} and meaning["-o"] == {"--output"}


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


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--partitions", "zero"], {}, "Invalid value for '--partitions': 'zero'"),
        (
            [],
            {"WIRESTREAM_PARTITIONS": "zero"},
            "partitions must be a whole number; got 'zero' (from environment variable "
            "WIRESTREAM_PARTITIONS)",
        ),
        (
            [],
            {"WIRESTREAM_BATCH_SIZE": "-3"},
            "batch_size must be at least 1; got -3 (from environment variable "
            "WIRESTREAM_BATCH_SIZE)",
        ),
        (
            ["--batch-size", "-3"],
            {},
            "batch_size must be at least 1; got -3 (from flag --batch-size)",
        ),
        (["--log-level", "loud"], {}, "Invalid value for '--log-level': 'loud' is not one of"),
        (
            [],
            {"WIRESTREAM_LOG_LEVEL": "loud"},
            "log_level must be one of debug, info, warning, error, critical; got 'loud' (from "
            "environment variable WIRESTREAM_LOG_LEVEL)",
        ),
        (
            ["--heartbeat-interval", "20"],
            {"WIRESTREAM_SESSION_TIMEOUT": "10"},
            "heartbeat_interval must be shorter than session_timeout (from flag "
            "--heartbeat-interval, environment variable WIRESTREAM_SESSION_TIMEOUT)",
        ),
    ],
)
@pytest.mark.parametrize("command", ["settings", "worker", "demo"])
def test_bad_settings_are_usage_errors_naming_the_setting_and_its_source(
    command, args, env, message
):
    result = CliRunner().invoke(main, [command, *args], env=env, terminal_width=400)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_log_levels_are_read_regardless_of_case():
    result = CliRunner().invoke(main, ["settings", "--log-level", "INFO"])
    assert result.exit_code == 0
    assert "log_level            info " in result.output


def test_enrich_writes_valid_events_and_reports_bad_inputs(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"body": "   "}\n{"title": "no body"}\nnot json\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["enrich", str(SAMPLE), str(broken), "-o", str(out)])
    assert result.exit_code == 1  # some inputs were bad
    (event,) = [codec.loads(line) for line in out.read_bytes().splitlines()]
    assert schemas.errors("enriched-article", event) == []
    assert event["topic"] == "medtop:15000000"
    assert "skipped" in result.stderr and "broken.jsonl:3" in result.stderr
    letters = [codec.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert sorted(letter["reason"] for letter in letters) == ["empty_body", "schema_violation"]
    assert {(letter["input_file"], letter["input_line"]) for letter in letters} == {
        (str(broken), 1),
        (str(broken), 2),
    }
    assert all(schemas.errors("dead-letter", letter) == [] for letter in letters)


def test_enrich_dead_letters_echo_a_bounded_payload(tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"\n" + codec.dumps_line({"body": "word " * 1_000_000}))  # 5 MB, line 2
    result = CliRunner().invoke(main, ["enrich", str(big)])
    assert result.exit_code == 1
    assert len(result.stderr) < 5000
    (letter,) = [codec.loads(line) for line in result.stderr.splitlines()]
    assert letter["reason"] == "too_large"
    assert (letter["input_file"], letter["input_line"]) == (str(big), 2)
    assert letter["payload_truncated"] is True and len(letter["payload"]) == 2000


def test_enrich_dash_output_is_stdout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["enrich", str(SAMPLE), "-o", "-"])
    assert result.exit_code == 0, result.output
    assert codec.loads(result.stdout)["topic"] == "medtop:15000000"
    assert not (tmp_path / "-").exists()


class ModelsLoaded(Exception):
    pass


@pytest.fixture
def no_models(monkeypatch):
    """Loading the stages' models is an error: a path problem must be found before it."""

    def refuse(*_, **__):
        raise ModelsLoaded

    monkeypatch.setattr("pipeline.enrich.Enricher.__init__", refuse)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/file.jsonl"], "Path '/no/such/file.jsonl' does not exist"),
        ([str(SAMPLE), "-o", "{file}/under-a-file.jsonl"], "cannot write"),
        ([str(SAMPLE), "-o", "{missing}/x.jsonl"], "cannot write"),
    ],
)
def test_enrich_path_problems_are_reported_before_models_load(tmp_path, no_models, args, message):
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    args = [a.format(file=plain, missing=tmp_path / "missing") for a in args]
    result = CliRunner().invoke(main, ["enrich", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not isinstance(result.exception, ModelsLoaded)
    assert not (tmp_path / "missing").exists()  # no folder made on a typo


UNREACHABLE = ["--startup-timeout", "1"]


@pytest.mark.parametrize(
    "args",
    [
        ["produce", str(SAMPLE)],
        ["tail"],
        ["replay", "--dry-run"],
        ["reset-offsets", "--stage", "ner", "--to", "latest"],
        ["worker", "--start-from", "latest", "--metrics-port", "0"],
    ],
)
def test_kafka_commands_wait_for_an_unreachable_broker_alike_and_say_so(args, caplog):
    broker = ["--broker", f"kafka://127.0.0.1:{free_port()}"]
    with caplog.at_level(logging.WARNING, logger="pipeline.kafka"):
        result = CliRunner().invoke(main, [*args, *broker, *UNREACHABLE])
    assert result.exit_code == 1, result.output
    assert "cannot reach Kafka" in result.output
    assert "Traceback" not in result.output
    assert any("not reachable" in r.getMessage() for r in caplog.records)


def test_ctrl_c_is_exit_130_for_sync_commands(monkeypatch):
    def interrupted(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr("pipeline.top.watch", interrupted)
    result = CliRunner().invoke(main, ["top", "--once"])
    assert result.exit_code == 130


def test_tail_waits_for_the_broker_and_ctrl_c_ends_it_with_130():
    broker = f"kafka://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "tail", "--broker", broker, "--startup-timeout", "60"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            seen.append(line)
            if "not reachable" in line:
                break
        assert "not reachable" in seen[-1], seen
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=30)[1]
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in rest and "Unclosed" not in rest, rest


def test_a_command_that_cleans_up_after_ctrl_c_still_exits_130():
    async def cleans_up() -> str:
        os.kill(os.getpid(), signal.SIGINT)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return "cleaned up"  # the cancellation is handled, not re-raised
        return "not interrupted"

    with pytest.raises(SystemExit) as stopped:
        _run(cleans_up())
    assert stopped.value.code == 130
