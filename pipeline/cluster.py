"""A local Apache Kafka cluster in KRaft mode: the broker Wirestream is tested against.

Maven copies Apache Kafka and its runtime dependencies into a cache once (``fetch_kafka``);
``KafkaCluster`` formats storage for each node and starts them as combined broker and controller
processes on 127.0.0.1, with their logs and data in a temporary folder. Three nodes replicate
every topic three times and accept a write once two replicas have it, as a production cluster
does; one node is the smallest Apache Kafka there is.

``python -m pipeline.cluster up|down`` (``make kafka-up``/``make kafka-down``) runs one in the
background and records it in ``.kafka/`` so that a later command (the tests, ``down``) finds it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.broker import BrokerError, accepts_connections, free_port
from pipeline.runtime.process import end_with_this_process

KAFKA_VERSION = "4.4.0"
CACHE = Path.home() / ".m2" / "wirestream"
POM = Path(__file__).resolve().parent.parent / "tools" / "kafka" / "pom.xml"
STATE_DIR = Path(".kafka")
# Small heaps and a quick JIT: the nodes share a small machine with the pipeline under test.
JVM_OPTIONS = ("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = info
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


class KafkaUnavailable(BrokerError):
    """Apache Kafka cannot be fetched or started here; the message says what is missing."""


def _require(tool: str, purpose: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise KafkaUnavailable(
            f"{tool} is not installed: Apache Kafka needs it {purpose}. Install a JDK 17+ "
            "(Debian: openjdk-17-jre-headless) and Maven (Debian: maven)."
        )
    return path


def kafka_cached(version: str = KAFKA_VERSION) -> bool:
    """Whether Maven has already copied Apache Kafka's jars into the cache."""
    return (CACHE / f"kafka-{version}" / ".complete").exists()


def fetch_kafka(version: str = KAFKA_VERSION) -> Path:
    """The folder of Apache Kafka's jars, copied there by Maven on the first call."""
    libs = CACHE / f"kafka-{version}"
    if kafka_cached(version):
        return libs
    _require("java", "to run")
    mvn = _require("mvn", "to fetch Apache Kafka from Maven Central")
    if not POM.exists():
        raise KafkaUnavailable(f"{POM} is missing: run from a Wirestream source checkout")
    print(f"Fetching Apache Kafka {version} with Maven into {libs}", file=sys.stderr)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         "-DincludeScope=runtime", f"-Dkafka.version={version}", f"-DoutputDirectory={libs}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise KafkaUnavailable(
            f"Maven could not fetch org.apache.kafka:kafka_2.13:{version}:\n"
            + (result.stdout + result.stderr)[-3000:]
        )
    (libs / ".complete").touch()
    return libs


@dataclass
class Node:
    """One combined broker and controller process."""

    node_id: int
    port: int
    controller_port: int
    home: Path
    pid: int | None = None
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def signal(self, sig: signal.Signals) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def wait(self, timeout: float) -> bool:
        """Whether the process is gone within ``timeout`` seconds (reaped if it is our child)."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        if self.process is not None:
            self.process.wait()
        return True


class KafkaCluster:
    """Apache Kafka nodes on 127.0.0.1; a context manager (started on enter, removed on exit)."""

    def __init__(
        self,
        nodes: int = 3,
        *,
        libs: Path | None = None,
        home: Path | None = None,
        host: str = "127.0.0.1",
        ports: Sequence[int] = (),
        owned: bool = False,
    ) -> None:
        """``ports``: the client ports of the first nodes; the others, and every controller
        port, are free ones. ``owned``: the nodes stop when this process dies, even by
        SIGKILL (a cluster for this process alone, not one left running for others)."""
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        if len(ports) > nodes:
            raise ValueError(f"{len(ports)} ports for {nodes} node(s)")
        self.libs = libs
        self.home = home or Path(tempfile.mkdtemp(prefix="wirestream-kafka-"))
        chosen = [*ports, *(free_port(host) for _ in range(nodes - len(ports)))]
        self.nodes = [
            Node(n, port, free_port(host), self.home / f"node-{n}", host=host)
            for n, port in enumerate(chosen, start=1)
        ]
        # Replicas wanted per partition, and how many must have a write before it is accepted.
        self.replication = min(3, nodes)
        self.min_insync = max(1, self.replication - 1)
        self.state_dir: Path | None = None  # where the cluster is recorded, once it is
        self.owned = owned

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def url(self) -> str:
        return ";".join(f"kafka://{node.address}" for node in self.nodes)

    def node(self, node_id: int) -> Node:
        return next(node for node in self.nodes if node.node_id == node_id)

    def _properties(self, node: Node) -> str:
        voters = ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.nodes)
        rf, isr = self.replication, self.min_insync
        settings = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{node.address},CONTROLLER://{node.host}:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{node.address}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": node.home / "data",
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            # Fewer internal partitions and threads than Kafka's defaults: a small machine.
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.num.partitions": 10,
            "num.network.threads": 2,
            "num.io.threads": 2,
            "background.threads": 2,
            "num.recovery.threads.per.data.dir": 1,
            # A consumer group's first member starts at once instead of waiting 3 s for others.
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _java(self, main: str, *args: str) -> list[str]:
        assert self.libs is not None
        return [
            _require("java", "to run"),
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def format(self) -> None:
        """Write each node's configuration and format its storage for one new cluster id."""
        if self.libs is None:
            self.libs = fetch_kafka()
        (self.home / "log4j2.properties").write_text(LOG4J)
        cluster_id = _cluster_id()
        formatting = []
        for node in self.nodes:
            node.home.mkdir(parents=True, exist_ok=True)
            node.config.write_text(self._properties(node))
            command = self._java(
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(node.config)
            )
            formatting.append(
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            )
        for node, process in zip(self.nodes, formatting, strict=True):
            output, _ = process.communicate()
            if process.returncode != 0:
                raise KafkaUnavailable(
                    f"formatting node {node.node_id} failed:\n{output.decode()[-2000:]}"
                )

    def start_node(self, node: Node) -> None:
        with node.log.open("ab") as log:
            node.process = subprocess.Popen(
                self._java("kafka.Kafka", str(node.config)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own session: Ctrl+C in a terminal reaches the pipeline, not the cluster.
                start_new_session=True,
                preexec_fn=end_with_this_process if self.owned else None,
            )
        node.pid = node.process.pid
        if self.state_dir is not None:  # a node restarted: `down` must find its new process
            self.save(self.state_dir)

    def start(self, timeout: float = 120.0) -> KafkaCluster:
        self.format()
        for node in self.nodes:
            self.start_node(node)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    async def start_async(self, limit: float = 120.0) -> None:
        """``start`` without blocking the event loop. The caller stops the cluster, whatever
        happens: cancelled, this has launched either none of the nodes or all of them."""
        await asyncio.to_thread(self.format)
        for node in self.nodes:
            self.start_node(node)
        await self.until_ready(limit)

    def wait_ready(self, timeout: float = 120.0) -> None:
        asyncio.run(self.until_ready(timeout))

    async def until_ready(self, limit: float = 120.0) -> None:
        """Until every node is registered as a broker and the cluster answers with all of them."""
        deadline = time.monotonic() + limit
        while True:
            for node in self.nodes:
                if not node.alive():
                    raise KafkaUnavailable(
                        f"Kafka node {node.node_id} exited; its log:\n{_tail(node.log)}"
                    )
            listening = all(accepts_connections(n.host, n.port) for n in self.nodes)
            if listening and await self.live_brokers() == {n.node_id for n in self.nodes}:
                return
            if time.monotonic() > deadline:
                raise KafkaUnavailable(
                    f"the Kafka cluster was not ready within {limit:g}s; node 1's log:\n"
                    + _tail(self.nodes[0].log)
                )
            await asyncio.sleep(0.5)

    async def live_brokers(self) -> set[int]:
        """Ids of the brokers the cluster's metadata lists (empty if none answers)."""
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            described = await admin.describe_cluster()
            return {broker["node_id"] for broker in described["brokers"]}
        except Exception:  # not up yet: any failure to answer means "not ready"
            return set()
        finally:
            await admin.close()

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 20 s) and remove the data."""
        for node in self.nodes:
            node.signal(signal.SIGCONT)  # a frozen node cannot act on SIGTERM
            node.signal(signal.SIGTERM)
        for node in self.nodes:
            if not node.wait(20):
                node.signal(signal.SIGKILL)
                node.wait(10)
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- a cluster left running in the background, recorded in .kafka/ -----------------------

    def save(self, state_dir: Path = STATE_DIR) -> None:
        self.state_dir = state_dir
        state_dir.mkdir(exist_ok=True)
        state = {
            "home": str(self.home),
            "libs": str(self.libs),
            "nodes": [
                {"id": n.node_id, "port": n.port, "controller_port": n.controller_port,
                 "pid": n.pid}
                for n in self.nodes
            ],
        }  # fmt: skip
        (state_dir / "cluster.json").write_text(json.dumps(state, indent=1))
        (state_dir / "bootstrap").write_text(self.bootstrap + "\n")

    @classmethod
    def load(cls, state_dir: Path = STATE_DIR) -> KafkaCluster | None:
        """The cluster recorded in ``state_dir``, if one is; its nodes may have stopped."""
        path = state_dir / "cluster.json"
        if not path.exists():
            return None
        state = json.loads(path.read_text())
        cluster = cls.__new__(cls)
        cluster.home, cluster.libs = Path(state["home"]), Path(state["libs"])
        cluster.nodes = [
            Node(n["id"], n["port"], n["controller_port"], cluster.home / f"node-{n['id']}",
                 pid=n["pid"])
            for n in state["nodes"]
        ]  # fmt: skip
        cluster.replication = min(3, len(cluster.nodes))
        cluster.min_insync = max(1, cluster.replication - 1)
        cluster.state_dir = state_dir
        cluster.owned = False  # a recorded cluster outlives the processes that use it
        return cluster

    @staticmethod
    def forget(state_dir: Path = STATE_DIR) -> None:
        for name in ("cluster.json", "bootstrap"):
            (state_dir / name).unlink(missing_ok=True)


def _cluster_id() -> str:
    """Kafka's cluster id form: 16 random bytes in URL-safe base64 without padding, not starting
    with `-` (as Kafka's own ids do not: the storage tool would read it as an option)."""
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.cluster", description="A local Apache Kafka cluster."
    )
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args(argv)
    running = KafkaCluster.load()
    if args.action == "down":
        if running is None:
            print("no Kafka cluster recorded in .kafka/")
            return 0
        running.stop()
        KafkaCluster.forget()
        print(f"Kafka cluster stopped; {running.home} removed")
        return 0
    if running is not None and all(node.alive() for node in running.nodes):
        print(f"a Kafka cluster is already running: {running.bootstrap}")
        return 0
    if running is not None:  # a previous one half gone: clear it first
        running.stop()
    started = time.monotonic()
    try:
        cluster = KafkaCluster(args.nodes).start()
    except KafkaUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    cluster.save()
    print(
        f"Apache Kafka {KAFKA_VERSION}: {len(cluster.nodes)} node(s) ready in "
        f"{time.monotonic() - started:.1f}s; data and logs in {cluster.home}"
    )
    print(f"bootstrap servers: {cluster.bootstrap} (also in {STATE_DIR / 'bootstrap'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
