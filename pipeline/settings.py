"""The one settings object: defaults, overridden by ``WIRESTREAM_*`` environment, then by flags.

Built once at the command line and passed down; nothing else reads the environment.
"""

from __future__ import annotations

import dataclasses
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
    """A setting has a value that cannot be used."""


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
REDACTED = "********"


def _setting(default: Any, doc: str, *, secret: bool = False) -> Any:
    # Secrets stay out of repr(), so a logged or printed Settings never shows them.
    return field(default=default, repr=not secret, metadata={"doc": doc, "secret": secret})


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of Wirestream. ``Settings.load()`` is the only constructor code should use."""

    broker: str | None = _setting(
        None,
        "Kafka bootstrap servers (`kafka://host:9092`, comma-separated for several). Unset: "
        "`demo` starts the embedded broker; other commands use `kafka://127.0.0.1:9092`.",
    )
    app_prefix: str = _setting(
        "wirestream",
        "Prefix of consumer-group ids; each stage is its own group `<prefix>-<stage>`.",
    )
    stages: tuple[str, ...] = _setting(STAGES, "Stages a worker runs (comma-separated).")
    topic_raw: str = _setting("articles.raw", "Topic producers write raw articles to.")
    topic_clean: str = _setting("articles.clean", "Topic between clean and ner.")
    topic_entities: str = _setting("articles.entities", "Topic between ner and classify.")
    topic_enriched: str = _setting("articles.enriched", "Topic of finished, enriched events.")
    topic_dlq: str = _setting("articles.dlq", "Dead-letter topic for every stage.")
    topic_dedup: str = _setting(
        "articles.dedup",
        "Internal topic of the clean stage: clean articles on their way to the duplicate check. "
        "Always one partition, so that one process sees every article in order.",
    )
    topic_dedup_index: str = _setting(
        "articles.dedup-index",
        "Compacted topic holding the duplicate index: one entry per remembered article, written "
        "by the process that owns the dedup topic and read back by the next owner.",
    )
    partitions: int = _setting(4, "Partitions of each pipeline topic when Wirestream creates it.")
    replication_factor: int = _setting(
        1,
        "Replication factor of topics Wirestream creates. A topic with fewer replicas is "
        "reported at start-up.",
    )
    min_insync_replicas: int = _setting(
        1,
        "Replicas that must have a write before the broker accepts it (`min.insync.replicas`; "
        "producers ask every in-sync replica). Above 1, topics Wirestream creates get it; a "
        "topic with less is reported at start-up. At most `replication_factor`.",
    )
    session_timeout: float = _setting(
        10.0,
        "Consumer-group session timeout in seconds. Low values make the embedded broker "
        "(which completes a join after about half of it) start fast.",
    )
    heartbeat_interval: float = _setting(1.0, "Consumer heartbeat interval in seconds.")
    startup_timeout: float = _setting(
        60.0, "Seconds to keep retrying an unreachable broker at start-up before giving up."
    )
    batch_size: int = _setting(32, "Most messages a stage takes as one batch.")
    batch_timeout: float = _setting(0.2, "Seconds a stage waits to fill a batch.")
    article_timeout: float = _setting(
        20.0,
        "Time limit in seconds for a stage's work on a batch. A batch over it is retried one "
        "article at a time under the same limit; an article over it is dead-lettered with reason "
        "`timeout`.",
    )
    stage_memory_limit: int = _setting(
        2048,
        "MiB of heap a stage's code may use (its process's data limit; 0: no limit). An article "
        "that needs more is dead-lettered with reason `stage_error` (MemoryError).",
    )
    commit_interval: float = _setting(
        1.0,
        "Seconds between offset commits. After a crash, the messages of about this long (and the "
        "batch in flight) are processed again: duplicates with the same `event_id`.",
    )
    fetch_max_wait: float = _setting(
        0.1,
        "Seconds the broker may hold a stage's fetch while some of its partitions have no new "
        "data (faust's own 1.5 s costs up to that much per stage on brokers that hold it).",
    )
    delivery_timeout: float = _setting(
        120.0,
        "Seconds a stage keeps retrying to deliver a batch's results while the broker is "
        "unreachable; then its process exits so that the supervisor restarts it.",
    )
    max_message_bytes: int = _setting(
        1_000_000,
        "Largest message a stage sends (keep it within the topics' `max.message.bytes`). A "
        "larger result is dead-lettered with reason `undeliverable`; a dead letter's payload is "
        "cut to fit.",
    )
    max_body_bytes: int = _setting(1_048_576, "Raw messages larger than this are dead-lettered.")
    spacy_model: str = _setting(
        "en_core_web_sm",
        "spaCy pipeline for NER: an installed package name or a path. It serves articles in its "
        "own language and articles whose language is unknown.",
    )
    spacy_models: tuple[str, ...] = _setting(
        (),
        "More NER pipelines by language, as `lang=model` pairs (comma-separated), e.g. "
        "`de=de_core_news_sm,fr=/models/fr`. An article in a language with no pipeline gets no "
        "entities and `skipped.entities` says why.",
    )
    ner_patterns: Path | None = _setting(
        None,
        "spaCy EntityRuler patterns (JSONL) applied after the model and the repair rules; "
        "they win over both.",
    )
    ner_aliases: Path | None = _setting(
        None,
        'Extra entity aliases (JSONL: `{"name", "label", "aliases": [...]}` per line), '
        "added to and overriding the shipped table.",
    )
    classify_model: Path | None = _setting(
        None, "Directory of the topic model; unset uses the model shipped in the package."
    )
    classify_threshold: float = _setting(
        0.25, "Topics scoring at least this (0..1) are listed in `topics`."
    )
    dedup_mode: str = _setting(
        "annotate",
        "What the clean stage does with a duplicate: `annotate` (emit it with `duplicate_of` "
        "set) or `drop` (emit nothing for it, and count it in `wirestream_duplicates_total`).",
    )
    dedup_window_hours: float = _setting(
        72.0, "Duplicates are looked for among articles received within this many hours."
    )
    dedup_max_entries: int = _setting(
        100_000,
        "Most articles the duplicate index holds; the oldest are forgotten first. Each takes "
        "about 4.5 KiB of the dedup agent's memory.",
    )
    dedup_threshold: float = _setting(
        0.5,
        "Estimated Jaccard similarity of word 3-shingles (0..1) from which an article counts as "
        "a near-duplicate of an earlier one.",
    )
    security_protocol: str = _setting(
        "PLAINTEXT",
        "How clients talk to Kafka: `PLAINTEXT`, `SSL` (TLS), `SASL_PLAINTEXT` or `SASL_SSL`.",
    )
    sasl_mechanism: str = _setting(
        "PLAIN", "SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`."
    )
    sasl_username: str | None = _setting(None, "SASL user name.")
    sasl_password: str | None = _setting(
        None,
        "SASL password. A secret: never printed or logged, and handed to stage processes "
        "through a pipe, not their environment.",
        secret=True,
    )
    ssl_cafile: Path | None = _setting(
        None, "CA certificates (PEM) to verify the brokers with; unset: the system's."
    )
    ssl_certfile: Path | None = _setting(None, "Client certificate (PEM) for mutual TLS.")
    ssl_keyfile: Path | None = _setting(None, "Private key (PEM) of the client certificate.")
    metrics_host: str = _setting("127.0.0.1", "Bind address of the metrics and health server.")
    metrics_port: int = _setting(
        9108, "Port of `/metrics`, `/healthz` and `/readyz` (0 picks a free one)."
    )
    log_level: str = _setting("warning", "Log level of worker processes.")
    data_dir: Path = _setting(
        Path(".wirestream"), "Where workers keep local state (faust table stores)."
    )

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then ``WIRESTREAM_<NAME>`` variables, then ``overrides`` that are not None."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, hints[f.name], raw)
        for name, value in (overrides or {}).items():
            if name not in hints:
                raise SettingsError(f"unknown setting {name!r}")
            if value is not None:
                values[name] = (
                    _coerce(name, hints[name], value) if isinstance(value, str) else value
                )
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        updated = dataclasses.replace(self, **changes)
        updated.validate()
        return updated

    def validate(self) -> None:
        unknown = set(self.stages) - set(STAGES)
        if unknown or not self.stages:
            wanted, got = ",".join(STAGES), ",".join(self.stages)
            raise SettingsError(f"stages must be a non-empty subset of {wanted}; got {got}")
        if self.partitions < 1 or self.batch_size < 1 or self.max_body_bytes < 1:
            raise SettingsError("partitions, batch_size and max_body_bytes must be positive")
        if not 1 <= self.min_insync_replicas <= self.replication_factor:
            raise SettingsError("min_insync_replicas must be within 1..replication_factor")
        if not 0.0 <= self.classify_threshold <= 1.0:
            raise SettingsError("classify_threshold must be within 0..1")
        if self.dedup_mode not in ("annotate", "drop"):
            raise SettingsError(f"dedup_mode must be annotate or drop; got {self.dedup_mode!r}")
        if self.dedup_window_hours <= 0 or self.dedup_max_entries < 1:
            raise SettingsError("dedup_window_hours and dedup_max_entries must be positive")
        if not 0.0 < self.dedup_threshold <= 1.0:
            raise SettingsError("dedup_threshold must be within (0, 1]")
        if len(self.topic_partitions) != len(self.pipeline_topics) + 2:
            raise SettingsError("every topic setting must name a different topic")
        if self.heartbeat_interval >= self.session_timeout:
            raise SettingsError("heartbeat_interval must be shorter than session_timeout")
        timeouts = (self.article_timeout, self.commit_interval, self.delivery_timeout)
        if min(*timeouts, self.fetch_max_wait) <= 0:
            raise SettingsError(
                "article_timeout, commit_interval, delivery_timeout and fetch_max_wait must be > 0"
            )
        if self.stage_memory_limit < 0:
            raise SettingsError("stage_memory_limit must be 0 (no limit) or a number of MiB")
        if self.max_message_bytes < 10_000:
            raise SettingsError("max_message_bytes must be at least 10000")
        self._validate_security()
        self.language_models()

    def _validate_security(self) -> None:
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise SettingsError(
                f"security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}; "
                f"got {self.security_protocol!r}"
            )
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise SettingsError(
                f"sasl_mechanism must be one of {', '.join(SASL_MECHANISMS)}; "
                f"got {self.sasl_mechanism!r}"
            )
        if self.uses_sasl and not (self.sasl_username and self.sasl_password):
            raise SettingsError(
                f"security_protocol {self.security_protocol} needs sasl_username and sasl_password"
            )
        tls_files = (self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile)
        if any(tls_files) and not self.uses_tls:
            raise SettingsError(
                "ssl_cafile, ssl_certfile and ssl_keyfile need security_protocol SSL or SASL_SSL"
            )
        if self.ssl_keyfile and not self.ssl_certfile:
            raise SettingsError("ssl_keyfile needs ssl_certfile")

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
                raise SettingsError(f"spacy_models: expected `lang=model`, got {pair!r}")
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
    def pipeline_topics(self) -> tuple[str, ...]:
        return (
            self.topic_raw,
            self.topic_clean,
            self.topic_entities,
            self.topic_enriched,
            self.topic_dlq,
        )

    @property
    def topic_partitions(self) -> dict[str, int]:
        """Every topic Wirestream creates, with its number of partitions."""
        single = {self.topic_dedup: 1, self.topic_dedup_index: 1}
        return dict.fromkeys(self.pipeline_topics, self.partitions) | single


def _coerce(name: str, hint: Any, raw: str) -> Any:
    """Turn a string from the environment or a flag into the field's type."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    is_optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    target = args[0] if is_optional else hint
    try:
        if typing.get_origin(target) is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if target is bool:
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if target in (int, float, Path, str):
            return target(raw)
    except ValueError as exc:
        raise SettingsError(f"setting {name}: cannot read {raw!r} as {target}") from exc
    raise SettingsError(f"setting {name}: unsupported type {hint}")


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
