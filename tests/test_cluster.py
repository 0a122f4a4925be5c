"""The local Apache Kafka cluster: its configuration, its record in .kafka/, and a clear failure
where Java or Maven is missing (the Kafka test suite fails with it, it never skips)."""

from __future__ import annotations

import shutil
import signal

import pytest

from pipeline import cluster as cluster_module
from pipeline.cluster import KafkaCluster, KafkaUnavailable


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_three_nodes_replicate_three_times_and_need_two_in_sync(tmp_path):
    cluster = KafkaCluster(3, home=tmp_path)
    config = properties(cluster._properties(cluster.node(2)))
    ports = {n.port for n in cluster.nodes} | {n.controller_port for n in cluster.nodes}
    assert len(ports) == 6
    assert config["node.id"] == "2"
    assert config["process.roles"] == "broker,controller"
    assert config["controller.quorum.voters"].count("@127.0.0.1:") == 3
    assert config["advertised.listeners"] == f"PLAINTEXT://{cluster.node(2).address}"
    for key in ("default.replication.factor", "offsets.topic.replication.factor",
                "transaction.state.log.replication.factor"):  # fmt: skip
        assert config[key] == "3", key
    assert config["min.insync.replicas"] == config["transaction.state.log.min.isr"] == "2"
    assert cluster.bootstrap.count(",") == 2
    assert cluster.url.startswith("kafka://127.0.0.1:")


def test_a_single_node_asks_for_one_replica(tmp_path):
    config = properties(KafkaCluster(1, home=tmp_path)._properties(KafkaCluster(1).nodes[0]))
    assert config["default.replication.factor"] == config["min.insync.replicas"] == "1"


def test_cluster_ids_never_start_with_a_dash_which_the_storage_tool_takes_for_an_option():
    ids = [cluster_module._cluster_id() for _ in range(5000)]  # 1 in 64 would, unchecked
    assert not [i for i in ids if i.startswith("-")]
    assert {len(i) for i in ids} == {22} and len(set(ids)) == len(ids)


def test_the_record_in_the_state_folder_reads_back(tmp_path):
    cluster = KafkaCluster(3, home=tmp_path / "home", libs=tmp_path / "libs")
    for n, node in enumerate(cluster.nodes):
        node.pid = 100_000 + n
    cluster.save(tmp_path / "state")
    loaded = KafkaCluster.load(tmp_path / "state")
    assert loaded is not None
    assert loaded.bootstrap == cluster.bootstrap
    assert (tmp_path / "state" / "bootstrap").read_text() == cluster.bootstrap + "\n"
    assert [n.pid for n in loaded.nodes] == [n.pid for n in cluster.nodes]
    assert (loaded.replication, loaded.min_insync) == (3, 2)
    KafkaCluster.forget(tmp_path / "state")
    assert KafkaCluster.load(tmp_path / "state") is None


@pytest.mark.parametrize("missing", ["java", "mvn"])
def test_without_java_or_maven_starting_fails_saying_what_is_missing(
    missing, monkeypatch, tmp_path
):
    real = shutil.which
    monkeypatch.setattr(cluster_module, "CACHE", tmp_path / "empty-cache")
    monkeypatch.setattr(
        cluster_module.shutil, "which", lambda tool: None if tool == missing else real(tool)
    )
    with pytest.raises(KafkaUnavailable, match=f"{missing} is not installed"):
        KafkaCluster(1, home=tmp_path / "home").start()


def test_a_node_restarted_in_a_recorded_cluster_is_recorded_with_its_new_process(tmp_path):
    cluster = KafkaCluster(1, home=tmp_path / "home", libs=tmp_path / "libs")
    cluster.nodes[0].home.mkdir(parents=True)
    cluster.save(tmp_path / "state")
    loaded = KafkaCluster.load(tmp_path / "state")
    assert loaded is not None
    loaded._java = lambda *_: ["sleep", "30"]  # a stand-in process: only its pid matters here
    node = loaded.nodes[0]
    loaded.start_node(node)
    try:
        again = KafkaCluster.load(tmp_path / "state")
        assert again is not None and again.nodes[0].pid == node.pid is not None
        assert again.nodes[0].alive()
    finally:
        node.signal(signal.SIGKILL)
        node.wait(5)
