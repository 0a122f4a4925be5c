import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from pipeline import settings as settings_module
from pipeline.cli import settings_table
from pipeline.settings import GROUPS, Settings, SettingsError, describe


def test_defaults_match_the_documented_topology():
    settings = Settings.load(env={})
    assert settings.stages == ("clean", "ner", "classify")
    assert settings.pipeline_topics == (
        "articles.raw", "articles.clean", "articles.entities", "articles.enriched", "articles.dlq",
    )  # fmt: skip
    assert settings.broker is None
    assert settings.broker_url == "kafka://127.0.0.1:9092"
    assert settings.group_id("ner") == "wirestream-ner"


def test_the_dedup_topic_is_created_with_one_partition_whatever_the_others_have():
    settings = Settings.load({"partitions": "6"}, env={})
    assert settings.topic_partitions == {
        "articles.raw": 6, "articles.clean": 6, "articles.entities": 6,
        "articles.enriched": 6, "articles.dlq": 6, "articles.dedup": 1, "articles.dedup-index": 1,
    }  # fmt: skip


def test_environment_is_read_and_typed():
    settings = Settings.load(
        env={
            "WIRESTREAM_BROKER": "kafka://k1:9092",
            "WIRESTREAM_STAGES": "ner, classify",
            "WIRESTREAM_PARTITIONS": "12",
            "WIRESTREAM_CLASSIFY_THRESHOLD": "0.4",
            "WIRESTREAM_CLASSIFY_MODEL": "/models/topics",
        }
    )
    assert settings.broker == "kafka://k1:9092"
    assert settings.stages == ("ner", "classify")
    assert settings.partitions == 12
    assert settings.classify_threshold == 0.4
    assert settings.classify_model == Path("/models/topics")


def test_flags_override_environment_and_none_means_not_given():
    settings = Settings.load(
        {"partitions": "3", "broker": None},
        env={"WIRESTREAM_PARTITIONS": "8", "WIRESTREAM_BROKER": "kafka://x:1"},
    )
    assert settings.partitions == 3
    assert settings.broker == "kafka://x:1"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"stages": "clean,nre"}, "stages"),
        ({"partitions": "0"}, "partitions must be at least 1"),
        ({"start_from": "yesterday"}, "start_from must be earliest, latest or an ISO 8601"),
        ({"validate_output": "some"}, "validate_output must be one of off, sample, all"),
        ({"partitions": "many"}, "partitions must be a whole number"),
        ({"classify_threshold": "1.5"}, "threshold"),
        ({"heartbeat_interval": "20", "session_timeout": "10"}, "heartbeat"),
        ({"topic_dedup": "articles.clean"}, "different topic"),
        ({"no_such_setting": "1"}, "unknown setting"),
        ({"processing_guarantee": "exactly-twice"}, "processing_guarantee"),
        ({"embedded_broker": "redpanda"}, "embedded_broker must be one of auto, kafka, tansu"),
    ],
)
def test_bad_values_are_reported(overrides, message):
    with pytest.raises(SettingsError, match=message):
        Settings.load(overrides, env={})


def test_settings_round_trip_through_strings_for_child_processes():
    settings = Settings.load({"stages": "ner", "partitions": "6", "classify_model": "/m"}, env={})
    assert Settings.load(settings.as_strings(), env={}) == settings


def test_every_setting_is_documented():
    rows = describe()
    assert {row[0] for row in rows} == set(Settings.__slots__)
    assert all(row[1].startswith("WIRESTREAM_") and row[3] for row in rows)


def test_the_readme_settings_table_is_the_generated_one():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert settings_table().strip() in readme, "run `wirestream settings --markdown` into README"


def test_errors_say_where_the_bad_value_came_from():
    with pytest.raises(SettingsError, match=r"\(from environment variable WIRESTREAM_BATCH_SIZE\)"):
        Settings.load(env={"WIRESTREAM_BATCH_SIZE": "0"})
    with pytest.raises(SettingsError, match=r"got 0 \(from flag --batch-size\)$"):
        Settings.load({"batch_size": 0}, env={"WIRESTREAM_BATCH_SIZE": "5"})
    with pytest.raises(SettingsError, match=r"at most 1; got 1.5 \(from flag --dedup-threshold\)"):
        Settings.load({"dedup_threshold": "1.5"}, env={})


def test_start_from_is_earliest_latest_or_a_time_in_utc_by_default():
    assert Settings.load({"start_from": "latest"}, env={}).start_position() == "latest"
    moment = Settings.load({"start_from": "2024-06-11T08:00:00"}, env={}).start_position()
    assert moment == dt.datetime(2024, 6, 11, 8, tzinfo=dt.UTC)
    moment = Settings.load({"start_from": "2024-06-11T10:00:00+02:00"}, env={}).start_position()
    assert moment == dt.datetime(2024, 6, 11, 8, tzinfo=dt.UTC)


def test_every_setting_has_a_help_section():
    assert {f.metadata["group"] for f in dataclasses.fields(Settings)} == set(GROUPS)


def test_tracing_on_needs_opentelemetry(monkeypatch):
    assert Settings.load(env={"WIRESTREAM_TRACING": "on"}).tracing == "on"
    monkeypatch.setattr(settings_module, "_importable", lambda module: False)
    assert Settings.load(env={}).tracing == "off"
    with pytest.raises(SettingsError, match=r"wirestream\[otel\].*WIRESTREAM_TRACING"):
        Settings.load(env={"WIRESTREAM_TRACING": "on"})
