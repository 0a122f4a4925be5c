"""Property-based tests: the clean function never raises and never writes more text than the
input shows."""

from __future__ import annotations

import html
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.stages.clean import clean_text

# Words, punctuation, typographic quotes, mojibake pieces, entities, odd spaces and line breaks.
_PIECES = st.sampled_from(
    [
        "Kerry’s", "“quoted”", "''", "’’", "â€™", "Ã©", "&amp;", "&#8217;", "\u00a0", "\u200b",
        "\u00ad", "\r\n", "\n", "\n\n", "\u2028", "\u2029", "\x0c", "\x07", "ﬁ", "\uff26", "-\n",
        "By Jane Doe", "MOSCOW (Reuters) - ", "Follow us on Twitter", "in Telegram",
        "© 2024 Example", "Source: Wire", "Read more: x", "Advertisement", "\t", " ", ". ",
    ]
)  # fmt: skip
_TEXT = st.lists(st.one_of(st.text(max_size=40), _PIECES), max_size=40).map("".join)


def _visible_length(text: str) -> int:
    """Characters a reader sees, compatibility forms spelled out (`ﬁ` is two letters)."""
    return len(" ".join(unicodedata.normalize("NFKC", text).split()))


def _output_length(text: str) -> int:
    return len(" ".join(text.split()))


@st.composite
def _html(draw: st.DrawFn) -> tuple[str, str]:
    """An HTML fragment or page and the text a browser would show of it."""
    shown: list[str] = []
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        text = draw(_TEXT)
        tag = draw(st.sampled_from(["p", "div", "li", "h2", "span", "em", "a", "td", "script"]))
        if tag == "script":
            parts.append(f"<script>{html.escape(text)}</script>")
            continue
        shown.append(text)
        parts.append(f"<{tag}>{html.escape(text)}</{tag}>")
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(["<br>", "<!-- note -->", '<img alt="x">', "<hr>"])))
    body = "".join(parts)
    if draw(st.booleans()):
        body = f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>"
    return body, " ".join(shown)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_TEXT, title=st.one_of(st.none(), _TEXT))
def test_plain_text_never_raises_nor_grows(body: str, title: str | None) -> None:
    cleaned = clean_text(body, title=title, content_type="text/plain")
    assert _output_length(cleaned.text) <= _visible_length(body)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=_html())
def test_html_never_raises_nor_grows(page: tuple[str, str]) -> None:
    body, shown = page
    cleaned = clean_text(body, content_type="text/html")
    assert _output_length(cleaned.text) <= _visible_length(shown)


@settings(max_examples=200, deadline=None)
@given(body=st.text(max_size=300))
def test_any_text_with_detected_content_type_never_raises(body: str) -> None:
    cleaned = clean_text(body)
    assert isinstance(cleaned.text, str)
