"""Reading raw articles from files, folders and stdin, as `produce`, `enrich` and `demo` take them.

- `.txt`: first line is the title, the rest the body.
- `.html` / `.htm`: the whole file is the body (a page or a fragment).
- `.json`: one raw-article object, or a list of them.
- `.jsonl`: one raw-article object per line.
- `-`: stdin; JSON Lines when it starts with `{`, else one plain-text article.

JSON Lines (files and stdin) are read a line at a time, so input of any size streams.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import codec

SUFFIXES = (".txt", ".html", ".htm", ".json", ".jsonl")


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One raw article read from somewhere, or why it could not be read.

    ``file`` and ``line`` say where it came from (``line`` for JSON Lines only); ``size`` is how
    many bytes of the input it took, for progress.
    """

    origin: str
    article: dict[str, Any] | None = None
    error: str | None = None
    file: str | None = None
    line: int | None = None
    size: int = 0


def text_article(text: str) -> dict[str, Any]:
    title, _, body = text.lstrip("\ufeff").lstrip().partition("\n")
    if not body.strip():
        return {"body": title, "content_type": "text/plain"}
    return {"title": title.strip(), "body": body, "content_type": "text/plain"}


def _json_records(text: str, file: str, size: int) -> Iterator[SourceRecord]:
    try:
        data = codec.loads(text)
    except codec.JSONDecodeError as exc:
        yield SourceRecord(file, error=f"not JSON: {exc}", file=file, size=size)
        return
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items):
        where = f"{file}[{index}]" if isinstance(data, list) else file
        # The whole file's bytes count once, with its first record.
        yield _object_record(item, where, file, None, size if index == 0 else 0)


def _json_lines(lines: Iterable[bytes], file: str) -> Iterator[SourceRecord]:
    """One record per non-blank line, read as they come: memory holds one line at a time."""
    blank = 0  # bytes of blank lines, counted with the next record
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            blank += len(line)
            continue
        where, size, blank = f"{file}:{number}", blank + len(line), 0
        try:
            yield _object_record(codec.loads(line), where, file, number, size)
        except codec.JSONDecodeError as exc:
            yield SourceRecord(where, error=f"not JSON: {exc}", file=file, line=number, size=size)


def _object_record(item: Any, origin: str, file: str, line: int | None, size: int) -> SourceRecord:
    if not isinstance(item, dict):
        return SourceRecord(
            origin,
            error=f"expected a JSON object, got {type(item).__name__}",
            file=file,
            line=line,
            size=size,
        )
    return SourceRecord(origin, article=item, file=file, line=line, size=size)


def read_file(path: Path) -> Iterator[SourceRecord]:
    origin = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        yield SourceRecord(
            origin,
            error=f"unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}",
            file=origin,
        )
        return
    try:
        if suffix == ".jsonl":
            with path.open("rb") as lines:
                yield from _json_lines(lines, origin)
            return
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        yield SourceRecord(origin, error=f"cannot read: {exc}", file=origin)
        return
    if suffix == ".txt":
        yield SourceRecord(origin, article=text_article(text), file=origin, size=len(data))
    elif suffix in (".html", ".htm"):
        article = {"body": text, "content_type": "text/html"}
        yield SourceRecord(origin, article=article, file=origin, size=len(data))
    else:
        yield from _json_records(text, origin, len(data))


STDIN = "<stdin>"


def read_stdin() -> Iterator[SourceRecord]:
    """JSON Lines when the first non-blank line starts with `{` (read line by line), else one
    plain-text article."""
    stream = getattr(sys.stdin, "buffer", None)
    lines: Iterator[bytes] = (
        iter(stream) if stream is not None else (line.encode() for line in sys.stdin)
    )
    head: list[bytes] = []
    for line in lines:
        head.append(line)
        if line.strip():
            break
    if head and head[-1].lstrip().startswith(b"{"):
        yield from _json_lines(itertools.chain(head, lines), STDIN)
        return
    data = b"".join(itertools.chain(head, lines))
    text = data.decode("utf-8", "replace")
    if text.strip():
        yield SourceRecord(STDIN, article=text_article(text), file=STDIN, size=len(data))


def read_articles(
    paths: Iterable[str | Path], report: Callable[[str], object]
) -> tuple[list[dict[str, Any]], int]:
    """Every readable raw article under the paths, and how many inputs could not be read
    (each reported through ``report``)."""
    articles, unreadable = [], 0
    for record in read_sources(paths):
        if record.error is not None:
            unreadable += 1
            report(f"skipped {record.origin}: {record.error}")
        elif record.article is not None:
            articles.append(record.article)
    return articles, unreadable


def input_files(paths: Iterable[str | Path]) -> Iterator[Path | None]:
    """The files under the paths, in the order they are read; None for stdin."""
    for item in paths:
        if str(item) == "-":
            yield None
            continue
        path = Path(item)
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
            )
        else:
            yield path


def total_size(paths: Iterable[str | Path]) -> int | None:
    """Bytes the paths hold, or None when one is stdin (its size is unknown)."""
    total = 0
    for path in input_files(paths):
        if path is None:
            return None
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


def read_sources(paths: Iterable[str | Path]) -> Iterator[SourceRecord]:
    """Every raw article under the given paths, in a stable order; folders are walked."""
    for path in input_files(paths):
        if path is None:
            yield from read_stdin()
        elif path.is_file():
            yield from read_file(path)
        else:
            yield SourceRecord(str(path), error="no such file or folder", file=str(path))
