"""Typed mirrors of the event schemas in ``schemas/``.

One ``Article`` travels the whole pipeline and gains fields stage by stage: the clean stage
fills the text, NER adds ``entities``, classify adds ``topics`` and the ``event_id``. Each topic's
JSON Schema states which fields are required at that point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = "1.0"


class Reason(StrEnum):
    """Stable dead-letter reason codes; dashboards and `replay` filters depend on them."""

    INVALID_JSON = "invalid_json"
    NOT_UTF8 = "not_utf8"
    TOO_LARGE = "too_large"
    SCHEMA_VIOLATION = "schema_violation"
    EMPTY_BODY = "empty_body"
    INVALID_EVENT = "invalid_event"
    STAGE_ERROR = "stage_error"
    TIMEOUT = "timeout"  # over the per-article time limit (`article_timeout`)
    UNDELIVERABLE = "undeliverable"  # the broker refused the stage's result for good
    INVALID_OUTPUT = "invalid_output"  # the stage's event failed its schema (`validate_output`)


@dataclass(frozen=True, slots=True)
class RawArticle:
    """What a producer pushes to the raw topic (``raw-article.schema.json``)."""

    body: str
    id: str | None = None
    url: str | None = None
    title: str | None = None
    source: str | None = None
    author: str | None = None
    published_at: str | None = None
    language: str | None = None
    content_type: str | None = None
    metadata: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RawArticle:
        """Build from a dict already validated against the raw schema; unknown keys are ignored."""
        return cls(**{name: data.get(name) for name in cls.__slots__})  # type: ignore[arg-type]


@dataclass(slots=True)
class Mention:
    """Where an entity is mentioned: ``text[start:end]`` of the article's text.

    ``kind`` is ``name`` for a mention by name (`Kerry`, `John Kerry's`) and ``role`` for a
    reference by job title to a person introduced with it (`the Secretary of State`).
    """

    start: int
    end: int
    text: str
    kind: str = "name"


@dataclass(slots=True)
class Entity:
    """One real-world thing an article mentions, with every mention of it.

    ``first_offset`` is the start of the first mention; ``in_title`` says whether the title
    names it; ``salience`` (0..1) says how central it is to the article.
    """

    name: str
    label: str
    count: int
    mentions: list[Mention]
    first_offset: int = 0
    in_title: bool = False
    salience: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entity:
        return cls(
            name=data["name"],
            label=data["label"],
            count=data["count"],
            mentions=[Mention(**m) for m in data["mentions"]],
            first_offset=data["first_offset"],
            in_title=data["in_title"],
            salience=data["salience"],
        )


@dataclass(slots=True)
class TopicScore:
    code: str
    label: str
    score: float


@dataclass(slots=True)
class StageInfo:
    """Which code and model produced a stage's output; part of every event's provenance."""

    model: str | None = None
    model_version: str | None = None


@dataclass(slots=True)
class PipelineInfo:
    version: str
    stages: dict[str, StageInfo] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineInfo:
        return cls(
            version=data["version"],
            stages={name: StageInfo(**info) for name, info in data.get("stages", {}).items()},
        )


_OPTIONAL_STRING = (str, type(None))
_OPTIONAL_STRING_FIELDS = (
    "url", "source", "title", "author", "published_at", "dateline", "language", "duplicate_of",
    "topic", "event_id", "enriched_at",
)  # fmt: skip
# The types of the article event fields the stages read, checked in ``from_dict`` (a missing
# required field fails there too).
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "text": (str,),
    "word_count": (int,),
    "content_hash": (str,),
    "received_at": (str,),
    "pipeline": (dict,),
    "timings": (dict,),
    "metadata": (dict, type(None)),
    "skipped": (dict, type(None)),
    "extensions": (dict, type(None)),
    "entities": (list, type(None)),
    "topics": (list, type(None)),
    **dict.fromkeys(_OPTIONAL_STRING_FIELDS, _OPTIONAL_STRING),
}


@dataclass(slots=True)
class Article:
    """An article on its way through the pipeline (clean, entities and enriched topics)."""

    id: str
    text: str
    word_count: int
    content_hash: str
    received_at: str
    pipeline: PipelineInfo
    url: str | None = None
    source: str | None = None
    title: str | None = None
    author: str | None = None
    published_at: str | None = None
    dateline: str | None = None  # place/date line that opened the body: "MOSCOW, March 24"
    language: str | None = None
    language_confidence: float | None = None  # detector's probability; None if the producer set it
    duplicate_of: str | None = None  # id of the first article this one repeats, exactly or nearly
    duplicate_similarity: float | None = None  # estimated Jaccard similarity to it, 0..1
    metadata: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    entities: list[Entity] | None = None
    topics: list[TopicScore] | None = None
    topic: str | None = None
    event_id: str | None = None
    enriched_at: str | None = None
    # Work a stage skipped for this article and why, e.g. {"entities": "no spaCy model for
    # language 'xx'"}; None when nothing was skipped.
    skipped: dict[str, str] | None = None
    # What plugin stages added, one object under each plugin's name, e.g. {"sentiment": {...}};
    # None when no plugin stage ran.
    extensions: dict[str, dict[str, Any]] | None = None
    schema_version: str = SCHEMA_VERSION

    def record_time(self, name: str, seconds: float) -> None:
        """``timings[<name>_ms]``, to the microsecond."""
        self.timings[f"{name}_ms"] = round(seconds * 1000, 3)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Article:
        """Build from an event of an earlier stage; TypeError if a field has the wrong type, so
        that a stage rejects a malformed event before working on it."""
        values = {name: data[name] for name in cls.__slots__ if name in data}
        wrong = [
            name
            for name, kinds in _FIELD_TYPES.items()
            if name in values and not isinstance(values[name], kinds)
        ]
        if wrong:
            raise TypeError(f"wrong type of {', '.join(wrong)}")
        values["pipeline"] = PipelineInfo.from_dict(data["pipeline"])
        if data.get("entities") is not None:
            values["entities"] = [Entity.from_dict(e) for e in data["entities"]]
        if data.get("topics") is not None:
            values["topics"] = [TopicScore(**t) for t in data["topics"]]
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a stage could not process a message: becomes a dead letter, never an exception."""

    reason: str
    error: str


@dataclass(slots=True)
class DeadLetter:
    """A message a stage gave up on (``dead-letter.schema.json``)."""

    stage: str
    reason: str
    error: str
    payload: str
    payload_encoding: str
    topic: str | None
    partition: int | None
    offset: int | None
    failed_at: str
    key: str | None = None
    key_encoding: str | None = None  # "utf-8" or "base64", like payload_encoding
    article_id: str | None = None
    # True when the payload was cut to fit the broker's message size: it cannot be replayed.
    payload_truncated: bool = False
    # Where `wirestream enrich` read the input (no topic then): its file and JSON Lines line.
    input_file: str | None = None
    input_line: int | None = None
    schema_version: str = SCHEMA_VERSION


# What a stage gives for each message: the article to send on, or the message's dead letter.
Result = Article | DeadLetter
