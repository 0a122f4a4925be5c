"""Kafka connection details shared by workers, producers and admin tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    NoError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    for_code,
)
from aiokafka.helpers import create_ssl_context
from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from pipeline.settings import Settings

T = TypeVar("T")

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


def producer_options(settings: Settings) -> dict[str, Any]:
    """Options of every aiokafka producer of ours (faust's get the same through its app)."""
    compression = None if settings.compression_type == "none" else settings.compression_type
    return {
        **client_options(settings),
        "acks": "all",
        "enable_idempotence": settings.idempotence,
        "compression_type": compression,
        "max_request_size": settings.max_message_bytes,
    }


class KafkaSetupError(RuntimeError):
    """The pipeline cannot start against this cluster; the message says why and what to do."""


class BrokerUnavailable(KafkaSetupError):
    """The broker could not be reached within the allowed time."""


class TopicMisconfigured(KafkaSetupError):
    """A topic exists with a layout the pipeline cannot work with."""


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the pipeline's topics if they do not exist, then check every one against the
    settings; returns the warnings it logged.

    Retries while the broker is unreachable, then fails with a readable message. Refuses what
    the pipeline cannot work with (``TopicMisconfigured``): a dedup topic with more than one
    partition (duplicate decisions need one owner seeing every article), a duplicate index that
    is not compacted (it would grow without end and a new owner would read it all back), a topic
    the cluster will not create. Warns, naming topic and setting, of fewer replicas or a lower
    ``min.insync.replicas`` than the settings ask for.
    """

    async def create_and_check(admin: AIOKafkaAdminClient) -> list[str]:
        existing = set(await admin.list_topics())
        missing = [t for t in settings.topic_partitions if t not in existing]
        if missing:
            await _create(admin, settings, missing)
        return await check_topics(admin, settings)

    return await _with_admin(settings, create_and_check)


async def wait_for_broker(settings: Settings) -> None:
    """Return once the broker answers; retry as ``ensure_topics`` does, for `startup_timeout`
    seconds, saying so, then raise ``BrokerUnavailable``. For commands that create no topics."""

    async def answered(_: AIOKafkaAdminClient) -> None:
        return None

    await _with_admin(settings, answered)


async def _with_admin(
    settings: Settings, action: Callable[[AIOKafkaAdminClient], Awaitable[T]]
) -> T:
    """``action`` on a started admin client, retried on a new client while the broker is
    unreachable (``_retry_later``)."""
    deadline = asyncio.get_running_loop().time() + settings.startup_timeout
    attempt = 0
    while True:
        attempt += 1
        admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=10_000)
        try:
            await admin.start()
            return await action(admin)
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            await _retry_later(settings, exc, attempt, deadline)
        finally:
            await admin.close()


async def _retry_later(settings: Settings, exc: Exception, attempt: int, deadline: float) -> None:
    """Wait before the next attempt to reach the broker, saying so; give up at the deadline."""
    if asyncio.get_running_loop().time() >= deadline:
        raise BrokerUnavailable(
            f"cannot reach Kafka at {settings.broker_url} ({exc.__class__.__name__}: "
            f"{exc}); is the broker running? Set --broker or WIRESTREAM_BROKER."
        ) from exc
    delay = min(0.5 * attempt, 3.0)
    left = max(deadline - asyncio.get_running_loop().time(), 0.0)
    log.warning(
        "broker %s not reachable (%s); retrying in %.1fs (giving up in %.0fs: startup_timeout)",
        settings.broker_url, exc, delay, left,
    )  # fmt: skip
    await asyncio.sleep(delay)


def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The topic-level configuration Wirestream creates a topic with."""
    configs = {}
    if topic == settings.topic_dedup_index:
        configs["cleanup.policy"] = "compact"  # the index keeps only each key's last value
    if settings.min_insync_replicas > 1:  # else the cluster's default, never lowered by us
        configs["min.insync.replicas"] = str(settings.min_insync_replicas)
    return configs


async def _create(admin: AIOKafkaAdminClient, settings: Settings, topics: list[str]) -> None:
    wanted = settings.topic_partitions
    response = await admin.create_topics(
        [
            NewTopic(
                t,
                wanted[t],
                settings.replication_factor,
                topic_configs=topic_configs(settings, t) or None,
            )
            for t in topics
        ]
    )
    created = []
    for topic, code, *message in response.topic_errors:
        error = for_code(code)
        if error is NoError:
            created.append(topic)
        elif error is TopicAlreadyExistsError:  # another worker created it just now
            continue
        elif error.retriable:
            raise error(f"creating topic {topic}")
        else:
            detail = message[0] if message and message[0] else error.__name__
            raise TopicMisconfigured(
                f"the cluster refused to create topic {topic} ({detail}); check the settings "
                f"partitions={wanted[topic]}, replication_factor={settings.replication_factor}, "
                f"min_insync_replicas={settings.min_insync_replicas}."
            )
    if created:
        log.info("created topics %s", ", ".join(created))


async def check_topics(admin: AIOKafkaAdminClient, settings: Settings) -> list[str]:
    """Raise ``TopicMisconfigured`` or return (and log) warnings; see ``ensure_topics``."""
    topics = list(settings.topic_partitions)
    described = {d["topic"]: d for d in await admin.describe_topics(topics)}
    for topic in topics:
        if topic not in described or not described[topic].get("partitions"):
            # Just created and not yet known to every broker: ensure_topics asks again.
            raise UnknownTopicOrPartitionError(f"topic {topic} not described yet")
    warnings = []
    for single in (settings.topic_dedup, settings.topic_dedup_index):
        partitions = len(described.get(single, {}).get("partitions") or ())
        if partitions != 1:
            raise TopicMisconfigured(
                f"topic {single} has {partitions} partitions; the duplicate check needs exactly "
                "one. Recreate it with one partition, or configure a new topic name."
            )
    for topic in topics:
        replicas = min(len(p["replicas"]) for p in described[topic]["partitions"])
        if replicas < settings.replication_factor:
            warnings.append(
                f"topic {topic} has {replicas} replica(s) per partition, fewer than "
                f"replication_factor={settings.replication_factor} asks for"
            )
    configs = await _topic_configs(admin, topics)
    policy = configs.get(settings.topic_dedup_index, {}).get("cleanup.policy", "")
    if "compact" not in policy.split(","):
        raise TopicMisconfigured(
            f"topic {settings.topic_dedup_index} has cleanup.policy={policy or 'unknown'}; the "
            "duplicate index must be compacted (cleanup.policy=compact). Change the topic's "
            "configuration, or configure a new topic name for topic_dedup_index."
        )
    for topic in topics:
        min_isr = configs.get(topic, {}).get("min.insync.replicas")
        # A broker that does not report it (the embedded one) is taken at Kafka's default, 1.
        if int(min_isr or 1) < settings.min_insync_replicas:
            warnings.append(
                f"topic {topic} has min.insync.replicas={min_isr or 'unknown'}, lower than "
                f"min_insync_replicas={settings.min_insync_replicas} asks for"
            )
    for warning in warnings:
        log.warning("%s", warning)
    return warnings


async def _topic_configs(
    admin: AIOKafkaAdminClient, topics: list[str]
) -> dict[str, dict[str, str]]:
    """Each topic's effective configuration (its own values, else the cluster's defaults)."""
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
    )
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for code, _message, _type, name, entries in response.resources:
            if code != 0:
                raise for_code(code)(f"configuration of topic {name}")
            configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs


class TransactionsUnsupported(KafkaSetupError):
    """The broker has no transactions: exactly-once cannot run on it."""


async def check_transactions(settings: Settings) -> None:
    """Refuse exactly-once on a broker without transactions, asked the way a stage will: by
    starting a transactional producer (InitProducerId with a transactional id)."""
    producer = AIOKafkaProducer(
        **client_options(settings),
        transactional_id=f"{settings.app_prefix}-transactions-check",
        enable_idempotence=True,
    )
    try:
        async with asyncio.timeout(settings.startup_timeout):
            await producer.start()
    except (KafkaError, TimeoutError) as exc:
        raise TransactionsUnsupported(
            f"processing_guarantee exactly-once needs a broker with Kafka transactions; the "
            f"broker at {settings.broker_url} refused a transactional producer "
            f"({type(exc).__name__}: {exc}). Use Apache Kafka (`make kafka-up`; for the demo, "
            "embedded_broker kafka or auto with Java installed), or processing_guarantee "
            "at-least-once."
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            await producer.stop()
