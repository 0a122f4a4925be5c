"""Which broker `demo` and `wirestream broker` start: Apache Kafka where it can run, else Tansu
with a note; and the settings clients of each get."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import embedded
from pipeline.broker import EMBEDDED_SESSION_TIMEOUT, EmbeddedBroker
from pipeline.cluster import KafkaUnavailable
from pipeline.embedded import EmbeddedKafka, choose, embedded_broker, kafka_unavailable

JAVA_MISSING = "java is not on the PATH"


@pytest.mark.parametrize(
    ("setting", "why_not", "chosen"),
    [
        ("auto", None, "kafka"),
        ("auto", JAVA_MISSING, "tansu"),
        ("kafka", None, "kafka"),
        ("tansu", None, "tansu"),
        ("tansu", JAVA_MISSING, "tansu"),
    ],
)
def test_auto_is_apache_kafka_where_it_can_run(setting, why_not, chosen):
    assert choose(setting, why_not) == chosen


def test_kafka_asked_for_where_it_cannot_run_says_why_and_what_to_do():
    with pytest.raises(KafkaUnavailable, match=r"java is not on the PATH\. Install a JDK 17"):
        choose("kafka", JAVA_MISSING)


def tools(monkeypatch, *present: str, cached: bool) -> None:
    monkeypatch.setattr(
        embedded.shutil, "which", lambda tool: f"/usr/bin/{tool}" if tool in present else None
    )
    monkeypatch.setattr(embedded, "kafka_cached", lambda: cached)


@pytest.mark.parametrize(
    ("present", "cached", "why_not"),
    [
        (("java", "mvn"), False, None),
        (("java",), True, None),  # fetched before: Maven is not needed again
        (("mvn",), True, JAVA_MISSING),
        (("java",), False, "Maven (mvn) is not on the PATH"),
    ],
)
def test_kafka_can_run_with_java_and_its_jars_or_maven_to_fetch_them(
    monkeypatch, present, cached, why_not
):
    tools(monkeypatch, *present, cached=cached)
    if why_not is None:
        assert kafka_unavailable() is None
    else:
        assert why_not in (kafka_unavailable() or "")


def test_without_java_auto_starts_tansu_and_says_which_clients_cannot_use_it(monkeypatch):
    tools(monkeypatch, "mvn", cached=True)
    broker, note = embedded_broker("auto")
    assert isinstance(broker, EmbeddedBroker) and broker.process is None
    assert note is not None and "\n" not in note
    assert note.startswith(f"Tansu, as {JAVA_MISSING}: kcat and other clients on older librdkafka")
    with pytest.raises(KafkaUnavailable, match=JAVA_MISSING):
        embedded_broker("kafka")


def test_auto_falls_back_to_tansu_when_maven_cannot_fetch_kafka(monkeypatch):
    tools(monkeypatch, "java", "mvn", cached=False)

    def offline() -> Path:
        raise KafkaUnavailable("Maven could not fetch org.apache.kafka:kafka_2.13:4.4.0:\n...")

    monkeypatch.setattr(embedded, "fetch_kafka", offline)
    broker, note = embedded_broker("auto")
    assert isinstance(broker, EmbeddedBroker)
    assert note is not None and note.startswith("Tansu, as Maven could not fetch")
    with pytest.raises(KafkaUnavailable, match="Maven could not fetch"):
        embedded_broker("kafka")


def test_with_java_auto_is_one_kafka_node_on_the_port_asked_for(monkeypatch, tmp_path):
    tools(monkeypatch, "java", cached=True)
    monkeypatch.setattr(embedded, "fetch_kafka", lambda: tmp_path)
    broker, note = embedded_broker("auto", port=19092)
    try:
        assert isinstance(broker, EmbeddedKafka) and note is None
        assert broker.url == "kafka://127.0.0.1:19092"
        assert len(broker.cluster.nodes) == 1 and broker.cluster.libs == tmp_path
        assert broker.cluster.home.is_dir()
    finally:
        broker.stop()
    assert not broker.cluster.home.exists()  # its temporary folder goes with it


def test_tansu_asked_for_by_name_still_says_which_clients_cannot_use_it(monkeypatch):
    tools(monkeypatch, "java", cached=True)
    broker, note = embedded_broker("tansu")
    assert isinstance(broker, EmbeddedBroker)
    assert note is not None and note.startswith("Tansu: kcat")


def test_clients_of_tansu_get_a_short_session_and_no_idempotence_of_kafka_what_is_set(
    settings, tmp_path
):
    tansu = EmbeddedBroker(port=19093).settings_for(settings)
    assert (tansu.broker, tansu.session_timeout, tansu.idempotence) == (
        "kafka://127.0.0.1:19093",
        EMBEDDED_SESSION_TIMEOUT,
        False,
    )
    kafka = EmbeddedKafka(tmp_path, port=19094)
    try:
        ours = kafka.settings_for(settings.replace(replication_factor=3, min_insync_replicas=2))
    finally:
        kafka.stop()
    assert ours.broker == "kafka://127.0.0.1:19094"
    assert (ours.session_timeout, ours.idempotence) == (settings.session_timeout, True)
    assert (ours.replication_factor, ours.min_insync_replicas) == (1, 1)


OWNER = """
import sys, time
from pipeline.embedded import embedded_broker
broker, _ = embedded_broker(sys.argv[1])
broker.start()
process = broker.cluster.nodes[0].process if hasattr(broker, "cluster") else broker.process
print(process.pid, flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("name", ["tansu", "kafka"])
def test_a_broker_started_for_a_process_ends_when_that_process_is_killed(name):
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        line = owner.stdout.readline()
        assert line, f"the {name} broker did not start"
        broker_pid = int(line)
        assert _running(broker_pid)
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 60
    while _running(broker_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    outlived = _running(broker_pid)
    if outlived:
        os.kill(broker_pid, signal.SIGKILL)
    assert not outlived, f"the {name} broker outlived the process that started it"
