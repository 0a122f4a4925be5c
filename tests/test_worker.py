"""The supervisor without a broker: start-up failures are clear messages, not tracebacks."""

from __future__ import annotations

import pytest

from pipeline.broker import free_port
from pipeline.kafka import BrokerUnavailable, bootstrap_servers, faust_broker_url
from pipeline.worker import Supervisor


def test_broker_urls_in_every_common_spelling():
    assert bootstrap_servers("kafka://a:9092;kafka://b:9093") == ["a:9092", "b:9093"]
    assert bootstrap_servers("a:1,b") == ["a:1", "b:9092"]
    assert faust_broker_url("a:1,b:2") == "kafka://a:1;kafka://b:2"


async def test_an_unreachable_broker_gives_a_clear_error_after_retrying(settings, caplog):
    unreachable = settings.replace(broker=f"kafka://127.0.0.1:{free_port()}", startup_timeout=1.5)
    supervisor = Supervisor(unreachable)
    with pytest.raises(BrokerUnavailable, match=r"cannot reach Kafka at kafka://127\.0\.0\.1"):
        await supervisor.run()
    assert "retrying" in caplog.text
    assert not supervisor.metrics_dir.exists()
