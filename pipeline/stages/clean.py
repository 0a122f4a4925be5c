"""Clean stage: raw producer bytes in, a validated article with faithful plain text out.

Pure functions, no Kafka: ``parse_raw`` checks the contract, ``repair_text`` mends broken
Unicode, ``clean_text`` turns a body (plain text, HTML fragment or full page) into paragraphs of
story text plus the metadata found around it, ``clean_article`` builds the event. ``CleanStage``
applies them to a batch and detects the language. Duplicates are marked after this stage, by
``pipeline.stages.dedup.DedupStage`` on one partition that sees every article.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import ftfy

from pipeline import __version__, codec, ids, schemas
from pipeline.envelope import Incoming, dead_letter, process_each
from pipeline.events import (
    Article,
    DeadLetter,
    PipelineInfo,
    RawArticle,
    Reason,
    Rejection,
    StageInfo,
)
from pipeline.stages import boilerplate, html_extract
from pipeline.stages.dedup import FINGERPRINT_HEADER, fingerprint, pack_fingerprint
from pipeline.stages.language import LanguageDetector

STAGE = "clean"

# Curly quotes confuse tokenizers (`Kerry’s` would not split into `Kerry` + `'s`). Doubled single
# quotes are a common stand-in for a closing double quote.
_DOUBLED_QUOTES = re.compile("’’|‘‘|''")
_QUOTE_TABLE = str.maketrans({
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'",
    "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"',
})  # fmt: skip
# Invisible characters that carry nothing in running text: zero-width space, word joiner, BOM,
# soft hyphen, direction marks and embeddings. Zero-width (non-)joiners stay: they change how
# Persian and Indic words are written.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u200b\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    ),
    None,
)
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\x0b\x0c\x85]")
_ENTITY = re.compile(r"&(?:#\d{2,7}|#x[0-9a-f]{2,6}|[a-z]{2,8});", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?:;\"')\]…]$")
# C0 controls other than tab and line breaks: an HTML parser would turn them into U+FFFD.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Unicode's stream-safe limit (UAX #15): no real text stacks more than 30 combining marks on one
# letter, and normalization sorts a run of marks in quadratic time, so a body of nothing but marks
# would hold the stage for minutes.
MAX_COMBINING_MARKS = 30


@functools.cache
def _combining_run() -> re.Pattern[str]:
    """Runs of more than ``MAX_COMBINING_MARKS`` characters with a non-zero combining class."""
    codes = [c for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))]
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    marks = "".join(
        re.escape(chr(first))
        if first == last
        else f"{re.escape(chr(first))}-{re.escape(chr(last))}"
        for first, last in ranges
    )
    return re.compile(f"([{marks}]{{{MAX_COMBINING_MARKS}}})[{marks}]+")


def limit_combining_marks(text: str) -> str:
    """Keep at most ``MAX_COMBINING_MARKS`` marks in a row; the rest stack out of sight."""
    return _combining_run().sub(r"\1", text)


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
    try:
        codec.dumps(data.get("metadata"))  # passed on untouched, so it must serialize again
    except TypeError as exc:  # nested deeper than the encoder goes
        return Rejection(Reason.SCHEMA_VIOLATION, f"metadata cannot be written again: {exc}")
    return RawArticle.from_dict(data)


@dataclass(frozen=True, slots=True)
class CleanText:
    """Story text and the metadata found in the body (None where none was found)."""

    text: str
    source_credit: str | None = None
    title: str | None = None
    author: str | None = None
    dateline: str | None = None
    published_at: str | None = None
    url: str | None = None


def repair_text(text: str) -> str:
    """Mend mojibake, entities and odd characters (ftfy); plain quotes, single spaces, `\\n` breaks.

    Meaning is kept: no letter changes except to undo a wrong decoding.
    """
    text = _LINE_BREAKS.sub("\n", limit_combining_marks(text).replace("\u2029", "\n\n"))
    text = ftfy.fix_text(
        text,
        unescape_html=bool(_ENTITY.search(text)) and "<" not in text,
        uncurl_quotes=False,
        normalization="NFC",
    )
    text = _DOUBLED_QUOTES.sub('"', text).translate(_QUOTE_TABLE).translate(_INVISIBLE)
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text))


def normalize_unicode(text: str) -> str:
    """Repair a short field such as a title or an author to one clean line."""
    return " ".join(repair_text(text).split())


def split_paragraphs(text: str) -> list[str]:
    """Blank lines and single line breaks both end a paragraph, unless the break is a hard wrap
    inside a sentence (no closing punctuation and the next line starts in lower case, or a word
    hyphenated across the break)."""
    paragraphs: list[str] = []
    # The current paragraph in pieces, joined once: appending to one string would copy it on
    # every line, quadratic for a paragraph hard-wrapped over thousands of lines.
    pieces: list[str] = []
    for raw_line in text.split("\n"):
        line = raw_line.strip()
        if not line:
            if pieces:
                paragraphs.append("".join(pieces))
                pieces = []
            continue
        tail = pieces[-1] if pieces else ""
        if tail.endswith("-") and tail[-2:-1].isalpha() and line[:1].isalpha():
            pieces.append(line)
        elif tail and not _SENTENCE_END.search(tail) and line[:1].islower():
            pieces.append(" " + line)
        else:
            if pieces:
                paragraphs.append("".join(pieces))
            pieces = [line]
    if pieces:
        paragraphs.append("".join(pieces))
    return paragraphs


def clean_text(
    body: str, *, title: str | None = None, content_type: str | None = None
) -> CleanText:
    """A body (plain text or HTML) as clean text, paragraphs separated by a blank line."""
    is_html = content_type == "text/html" or (
        content_type is None and html_extract.looks_like_html(body)
    )
    page = html_extract.extract(_CONTROLS.sub(" ", body)) if is_html else None
    meta = page.metadata if page else html_extract.PageMetadata()
    given_title = normalize_unicode(title) if title else None
    page_title = normalize_unicode(meta.title) if meta.title else None
    stripped = boilerplate.strip_boilerplate(
        split_paragraphs(repair_text(page.text if page else body)),
        title=given_title or page_title,
        full_page=bool(page and page.full_page),
    )
    authors = stripped.authors or ([normalize_unicode(meta.author)] if meta.author else [])
    site_name = normalize_unicode(meta.site_name) if meta.site_name else None
    return CleanText(
        text="\n\n".join(stripped.paragraphs),
        source_credit=stripped.source_credit or site_name,
        title=page_title or stripped.title,
        author=", ".join(authors) or None,
        dateline=stripped.dateline,
        published_at=meta.published_at,
        url=meta.url,
    )


def clean_article(
    raw: RawArticle, *, received_at: str, detector: LanguageDetector | None = None
) -> Article | Rejection:
    """Build the clean-article event from a validated raw article.

    What the producer sent wins over what was found in the body. A producer's language is kept
    with ``language_confidence`` null: it was not measured.
    """
    if not raw.body.strip():
        return Rejection(Reason.EMPTY_BODY, "body is empty or whitespace")
    cleaned = clean_text(raw.body, title=raw.title, content_type=raw.content_type)
    if not cleaned.text:
        return Rejection(Reason.EMPTY_BODY, "no text left after cleaning")
    language, confidence = raw.language, None
    if language is None and detector is not None:
        guess = detector.detect(cleaned.text)
        if guess is not None:
            language, confidence = guess.language, guess.confidence
    return Article(
        id=ids.article_id(raw.id, raw.url, raw.body),
        url=raw.url or cleaned.url,
        source=raw.source or cleaned.source_credit,
        title=(normalize_unicode(raw.title) if raw.title else None) or cleaned.title,
        author=raw.author or cleaned.author,
        published_at=raw.published_at or cleaned.published_at,
        dateline=cleaned.dateline,
        language=language,
        language_confidence=confidence,
        metadata=raw.metadata,
        received_at=received_at,
        text=cleaned.text,
        word_count=len(cleaned.text.split()),
        content_hash=ids.content_hash(cleaned.text),
        pipeline=PipelineInfo(
            version=__version__,
            stages={STAGE: detector.info if detector else StageInfo()},
        ),
    )


class CleanStage:
    """The clean stage over a batch of raw messages: one result per message, in order."""

    name = STAGE
    input_schema = "raw-article"
    output_schema = "clean-article"

    def __init__(self, max_body_bytes: int, *, detect_language: bool = True) -> None:
        self.max_body_bytes = max_body_bytes
        self.detector = LanguageDetector() if detect_language else None
        self.info = self.detector.info if self.detector else StageInfo()
        # At start, not on the first article (under its time limit): jsonschema loads.
        schemas.validator("raw-article")

    def process(self, batch: Sequence[Incoming]) -> list[Article | DeadLetter]:
        return process_each(STAGE, batch, self._process_one)

    def result_headers(self, article: Article) -> tuple[tuple[str, bytes], ...]:
        """The duplicate check's fingerprint of the article, computed here, in the stage's code
        process and under its time limit: the check itself only looks it up."""
        return ((FINGERPRINT_HEADER, pack_fingerprint(fingerprint(article.text))),)

    def _process_one(self, message: Incoming) -> Article | DeadLetter:
        raw = parse_raw(message.value, self.max_body_bytes)
        if isinstance(raw, Rejection):
            return dead_letter(STAGE, message, raw)
        outcome = clean_article(raw, received_at=message.received_at(), detector=self.detector)
        if isinstance(outcome, Rejection):
            return dead_letter(STAGE, message, outcome, article_id=raw.id)
        return outcome
