"""Kafka connection details shared by workers, producers and admin tasks."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from pipeline.settings import Settings

log = logging.getLogger(__name__)


def bootstrap_servers(url: str) -> list[str]:
    """`kafka://a:9092;b:9092` or `a:9092,b:9092` to aiokafka's list of host:port."""
    servers = []
    for part in url.replace(";", ",").split(","):
        part = part.strip()
        if "://" in part:
            part = part.split("://", 1)[1]
        if part:
            servers.append(part if ":" in part else f"{part}:9092")
    return servers


def faust_broker_url(url: str) -> str:
    return ";".join(f"kafka://{server}" for server in bootstrap_servers(url))


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for `SSL` and `SASL_SSL`: the given CA (else the system's), the client
    certificate for mutual TLS if any; host names are always checked."""
    if not settings.uses_tls:
        return None
    return create_ssl_context(
        cafile=settings.ssl_cafile,
        certfile=settings.ssl_certfile,
        keyfile=settings.ssl_keyfile,
    )


class _RedactSaslAuthentication(logging.Filter):
    """aiokafka logs each request at DEBUG, SASL/PLAIN's bytes with the password among them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "sasl_auth_bytes" in record.getMessage():
            record.msg, record.args = "SASL authentication request (bytes withheld)", ()
        return True


_SASL_LOG_FILTER = _RedactSaslAuthentication()


def _withhold_sasl_bytes_from_logs() -> None:
    logging.getLogger("aiokafka.conn").addFilter(_SASL_LOG_FILTER)  # once: filters are a set


def security_options(settings: Settings) -> dict[str, Any]:
    """Security keyword arguments of aiokafka's clients (producer, consumer, admin)."""
    options: dict[str, Any] = {"security_protocol": settings.security_protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.uses_sasl:
        _withhold_sasl_bytes_from_logs()
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password,
        )
    return options


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """The same security settings as faust's ``broker_credentials``, which faust turns into the
    same aiokafka arguments for its consumer, producer and admin clients."""
    context = ssl_context(settings)
    if settings.uses_sasl:
        _withhold_sasl_bytes_from_logs()
        return SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            ssl_context=context,
            mechanism=settings.sasl_mechanism,
        )
    if context is not None:
        return SSLCredentials(context)
    return None


def client_options(settings: Settings) -> dict[str, Any]:
    """Options every aiokafka client of ours is created with."""
    return {
        "bootstrap_servers": bootstrap_servers(settings.broker_url),
        **security_options(settings),
    }


class KafkaSetupError(RuntimeError):
    """The pipeline cannot start against this cluster; the message says why and what to do."""


class BrokerUnavailable(KafkaSetupError):
    """The broker could not be reached within the allowed time."""


class TopicMisconfigured(KafkaSetupError):
    """A topic exists with a layout the pipeline cannot work with."""


async def ensure_topics(settings: Settings) -> None:
    """Create the pipeline's topics with their partitions if they do not exist.

    Retries while the broker is unreachable, then fails with a readable message. Refuses dedup
    topics with more than one partition: duplicate decisions need one owner seeing every article.
    """
    deadline = asyncio.get_running_loop().time() + settings.startup_timeout
    attempt = 0
    while True:
        attempt += 1
        admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=10_000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = settings.topic_partitions
            missing = [t for t in wanted if t not in existing]
            if missing:
                # The index keeps only each key's last value.
                configs = {settings.topic_dedup_index: {"cleanup.policy": "compact"}}
                await admin.create_topics(
                    [
                        NewTopic(
                            t, wanted[t], settings.replication_factor, topic_configs=configs.get(t)
                        )
                        for t in missing
                    ]
                )
                log.info("created topics %s", ", ".join(missing))
            for single in (settings.topic_dedup, settings.topic_dedup_index):
                if single in existing:
                    await _check_single_partition(admin, single)
            return
        except TopicAlreadyExistsError:
            return
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            if asyncio.get_running_loop().time() >= deadline:
                raise BrokerUnavailable(
                    f"cannot reach Kafka at {settings.broker_url} ({exc.__class__.__name__}: "
                    f"{exc}); is the broker running? Set --broker or WIRESTREAM_BROKER."
                ) from exc
            delay = min(0.5 * attempt, 3.0)
            log.warning(
                "broker %s not reachable (%s); retrying in %.1fs", settings.broker_url, exc, delay
            )
            await asyncio.sleep(delay)
        finally:
            await admin.close()


async def _check_single_partition(admin: AIOKafkaAdminClient, topic: str) -> None:
    [description] = await admin.describe_topics([topic])
    partitions = len(description.get("partitions") or ())
    if partitions != 1:
        raise TopicMisconfigured(
            f"topic {topic} has {partitions} partitions; the duplicate check needs exactly one. "
            "Recreate it with one partition, or configure a new topic name."
        )
