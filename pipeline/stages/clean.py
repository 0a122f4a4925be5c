"""Clean stage: raw producer bytes in, a validated article with faithful plain text out.

Pure functions, no Kafka: ``parse_raw`` checks the contract, ``clean_text`` turns a body into
text, ``clean_article`` builds the event; ``CleanStage`` applies them to a batch of messages.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import lxml.html
import trafilatura
from lxml import etree

from pipeline import __version__, codec, ids, schemas
from pipeline.envelope import Incoming, dead_letter
from pipeline.models import (
    Article,
    DeadLetter,
    PipelineInfo,
    RawArticle,
    Reason,
    Rejection,
    StageInfo,
)

STAGE = "clean"

# Curly quotes confuse tokenizers (`Kerry’s` would not split into `Kerry` + `'s`). Doubled single
# quotes are a common stand-in for a closing double quote.
_QUOTES = [
    ("’’", '"'),
    ("‘‘", '"'),
    ("''", '"'),
    ("‘", "'"),
    ("’", "'"),
    ("‚", "'"),
    ("‛", "'"),
    ("“", '"'),
    ("”", '"'),
    ("„", '"'),
    ("‟", '"'),
]
_QUOTE_TABLE = {ord(a): b for a, b in _QUOTES if len(a) == 1}
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HTML_TAG = re.compile(
    r"<(?:p|div|br|span|a|h[1-6]|article|section|ul|ol|li|em|strong|b|i|blockquote|figure|img|table)\b[^>]*>",
    re.IGNORECASE,
)
_FULL_PAGE = re.compile(r"<(?:!doctype\s+html|html|body|head)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?:;\"')\]…]$")

# Lines that close an article but are not part of it: calls to follow, share or subscribe.
# Phrased narrowly so that story sentences starting "Share prices..." or "Follow-up..." stay.
_FOOTER = re.compile(
    r"""^(?:
        (?:in|on|via)\s+(?:telegram|twitter|x|facebook|instagram|whatsapp|youtube|tiktok|threads)
      | (?:follow|like|find)\s+us\b.{0,80}
      | follow\s+\S+(?:\s+\S+)?\s+on\s+\w+.{0,40}
      | join\s+(?:us|our)\b.{0,80}
      | subscribe\b.{0,80}
      | share(?:\s+(?:this|on|via)\b.{0,60}|:?)
      | read\s+(?:more|also|next)\b.{0,120}
      | (?:related(?:\s+(?:stories|articles|news))?|advertisement|sponsored):?
      | (?:sign\s+up|download\s+(?:our|the)\s+app)\b.{0,80}
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
    "section", "article", "header", "footer", "table", "tr", "figure", "figcaption", "pre", "hr",
}  # fmt: skip
_DROP_TAGS = {"script", "style", "noscript", "template", "iframe", "svg", "head"}


def parse_raw(payload: bytes | None, max_bytes: int) -> RawArticle | Rejection:
    """Check a raw message against the raw-article contract."""
    if payload is None:
        return Rejection(Reason.EMPTY_BODY, "message has no value (tombstone)")
    if len(payload) > max_bytes:
        return Rejection(Reason.TOO_LARGE, f"message is {len(payload)} bytes; limit {max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(Reason.NOT_UTF8, f"not UTF-8: {exc}")
    try:
        data = codec.loads(text)
    except codec.JSONDecodeError as exc:
        return Rejection(Reason.INVALID_JSON, f"not JSON: {exc}")
    if not isinstance(data, dict):
        return Rejection(
            Reason.SCHEMA_VIOLATION, f"expected a JSON object, got {type(data).__name__}"
        )
    problems = schemas.errors("raw-article", data)
    if problems:
        return Rejection(Reason.SCHEMA_VIOLATION, "; ".join(problems[:5]))
    return RawArticle.from_dict(data)


@dataclass(frozen=True, slots=True)
class CleanText:
    text: str
    source_credit: str | None = None


def normalize_unicode(text: str) -> str:
    """NFC, plain quotes, no invisible or control characters, single spaces."""
    text = unicodedata.normalize("NFC", text)
    for pair, plain in _QUOTES:
        if len(pair) == 2:
            text = text.replace(pair, plain)
    text = text.translate(_QUOTE_TABLE).translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    text = text.replace("\u2029", "\n\n")
    text = _CONTROL.sub("", text)
    return _SPACES.sub(" ", text)


def looks_like_html(body: str) -> bool:
    return bool(_FULL_PAGE.search(body) or _HTML_TAG.search(body))


def html_to_text(body: str) -> str:
    """Full pages: main-content extraction. Fragments (feed bodies): all text, blocks kept apart."""
    if _FULL_PAGE.search(body):
        extracted = trafilatura.extract(body, include_comments=False, include_tables=False)
        if extracted:
            return extracted
    return _fragment_text(body)


def _fragment_text(body: str) -> str:
    try:
        root = lxml.html.fragment_fromstring(body, create_parent="div")
    except (etree.ParserError, ValueError):
        return re.sub(r"<[^>]+>", " ", body)
    parts: list[str] = []

    def walk(element: etree._Element) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _DROP_TAGS:
            if element.tail:
                parts.append(element.tail)
            return
        block = tag in _BLOCK_TAGS
        if block:
            parts.append("\n\n")
        if element.text and tag:
            parts.append(element.text)
        for child in element:
            walk(child)
        if block:
            parts.append("\n\n")
        if element.tail:
            parts.append(element.tail)

    walk(root)
    return "".join(parts)


def _paragraphs(text: str) -> list[str]:
    """Split into paragraphs: blank lines and single line breaks both end one, unless the break
    is a hard wrap inside a sentence (no closing punctuation, next line starts in lower case)."""
    paragraphs: list[str] = []
    current = ""
    for raw_line in text.split("\n"):
        line = raw_line.strip()
        if not line:
            if current:
                paragraphs.append(current)
                current = ""
            continue
        if current and not _SENTENCE_END.search(current) and line[:1].islower():
            current = f"{current} {line}"
        else:
            if current:
                paragraphs.append(current)
            current = line
    if current:
        paragraphs.append(current)
    return paragraphs


def _comparable(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def _is_source_credit(paragraph: str) -> bool:
    words = paragraph.split()
    return (
        0 < len(words) <= 5
        and not _SENTENCE_END.search(paragraph)
        and all(w[:1].isupper() or not w[:1].isalpha() for w in words)
    )


def clean_text(
    body: str, *, title: str | None = None, content_type: str | None = None
) -> CleanText:
    """Turn a body (plain text or HTML) into clean text, paragraphs separated by a blank line."""
    is_html = content_type == "text/html" or (content_type is None and looks_like_html(body))
    text = html_to_text(body) if is_html else body
    paragraphs = _paragraphs(normalize_unicode(text))

    if title:
        wanted = _comparable(normalize_unicode(title))
        while paragraphs and _comparable(paragraphs[0]) == wanted:
            paragraphs.pop(0)

    footer_removed = False
    while paragraphs and _FOOTER.match(paragraphs[-1]):
        paragraphs.pop()
        footer_removed = True
    source_credit = None
    # A short, title-cased line just above a follow/share footer credits the source (the way
    # syndicated copy ends); it is never a sentence of the story.
    if footer_removed and len(paragraphs) >= 2 and _is_source_credit(paragraphs[-1]):
        source_credit = paragraphs.pop()
    return CleanText(text="\n\n".join(paragraphs), source_credit=source_credit)


def clean_article(raw: RawArticle, *, received_at: str) -> Article | Rejection:
    """Build the clean-article event from a validated raw article."""
    if not raw.body.strip():
        return Rejection(Reason.EMPTY_BODY, "body is empty or whitespace")
    cleaned = clean_text(raw.body, title=raw.title, content_type=raw.content_type)
    if not cleaned.text:
        return Rejection(Reason.EMPTY_BODY, "no text left after cleaning")
    title = " ".join(normalize_unicode(raw.title).split()) if raw.title else None
    return Article(
        id=ids.article_id(raw.id, raw.url, raw.body),
        url=raw.url,
        source=raw.source or cleaned.source_credit,
        title=title or None,
        author=raw.author,
        published_at=raw.published_at,
        language=raw.language,
        metadata=raw.metadata,
        received_at=received_at,
        text=cleaned.text,
        word_count=len(cleaned.text.split()),
        content_hash=ids.content_hash(cleaned.text),
        pipeline=PipelineInfo(version=__version__, stages={STAGE: StageInfo()}),
    )


class CleanStage:
    """The clean stage over a batch of raw messages."""

    name = STAGE
    input_schema = "raw-article"
    output_schema = "clean-article"

    def __init__(self, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        self.info = StageInfo()

    def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        results: list[Article | DeadLetter] = []
        for message in batch:
            started = time.perf_counter()
            try:
                outcome = self._process_one(message)
            except Exception as exc:  # a bug or a pathological input: a dead letter, not a crash
                outcome = dead_letter(STAGE, message, Rejection(Reason.STAGE_ERROR, repr(exc)))
            if isinstance(outcome, Article):
                outcome.timings[f"{STAGE}_ms"] = (time.perf_counter() - started) * 1000
            results.append(outcome)
        return results

    def _process_one(self, message: Incoming) -> Article | DeadLetter:
        raw = parse_raw(message.value, self.max_body_bytes)
        if isinstance(raw, Rejection):
            return dead_letter(STAGE, message, raw)
        outcome = clean_article(raw, received_at=message.received_at())
        if isinstance(outcome, Rejection):
            return dead_letter(STAGE, message, outcome, article_id=raw.id)
        return outcome
