"""The worker's HTTP endpoints: metrics as exposition text, checks as JSON with their status."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from pipeline import codec
from pipeline.runtime.endpoints import Endpoints


def fetch(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers["Content-Type"], refused.read()


@pytest.fixture
def base():
    state = {"ready": False}
    endpoints = Endpoints(
        lambda: b"wirestream_up 1\n",
        lambda: (True, {"alive": True}),
        lambda: (state["ready"], {"ready": state["ready"]}),
    )
    port = endpoints.start("127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        endpoints.stop()


def test_metrics_and_checks_answer_with_their_status_and_type(base):
    url, state = base
    assert fetch(f"{url}/metrics") == (200, CONTENT_TYPE_LATEST, b"wirestream_up 1\n")
    status, kind, body = fetch(f"{url}/healthz")
    assert (status, kind, codec.loads(body)) == (200, "application/json", {"alive": True})
    status, _, body = fetch(f"{url}/readyz")
    assert (status, codec.loads(body)) == (503, {"ready": False})
    state["ready"] = True
    assert fetch(f"{url}/readyz")[0] == 200


def test_other_paths_and_methods_are_refused(base):
    url, _ = base
    assert fetch(f"{url}/")[0] == 404
    assert fetch(f"{url}/metrics", method="POST")[0] == 405


def test_a_port_in_use_is_an_os_error(base):
    url, _ = base
    taken = int(url.rsplit(":", 1)[1])
    with pytest.raises(OSError, match="in use"):
        Endpoints(lambda: b"", lambda: (True, {}), lambda: (True, {})).start("127.0.0.1", taken)
