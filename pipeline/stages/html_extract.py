"""HTML in, article text and page metadata out.

Full pages go through trafilatura (main-content extraction plus title, author, date, canonical URL
and site name from the page's metadata); measured against readability and resiliparse in
``bench/extraction_quality.py``. Fragments (feed bodies) keep all their text with block elements
kept apart as paragraphs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lxml.html
import trafilatura
from lxml import etree

# `[^<>]`, not `[^>]`: a search must not rescan the rest of the body from every `<p` that is never
# closed (quadratic on `<p<p<p...`).
_HTML_TAG = re.compile(
    r"<(?:p|div|br|span|a|h[1-6]|article|section|ul|ol|li|em|strong|b|i|blockquote|figure|img|table)\b[^<>]*>",
    re.IGNORECASE,
)
_FULL_PAGE = re.compile(r"<(?:!doctype\s+html|html|body|head)\b", re.IGNORECASE)
_BLOCK_TAGS = {
    "p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
    "section", "article", "header", "footer", "table", "tr", "figure", "figcaption", "pre", "hr",
    "td", "th", "dd", "dt",
}  # fmt: skip
_DROP_TAGS = {"script", "style", "noscript", "template", "iframe", "svg", "head", "object"}
# A table cell with this many words holds running text: the table is page layout, not data.
_LAYOUT_CELL_WORDS = 60


@dataclass(frozen=True, slots=True)
class PageMetadata:
    title: str | None = None
    author: str | None = None
    published_at: str | None = None
    url: str | None = None
    site_name: str | None = None


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    metadata: PageMetadata
    full_page: bool


def is_full_page(body: str) -> bool:
    return bool(_FULL_PAGE.search(body))


def looks_like_html(body: str) -> bool:
    return bool(_FULL_PAGE.search(body) or _HTML_TAG.search(body))


def extract(body: str) -> Extracted:
    """Article text of an HTML page or fragment, with metadata from a full page's head."""
    if is_full_page(body):
        page = _extract_page(body)
        if page is not None:
            return page
    return Extracted(fragment_text(body), PageMetadata(), full_page=False)


def _extract_page(body: str) -> Extracted | None:
    try:
        tree = lxml.html.document_fromstring(body)
    except (etree.ParserError, ValueError):
        return None
    _flatten_tables(tree)
    document = trafilatura.bare_extraction(
        tree,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
        with_metadata=True,
    )
    if document is None or not (document.text or "").strip():
        return None
    metadata = PageMetadata(
        title=_clean_title(document.title, document.sitename),
        author=document.author or None,
        published_at=document.date or None,
        url=document.url or None,
        site_name=document.sitename or None,
    )
    return Extracted(document.text, metadata, full_page=True)


def _flatten_tables(tree: etree._Element) -> None:
    """Tables as plain blocks, before extraction.

    Old sites lay whole pages out with tables: their cells become divs, blocks the extractor can
    weigh one by one instead of keeping or dropping the whole page at once. Data tables become one
    paragraph per row, cells separated by spaces, where the extractor would write Markdown pipes.
    """
    for table in list(tree.iter("table")):
        cells = table.findall(".//td")
        layout = table.find(".//th") is None and any(
            len(cell.text_content().split()) >= _LAYOUT_CELL_WORDS for cell in cells
        )
        for row in table.iter("tr"):
            row.tag = "div" if layout else "p"
        for cell in table.iter("td", "th"):
            cell.tag = "div" if layout else "span"
            cell.tail = " " + (cell.tail or "")
        for element in table.iter("table", "tbody", "thead", "tfoot", "caption"):
            element.tag = "div"
    for stray in list(tree.iter("tr", "td", "th")):  # cells outside any table
        stray.tag = "div"


_TITLE_SEPARATORS = re.compile(r"\s+(?:[|–—·:]{1,2}|-)\s+")


def _clean_title(title: str | None, site_name: str | None) -> str | None:
    """A page title without the site name that pages append or prepend (`Story | Site`)."""
    if not title:
        return None
    if site_name:
        parts = _TITLE_SEPARATORS.split(title)
        if len(parts) > 1:
            kept = [p for p in parts if p.strip().casefold() != site_name.strip().casefold()]
            if kept and len(kept) < len(parts):
                return " - ".join(kept).strip()
    return title.strip()


def fragment_text(body: str) -> str:
    """All text of an HTML fragment, block elements separated by blank lines."""
    try:
        root = lxml.html.fragment_fromstring(body, create_parent="div")
    except (etree.ParserError, ValueError, AssertionError):
        # lxml asserts on a page without a body (`<html><head>...</head></html>`).
        return re.sub(r"<[^<>]+>", " ", body)
    parts: list[str] = []

    def walk(element: etree._Element) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _DROP_TAGS or not tag:
            # Comments and processing instructions carry no text, only their tails do.
            if element.tail:
                parts.append(element.tail)
            return
        if tag == "br":
            parts.append("\n")
        block = tag in _BLOCK_TAGS
        if block:
            parts.append("\n\n")
        if element.text:
            parts.append(element.text)
        for child in element:
            walk(child)
        if block:
            parts.append("\n\n")
        if element.tail:
            parts.append(element.tail)

    walk(root)
    return "".join(parts)
