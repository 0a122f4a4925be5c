"""Deterministic identifiers: the same article always gets the same ids, so replays deduplicate."""

from __future__ import annotations

import hashlib


def _digest(*parts: str, size: int = 16) -> str:
    h = hashlib.blake2b(digest_size=size)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def content_hash(text: str) -> str:
    """Hash of the cleaned text; whitespace and case differences do not change it."""
    normalized = " ".join(text.casefold().split())
    return "sha256:" + hashlib.sha256(normalized.encode("utf-8", "surrogatepass")).hexdigest()


def article_id(given: str | None, url: str | None, body: str) -> str:
    """The producer's id if it sent one, else one derived from the URL, else from the body."""
    if given and given.strip():
        return given.strip()
    if url and url.strip():
        return "url-" + _digest(url.strip())
    return "body-" + _digest(" ".join(body.split()))


def event_id(article_id: str, content_hash: str, pipeline_fingerprint: str) -> str:
    """Same article, same content, same pipeline (code and models): same event id."""
    return _digest(article_id, content_hash, pipeline_fingerprint)
