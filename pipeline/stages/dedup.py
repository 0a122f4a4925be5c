"""Exact and near-duplicate detection over a stream of articles.

``fingerprint`` is pure: the normalized content hash plus a MinHash signature (datasketch) over
word 3-shingles. ``DuplicateIndex`` finds earlier articles with the same hash or a similar
signature through LSH banding. All of its state lives in a ``MutableMapping`` handed in, with
string keys and JSON-serializable dict values, so a changelogged table can back it and it survives
restarts; it is bounded by a time window (on the articles' own timestamps) and a maximum size.

Store layout (one short prefix per kind of key):

- ``d:<article id>``  the article: signature, content hash, time slot, and its own match if any
- ``x:<content hash>``  the id of the first article with exactly this content
- ``b:<band>:<hash>``  ids of articles whose signature has this band (LSH bucket)
- ``s:<slot>``  ids first seen in this time slot, oldest first (for expiry)
- ``meta``  oldest and newest slot, and the number of articles held
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasketch import MinHash

from pipeline import ids

SHINGLE_WORDS = 3
# 42 bands of 3 rows: a pair with Jaccard similarity s shares a band with probability
# 1 - (1 - s**3)**42, i.e. 0.94 at s = 0.4 and 0.995 at s = 0.5, but 0.04 at s = 0.1; candidates
# are then compared on the whole signature. Banding and the default threshold (0.5) were chosen
# with bench/near_duplicates.py: different stories sharing background paragraphs reach 0.44.
BANDS, ROWS = 42, 3
NUM_PERM = BANDS * ROWS
# A bucket shared by very many articles is boilerplate, not evidence; keep it bounded.
MAX_BUCKET_IDS = 64
SLOTS_PER_WINDOW = 24
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    content_hash: str
    signature: np.ndarray  # NUM_PERM unsigned 64-bit minimum hashes

    def similarity(self, other: np.ndarray) -> float:
        """Estimated Jaccard similarity of the two texts' shingle sets."""
        return float(np.count_nonzero(self.signature == other)) / len(self.signature)


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    duplicate_of: str  # id of the first article of the group
    similarity: float  # estimated Jaccard similarity; 1.0 for identical normalized content


@functools.cache
def _template() -> MinHash:
    # Scheme and seed pinned: signatures are kept in a changelog and must not change meaning
    # when the library's default does.
    return MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32")


def shingles(text: str) -> set[bytes]:
    """Overlapping runs of ``SHINGLE_WORDS`` lower-cased words; short texts give one shingle."""
    words = _WORD.findall(text.casefold())
    if len(words) <= SHINGLE_WORDS:
        return {" ".join(words).encode()}
    return {
        " ".join(words[i : i + SHINGLE_WORDS]).encode()
        for i in range(len(words) - SHINGLE_WORDS + 1)
    }


def fingerprint(text: str) -> Fingerprint:
    """Content hash and MinHash signature of a clean text (deterministic across processes)."""
    minhash = _template().copy()
    minhash.update_batch(sorted(shingles(text)))
    return Fingerprint(ids.content_hash(text), minhash.hashvalues.astype(np.uint64))


def _encode(signature: np.ndarray) -> str:
    return base64.b64encode(signature.astype("<u8").tobytes()).decode("ascii")


def _decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<u8").astype(np.uint64)


def _band_keys(signature: np.ndarray) -> list[str]:
    raw = signature.astype("<u8").tobytes()
    width = ROWS * 8
    bands = (raw[band * width : (band + 1) * width] for band in range(BANDS))
    return [
        f"b:{band}:{hashlib.blake2b(rows, digest_size=8).hexdigest()}"
        for band, rows in enumerate(bands)
    ]


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

    def check(self, article_id: str, fp: Fingerprint, seen_at: float) -> DuplicateMatch | None:
        """The earlier article this one duplicates, if any; then remember this one.

        An id seen before (a replay after a restart, at-least-once delivery) gets the same answer
        as the first time and is not counted twice.
        """
        known = self.store.get(f"d:{article_id}")
        if known is not None:
            return DuplicateMatch(*known["dup"]) if known["dup"] else None
        slot = int(seen_at // self.slot_seconds)
        self._expire(slot)
        match = self._find(fp)
        self._add(article_id, fp, slot, match)
        return match

    def __len__(self) -> int:
        return int(self.store.get("meta", {}).get("count", 0))

    def _find(self, fp: Fingerprint) -> DuplicateMatch | None:
        best = self._best_candidate(fp)
        if best is None:
            return None
        candidate, score = best
        root = self._root(candidate)
        if root != candidate and (root_entry := self.store.get(f"d:{root}")) is not None:
            score = fp.similarity(_decode(root_entry["sig"]))
        return DuplicateMatch(root, round(score, 4))

    def _best_candidate(self, fp: Fingerprint) -> tuple[str, float] | None:
        """The earlier article with the same content, else the most similar one over threshold."""
        exact = self.store.get(f"x:{fp.content_hash}")
        if exact is not None:
            return exact["id"], 1.0
        candidates: set[str] = set()
        for key in _band_keys(fp.signature):
            candidates.update(self.store.get(key, {}).get("ids", ()))
        best: tuple[str, float] | None = None
        for candidate in sorted(candidates):
            entry = self.store.get(f"d:{candidate}")
            if entry is None:
                continue
            score = fp.similarity(_decode(entry["sig"]))
            if score >= self.threshold and (best is None or score > best[1]):
                best = (candidate, score)
        return best

    def _root(self, article_id: str) -> str:
        """The first article of a group: a duplicate points at its root, never at another copy."""
        entry = self.store.get(f"d:{article_id}")
        return entry["dup"][0] if entry and entry["dup"] else article_id

    def _add(
        self, article_id: str, fp: Fingerprint, slot: int, match: DuplicateMatch | None
    ) -> None:
        self.store[f"d:{article_id}"] = {
            "sig": _encode(fp.signature),
            "hash": fp.content_hash,
            "slot": slot,
            "dup": [match.duplicate_of, match.similarity] if match else None,
        }
        if f"x:{fp.content_hash}" not in self.store:
            self.store[f"x:{fp.content_hash}"] = {"id": article_id}
        for key in _band_keys(fp.signature):
            bucket = self.store.get(key, {}).get("ids", [])
            self.store[key] = {"ids": [*bucket[-(MAX_BUCKET_IDS - 1) :], article_id]}
        slot_key = f"s:{slot}"
        self.store[slot_key] = {"ids": [*self.store.get(slot_key, {}).get("ids", []), article_id]}
        meta = self._meta()
        meta["count"] += 1
        meta["newest"] = max(meta["newest"], slot) if meta["newest"] is not None else slot
        meta["oldest"] = min(meta["oldest"], slot) if meta["oldest"] is not None else slot
        self.store["meta"] = meta
        while meta["count"] > self.max_entries:
            self._evict_oldest(meta)

    def _meta(self) -> dict[str, Any]:
        return dict(self.store.get("meta") or {"count": 0, "oldest": None, "newest": None})

    def _expire(self, slot: int) -> None:
        """Forget every article first seen a whole window before the newest one."""
        meta = self._meta()
        if meta["oldest"] is None:
            return
        newest = max(meta["newest"], slot)
        cutoff = newest - SLOTS_PER_WINDOW
        changed = False
        while meta["oldest"] is not None and meta["oldest"] < cutoff:
            for article_id in self.store.pop(f"s:{meta['oldest']}", {}).get("ids", []):
                self._forget(article_id, meta)
            meta["oldest"] = meta["oldest"] + 1 if meta["count"] else None
            changed = True
        if meta["oldest"] is None:
            meta["newest"] = None
        if changed:
            self.store["meta"] = meta

    def _evict_oldest(self, meta: dict[str, Any]) -> None:
        """Over the size bound: drop the single oldest article."""
        while meta["oldest"] is not None:
            slot_key = f"s:{meta['oldest']}"
            queued = self.store.get(slot_key, {}).get("ids", [])
            if queued:
                self._forget(queued[0], meta)
                if queued[1:]:
                    self.store[slot_key] = {"ids": queued[1:]}
                else:
                    self.store.pop(slot_key, None)
                break
            meta["oldest"] += 1
        if meta["count"] == 0:
            meta["oldest"] = meta["newest"] = None
        self.store["meta"] = meta

    def _forget(self, article_id: str, meta: dict[str, Any]) -> None:
        entry = self.store.pop(f"d:{article_id}", None)
        if entry is None:
            return
        meta["count"] -= 1
        if self.store.get(f"x:{entry['hash']}", {}).get("id") == article_id:
            del self.store[f"x:{entry['hash']}"]
        for key in _band_keys(_decode(entry["sig"])):
            bucket = [i for i in self.store.get(key, {}).get("ids", []) if i != article_id]
            if bucket:
                self.store[key] = {"ids": bucket}
            else:
                self.store.pop(key, None)
