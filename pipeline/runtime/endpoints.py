"""The worker's HTTP endpoints (`/metrics`, `/healthz`, `/readyz`) on prometheus_client's own
threaded WSGI server, in threads beside the supervisor's event loop: no web framework in the
supervisor (aiohttp alone took 27 MiB of its memory)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.exposition import ThreadingWSGIServer

from pipeline import codec

# A health check's answer: whether it passes (200, else 503) and the JSON document to send.
Check = Callable[[], tuple[bool, dict[str, Any]]]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log: Prometheus scrapes every few seconds."""


class Endpoints:
    """Serves ``metrics`` (the exposition text) and the two checks until ``stop``."""

    def __init__(self, metrics: Callable[[], bytes], health: Check, readiness: Check) -> None:
        self._metrics = metrics
        self._checks = {"/healthz": health, "/readyz": readiness}
        self._server: ThreadingWSGIServer | None = None

    def start(self, host: str, port: int) -> int:
        """Listen (port 0: a free one) and serve in a thread; the port listened on. Raises
        OSError when the port cannot be had."""
        server = make_server(host, port, self._app, ThreadingWSGIServer, _QuietHandler)
        self._server = server
        threading.Thread(target=server.serve_forever, name="endpoints", daemon=True).start()
        return server.server_port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != "/metrics" and path not in self._checks:
            return _respond(start_response, "404 Not Found", "text/plain", b"not found\n")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _respond(start_response, "405 Method Not Allowed", "text/plain", b"GET only\n")
        if path == "/metrics":
            return _respond(start_response, "200 OK", CONTENT_TYPE_LATEST, self._metrics())
        passed, document = self._checks[path]()
        status = "200 OK" if passed else "503 Service Unavailable"
        return _respond(start_response, status, "application/json", codec.dumps(document))


def _respond(
    start_response: Callable[..., Any], status: str, content_type: str, body: bytes
) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
