"""The one settings object: defaults, overridden by ``WIRESTREAM_*`` environment, then by flags.

Built once at the command line and passed down; nothing else reads the environment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "WIRESTREAM_"
STAGES = ("clean", "ner", "classify")


class SettingsError(ValueError):
    """A setting has a value that cannot be used; ``settings`` names the settings at fault."""

    def __init__(self, message: str, settings: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.settings = settings


COMPRESSION_TYPES = ("none", "gzip", "lz4", "zstd")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
REDACTED = "********"
PROCESSING_GUARANTEES = ("at-least-once", "exactly-once")


# Sections of `--help` and of the settings table; each command takes the settings it uses.
CONNECTION = "Connection and security"
TOPICS = "Topics"
CONSUMER = "Consumer groups"
LIMITS = "Stage limits"
NER = "NER"
CLASSIFICATION = "Classification"
DUPLICATES = "Duplicates"
METRICS = "Metrics"
GENERAL = "General"
GROUPS = (CONNECTION, TOPICS, CONSUMER, LIMITS, NER, CLASSIFICATION, DUPLICATES, METRICS, GENERAL)

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
VALIDATE_MODES = ("off", "sample", "all")
START_POSITIONS = ("earliest", "latest")
TRACING_MODES = ("off", "on")
EMBEDDED_BROKERS = ("auto", "kafka", "tansu")


def _setting(
    default: Any,
    doc: str,
    *,
    group: str,
    metavar: str | None = None,
    secret: bool = False,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    # Secrets stay out of repr(), so a logged or printed Settings never shows them.
    metadata = {
        "doc": doc,
        "secret": secret,
        "group": group,
        "metavar": metavar,
        "at_least": at_least,
        "above": above,
        "at_most": at_most,
        "choices": choices,
    }
    return field(default=default, repr=not secret, metadata=metadata)


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of Wirestream. ``Settings.load()`` is the only constructor code should use."""

    broker: str | None = _setting(
        None,
        "Kafka bootstrap servers (`kafka://host:9092`, comma-separated for several). Unset: "
        "`demo` starts the embedded broker (`embedded_broker`); other commands use "
        "`kafka://127.0.0.1:9092`.",
        group=CONNECTION,
        metavar="URL",
    )
    embedded_broker: str = _setting(
        "auto",
        "The broker `demo` (with `broker` unset) and `wirestream broker` start, its data in a "
        "temporary folder removed at exit: `kafka` (Apache Kafka, one node; needs Java 17+, and "
        "Maven the first time to fetch Kafka into `~/.m2/wirestream`), `tansu` (in memory; "
        "clients on older librdkafka, kcat among them, cannot connect to it) or `auto`: Apache "
        "Kafka where `java` is on the PATH and Kafka is cached or Maven can fetch it, else Tansu.",
        group=CONNECTION,
        metavar="auto|kafka|tansu",
        choices=EMBEDDED_BROKERS,
    )
    app_prefix: str = _setting(
        "wirestream",
        "Prefix of consumer-group ids; each stage is its own group `<prefix>-<stage>`.",
        group=CONSUMER,
        metavar="NAME",
    )
    stages: tuple[str, ...] = _setting(
        STAGES,
        "Stages a worker runs (comma-separated); unset: every stage, plugins and sinks included.",
        group=GENERAL,
        metavar="STAGE,...",
    )
    plugins: tuple[str, ...] = _setting(
        (),
        "Plugin stages (entry points of `wirestream.stages`) run after classify, in this order, "
        "before the enriched topic.",
        group=GENERAL,
        metavar="NAME,...",
    )
    sinks: tuple[str, ...] = _setting(
        (),
        "Plugin stages that read the enriched topic and publish nothing but dead letters.",
        group=GENERAL,
        metavar="NAME,...",
    )
    topic_raw: str = _setting(
        "articles.raw", "Topic producers write raw articles to.", group=TOPICS, metavar="TOPIC"
    )
    topic_clean: str = _setting(
        "articles.clean", "Topic between clean and ner.", group=TOPICS, metavar="TOPIC"
    )
    topic_entities: str = _setting(
        "articles.entities", "Topic between ner and classify.", group=TOPICS, metavar="TOPIC"
    )
    topic_enriched: str = _setting(
        "articles.enriched", "Topic of finished, enriched events.", group=TOPICS, metavar="TOPIC"
    )
    topic_dlq: str = _setting(
        "articles.dlq", "Dead-letter topic for every stage.", group=TOPICS, metavar="TOPIC"
    )
    topic_dedup: str = _setting(
        "articles.dedup",
        "Internal topic of the clean stage: clean articles on their way to the duplicate check. "
        "Always one partition, so that one process sees every article in order.",
        group=TOPICS,
        metavar="TOPIC",
    )
    topic_dedup_index: str = _setting(
        "articles.dedup-index",
        "Compacted topic holding the duplicate index: one entry per remembered article, written "
        "by the process that owns the dedup topic and read back by the next owner.",
        group=TOPICS,
        metavar="TOPIC",
    )
    partitions: int = _setting(
        4,
        "Partitions of each pipeline topic when Wirestream creates it.",
        group=TOPICS,
        at_least=1,
    )
    replication_factor: int = _setting(
        1,
        "Replication factor of topics Wirestream creates. A topic with fewer replicas is "
        "reported at start-up.",
        group=TOPICS,
        at_least=1,
    )
    min_insync_replicas: int = _setting(
        1,
        "Replicas that must have a write before the broker accepts it (`min.insync.replicas`; "
        "producers ask every in-sync replica). Above 1, topics Wirestream creates get it; a "
        "topic with less is reported at start-up. At most `replication_factor`.",
        group=TOPICS,
        at_least=1,
    )
    compression_type: str = _setting(
        "none",
        "Compression of the messages Wirestream's producers send: `none`, `gzip`, `lz4` or "
        "`zstd` (see Measured for bytes per event).",
        group=TOPICS,
        metavar="CODEC",
        choices=COMPRESSION_TYPES,
    )
    idempotence: bool = _setting(
        True,
        "Producers ask the broker for idempotent writes (`enable.idempotence`): a send retried "
        "after a lost answer is not written twice. Tansu lacks it, and the demo turns it off "
        "there.",
        group=TOPICS,
        metavar="BOOL",
    )
    session_timeout: float = _setting(
        10.0,
        "Consumer-group session timeout in seconds. Low values make Tansu (which completes a "
        "join after about half of it) start fast; the demo uses 4 s there.",
        group=CONSUMER,
        metavar="SECONDS",
        above=0,
    )
    heartbeat_interval: float = _setting(
        1.0,
        "Consumer heartbeat interval in seconds.",
        group=CONSUMER,
        metavar="SECONDS",
        above=0,
    )
    start_from: str = _setting(
        "earliest",
        "Where a consumer group with no committed offsets starts on its input topic: "
        "`earliest`, `latest` (only what arrives from then on) or an ISO 8601 time "
        "(`2024-06-11T08:00:00Z`; the first message at or after it). `tail` starts there too.",
        group=CONSUMER,
        metavar="earliest|latest|TIME",
    )
    startup_timeout: float = _setting(
        60.0,
        "Seconds to keep retrying an unreachable broker at start-up before giving up.",
        group=CONNECTION,
        metavar="SECONDS",
        at_least=0,
    )
    batch_size: int = _setting(
        32, "Most messages a stage takes as one batch.", group=LIMITS, at_least=1
    )
    batch_timeout: float = _setting(
        0.2, "Seconds a stage waits to fill a batch.", group=LIMITS, metavar="SECONDS", at_least=0
    )
    article_timeout: float = _setting(
        20.0,
        "Time limit in seconds for a stage's work on a batch. A batch over it is retried one "
        "article at a time under the same limit; an article over it is dead-lettered with reason "
        "`timeout`.",
        group=LIMITS,
        metavar="SECONDS",
        above=0,
    )
    stage_memory_limit: int = _setting(
        2048,
        "MiB of heap a stage's code may use (its process's data limit; 0: no limit). An article "
        "that needs more is dead-lettered with reason `stage_error` (MemoryError).",
        group=LIMITS,
        metavar="MIB",
        at_least=0,
    )
    commit_interval: float = _setting(
        1.0,
        "Seconds between offset commits. After a crash, the messages of about this long (and the "
        "batch in flight) are processed again: duplicates with the same `event_id`.",
        group=CONSUMER,
        metavar="SECONDS",
        above=0,
    )
    fetch_max_wait: float = _setting(
        0.1,
        "Seconds the broker may hold a stage's fetch while some of its partitions have no new "
        "data (faust's own 1.5 s costs up to that much per stage on brokers that hold it).",
        group=CONSUMER,
        metavar="SECONDS",
        above=0,
    )
    processing_guarantee: str = _setting(
        "at-least-once",
        "`at-least-once`: after a crash, the messages since the last offset commit are processed "
        "again (duplicates with the same `event_id`). `exactly-once`: each stage writes a "
        "batch's results, dead letters and input offsets in one Kafka transaction and reads "
        "committed data only, so a `read_committed` consumer sees each result once. Needs a "
        "broker with transactions (Apache Kafka); refused at start-up on one without.",
        group=CONSUMER,
        metavar="GUARANTEE",
        choices=PROCESSING_GUARANTEES,
    )
    delivery_timeout: float = _setting(
        120.0,
        "Seconds a stage keeps retrying to deliver a batch's results while the broker is "
        "unreachable; then its process exits so that the supervisor restarts it.",
        group=LIMITS,
        metavar="SECONDS",
        above=0,
    )
    max_message_bytes: int = _setting(
        1_000_000,
        "Largest message a stage sends (keep it within the topics' `max.message.bytes`). A "
        "larger result is dead-lettered with reason `undeliverable`; a dead letter's payload is "
        "cut to fit.",
        group=LIMITS,
        metavar="BYTES",
        at_least=10_000,
    )
    max_body_bytes: int = _setting(
        1_048_576,
        "Raw messages larger than this are dead-lettered.",
        group=LIMITS,
        metavar="BYTES",
        at_least=1,
    )
    validate_output: str = _setting(
        "off",
        "Check each stage's output events against their JSON Schema before they are sent: `off`, "
        "`sample` (one event in 100 per stage process) or `all`. An event that fails becomes a "
        "dead letter with reason `invalid_output`.",
        group=LIMITS,
        metavar="off|sample|all",
        choices=VALIDATE_MODES,
    )
    spacy_model: str = _setting(
        "en_core_web_sm",
        "spaCy pipeline for NER: an installed package name or a path. It serves articles in its "
        "own language and articles whose language is unknown.",
        group=NER,
        metavar="MODEL",
    )
    spacy_models: tuple[str, ...] = _setting(
        (),
        "More NER pipelines by language, as `lang=model` pairs (comma-separated), e.g. "
        "`de=de_core_news_sm,fr=/models/fr`. An article in a language with no pipeline gets no "
        "entities and `skipped.entities` says why.",
        group=NER,
        metavar="LANG=MODEL,...",
    )
    ner_patterns: Path | None = _setting(
        None,
        "spaCy EntityRuler patterns (JSONL) applied after the model and the repair rules; "
        "they win over both.",
        group=NER,
        metavar="FILE",
    )
    ner_aliases: Path | None = _setting(
        None,
        'Extra entity aliases (JSONL: `{"name", "label", "aliases": [...]}` per line), '
        "added to and overriding the shipped table.",
        group=NER,
        metavar="FILE",
    )
    classify_model: Path | None = _setting(
        None,
        "Directory of the topic model; unset uses the model shipped in the package.",
        group=CLASSIFICATION,
        metavar="DIR",
    )
    classify_threshold: float = _setting(
        0.25,
        "Topics scoring at least this (0..1) are listed in `topics`.",
        group=CLASSIFICATION,
        metavar="0..1",
        at_least=0,
        at_most=1,
    )
    dedup_mode: str = _setting(
        "annotate",
        "What the clean stage does with a duplicate: `annotate` (emit it with `duplicate_of` "
        "set) or `drop` (emit nothing for it, and count it in `wirestream_duplicates_total`).",
        group=DUPLICATES,
        metavar="annotate|drop",
        choices=("annotate", "drop"),
    )
    dedup_window_hours: float = _setting(
        72.0,
        "Duplicates are looked for among articles received within this many hours.",
        group=DUPLICATES,
        metavar="HOURS",
        above=0,
    )
    dedup_max_entries: int = _setting(
        100_000,
        "Most articles the duplicate index holds; the oldest are forgotten first. Each takes "
        "about 4.5 KiB of the dedup agent's memory.",
        group=DUPLICATES,
        at_least=1,
    )
    dedup_threshold: float = _setting(
        0.5,
        "Estimated Jaccard similarity of word 3-shingles (0..1) from which an article counts as "
        "a near-duplicate of an earlier one.",
        group=DUPLICATES,
        metavar="0..1",
        above=0,
        at_most=1,
    )
    security_protocol: str = _setting(
        "PLAINTEXT",
        "How clients talk to Kafka: `PLAINTEXT`, `SSL` (TLS), `SASL_PLAINTEXT` or `SASL_SSL`.",
        group=CONNECTION,
        metavar="PROTOCOL",
        choices=SECURITY_PROTOCOLS,
    )
    sasl_mechanism: str = _setting(
        "PLAIN",
        "SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.",
        group=CONNECTION,
        metavar="MECHANISM",
        choices=SASL_MECHANISMS,
    )
    sasl_username: str | None = _setting(None, "SASL user name.", group=CONNECTION, metavar="NAME")
    sasl_password: str | None = _setting(
        None,
        "SASL password. A secret: never printed or logged, and handed to stage processes "
        "through a pipe, not their environment.",
        group=CONNECTION,
        metavar="PASSWORD",
        secret=True,
    )
    ssl_cafile: Path | None = _setting(
        None,
        "CA certificates (PEM) to verify the brokers with; unset: the system's.",
        group=CONNECTION,
        metavar="FILE",
    )
    ssl_certfile: Path | None = _setting(
        None, "Client certificate (PEM) for mutual TLS.", group=CONNECTION, metavar="FILE"
    )
    ssl_keyfile: Path | None = _setting(
        None, "Private key (PEM) of the client certificate.", group=CONNECTION, metavar="FILE"
    )
    metrics_host: str = _setting(
        "127.0.0.1", "Bind address of the metrics and health server.", group=METRICS, metavar="HOST"
    )
    metrics_port: int = _setting(
        9108,
        "Port of `/metrics`, `/healthz` and `/readyz` (0 picks a free one).",
        group=METRICS,
        metavar="PORT",
        at_least=0,
        at_most=65535,
    )
    log_level: str = _setting(
        "warning",
        "Log level: `debug`, `info`, `warning`, `error` or `critical`.",
        group=GENERAL,
        metavar="LEVEL",
        choices=LOG_LEVELS,
    )
    tracing: str = _setting(
        "off",
        "OpenTelemetry span per article in each stage, a child of the message's W3C "
        "`traceparent`, which the stage's output then carries: `off` or `on` (spans as JSON on "
        "standard error; needs `pip install 'wirestream[otel]'`).",
        group=GENERAL,
        metavar="off|on",
        choices=TRACING_MODES,
    )
    data_dir: Path = _setting(
        Path(".wirestream"),
        "Where workers keep local state (faust table stores).",
        group=GENERAL,
        metavar="DIR",
    )

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then ``WIRESTREAM_<NAME>`` variables, then ``overrides`` (flags) that are
        not None. A bad value raises SettingsError naming the setting and where it came from."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        hints = typing.get_type_hints(cls)
        try:
            for f in dataclasses.fields(cls):
                raw = env.get(ENV_PREFIX + f.name.upper())
                if raw is not None and raw != "":
                    sources[f.name] = f"environment variable {ENV_PREFIX}{f.name.upper()}"
                    values[f.name] = _coerce(f.name, hints[f.name], raw)
            for name, value in (overrides or {}).items():
                if name not in hints:
                    raise SettingsError(f"unknown setting {name!r}")
                if value is not None:
                    sources[name] = f"flag {option_name(name)}"
                    values[name] = (
                        _coerce(name, hints[name], value) if isinstance(value, str) else value
                    )
            if "stages" not in values:  # every stage, the plugins' included
                values["stages"] = (
                    STAGES + tuple(values.get("plugins", ())) + tuple(values.get("sinks", ()))
                )
            settings = cls(**values)
            settings.validate()
        except SettingsError as exc:
            given = [sources[name] for name in exc.settings if name in sources]
            if not given:
                raise
            raise SettingsError(f"{exc} (from {', '.join(given)})", exc.settings) from None
        return settings

    def replace(self, **changes: Any) -> Settings:
        updated = dataclasses.replace(self, **changes)
        updated.validate()
        return updated

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            _check_field(f.name, getattr(self, f.name), f.metadata)
        named = STAGES + self.plugins + self.sinks
        if len(set(named)) != len(named):
            raise SettingsError(
                "plugins and sinks must be distinct and not named like a built-in stage",
                ("plugins", "sinks"),
            )
        unknown = set(self.stages) - set(named)
        if unknown or not self.stages:
            wanted, got = ",".join(named), ",".join(self.stages)
            raise SettingsError(
                f"stages must be a non-empty subset of {wanted}; got {got}", ("stages",)
            )
        if len(self.topic_partitions) != len(self.pipeline_topics) + 2:
            raise SettingsError(
                "every topic setting must name a different topic",
                tuple(f.name for f in dataclasses.fields(self) if f.name.startswith("topic_")),
            )
        if self.min_insync_replicas > self.replication_factor:
            raise SettingsError(
                "min_insync_replicas must be at most replication_factor",
                ("min_insync_replicas", "replication_factor"),
            )
        if self.heartbeat_interval >= self.session_timeout:
            raise SettingsError(
                "heartbeat_interval must be shorter than session_timeout",
                ("heartbeat_interval", "session_timeout"),
            )
        if self.tracing == "on" and not _importable("opentelemetry.sdk.trace"):
            raise SettingsError(
                "tracing = on needs OpenTelemetry: pip install 'wirestream[otel]'", ("tracing",)
            )
        self.start_position()
        self._validate_security()
        self.language_models()

    def start_position(self) -> str | dt.datetime:
        """`start_from` as `earliest`, `latest` or an aware datetime."""
        return parse_start_position(self.start_from, "start_from")

    def _validate_security(self) -> None:
        if self.uses_sasl and not (self.sasl_username and self.sasl_password):
            raise SettingsError(
                f"security_protocol {self.security_protocol} needs sasl_username and sasl_password",
                ("security_protocol", "sasl_username", "sasl_password"),
            )
        tls_files = (self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile)
        if any(tls_files) and not self.uses_tls:
            raise SettingsError(
                "ssl_cafile, ssl_certfile and ssl_keyfile need security_protocol SSL or SASL_SSL",
                ("security_protocol", "ssl_cafile", "ssl_certfile", "ssl_keyfile"),
            )
        if self.ssl_keyfile and not self.ssl_certfile:
            raise SettingsError("ssl_keyfile needs ssl_certfile", ("ssl_keyfile",))

    @property
    def exactly_once(self) -> bool:
        return self.processing_guarantee == "exactly-once"

    @property
    def isolation_level(self) -> str:
        """How the pipeline's consumers read: committed data only in exactly-once."""
        return "read_committed" if self.exactly_once else "read_uncommitted"

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def language_models(self) -> dict[str, str]:
        """`spacy_models` as language code -> model name or path."""
        models = {}
        for pair in self.spacy_models:
            language, _, model = pair.partition("=")
            if not language.strip() or not model.strip():
                raise SettingsError(
                    f"spacy_models: expected `lang=model`, got {pair!r}", ("spacy_models",)
                )
            models[language.strip().casefold()] = model.strip()
        return models

    def as_strings(self, *, secrets: bool = False) -> dict[str, str]:
        """Every set value as a flag would spell it: the same settings for a child process.

        Secrets are replaced by ``REDACTED`` unless ``secrets`` is true; only a process handing
        settings to its children over a pipe asks for them.
        """
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.metadata["secret"] and not secrets:
                out[f.name] = REDACTED
            else:
                out[f.name] = ",".join(value) if isinstance(value, tuple) else str(value)
        return out

    def without_credentials(self) -> Settings:
        """These settings with Kafka's security settings back at their defaults: for processes
        that run stage code and never talk to Kafka."""
        defaults = {
            name: Settings.__dataclass_fields__[name].default for name in _SECURITY_SETTINGS
        }
        return dataclasses.replace(self, **defaults)

    @property
    def broker_url(self) -> str:
        """The broker to use when none is embedded."""
        return self.broker or "kafka://127.0.0.1:9092"

    def group_id(self, stage: str) -> str:
        return f"{self.app_prefix}-{stage}"

    @property
    def plugin_topics(self) -> tuple[str, ...]:
        """The input topic of each plugin stage: ``<enriched topic>.<plugin>``, where the stage
        before it (classify, or the plugin before) writes."""
        return tuple(f"{self.topic_enriched}.{name}" for name in self.plugins)

    @property
    def pipeline_topics(self) -> tuple[str, ...]:
        return (
            self.topic_raw,
            self.topic_clean,
            self.topic_entities,
            *self.plugin_topics,
            self.topic_enriched,
            self.topic_dlq,
        )

    @property
    def topic_partitions(self) -> dict[str, int]:
        """Every topic Wirestream creates, with its number of partitions."""
        single = {self.topic_dedup: 1, self.topic_dedup_index: 1}
        return dict.fromkeys(self.pipeline_topics, self.partitions) | single


def option_name(name: str) -> str:
    """The flag of a setting: `batch_size` is `--batch-size`."""
    return "--" + name.replace("_", "-")


_TYPE_WORDS = {int: "a whole number", float: "a number"}


def _coerce(name: str, hint: Any, raw: str) -> Any:
    """Turn a string from the environment or a flag into the field's type."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    is_optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    target = args[0] if is_optional else hint
    if typing.get_origin(target) is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    choices = Settings.__dataclass_fields__[name].metadata["choices"]
    if choices:
        # Choices are matched regardless of case and kept in their documented spelling.
        return next((c for c in choices if c.casefold() == raw.strip().casefold()), raw)
    if target is bool:
        if raw.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.strip().lower() in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{name} must be true or false; got {raw!r}", (name,))
    if target in (int, float):
        try:
            return target(raw)
        except ValueError:
            raise SettingsError(
                f"{name} must be {_TYPE_WORDS[target]}; got {raw!r}", (name,)
            ) from None
    if target in (Path, str):
        return target(raw)
    raise SettingsError(f"setting {name}: unsupported type {hint}", (name,))


def _check_field(name: str, value: Any, meta: Mapping[str, Any]) -> None:
    if value is None:
        return
    if meta["choices"] and value not in meta["choices"]:
        raise SettingsError(
            f"{name} must be one of {', '.join(meta['choices'])}; got {value!r}", (name,)
        )
    if meta["at_least"] is not None and value < meta["at_least"]:
        raise SettingsError(f"{name} must be at least {meta['at_least']:g}; got {value}", (name,))
    if meta["above"] is not None and value <= meta["above"]:
        raise SettingsError(f"{name} must be more than {meta['above']:g}; got {value}", (name,))
    if meta["at_most"] is not None and value > meta["at_most"]:
        raise SettingsError(f"{name} must be at most {meta['at_most']:g}; got {value}", (name,))


def parse_start_position(value: str, name: str) -> str | dt.datetime:
    """`earliest`, `latest`, or an ISO 8601 time (UTC unless it says otherwise)."""
    if value in START_POSITIONS:
        return value
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise SettingsError(
            f"{name} must be earliest, latest or an ISO 8601 time such as "
            f"2024-06-11T08:00:00Z; got {value!r}",
            (name,),
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


_SECURITY_SETTINGS = (
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
)


def is_secret(name: str) -> bool:
    return bool(Settings.__dataclass_fields__[name].metadata["secret"])


def describe() -> list[tuple[str, str, str, str]]:
    """(setting, environment variable, default, meaning) rows for the README and `--help`."""
    rows = []
    for f in dataclasses.fields(Settings):
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(default)
        rows.append(
            (
                f.name,
                ENV_PREFIX + f.name.upper(),
                "" if default is None else str(default),
                f.metadata["doc"],
            )
        )
    return rows


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
