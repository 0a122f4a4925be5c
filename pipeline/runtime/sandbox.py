"""Stage code in a child process of its own, so that a time limit can be enforced.

A stage's models and its pure code run in a child of the stage's worker process; the worker keeps
Kafka, faust and the metrics. A batch that runs over the time limit, or a child that dies (a
segfault in a C extension, the kernel's OOM killer), costs only that child: the worker kills it
with SIGKILL, starts a fresh one (which loads the models again) and carries on. A thread could not
be stopped like this, and a regular expression or parser holding the GIL would freeze the event
loop, heartbeats included.

The two talk over a socket pair in length-prefixed frames (never pickle): the settings as JSON,
then batches of messages one way and encoded results the other, in binary
(``pipeline.runtime.frames``). The child encodes each result once, for the broker; the worker
forwards those bytes and reads only each result's summary.

``python -m pipeline.runtime.sandbox FD`` is the child's entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from pipeline import codec
from pipeline.envelope import Incoming
from pipeline.events import Reason, Rejection, StageInfo
from pipeline.runtime.encoded import Encoded, process_encoded
from pipeline.runtime.frames import (
    HEADER,
    decode_batch,
    decode_results,
    encode_batch,
    encode_results,
    frame,
)
from pipeline.runtime.process import die_with_parent, setup_logging
from pipeline.settings import Settings
from pipeline.validation import OutputCheck

log = logging.getLogger(__name__)

DEFAULT_FACTORY = "pipeline.stages:build_stage"
# Loading spaCy and the stage's models; generous for a slow disk or a busy machine.
START_TIMEOUT = 300.0


class StageFailure(Exception):
    """The child could not finish a batch; ``rejection`` says how for its dead letters."""

    rejection: Rejection


class StageTimeout(StageFailure):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"over the time limit of {seconds:g} s")
        self.rejection = Rejection(Reason.TIMEOUT, str(self))


class StageDied(StageFailure):
    def __init__(self, returncode: int | None) -> None:
        how = f"signal {-returncode}" if returncode is not None and returncode < 0 else returncode
        super().__init__(f"the stage's process died ({how}) while processing")
        self.rejection = Rejection(Reason.STAGE_ERROR, str(self))


class StageUnavailable(RuntimeError):
    """The child could not be started: the worker cannot go on."""


# --- the worker's side -----------------------------------------------------------------------


class IsolatedStage:
    """A stage whose code runs in a child process that can be stopped at any moment.

    ``process`` sends a batch and waits for its results at most ``timeout`` seconds; it raises
    ``StageTimeout`` (the child is killed) or ``StageDied``. The next call starts a fresh child.
    """

    def __init__(
        self,
        settings: Settings,
        stage_name: str,
        *,
        factory: str = DEFAULT_FACTORY,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self.name = stage_name
        # The child never talks to Kafka: it gets no credentials.
        self._settings = settings.without_credentials().as_strings()
        self._factory = factory
        self._on_exit = on_exit
        self._child: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._starting: asyncio.Future[None] | None = None  # the child's hello, awaited
        self.info = StageInfo()
        self.input_schema = self.output_schema = ""
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def launch(self) -> None:
        """Start the child, which loads the models while this process goes on (importing faust,
        joining its consumer group); ``wait_started`` waits for them."""
        ours, theirs = socket.socketpair()
        try:
            # Not asyncio's subprocesses: they belong to one event loop, and the first child is
            # started before faust's loop exists. Starting a process does not block.
            self._child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pipeline.runtime.sandbox",
                    str(theirs.fileno()),
                    str(os.getpid()),
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self._socket = ours
        self._starting = None
        init = {"stage": self.name, "factory": self._factory, "settings": self._settings}
        # A blocking send, before any event loop exists: the settings fit in the socket's
        # buffer. A child that died already is found out by ``wait_started``.
        with contextlib.suppress(ConnectionError):
            ours.sendall(frame(codec.dumps(init)))
        ours.setblocking(False)

    async def wait_started(self) -> None:
        """Wait until the child launched last has loaded its models (once: later calls return at
        once); raises ``StageUnavailable`` if it cannot."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._hello())
        # Shielded: the batch that waits may be cancelled, the start goes on for the next one.
        await asyncio.shield(self._starting)

    async def start(self) -> None:
        """Start the child and wait until its models are loaded."""
        self.launch()
        await self.wait_started()

    async def _hello(self) -> None:
        assert self._child is not None
        try:
            async with asyncio.timeout(START_TIMEOUT):
                hello = codec.loads(await self._receive())
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
            self._starting = None  # this task: ``stop`` must not cancel it
            code = self.stop()
            raise StageUnavailable(
                f"the {self.name} stage's process did not start (exit code {code}); "
                "see its log above"
            ) from exc
        self.info = StageInfo(**hello["info"])
        self.input_schema, self.output_schema = hello["input_schema"], hello["output_schema"]
        log.info("%s stage code running in process %d", self.name, self._child.pid)

    async def process(self, batch: Sequence[Incoming], time_limit: float) -> list[Encoded]:
        if self._child is None:
            self.restarts += 1
            await self.start()
        else:  # the first batch can come before the models are loaded: not under its time limit
            await self.wait_started()
        finished = False
        try:
            async with asyncio.timeout(time_limit):
                await self._send(encode_batch(batch))
                results = decode_results(await self._receive())
            finished = True
            return results
        except TimeoutError:
            raise StageTimeout(time_limit) from None
        except (ConnectionError, asyncio.IncompleteReadError):
            raise StageDied(self.stop()) from None
        finally:
            # Cut off, cancelled or dead: the child may still be working on this batch, and its
            # answer would be taken for the next one's. Only a fresh child is safe.
            if not finished:
                self.stop()

    def stop(self) -> int | None:
        """Kill the child (it holds nothing worth saving) and reap it; returns its exit code.

        Synchronous on purpose: it also runs while a cancelled task unwinds, where an await
        could be cancelled in turn. Reaping a SIGKILLed process takes milliseconds.
        """
        child, self._child = self._child, None
        starting, self._starting = self._starting, None
        if starting is not None and not starting.done() and not starting.get_loop().is_closed():
            starting.cancel()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if child is None:
            return None
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
        code = child.wait()
        if self._on_exit is not None:
            self._on_exit(child.pid)
        return code

    def close(self) -> None:
        self.stop()

    async def _send(self, body: bytes) -> None:
        assert self._socket is not None
        await asyncio.get_running_loop().sock_sendall(self._socket, frame(body))

    async def _receive(self) -> bytes:
        size = int.from_bytes(await self._read(HEADER), "big")
        return await self._read(size)

    async def _read(self, size: int) -> bytes:
        assert self._socket is not None
        loop = asyncio.get_running_loop()
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            count = await loop.sock_recv_into(self._socket, view[received:])
            if count == 0:
                raise asyncio.IncompleteReadError(bytes(buffer[:received]), size)
            received += count
        return bytes(buffer)


# --- the child's side ------------------------------------------------------------------------


def _read_exactly(stream: Any, size: int) -> bytes | None:
    data = stream.read(size)
    if not data:
        return None
    if len(data) < size:
        raise EOFError("frame cut short")
    return data


def _read_frame(stream: Any) -> bytes | None:
    header = _read_exactly(stream, HEADER)
    if header is None:
        return None
    return _read_exactly(stream, int.from_bytes(header, "big")) or b""


def _load_factory(path: str) -> Callable[[Settings, str], Any]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def child_main(fd: int, parent: int) -> int:
    # SIGKILL: the code process holds nothing worth saving.
    die_with_parent(parent, signal.SIGKILL)
    # The worker handles Ctrl+C and SIGTERM and then kills this process; it must not die first
    # in the middle of a batch the worker is still waiting for.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with socket.socket(fileno=fd) as sock, sock.makefile("rb") as incoming:
        first = _read_frame(incoming)
        if first is None:
            return 0
        init = codec.loads(first)
        settings = Settings.load(init["settings"], env={})
        if settings.stage_memory_limit:
            # Before the models load: an article whose processing needs more memory than this
            # raises MemoryError, which the stage turns into that article's dead letter.
            limit = settings.stage_memory_limit << 20
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        setup_logging(settings.log_level, f"{init['stage']}-code")
        stage = _load_factory(init["factory"])(settings, init["stage"])
        report = _ProcessReport(stage)
        hello = {
            "info": codec.to_plain(stage.info),
            "input_schema": stage.input_schema,
            "output_schema": stage.output_schema,
        }
        sock.sendall(frame(codec.dumps(hello)))
        check = OutputCheck(stage.name, stage.output_schema, settings.validate_output)
        while (body := _read_frame(incoming)) is not None:
            batch = decode_batch(body)
            results = process_encoded(stage, batch, settings.max_message_bytes, check)
            sock.sendall(frame(encode_results(results)))
            report.sample()
    return 0


class _ProcessReport:
    """The child's own memory and spaCy string stores, for the worker's /metrics (the worker's
    multiprocess metrics directory is inherited through the environment)."""

    INTERVAL = 5.0

    def __init__(self, stage: Any) -> None:
        self.stage = stage
        self._next = 0.0
        self._metrics = None
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from pipeline.metrics import ProcessMetrics

            self._metrics = ProcessMetrics()

    def sample(self) -> None:
        if self._metrics is None or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.INTERVAL
        from pipeline.observability import sample_process

        sample_process(self._metrics, self.stage)


if __name__ == "__main__":
    sys.exit(child_main(int(sys.argv[1]), int(sys.argv[2])))
