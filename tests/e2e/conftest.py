"""End-to-end fixtures: one broker for the session, real worker processes per test.

The broker is Tansu (``pipeline.broker``) unless pytest runs with ``--broker kafka``: then it is a
three-node Apache Kafka cluster, the one `make kafka-up` left running if there is one, else one
started for the session. Without Java or Maven that fails, saying so; it is never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.broker import EmbeddedBroker
from pipeline.cluster import KafkaCluster
from pipeline.producer import Record, read_topics
from pipeline.runtime.supervisor import Supervisor
from pipeline.settings import Settings

READY_TIMEOUT = 120.0

pytestmark = pytest.mark.e2e


@dataclass
class BrokerUnderTest:
    """The broker of this session: the embedded one or an Apache Kafka cluster."""

    url: str
    embedded: EmbeddedBroker | None = None
    cluster: KafkaCluster | None = None

    @property
    def kind(self) -> str:
        return "kafka" if self.cluster else "embedded"

    def settings_for(self, settings: Settings) -> Settings:
        if self.embedded is not None:
            return self.embedded.settings_for(settings).replace(batch_timeout=0.1)
        assert self.cluster is not None
        # Kafka's smallest session timeout (group.min.session.timeout.ms) is 6 s: a killed
        # member's partitions move that soon.
        return settings.replace(
            broker=self.url,
            session_timeout=6.0,
            batch_timeout=0.1,
            replication_factor=self.cluster.replication,
            min_insync_replicas=self.cluster.min_insync,
        )


@pytest.fixture(scope="session")
def broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerUnderTest]:
    if request.config.getoption("--broker") == "kafka":
        yield from _kafka_cluster()
        return
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log=log) as running:
        yield BrokerUnderTest(running.url, embedded=running)


def _kafka_cluster() -> Iterator[BrokerUnderTest]:
    recorded = KafkaCluster.load()
    if recorded is not None and all(node.alive() for node in recorded.nodes):
        recorded.wait_ready()
        yield BrokerUnderTest(recorded.url, cluster=recorded)
        return
    # Fails (KafkaUnavailable) with what is missing where Java, Maven or Kafka is not there.
    with KafkaCluster(3) as cluster:
        yield BrokerUnderTest(cluster.url, cluster=cluster)


# Exactly-once needs transactions, which only Apache Kafka has: the scenarios that take a
# ``guarantee`` run in both guarantees on the cluster, in at-least-once on the embedded broker.
GUARANTEES = {"kafka": ("at-least-once", "exactly-once"), "embedded": ("at-least-once",)}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "guarantee" in metafunc.fixturenames:
        kind = "kafka" if metafunc.config.getoption("--broker") == "kafka" else "embedded"
        metafunc.parametrize("guarantee", GUARANTEES[kind])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of Kafka transactions leave the run on the embedded broker, which has none."""
    if config.getoption("--broker") == "kafka":
        return
    kept = [item for item in items if item.get_closest_marker("transactions") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture
def cluster(broker: BrokerUnderTest) -> KafkaCluster:
    """The Apache Kafka cluster, for tests of what only a cluster has (brokers to fail)."""
    if broker.cluster is None:
        pytest.skip("needs an Apache Kafka cluster: pytest --broker kafka (make test-kafka)")
    return broker.cluster


@pytest.fixture
def e2e_settings(settings: Settings, broker: BrokerUnderTest) -> Settings:
    return broker.settings_for(settings)


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, log_dir: Path, name: str) -> AsyncIterator[Supervisor]:
    """A `wirestream worker` (supervisor and stage processes), ready, stopped on exit."""
    with (log_dir / f"{name}.log").open("w", encoding="utf-8") as log:
        async with Supervisor(settings, log_stream=log).running(READY_TIMEOUT) as supervisor:
            yield supervisor


async def collect(
    settings: Settings, topics: Sequence[str], count: int, timeout: float = 120.0
) -> list[Record]:
    """Read the topics from the beginning until ``count`` messages have arrived."""
    records: list[Record] = []
    async with asyncio.timeout(timeout):
        async for record in read_topics(settings, topics):
            records.append(record)
            if len(records) >= count:
                break
    return records


def counter(supervisor: Supervisor, name: str, **labels: str) -> float:
    return supervisor.registry.get_sample_value(name, labels) or 0.0
