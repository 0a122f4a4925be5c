"""Messages as stages see them: what came off a topic, and dead letters built from it."""

from __future__ import annotations

import base64
import datetime as dt
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pipeline import codec
from pipeline.events import Article, DeadLetter, Reason, Rejection

log = logging.getLogger(__name__)
T = TypeVar("T")
# The message header in which the clean stage sends each article's fingerprint to the duplicate
# check (``pipeline.stages.dedup``).
FINGERPRINT_HEADER = "wirestream-fingerprint"
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message off a topic, with where it came from."""

    value: bytes | None
    key: bytes | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    timestamp: float | None = None  # seconds since the epoch, from the broker
    headers: tuple[tuple[str, bytes], ...] = ()

    def received_at(self) -> str:
        moment = self.timestamp if self.timestamp is not None else utc_now().timestamp()
        return isoformat(dt.datetime.fromtimestamp(moment, tz=dt.UTC))


def utc_now() -> dt.datetime:
    return dt.datetime.now(tz=dt.UTC)


def isoformat(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _text_or_base64(data: bytes | None) -> tuple[str, str]:
    if data is None:
        return "", "utf-8"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def dead_letter(
    stage: str, message: Incoming, rejection: Rejection, article_id: str | None = None
) -> DeadLetter:
    payload, encoding = _text_or_base64(message.value)
    key, key_encoding = _text_or_base64(message.key) if message.key is not None else (None, None)
    return DeadLetter(
        stage=stage,
        reason=rejection.reason,
        error=rejection.error,
        payload=payload,
        payload_encoding=encoding,
        key=key,
        key_encoding=key_encoding,
        article_id=article_id,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        failed_at=isoformat(utc_now()),
    )


def free_after(out_of_memory: bool) -> None:
    """Call once a MemoryError's ``except`` block has ended. Its traceback holds the frames, and
    with them the arrays, of the work that ran out of memory, in reference cycles that only the
    cycle collector frees: without a collection now, the next article finds the memory still
    taken (a 200,000-token text that hit the cap left 1.7 GiB behind it)."""
    if out_of_memory:
        gc.collect()


def process_each(
    stage: str,
    batch: Sequence[Incoming],
    process_one: Callable[[Incoming], Article | DeadLetter],
) -> list[Article | DeadLetter]:
    """``process_one`` on every message, its time recorded in the article's ``timings``; an
    exception (a bug or a pathological input) is that message's dead letter, not a crash."""
    results: list[Article | DeadLetter] = []
    for message in batch:
        started = time.perf_counter()
        out_of_memory = False
        try:
            outcome = process_one(message)
        except Exception as exc:
            outcome = dead_letter(stage, message, Rejection(Reason.STAGE_ERROR, repr(exc)))
            out_of_memory = isinstance(exc, MemoryError)
        free_after(out_of_memory)
        if isinstance(outcome, Article):
            outcome.record_time(stage, time.perf_counter() - started)
        results.append(outcome)
    return results


def whole_or_each(
    what: str,
    batch: Sequence[T],
    run: Callable[[Sequence[T]], list[R]],
    letter: Callable[[T, Exception], R],
    errors: tuple[type[Exception], ...] = (Exception,),
) -> list[R]:
    """The one rule for a batch that fails: run it whole; should that raise, run each item
    alone, and an item that raises alone becomes its dead letter, so that one bad article
    never costs the others. ``run`` gives one result per item, in order."""
    try:
        return run(batch)
    except errors as exc:
        alone, out_of_memory = _batch_failed(what, batch, letter, exc)
    free_after(out_of_memory)
    if alone is not None:
        return alone
    results: list[R] = []
    for item in batch:
        out_of_memory = False
        try:
            results.extend(run([item]))
        except errors as exc:
            out_of_memory = _item_failed(what, item, letter, exc, results)
        free_after(out_of_memory)
    return results


async def whole_or_each_async(
    what: str,
    batch: Sequence[T],
    run: Callable[[Sequence[T]], Awaitable[list[R]]],
    letter: Callable[[T, Exception], R],
    errors: tuple[type[Exception], ...] = (Exception,),
) -> list[R]:
    """``whole_or_each`` for a ``run`` that is awaited."""
    try:
        return await run(batch)
    except errors as exc:
        alone, out_of_memory = _batch_failed(what, batch, letter, exc)
    free_after(out_of_memory)
    if alone is not None:
        return alone
    results: list[R] = []
    for item in batch:
        out_of_memory = False
        try:
            results.extend(await run([item]))
        except errors as exc:
            out_of_memory = _item_failed(what, item, letter, exc, results)
        free_after(out_of_memory)
    return results


def _batch_failed(
    what: str, batch: Sequence[T], letter: Callable[[T, Exception], R], exc: Exception
) -> tuple[list[R] | None, bool]:
    """A lone item's dead letter (None: redo the items one by one), and whether memory ran out."""
    if len(batch) == 1:
        return [letter(batch[0], exc)], isinstance(exc, MemoryError)
    log.warning("%s: a batch of %d failed (%r); redoing it one by one", what, len(batch), exc)
    return None, isinstance(exc, MemoryError)


def _item_failed(
    what: str, item: T, letter: Callable[[T, Exception], R], exc: Exception, results: list[R]
) -> bool:
    """The item's dead letter added to ``results``; whether memory ran out."""
    log.warning("%s: an item failed alone and is dead-lettered: %r", what, exc)
    results.append(letter(item, exc))
    return isinstance(exc, MemoryError)


def decode_article(message: Incoming) -> Article | Rejection:
    """Decode an article written by an earlier stage.

    Only Wirestream writes these topics, so a structural check is enough here; the tests hold
    every stage's output to its JSON Schema.
    """
    try:
        data = codec.loads(message.value or b"")
        article = Article.from_dict(data)
    except codec.JSONDecodeError as exc:
        return Rejection(Reason.INVALID_EVENT, f"not JSON: {exc}")
    except (KeyError, TypeError, AttributeError) as exc:
        return Rejection(Reason.INVALID_EVENT, f"not an article event: {exc!r}")
    if not article.text:  # its type is checked by ``Article.from_dict``
        return Rejection(Reason.INVALID_EVENT, "article event without text")
    try:
        parse_timestamp(article.received_at)  # latencies are measured from it
    except ValueError:
        return Rejection(
            Reason.INVALID_EVENT,
            f"received_at is not an ISO 8601 time: {article.received_at[:40]!r}",
        )
    return article
