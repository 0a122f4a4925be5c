"""Plugin stages: found through the `wirestream.stages` entry points, placed by the settings
after classify or on the enriched topic, and the example plugin (sentiment with VADER) held to
the built-in stages' contract."""

from __future__ import annotations

import pytest

from pipeline import codec, schemas
from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter, Reason
from pipeline.settings import STAGES, Settings, SettingsError
from pipeline.stages import PluginError, build_stage, input_topic, output_topic
from tests.hostile import clean_event


def with_plugins(settings: Settings, plugins=(), sinks=()) -> Settings:
    return settings.replace(
        plugins=tuple(plugins), sinks=tuple(sinks), stages=(*STAGES, *plugins, *sinks)
    )


def enriched(text: str, title: str) -> bytes:
    """An event as classify writes it (the fields a plugin reads)."""
    data = codec.loads(clean_event(text, title=title))
    data.update(entities=[], topics=[], topic=None, event_id="e" * 32)
    data["enriched_at"] = "2024-06-11T08:00:01.000Z"
    return codec.dumps(data)


@pytest.fixture(scope="module")
def sentiment() -> object:
    settings = Settings.load({"plugins": "sentiment"}, env={})
    return build_stage(settings, "sentiment")


def test_plugins_come_after_classify_in_order_and_sinks_read_the_enriched_topic(settings):
    plain = settings
    assert output_topic(plain, "classify") == plain.topic_enriched
    placed = with_plugins(settings, plugins=["sentiment", "keywords"], sinks=["archive"])
    first, second = placed.plugin_topics
    assert first == f"{placed.topic_enriched}.sentiment"
    assert output_topic(placed, "classify") == input_topic(placed, "sentiment") == first
    assert output_topic(placed, "sentiment") == input_topic(placed, "keywords") == second
    assert output_topic(placed, "keywords") == placed.topic_enriched
    assert input_topic(placed, "archive") == placed.topic_enriched
    assert output_topic(placed, "archive") is None
    # Their topics are created with the others; each plugin is its own consumer group.
    assert {first, second} <= set(placed.topic_partitions)
    assert placed.group_id("sentiment") == f"{placed.app_prefix}-sentiment"


def test_a_worker_runs_the_plugins_unless_told_which_stages_to_run():
    assert Settings.load({"plugins": "sentiment"}, env={}).stages == (*STAGES, "sentiment")
    assert Settings.load({"sinks": "archive"}, env={}).stages == (*STAGES, "archive")
    assert Settings.load({"plugins": "sentiment", "stages": "ner"}, env={}).stages == ("ner",)
    with pytest.raises(SettingsError, match="plugins and sinks must be distinct"):
        Settings.load({"plugins": "ner"}, env={})
    with pytest.raises(SettingsError, match="stages must be a non-empty subset"):
        Settings.load({"stages": "sentiment"}, env={})


def test_a_plugin_that_is_not_installed_is_a_clear_error(settings):
    with pytest.raises(PluginError, match=r"no plugin stage 'nope' is installed.*sentiment"):
        build_stage(with_plugins(settings, plugins=["nope"]), "nope")


def test_the_example_plugin_scores_the_tone_of_each_article(sentiment):
    good = enriched(
        "The rescue was a wonderful success. Families cheered and thanked the brave crews.",
        "Joy as all miners are saved",
    )
    bad = enriched(
        "The attack killed twelve people. Survivors described horror and grief.",
        "Deadly attack leaves town devastated",
    )
    flat = enriched("The committee meets on Tuesday at the town hall.", "Committee meeting")
    results = sentiment.process([Incoming(value=v) for v in (good, bad, flat)])
    labels = [r.extensions["sentiment"]["label"] for r in results]
    assert labels == ["positive", "negative", "neutral"]
    assert [r.extensions["sentiment"]["sentences"] for r in results] == [3, 3, 2]  # title too
    for result in results:
        assert isinstance(result, Article)
        tone = result.extensions["sentiment"]
        assert tone["positive"] + tone["neutral"] + tone["negative"] == pytest.approx(1, abs=0.01)
        assert result.pipeline.stages["sentiment"].model == "vader"
        assert "sentiment_ms" in result.timings
        assert schemas.errors("enriched-article", codec.to_plain(result)) == []
    assert results[0].extensions["sentiment"]["compound"] > 0.5
    assert results[1].extensions["sentiment"]["compound"] < -0.5


def test_the_example_plugin_keeps_other_plugins_output_and_dead_letters_bad_events(sentiment):
    data = codec.loads(enriched("A calm day.", "Weather"))
    data["extensions"] = {"keywords": {"terms": ["calm"]}}
    kept, bad = sentiment.process(
        [Incoming(value=codec.dumps(data)), Incoming(value=b"[1]", key=b"k", offset=4)]
    )
    assert set(kept.extensions) == {"keywords", "sentiment"}
    assert isinstance(bad, DeadLetter)
    assert (bad.stage, bad.reason, bad.offset) == ("sentiment", Reason.INVALID_EVENT, 4)


def test_the_schema_refuses_a_malformed_sentiment_object(sentiment):
    (result,) = sentiment.process([Incoming(value=enriched("Fine news.", "Good"))])
    plain = codec.to_plain(result)
    plain["extensions"]["sentiment"]["label"] = "delighted"
    assert schemas.errors("enriched-article", plain) != []
