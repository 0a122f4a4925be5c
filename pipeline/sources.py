"""Reading raw articles from files, folders and stdin, as `produce`, `enrich` and `demo` take them.

- `.txt`: first line is the title, the rest the body.
- `.html` / `.htm`: the whole file is the body (a page or a fragment).
- `.json`: one raw-article object, or a list of them.
- `.jsonl`: one raw-article object per line.
- `-`: stdin; JSON Lines when it starts with `{`, else one plain-text article.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import codec

SUFFIXES = (".txt", ".html", ".htm", ".json", ".jsonl")


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One raw article read from somewhere, or why it could not be read."""

    origin: str
    article: dict[str, Any] | None = None
    error: str | None = None


def text_article(text: str) -> dict[str, Any]:
    title, _, body = text.lstrip("\ufeff").lstrip().partition("\n")
    if not body.strip():
        return {"body": title, "content_type": "text/plain"}
    return {"title": title.strip(), "body": body, "content_type": "text/plain"}


def _json_records(text: str, origin: str, lines: bool) -> Iterator[SourceRecord]:
    if not lines:
        try:
            data = codec.loads(text)
        except codec.JSONDecodeError as exc:
            yield SourceRecord(origin, error=f"not JSON: {exc}")
            return
        items = data if isinstance(data, list) else [data]
        for index, item in enumerate(items):
            where = f"{origin}[{index}]" if isinstance(data, list) else origin
            yield _object_record(item, where)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{origin}:{number}"
        try:
            yield _object_record(codec.loads(line), where)
        except codec.JSONDecodeError as exc:
            yield SourceRecord(where, error=f"not JSON: {exc}")


def _object_record(item: Any, origin: str) -> SourceRecord:
    if not isinstance(item, dict):
        return SourceRecord(origin, error=f"expected a JSON object, got {type(item).__name__}")
    return SourceRecord(origin, article=item)


def read_file(path: Path) -> Iterator[SourceRecord]:
    origin = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        yield SourceRecord(
            origin, error=f"unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}"
        )
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        yield SourceRecord(origin, error=f"cannot read: {exc}")
        return
    if suffix == ".txt":
        yield SourceRecord(origin, article=text_article(text))
    elif suffix in (".html", ".htm"):
        yield SourceRecord(origin, article={"body": text, "content_type": "text/html"})
    else:
        yield from _json_records(text, origin, lines=suffix == ".jsonl")


def read_stdin(text: str) -> Iterator[SourceRecord]:
    if text.lstrip().startswith("{"):
        yield from _json_records(text, "<stdin>", lines=True)
    elif text.strip():
        yield SourceRecord("<stdin>", article=text_article(text))


def read_articles(
    paths: Iterable[str | Path], report: Callable[[str], object]
) -> tuple[list[dict[str, Any]], int]:
    """Every readable raw article under the paths, and how many inputs could not be read
    (each reported through ``report``)."""
    articles, unreadable = [], 0
    for record in read_sources(paths):
        if record.article is None:
            unreadable += 1
            report(f"skipped {record.origin}: {record.error}")
        else:
            articles.append(record.article)
    return articles, unreadable


def read_sources(paths: Iterable[str | Path]) -> Iterator[SourceRecord]:
    """Every raw article under the given paths, in a stable order; folders are walked."""
    for item in paths:
        if str(item) == "-":
            yield from read_stdin(sys.stdin.read())
            continue
        path = Path(item)
        if path.is_dir():
            for child in sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
            ):
                yield from read_file(child)
        elif path.is_file():
            yield from read_file(path)
        else:
            yield SourceRecord(str(path), error="no such file or folder")
