"""The broker `demo` and `wirestream broker` start: Apache Kafka where Java is, else Tansu.

Apache Kafka (one node, data in a temporary folder) takes any Kafka client and has transactions
and idempotent writes; it is ready in a few seconds. Tansu (in memory, ready at once) has
neither, and clients on older librdkafka cannot connect to it. The ``embedded_broker`` setting
chooses: ``auto`` (Apache Kafka where it can run), ``kafka`` or ``tansu``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import IO

from pipeline.broker import EmbeddedBroker, accepts_connections
from pipeline.cluster import (
    CACHE,
    KAFKA_VERSION,
    KafkaCluster,
    KafkaUnavailable,
    fetch_kafka,
    kafka_cached,
)
from pipeline.settings import Settings

# Seen in the tests: kcat 1.7 (librdkafka 2.0) fails on Tansu's ApiVersions answer.
TANSU_CLIENTS = (
    "kcat and other clients on older librdkafka cannot connect to it "
    "(aiokafka and confluent-kafka 2.16 can)"
)


def kafka_unavailable() -> str | None:
    """Why Apache Kafka cannot run here, or None if it can (possibly after a Maven fetch)."""
    if shutil.which("java") is None:
        return "java is not on the PATH"
    if not kafka_cached() and shutil.which("mvn") is None:
        return f"Apache Kafka is not in {CACHE} and Maven (mvn) is not on the PATH to fetch it"
    return None


def choose(setting: str, why_not_kafka: str | None) -> str:
    """`kafka` or `tansu` for an ``embedded_broker`` setting, given why Apache Kafka cannot
    run here (None: it can)."""
    if setting == "tansu":
        return "tansu"
    if why_not_kafka is None:
        return "kafka"
    if setting == "kafka":
        raise KafkaUnavailable(
            f"embedded_broker kafka: {why_not_kafka}. Install a JDK 17+ (Debian: "
            "openjdk-17-jre-headless) and Maven (Debian: maven), or use embedded_broker tansu."
        )
    return "tansu"


class EmbeddedKafka:
    """Apache Kafka, one combined broker and controller node on ``host``: replication factor 1,
    min.insync.replicas 1, transactions; its data and log in a temporary folder removed on
    stop."""

    def __init__(self, libs: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.cluster = KafkaCluster(
            1, libs=libs, host=host, ports=(port,) if port else (), owned=True
        )
        self.host = host
        self.port = self.cluster.nodes[0].port

    @property
    def url(self) -> str:
        return self.cluster.url

    def describe(self) -> str:
        home = self.cluster.home
        return f"Apache Kafka {KAFKA_VERSION} (one node; data and log in {home}, removed at exit)"

    def _check_port(self) -> None:
        if accepts_connections(self.host, self.port):
            raise KafkaUnavailable(f"port {self.port} on {self.host} is already in use")

    def start(self, timeout: float = 120.0) -> EmbeddedKafka:
        try:
            self._check_port()
            self.cluster.start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    async def start_async(self, limit: float = 120.0) -> None:
        self._check_port()
        await self.cluster.start_async(limit)

    def alive(self) -> bool:
        return self.cluster.nodes[0].alive()

    def stop(self) -> None:
        self.cluster.stop()

    def settings_for(self, settings: Settings) -> Settings:
        """``settings`` for clients of this broker (idempotence and session timeout as set)."""
        return settings.replace(broker=self.url, replication_factor=1, min_insync_replicas=1)

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def embedded_broker(
    setting: str,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    log: IO[str] | Path | None = None,
) -> tuple[EmbeddedKafka | EmbeddedBroker, str | None]:
    """The embedded broker ``setting`` asks for, not started, and a one-line note to show when
    it is Tansu. Fetches Apache Kafka through Maven the first time; where that fails, ``auto``
    falls back to Tansu and says why."""
    why_not = kafka_unavailable()
    if choose(setting, why_not) == "kafka":
        try:
            return EmbeddedKafka(fetch_kafka(), port=port, host=host), None
        except KafkaUnavailable as exc:
            if setting == "kafka":
                raise
            why_not = str(exc).splitlines()[0].rstrip(":")
    tansu = EmbeddedBroker(port=port, host=host, log=log)
    if why_not is None:  # asked for by name
        return tansu, f"Tansu: {TANSU_CLIENTS}."
    return tansu, f"Tansu, as {why_not}: {TANSU_CLIENTS}; with Java 17+ it is Apache Kafka."
