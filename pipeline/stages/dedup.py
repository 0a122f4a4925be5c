"""Exact and near-duplicate detection over a stream of articles.

``fingerprint`` is pure: the normalized content hash plus a MinHash signature over word
3-shingles (datasketch's ``affine32`` scheme, seed 1, computed here with numpy alone:
datasketch's package import brings scipy, which the clean code process has no other use for).
``DuplicateIndex`` finds earlier articles with the same hash or a similar signature through LSH
banding, within a time window (on the articles' own timestamps) and a maximum size.
``DedupStage`` applies an index to a batch of clean-article messages.

The index's source of truth is the ``MutableMapping`` handed in (in the pipeline a
``pipeline.changelog.ChangelogDict`` whose changes go to a compacted topic, in tests a dict) and
it holds ONE entry per remembered article, written once and deleted once, so that each check
costs a changelog message or two whatever the index's size:

- ``d:<article id>`` → ``{"sig": MinHash signature (base64 of little-endian uint32),
  "hash": content hash, "at": seconds since the epoch, "n": sequence number, "dup": [first id,
  similarity] or null}``

The lookups (content hash → ids, LSH bucket → ids, expiry order) live in memory, derived from those
entries: built on first use, and again after ``invalidate()`` (the pipeline calls it when it has
read the entries back from their topic). Entries are replayed in sequence order, so a rebuilt
index gives the same answers as the one that wrote the entries.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import re
from collections.abc import Hashable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from pipeline import ids
from pipeline.envelope import (
    FINGERPRINT_HEADER,
    Incoming,
    dead_letter,
    decode_article,
    parse_timestamp,
    process_each,
)
from pipeline.events import Article, DeadLetter, Rejection, StageInfo

SHINGLE_WORDS = 3
# A signature costs time in proportion to the words shingled (2 s for a megabyte of text, which
# the clean stage's time limit must cover); a story's first 20,000 words say what it is. The
# content hash still covers the whole text.
MAX_SHINGLED_WORDS = 20_000
# 42 bands of 3 rows: a pair with Jaccard similarity s shares a band with probability
# 1 - (1 - s**3)**42, i.e. 0.94 at s = 0.4 and 0.995 at s = 0.5, but 0.04 at s = 0.1; candidates
# are then compared on the whole signature. Banding and the default threshold (0.5) were chosen
# with bench/near_duplicates.py: different stories sharing background paragraphs reach 0.44.
BANDS, ROWS = 42, 3
NUM_PERM = BANDS * ROWS
# A bucket shared by very many articles is boilerplate, not evidence: only its most recent ids
# are candidates.
MAX_BUCKET_IDS = 64
SLOTS_PER_WINDOW = 24
ENTRY_PREFIX = "d:"
# Rebuilding from the store yields to the caller every this many entries.
REBUILD_CHUNK = 2000
_WORD = re.compile(r"\w+")
# Band keys only live in memory, so any well-mixed 64-bit hash of a band's rows will do.
_BAND_SEEDS = np.arange(1, BANDS + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_SHIFT = np.uint64(31)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    content_hash: str
    signature: np.ndarray  # NUM_PERM unsigned 32-bit minimum hashes

    def similarity(self, other: np.ndarray) -> float:
        """Estimated Jaccard similarity of the two texts' shingle sets."""
        return float(np.count_nonzero(self.signature == other)) / len(self.signature)


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    duplicate_of: str  # id of the first article of the group
    similarity: float  # estimated Jaccard similarity; 1.0 for identical normalized content


# The MurmurHash3 32-bit finalizer's shifts and multipliers, with which the scheme pre-mixes
# each shingle's hash.
_FMIX = tuple(map(np.uint32, (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)))


@functools.cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The scheme's ``NUM_PERM`` affine maps ``h -> a * h + b`` mod 2**32 (``a`` odd), drawn as
    datasketch draws them for seed 1. Pinned: signatures are kept in a changelog and must not
    change meaning."""
    generator = np.random.RandomState(1)
    a = generator.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def signature(shingled: Iterable[bytes]) -> np.ndarray:
    """The MinHash signature (``NUM_PERM`` uint32 minimums) of a non-empty set of shingles, as
    datasketch's ``MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32")`` computes it."""
    hashes = np.array(
        [
            int.from_bytes(hashlib.sha1(s, usedforsecurity=False).digest()[:4], "little")
            for s in shingled
        ],
        dtype=np.uint32,
    ).reshape(-1, 1)
    s1, m1, s2, m2, s3 = _FMIX
    hashes ^= hashes >> s1
    hashes *= m1
    hashes ^= hashes >> s2
    hashes *= m2
    hashes ^= hashes >> s3
    a, b = _permutations()
    return (hashes * a + b).min(axis=0)


def shingles(text: str) -> set[bytes]:
    """Overlapping runs of ``SHINGLE_WORDS`` lower-cased words of the text's first
    ``MAX_SHINGLED_WORDS``; short texts give one shingle."""
    words = _WORD.findall(text.casefold())[:MAX_SHINGLED_WORDS]
    if len(words) <= SHINGLE_WORDS:
        return {" ".join(words).encode()}
    return {
        " ".join(words[i : i + SHINGLE_WORDS]).encode()
        for i in range(len(words) - SHINGLE_WORDS + 1)
    }


def fingerprint(text: str) -> Fingerprint:
    """Content hash and MinHash signature of a clean text (deterministic across processes)."""
    return Fingerprint(ids.content_hash(text), signature(shingles(text)))


def pack_fingerprint(fp: Fingerprint) -> bytes:
    """A fingerprint as a message header: the signature's bytes (little-endian uint32), then the
    content hash."""
    return fp.signature.astype("<u4").tobytes() + fp.content_hash.encode()


def unpack_fingerprint(data: bytes) -> Fingerprint:
    size = NUM_PERM * 4
    if len(data) <= size:
        raise ValueError(f"fingerprint header of {len(data)} bytes")
    signature = np.frombuffer(data[:size], dtype="<u4").astype(np.uint32)
    return Fingerprint(data[size:].decode(), signature)


def _encode(signature: np.ndarray) -> str:
    return base64.b64encode(signature.astype("<u4").tobytes()).decode("ascii")


def _decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<u4").astype(np.uint32)


def _band_keys(signatures: np.ndarray) -> np.ndarray:
    """One 64-bit key per band of each signature: shape (articles, BANDS)."""
    rows = signatures.reshape(len(signatures), BANDS, ROWS).astype(np.uint64)
    keys = np.broadcast_to(_BAND_SEEDS, rows.shape[:2]).copy()
    for row in range(ROWS):
        keys ^= rows[:, :, row]
        keys *= _MIX  # wraps modulo 2**64, as intended
        keys ^= keys >> _SHIFT
    return keys


class _IdSets(Generic[K]):
    """Key → article ids in the order they were added; a lone id is kept bare, as most are."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[K, str | dict[str, None]] = {}

    def __iter__(self) -> Iterator[K]:
        return iter(self._held)

    def add(self, key: K, article_id: str) -> None:
        held = self._held.get(key)
        if held is None:
            self._held[key] = article_id
        elif isinstance(held, str):
            self._held[key] = {held: None, article_id: None}
        else:
            held[article_id] = None

    def remove(self, key: K, article_id: str) -> None:
        held = self._held.get(key)
        if isinstance(held, dict):
            held.pop(article_id, None)
            if len(held) == 1:
                self._held[key] = next(iter(held))
        elif held == article_id:
            del self._held[key]

    def oldest(self, key: K) -> str | None:
        held = self._held.get(key)
        return next(iter(held)) if isinstance(held, dict) else held

    def newest(self, key: K, limit: int) -> Iterable[str]:
        held = self._held.get(key)
        if held is None:
            return ()
        if isinstance(held, str):
            return (held,)
        return itertools.islice(reversed(held), limit)

    def all(self, key: K) -> list[str]:
        held = self._held.get(key)
        if held is None:
            return []
        return [held] if isinstance(held, str) else list(held)


@dataclass(slots=True)
class _Lookups:
    """What the index derives from its entries: kept in memory, rebuilt from the store."""

    by_hash: _IdSets[str] = field(default_factory=_IdSets)
    by_band: _IdSets[int] = field(default_factory=_IdSets)
    by_slot: _IdSets[int] = field(default_factory=_IdSets)
    count: int = 0
    newest_slot: int | None = None
    next_sequence: int = 0


class DuplicateIndex:
    """First-seen articles within a time window, looked up by exact hash and by LSH bands."""

    def __init__(
        self,
        store: MutableMapping[str, Any],
        *,
        window_seconds: float,
        max_entries: int,
        threshold: float = 0.5,
    ) -> None:
        if window_seconds <= 0 or max_entries < 1 or not 0.0 < threshold <= 1.0:
            raise ValueError("window_seconds and max_entries must be positive, threshold in (0, 1]")
        self.store = store
        self.max_entries = max_entries
        self.threshold = threshold
        self.slot_seconds = window_seconds / SLOTS_PER_WINDOW
        self._lookups: _Lookups | None = None
        self._generation = 0

    # --- the interface -------------------------------------------------------------------------

    def check(self, article_id: str, fp: Fingerprint, seen_at: float) -> DuplicateMatch | None:
        """The earlier article this one duplicates, if any; then remember this one.

        An id seen before (a replay after a restart, at-least-once delivery) gets the same answer
        as the first time and is not remembered twice.
        """
        lookups = self._ensure_lookups()
        known = self.store.get(ENTRY_PREFIX + article_id)
        if known is not None:
            return DuplicateMatch(*known["dup"]) if known["dup"] else None
        band_keys = _band_keys(fp.signature[np.newaxis])[0].tolist()
        self._expire(lookups, self._slot(seen_at))
        match = self._find(lookups, fp, band_keys)
        entry = {
            "sig": _encode(fp.signature),
            "hash": fp.content_hash,
            "at": seen_at,
            "n": lookups.next_sequence,
            "dup": [match.duplicate_of, match.similarity] if match else None,
        }
        self.store[ENTRY_PREFIX + article_id] = entry
        self._remember(lookups, article_id, entry, band_keys)
        while lookups.count > self.max_entries:
            self._forget(lookups, self._oldest(lookups))
        return match

    def __len__(self) -> int:
        return self._ensure_lookups().count

    def invalidate(self) -> None:
        """Drop the in-memory lookups: the store was replaced or recovered behind the index."""
        self._lookups = None
        self._generation += 1

    def rebuild(self) -> Iterator[int]:
        """Derive the lookups from the store, yielding the number of entries done every
        ``REBUILD_CHUNK`` of them, so that an event loop can breathe in between.

        The result is kept only if nothing invalidated or rebuilt the lookups meanwhile.
        """
        generation = self._generation
        held = sorted(
            (
                (entry["n"], key[len(ENTRY_PREFIX) :], entry)
                for key, entry in list(self.store.items())
                if key.startswith(ENTRY_PREFIX)
            ),
            key=lambda item: item[0],
        )
        lookups = _Lookups()
        for start in range(0, len(held), REBUILD_CHUNK):
            chunk = held[start : start + REBUILD_CHUNK]
            signatures = np.stack([_decode(entry["sig"]) for _, _, entry in chunk])
            for (_, article_id, entry), keys in zip(
                chunk, _band_keys(signatures).tolist(), strict=True
            ):
                self._remember(lookups, article_id, entry, keys)
            yield start + len(chunk)
        if self._lookups is None and self._generation == generation:
            self._lookups = lookups

    # --- internals -----------------------------------------------------------------------------

    def _ensure_lookups(self) -> _Lookups:
        if self._lookups is None:
            for _ in self.rebuild():
                pass
        assert self._lookups is not None
        return self._lookups

    def _slot(self, seen_at: float) -> int:
        return int(seen_at // self.slot_seconds)

    def _remember(
        self, lookups: _Lookups, article_id: str, entry: dict[str, Any], band_keys: list[int]
    ) -> None:
        slot = self._slot(entry["at"])
        lookups.by_hash.add(entry["hash"], article_id)
        for key in band_keys:
            lookups.by_band.add(key, article_id)
        lookups.by_slot.add(slot, article_id)
        lookups.count += 1
        newest = lookups.newest_slot
        lookups.newest_slot = slot if newest is None else max(newest, slot)
        lookups.next_sequence = max(lookups.next_sequence, entry["n"] + 1)

    def _find(
        self, lookups: _Lookups, fp: Fingerprint, band_keys: list[int]
    ) -> DuplicateMatch | None:
        best = self._best_candidate(lookups, fp, band_keys)
        if best is None:
            return None
        candidate, score = best
        root = self._root(candidate)
        if root != candidate and (root_entry := self.store.get(ENTRY_PREFIX + root)) is not None:
            score = fp.similarity(_decode(root_entry["sig"]))
        return DuplicateMatch(root, round(score, 4))

    def _best_candidate(
        self, lookups: _Lookups, fp: Fingerprint, band_keys: list[int]
    ) -> tuple[str, float] | None:
        """The earlier article with the same content, else the most similar one over threshold."""
        exact = lookups.by_hash.oldest(fp.content_hash)
        if exact is not None:
            return exact, 1.0
        candidates: set[str] = set()
        for key in band_keys:
            candidates.update(lookups.by_band.newest(key, MAX_BUCKET_IDS))
        best: tuple[str, float] | None = None
        for candidate in sorted(candidates):
            score = fp.similarity(_decode(self.store[ENTRY_PREFIX + candidate]["sig"]))
            if score >= self.threshold and (best is None or score > best[1]):
                best = (candidate, score)
        return best

    def _root(self, article_id: str) -> str:
        """The first article of a group: a duplicate points at its root, never at another copy."""
        entry = self.store.get(ENTRY_PREFIX + article_id)
        return entry["dup"][0] if entry and entry["dup"] else article_id

    def _expire(self, lookups: _Lookups, slot: int) -> None:
        """Forget every article first seen a whole window before the newest one."""
        if lookups.newest_slot is None:
            return
        cutoff = max(lookups.newest_slot, slot) - SLOTS_PER_WINDOW
        for old_slot in sorted(s for s in lookups.by_slot if s < cutoff):
            for article_id in lookups.by_slot.all(old_slot):
                self._forget(lookups, article_id)

    def _oldest(self, lookups: _Lookups) -> str:
        oldest = lookups.by_slot.oldest(min(lookups.by_slot))
        assert oldest is not None
        return oldest

    def _forget(self, lookups: _Lookups, article_id: str) -> None:
        """Delete the article's entry (a tombstone in a changelog) and its lookups."""
        entry = self.store.pop(ENTRY_PREFIX + article_id)
        lookups.by_hash.remove(entry["hash"], article_id)
        for key in _band_keys(_decode(entry["sig"])[np.newaxis])[0].tolist():
            lookups.by_band.remove(key, article_id)
        lookups.by_slot.remove(self._slot(entry["at"]), article_id)
        lookups.count -= 1
        if lookups.count == 0:
            lookups.newest_slot = None


def message_fingerprint(message: Incoming, article: Article) -> Fingerprint:
    """The fingerprint the clean stage computed (its header), else computed here."""
    for name, value in message.headers:
        if name == FINGERPRINT_HEADER:
            return unpack_fingerprint(value)
    return fingerprint(article.text)


class DedupStage:
    """Duplicate detection over a batch of clean-article messages, against one index.

    Every message gets one result, in order: the article, with ``duplicate_of`` and
    ``duplicate_similarity`` set if it repeats an earlier one, or a dead letter. Whether annotated
    duplicates are then emitted or dropped (``dedup_mode``) is the caller's choice.
    """

    name = "dedup"
    input_schema = "clean-article"
    output_schema = "clean-article"
    info = StageInfo()

    def __init__(self, index: DuplicateIndex) -> None:
        self.index = index

    def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        return process_each(self.name, batch, self._process_one)

    def _process_one(self, message: Incoming) -> Article | DeadLetter:
        article = decode_article(message)
        if isinstance(article, Rejection):
            return dead_letter(self.name, message, article)
        seen_at = parse_timestamp(article.received_at).timestamp()
        match = self.index.check(article.id, message_fingerprint(message, article), seen_at)
        if match is not None:
            article.duplicate_of = match.duplicate_of
            article.duplicate_similarity = match.similarity
        return article
