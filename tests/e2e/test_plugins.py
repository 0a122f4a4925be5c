"""A plugin stage in the pipeline on the embedded broker: the example sentiment plugin between
classify and the enriched topic, in its own process and consumer group, its output in every
enriched event, its failures dead letters, its metrics beside the built-in stages'."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from pipeline import codec, schemas
from pipeline.kafka import client_options
from pipeline.producer import produce
from tests.e2e.conftest import collect, counter, running_worker
from tests.e2e.test_pipeline import sample_articles

pytestmark = pytest.mark.e2e


async def test_the_sentiment_plugin_runs_between_classify_and_the_enriched_topic(
    e2e_settings, tmp_path
):
    settings = e2e_settings.replace(
        plugins=("sentiment",), stages=("clean", "ner", "classify", "sentiment")
    )
    articles = sample_articles()
    (plugin_topic,) = settings.plugin_topics
    async with running_worker(settings, tmp_path, "worker") as worker:
        assert set(worker.stages) == {"clean", "ner", "classify", "sentiment"}
        keys = await produce(settings, articles)
        producer = AIOKafkaProducer(**client_options(settings), acks="all")
        await producer.start()
        try:  # a malformed event on the plugin's own input topic
            await producer.send_and_wait(plugin_topic, b"not an event", key=b"broken-plugin")
        finally:
            await producer.stop()
        records = await collect(
            settings, [settings.topic_enriched, settings.topic_dlq], len(articles) + 1
        )
        scored = counter(worker, "wirestream_messages_total", stage="sentiment", outcome="out")
        failed = counter(
            worker, "wirestream_dead_letters_total", stage="sentiment", reason="invalid_event"
        )

    enriched = [r for r in records if r.topic == settings.topic_enriched]
    assert sorted(r.key for r in enriched) == sorted(keys)
    labels = set()
    for record in enriched:
        event = codec.loads(record.value)
        assert schemas.errors("enriched-article", event) == []
        assert event["topic"] and event["entities"]  # the built-in stages ran before it
        assert event["pipeline"]["stages"]["sentiment"]["model"] == "vader"
        tone = event["extensions"]["sentiment"]
        assert tone["sentences"] > 0
        labels.add(tone["label"])
    assert len(labels) > 1, "every sample article scored alike"
    (dead,) = [codec.loads(r.value) for r in records if r.topic == settings.topic_dlq]
    assert (dead["stage"], dead["reason"], dead["topic"]) == (
        "sentiment",
        "invalid_event",
        plugin_topic,
    )
    assert (scored, failed) == (len(articles), 1)
