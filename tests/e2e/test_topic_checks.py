"""Topic checks at start-up against the broker's real topic configuration: the duplicate index
compacted, the dedup topic one partition, replicas and min.insync.replicas as the settings ask,
or an error or warning naming the topic and the setting."""

from __future__ import annotations

import logging

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pipeline.kafka import TopicMisconfigured, client_options, ensure_topics

pytestmark = pytest.mark.e2e


async def create(settings, topic: str, partitions: int, replicas: int, **configs: str) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, replicas, topic_configs=configs)])
    finally:
        await admin.close()


async def test_topics_wirestream_creates_pass_its_checks(e2e_settings):
    assert await ensure_topics(e2e_settings) == []
    assert await ensure_topics(e2e_settings) == []  # and again, once they exist


async def test_a_duplicate_index_that_is_not_compacted_is_refused(e2e_settings):
    settings = e2e_settings
    replicas = settings.replication_factor
    await create(settings, settings.topic_dedup_index, 1, replicas, **{"cleanup.policy": "delete"})
    with pytest.raises(TopicMisconfigured) as refused:
        await ensure_topics(settings)
    message = str(refused.value)
    assert settings.topic_dedup_index in message
    assert "cleanup.policy=delete" in message and "topic_dedup_index" in message


async def test_fewer_replicas_or_in_sync_replicas_than_asked_are_reported(
    e2e_settings, broker, caplog
):
    settings = e2e_settings
    if broker.cluster is None:
        # One broker holds one replica: ask for what it cannot give through the topic's own
        # min.insync.replicas instead.
        await create(settings, settings.topic_raw, 2, 1, **{"min.insync.replicas": "1"})
        settings = settings.replace(replication_factor=2, min_insync_replicas=2)
        lacking = [("min.insync.replicas=1", "min_insync_replicas=2")]
    else:
        await create(settings, settings.topic_raw, 2, 1, **{"min.insync.replicas": "1"})
        lacking = [
            ("1 replica(s)", "replication_factor=3"),
            ("min.insync.replicas=1", "min_insync_replicas=2"),
        ]
    with caplog.at_level(logging.WARNING, logger="pipeline.kafka"):
        warnings = await ensure_topics(settings)
    about_raw = [w for w in warnings if w.startswith(f"topic {settings.topic_raw} ")]
    for found, setting in lacking:
        assert any(found in w and setting in w for w in about_raw), (found, warnings)
    # Only the topic made by hand falls short; the ones Wirestream created do not.
    assert len(warnings) == len(about_raw)
    assert all(w in caplog.text for w in warnings)


async def test_a_topic_the_cluster_cannot_replicate_as_asked_is_a_clear_error(e2e_settings, broker):
    if broker.cluster is None:
        pytest.skip("the embedded broker accepts any replication factor and keeps one copy")
    settings = e2e_settings.replace(replication_factor=5)
    with pytest.raises(TopicMisconfigured, match="replication_factor=5"):
        await ensure_topics(settings)
