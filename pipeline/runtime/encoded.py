"""Results as the stage process handles them: the event's bytes and a small summary.

A stage's code process encodes each result once (``encode_result``); the stage process forwards
those bytes to the broker and reads only the summary (what the metrics and the observer need),
never decoding the event. Both cross the process boundary in binary frames (``pipeline.runtime
.frames``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline import codec
from pipeline.envelope import (
    FINGERPRINT_HEADER,
    Incoming,
    dead_letter,
    parse_timestamp,
    whole_or_each,
)
from pipeline.events import Article, DeadLetter, Reason, Rejection, Result
from pipeline.stages import Stage

# Room for the record's own framing (offsets, lengths, timestamp) in the broker's size limit.
RECORD_OVERHEAD = 512
MAX_ERROR_CHARS = 2000
NONE = "none"
# Headers between two stages only, never passed on (clean's fingerprint for the dedup check).
HOP_ONLY_HEADERS = frozenset({FINGERPRINT_HEADER})
DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Summary:
    """What the stage process needs to know about a result without decoding it."""

    dead_letter: str | None = None  # the reason, for a dead letter
    seconds: float = 0.0  # the stage's own time on the article
    latency: float | None = None  # raw in to enriched out, for a finished event
    # What the observer counts for this stage: the language (clean), each entity's label (ner),
    # the primary topic's code and label (classify); ``duplicate`` for a duplicate (dedup).
    content: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Encoded:
    """One result, encoded: the message to send and its summary."""

    key: bytes | None
    value: bytes
    summary: Summary
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def is_dead_letter(self) -> bool:
        return self.summary.dead_letter is not None

    def decode(self) -> Result:
        """The event itself (for tests and tools; the runtime never needs it)."""
        data = codec.loads(self.value)
        return DeadLetter(**data) if self.is_dead_letter else Article.from_dict(data)


def fit_dead_letter(letter: DeadLetter, max_bytes: int) -> DeadLetter:
    """The dead letter, its payload cut (and marked so) if it would not fit in ``max_bytes``."""
    if len(letter.error) > MAX_ERROR_CHARS:
        letter = dataclasses.replace(letter, error=letter.error[:MAX_ERROR_CHARS] + "…")
    if len(codec.dumps(letter)) <= max_bytes:
        return letter
    payload = letter.payload
    step = 4 if letter.payload_encoding == "base64" else 1  # whole base64 quads only

    def cut(kept: int) -> DeadLetter:
        note = f" [payload cut from {len(payload)} to {kept} characters]"
        return dataclasses.replace(
            letter, payload=payload[:kept], payload_truncated=True, error=letter.error + note
        )

    low, high = 0, len(payload) // step
    while low < high:  # the longest prefix that fits (a shorter count in the note only helps)
        middle = (low + high + 1) // 2
        if len(codec.dumps(cut(middle * step))) <= max_bytes:
            low = middle
        else:
            high = middle - 1
    return cut(low * step)


def content_labels(stage: str, article: Article) -> tuple[str, ...]:
    """What the observer counts of an article a stage emits (each stage what it added)."""
    if stage == "clean":
        return (article.language or "",)
    if stage == "ner":
        return tuple(entity.label for entity in article.entities or [])
    if stage == "dedup":
        return (DUPLICATE,) if article.duplicate_of is not None else ()
    if stage == "classify":
        primary = next((t for t in article.topics or [] if t.code == article.topic), None)
        return (NONE, NONE) if primary is None else (primary.code, primary.label)
    return ()


def carried_headers(
    message: Incoming, own: tuple[tuple[str, bytes], ...] = ()
) -> tuple[tuple[str, bytes], ...]:
    """The headers a result of ``message`` is sent with: the message's own (trace context such
    as W3C `traceparent`, a tenant, `wirestream-replayed-from`), less the ones meant for one hop
    only, with the stage's ``own`` headers in place of any of the same name."""
    replaced = {name for name, _ in own} | HOP_ONLY_HEADERS
    return tuple((n, v) for n, v in message.headers if n not in replaced) + own


def encode_result(
    stage: str,
    result: Result,
    max_bytes: int,
    headers: tuple[tuple[str, bytes], ...] = (),
) -> Encoded:
    """Encode a result once, for the broker. Raises what orjson raises for an event it cannot
    encode (nested too deep, say), so that the caller can dead-letter that message alone."""
    if isinstance(result, DeadLetter):
        key_text = result.article_id or result.key
        key = key_text.encode() if key_text else None
        room = max_bytes - len(key or b"") - headers_size(headers) - RECORD_OVERHEAD
        value = codec.dumps(fit_dead_letter(result, room))
        return Encoded(key, value, Summary(dead_letter=result.reason), headers)
    latency = None
    if result.enriched_at is not None:
        elapsed = parse_timestamp(result.enriched_at) - parse_timestamp(result.received_at)
        latency = max(elapsed.total_seconds(), 0.0)
    summary = Summary(
        seconds=result.timings.get(f"{stage}_ms", 0.0) / 1000,
        latency=latency,
        content=content_labels(stage, result),
    )
    return Encoded(result.id.encode(), codec.dumps(result), summary, headers)


def process_encoded(
    stage: Stage,
    batch: Sequence[Incoming],
    max_bytes: int,
    check: Callable[[Sequence[Incoming], list[Result]], list[Result]] | None = None,
) -> list[Encoded]:
    """Run the stage on a batch and encode its results, one per message, checked against the
    output schema first when a ``check`` is given (``pipeline.validation``, `validate_output`).

    Should the batch raise despite the stage's own guards, or give a result that cannot be
    encoded (metadata nested deeper than JSON encoders allow, say), only the messages that
    fail alone get a dead letter (``stage_error``).
    """

    # What a stage sends along with an article for the next hop (clean: the fingerprint).
    headers_for = getattr(stage, "result_headers", None)

    def encode(message: Incoming, result: Result) -> Encoded:
        own = headers_for(result) if headers_for and isinstance(result, Article) else ()
        return encode_result(stage.name, result, max_bytes, carried_headers(message, own))

    def run(messages: Sequence[Incoming]) -> list[Encoded]:
        results = stage.process(messages)
        checked = check(messages, results) if check else results
        # One result per message, in order (the stage contract): each carries its headers.
        return [encode(m, r) for m, r in zip(messages, checked, strict=True)]

    def letter(message: Incoming, exc: Exception) -> Encoded:
        rejection = Rejection(Reason.STAGE_ERROR, repr(exc))
        letter = dead_letter(stage.name, message, rejection)
        return encode_result(stage.name, letter, max_bytes, carried_headers(message))

    return whole_or_each(f"{stage.name} stage", batch, run, letter)


def headers_size(headers: tuple[tuple[str, bytes], ...]) -> int:
    """Bytes of a message's headers toward the broker's size limit."""
    return sum(len(name) + len(value) for name, value in headers)
