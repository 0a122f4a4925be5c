"""JSON in and out, in one place (orjson)."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """Encode dataclasses, dicts and lists as compact UTF-8 JSON."""
    return orjson.dumps(value, option=_OPTIONS)


def dumps_line(value: Any) -> bytes:
    """One JSON Lines record, newline included."""
    return orjson.dumps(value, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)


def dumps_pretty(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS | orjson.OPT_INDENT_2)


def fragment(encoded: bytes) -> orjson.Fragment:
    """Already encoded JSON, embedded as it is by ``dumps``."""
    return orjson.Fragment(encoded)


def loads(data: bytes | str) -> Any:
    """Decode JSON; raises ``JSONDecodeError`` (a ``ValueError``) on bad input or bad UTF-8."""
    return orjson.loads(data)


def to_plain(value: Any) -> Any:
    """Dataclasses to plain dicts and lists, as a consumer would decode them."""
    return orjson.loads(orjson.dumps(value, option=_OPTIONS))
