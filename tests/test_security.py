"""Security: Kafka's SASL and TLS settings reach every client the same way, secrets never show,
and nothing from the wire is unpickled or evaluated."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import logging
import shutil
import ssl
import struct
import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from click.testing import CliRunner
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from prometheus_client import CollectorRegistry

from pipeline.cli import main
from pipeline.kafka import client_options, faust_credentials, security_options
from pipeline.runtime.stage_app import build_app
from pipeline.runtime.supervisor import Supervisor
from pipeline.settings import REDACTED, Settings, SettingsError
from tests.stage_doubles import MisbehavingStage

PACKAGE = Path(__file__).resolve().parent.parent / "pipeline"
SECRET = "s3cr3t-Pa55word!"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate and its key, made for the test."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "client.pem", folder / "client.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=wirestream-test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def secured(settings: Settings, **changes) -> Settings:
    return settings.replace(sasl_username="svc-wirestream", sasl_password=SECRET, **changes)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_settings_map_to_aiokafka_and_to_faust_alike(settings, mechanism, protocol):
    configured = secured(settings, security_protocol=protocol, sasl_mechanism=mechanism)
    options = security_options(configured)
    assert options["security_protocol"] == protocol
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "svc-wirestream"
    assert options["sasl_plain_password"] == SECRET
    assert ("ssl_context" in options) is (protocol == "SASL_SSL")
    credentials = faust_credentials(configured)
    assert isinstance(credentials, SASLCredentials)
    # faust turns its credentials into the same aiokafka arguments for its own clients (each
    # builder makes its own TLS context).
    faust_options = credentials_to_aiokafka_auth(credentials)
    assert (faust_options.pop("ssl_context") is None) is (protocol == "SASL_PLAINTEXT")
    assert faust_options == {k: v for k, v in options.items() if k != "ssl_context"}


def test_tls_with_a_client_certificate(settings, tls_files):
    cert, key = tls_files
    configured = settings.replace(
        security_protocol="SSL", ssl_cafile=cert, ssl_certfile=cert, ssl_keyfile=key
    )
    options = security_options(configured)
    context = options["ssl_context"]
    assert options["security_protocol"] == "SSL"
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 1  # the given CA, not only the system's
    credentials = faust_credentials(configured)
    assert isinstance(credentials, SSLCredentials)
    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == "SSL"


def test_plaintext_is_the_default_and_adds_nothing(settings):
    assert security_options(settings) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None
    assert client_options(settings)["security_protocol"] == "PLAINTEXT"


def test_every_stage_app_gets_the_credentials(settings):
    configured = secured(
        settings, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512"
    )
    stage_app = build_app(configured, MisbehavingStage(), CollectorRegistry())
    credentials = stage_app.app.conf.broker_credentials
    assert isinstance(credentials, SASLCredentials)
    assert (credentials.mechanism.value, credentials.password) == ("SCRAM-SHA-512", SECRET)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "needs sasl_username and sasl_password"),
        ({"security_protocol": "TLS"}, "security_protocol must be one of"),
        ({"sasl_mechanism": "GSSAPI"}, "sasl_mechanism must be one of"),
        ({"ssl_cafile": "/ca.pem"}, "need security_protocol SSL or SASL_SSL"),
        ({"security_protocol": "SSL", "ssl_keyfile": "/k.pem"}, "ssl_keyfile needs ssl_certfile"),
    ],
)
def test_security_settings_that_cannot_work_are_refused(changes, message):
    with pytest.raises(SettingsError, match=message):
        Settings.load(changes, env={})


def test_secrets_never_show_in_repr_strings_or_the_settings_command(settings, monkeypatch):
    configured = secured(settings, security_protocol="SASL_SSL")
    assert SECRET not in repr(configured) and SECRET not in str(configured)
    assert configured.as_strings()["sasl_password"] == REDACTED
    assert configured.as_strings(secrets=True)["sasl_password"] == SECRET
    assert Settings.load(configured.as_strings(secrets=True), env={}) == configured
    monkeypatch.setenv("WIRESTREAM_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("WIRESTREAM_SASL_USERNAME", "svc")
    monkeypatch.setenv("WIRESTREAM_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert f"sasl_password        {REDACTED}" in result.output


def test_stage_processes_get_no_settings_in_their_environment(settings, monkeypatch):
    monkeypatch.setenv("WIRESTREAM_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("UNRELATED_VARIABLE", "kept")
    env = Supervisor(secured(settings, security_protocol="SASL_PLAINTEXT")).stage_environment()
    assert not [name for name in env if name.startswith("WIRESTREAM_") and "PID" not in name]
    assert SECRET not in "".join(env.values())
    assert env["UNRELATED_VARIABLE"] == "kept"


class SaslListener:
    """Just enough of a Kafka broker for a client to authenticate with SASL/PLAIN: it answers
    ApiVersions and SaslHandshake, keeps the authentication bytes, then hangs up."""

    APIS = [(18, 0, 0), (17, 0, 1), (36, 0, 0), (3, 0, 1)]  # (api key, min, max version)

    def __init__(self) -> None:
        self.auth_bytes = b""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (size,) = struct.unpack(">i", await reader.readexactly(4))
                request = await reader.readexactly(size)
                api_key, _, correlation = struct.unpack(">hhi", request[:8])
                if api_key == 18:  # ApiVersions
                    body = struct.pack(">hi", 0, len(self.APIS))
                    body += b"".join(struct.pack(">hhh", *api) for api in self.APIS)
                elif api_key == 17:  # SaslHandshake
                    body = struct.pack(">hih", 0, 1, 5) + b"PLAIN"
                else:  # SaslAuthenticate
                    self.auth_bytes = request
                    break
                reply = struct.pack(">i", correlation) + body
                writer.write(struct.pack(">i", len(reply)) + reply)
                await writer.drain()
        writer.close()


async def test_a_client_authenticating_never_writes_the_password_to_the_log(settings, caplog):
    caplog.set_level(logging.DEBUG)
    listener = SaslListener()
    server = await asyncio.start_server(listener.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    configured = secured(
        settings,
        broker=f"kafka://127.0.0.1:{port}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
    )
    producer = AIOKafkaProducer(**client_options(configured), request_timeout_ms=5000)
    try:
        with pytest.raises(KafkaConnectionError):  # the listener hangs up after the password
            await producer.start()
    finally:
        await producer.stop()
        server.close()
        await server.wait_closed()
    assert SECRET.encode() in listener.auth_bytes  # the client did authenticate with it
    assert "SaslHandShake" in caplog.text  # aiokafka's debug log of each request was on
    assert SECRET not in caplog.text


def test_building_and_logging_the_stage_apps_never_writes_the_password(settings, caplog):
    caplog.set_level(logging.DEBUG)
    configured = secured(settings, security_protocol="SASL_PLAINTEXT")
    stage_app = build_app(configured, MisbehavingStage(), CollectorRegistry())
    credentials = stage_app.app.conf.broker_credentials
    logging.getLogger("wirestream.test").info("credentials %r settings %r", credentials, configured)
    assert SECRET not in caplog.text
    assert "svc-wirestream" in caplog.text


# --- nothing from the wire is unpickled or evaluated --------------------------------------------

_FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle",
                      "jsonpickle", "yaml"}  # fmt: skip
_FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}


def _python_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_of_the_package_can_unpickle_or_evaluate():
    problems = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                names = [node.func.id] if node.func.id in _FORBIDDEN_CALLS else []
            else:
                continue
            for name in names:
                if name in _FORBIDDEN_MODULES | _FORBIDDEN_CALLS:
                    problems.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {name}")
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "allow_pickle" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                    ):
                        problems.append(f"{path.name}:{node.lineno} allow_pickle")
    assert problems == []


def test_the_scan_sees_every_module():
    names = {path.name for path in _python_files()}
    assert {
        "codec.py",
        "sandbox.py",
        "envelope.py",
        "replay.py",
        "stage_app.py",
        "batch_loop.py",
        "supervisor.py",
    } <= names
