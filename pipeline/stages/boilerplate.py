"""Boilerplate around the story in plain text, moved to metadata or removed, never a story sentence.

Works on paragraphs. At the top: the headline repeated, bylines, date lines and a dateline that
opens the first paragraph (`MOSCOW, March 24 (Reuters) - ...`). Anywhere: "Read more" links, ads
and newsletter calls, which are whole paragraphs that are never a sentence of a story. At the end:
follow/share/subscribe footers, copyright lines, source credits and reporting credits.

Every pattern is anchored to a whole paragraph and bounded in length, and a paragraph that reads
as a sentence of prose (a verb phrase after a comma, say) does not fit any of them; the golden
tests hold both directions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SENTENCE_END = re.compile(r"[.!?:;\"')\]…]$")
_MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}  # fmt: skip
_WEEKDAYS = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "mon", "tue", "wed", "thu", "fri", "sat", "sun",
}  # fmt: skip
_DATE_WORDS = {
    *_MONTHS, *_WEEKDAYS,
    "published", "updated", "posted", "last", "modified", "on", "at", "am", "pm", "a.m.", "p.m.",
    "gmt", "utc", "bst", "cet", "est", "edt", "pst",
}  # fmt: skip
_PLATFORMS = (
    "telegram|twitter|x|facebook|instagram|whatsapp|youtube|tiktok|threads|linkedin|bluesky|"
    "mastodon|vk|viber|google news|apple news|flipboard"
)
_NAME_PARTICLES = {
    "de",
    "da",
    "van",
    "von",
    "der",
    "den",
    "del",
    "la",
    "le",
    "bin",
    "al",
    "el",
    "di",
    "du",
    "dos",
    "ibn",
}
_ROLE_WORDS = {
    "staff", "writer", "correspondent", "editor", "reporter", "contributor", "press", "news",
    "desk", "agency", "agencies", "bureau", "columnist", "analyst", "team", "online",
}  # fmt: skip

_BYLINE = re.compile(
    r"^(?:written\s+by|words\s+by|story\s+by|by)[\s:]+(?P<rest>.{2,120})$", re.IGNORECASE
)
_NAME_SPLIT = re.compile(r"\s*(?:,|;|\||\band\b|&|/)\s*")
_NAME_TOKEN = re.compile(r"^[A-Z][\w'’.-]*$")

# `MOSCOW, March 24 (Reuters) - `, `KYIV (AP) — `, `NEW YORK — `, `Paris, 3 May (AFP) -`.
_DATE_PHRASE = r"(?:[A-Z][a-z]{2,8}\.?\s+\d{1,2}|\d{1,2}\s+[A-Z][a-z]{2,8}\.?)(?:,?\s+\d{4})?"
_DATELINE = re.compile(
    rf"""^(?P<head>
        (?P<place>[A-Z][A-Z'’.-]{{2,}}(?:[ ][A-Z][A-Z'’.-]+){{0,3}}
            (?:,[ ][A-Z][\w.]+(?:[ ][A-Z][\w.]+)?)?)
        (?:,?[ ](?P<date>{_DATE_PHRASE}))?
      )
      [ ]?(?:\((?P<agency>[A-Z][\w .&/-]{{1,30}})\))?
      [ ]?[-–—]{{1,2}}[ ]+(?P<rest>\S)""",
    re.VERBOSE,
)
# The same with a city in ordinary case: only with a credited agency in brackets.
_DATELINE_AGENCY = re.compile(
    rf"""^(?P<head>
        (?P<place>[A-Z][\w'’.-]+(?:[ ][A-Z][\w'’.-]+){{0,3}})
        (?:,?[ ](?P<date>{_DATE_PHRASE}))?
      )
      [ ]?\((?P<agency>[A-Z][\w .&/-]{{1,30}})\)[ ]?[-–—]{{1,2}}[ ]+(?P<rest>\S)""",
    re.VERBOSE,
)

# Whole paragraphs that are links, ads or calls to act, wherever they stand.
_LINK_OR_AD = re.compile(
    rf"""^(?:
        (?:read|see|watch|listen)\s+(?:more|also|next|the\s+full\s+story)\s*(?:[:>»|–—-].*)?
      | (?:related|recommended|more\s+on\s+this\s+(?:story|topic)|most\s+read|also\s+read
          |top\s+stories)(?:\s+(?:stories|articles|coverage|content|links))?\s*(?::.*)?
      | advertisement | sponsored(?:\s+content)? | ad
      | story\s+continues\s+below(?:\s+advertisement)?
      | click\s+here\b.{{0,150}}
      | (?:sign\s+up|subscribe|register|get|receive)\b.{{0,120}}
            \b(?:newsletters?|in\s+your\s+inbox|email\s+alerts|breaking\s+news\s+emails)\b.{{0,60}}
      | (?:download|get)\s+(?:our|the)\s+(?:free\s+)?app\b.{{0,80}}
      | (?:follow|join|like|find)\s+us\s+(?:on|at|in)\s+(?:{_PLATFORMS})\b.{{0,60}}
      | (?:in|on|via)\s+(?:{_PLATFORMS})
      | (?:{_PLATFORMS})(?:\s*[|,/·•]\s*(?:{_PLATFORMS}))*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# Closing lines: calls to follow, share or subscribe, print links, tags.
_FOOTER = re.compile(
    rf"""^(?:
        (?:follow|join|like|find|connect\s+with|subscribe\s+to)\s+
            (?:us(?:\s+(?:on|at|in|for|to)\b.{{0,80}}|[.!]?)
              | @\w+.{{0,60}}
              | our\s+(?:channel|page|account|newsletter|podcast)\b.{{0,80}}
              | .{{0,40}}\bon\s+(?:{_PLATFORMS})\b.{{0,40}})
      | share(?:\s+(?:this\s+(?:article|story|page|post)|on|via)\b.{{0,60}}|\s*:.{{0,80}})?
      | (?:print|e-?mail)\s+this\s+(?:story|article|page)\b.{{0,60}}
      | (?:tags|topics|filed\s+under|categories)\s*:.{{0,200}}
      | (?:photo|image|photograph|picture|video|graphic)s?\s*(?:credit)?\s*:.{{0,80}}
      | comments?(?:\s*\(\d+\))?
      | leave\s+a\s+(?:comment|reply)
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_COPYRIGHT = re.compile(
    r"^(?:copyright\b|©|\(c\)\s)\s*(?P<rest>.{0,160})$|^(?P<alone>all\s+rights\s+reserved\.?)$",
    re.IGNORECASE,
)
_COPYRIGHT_NOISE = re.compile(
    r"©|\(c\)|\bcopyright\b|\b(?:19|20)\d\d\b(?:\s*[-–]\s*(?:19|20)?\d\d)?|all\s+rights\s+reserved\.?|"
    r"\b(?:ltd|llc|inc|plc|gmbh)\b\.?|[,.]",
    re.IGNORECASE,
)
_CREDIT_LINE = re.compile(
    r"^(?:source|sources|credit|courtesy(?:\s+of)?)\s*:\s*(?P<credit>.{2,80})$", re.IGNORECASE
)
_POST_APPEARED = re.compile(
    r"^the\s+post\s+.{1,300}?\s+appeared\s+first\s+on\s+(?P<credit>.{2,80}?)\.?$", re.IGNORECASE
)
_ORIGINALLY = re.compile(
    r"^this\s+(?:article|story|report|piece)\s+(?:was\s+|is\s+)?(?:originally\s+|first\s+)?"
    r"(?:published|appeared|posted)\s+(?:on|in|by|at)\s+(?P<credit>.{2,80}?)"
    r"(?:\s+on\s+\w+\s+\d{1,2}(?:,\s*\d{4})?)?\.?$",
    re.IGNORECASE,
)
_INPUTS = re.compile(
    r"^\(?with\s+(?:inputs|input|reporting)\s+from\s+(?P<credit>.{2,60}?)\)?\.?$", re.IGNORECASE
)
_REPORTING = re.compile(
    r"^\(?(?:(?:additional\s+)?reporting|writing|editing|compiled|edited|written)\s+by\s+(?P<names>[^;)]{2,120})"
    r"(?:;.{0,200})?\)?\.?$",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Stripped:
    paragraphs: list[str]
    title: str | None = None  # a headline found at the top when the producer sent none
    authors: list[str] = field(default_factory=list)
    dateline: str | None = None
    source_credit: str | None = None


def comparable(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def is_sentence(paragraph: str) -> bool:
    return bool(_SENTENCE_END.search(paragraph))


def strip_boilerplate(
    paragraphs: list[str], *, title: str | None, full_page: bool = False
) -> Stripped:
    """Separate the story from the boilerplate around it; see the module docstring."""
    result = Stripped(paragraphs=list(paragraphs))
    _strip_top(result, title, full_page)
    result.paragraphs = [p for p in result.paragraphs if not _LINK_OR_AD.match(p)]
    _strip_end(result, full_page)
    _strip_dateline(result)
    return result


def _strip_top(result: Stripped, title: str | None, full_page: bool) -> None:
    paragraphs = result.paragraphs
    wanted = comparable(title) if title else None
    while len(paragraphs) > 1:
        first = paragraphs[0]
        if wanted and _repeats_title(first, wanted):
            paragraphs.pop(0)
        elif (names := byline_names(first)) is not None:
            result.authors.extend(names)
            paragraphs.pop(0)
        elif is_date_line(first):
            result.dateline = result.dateline or first
            paragraphs.pop(0)
        elif wanted is None and _is_headline(first) and any(map(is_sentence, paragraphs[1:3])):
            result.title = first
            wanted = comparable(first)
            paragraphs.pop(0)
        elif full_page and _is_chrome(first) and any(_is_prose(p) for p in paragraphs[1:]):
            paragraphs.pop(0)
        else:
            break


def _strip_end(result: Stripped, full_page: bool) -> None:
    paragraphs = result.paragraphs
    while len(paragraphs) > 1:
        last = paragraphs[-1]
        credit = source_credit_of(last)
        if credit is not None:
            result.source_credit = result.source_credit or credit or None
        elif (names := reporting_names(last)) is not None:
            result.authors.extend(n for n in names if n not in result.authors)
        elif _FOOTER.match(last):
            pass
        elif result.source_credit is None and len(paragraphs) >= 3 and is_bare_credit(last):
            result.source_credit = last
        elif full_page and _is_chrome(last):
            pass
        else:
            break
        paragraphs.pop()


def _strip_dateline(result: Stripped) -> None:
    if not result.paragraphs:
        return
    first = result.paragraphs[0]
    match = _DATELINE.match(first) or _DATELINE_AGENCY.match(first)
    if match is None:
        return
    result.dateline = match["head"].strip(" ,")
    if match["agency"] and result.source_credit is None:
        result.source_credit = match["agency"].strip()
    result.paragraphs[0] = first[match.start("rest") :]


def _repeats_title(paragraph: str, wanted: str) -> bool:
    """The headline again, maybe with the site name appended (`Headline | Site`)."""
    seen = comparable(paragraph)
    if seen == wanted:
        return True
    return (
        seen.startswith(wanted + " ")
        and len(seen[len(wanted) :].split()) <= 4
        and not is_sentence(paragraph)
    )


def _is_headline(paragraph: str) -> bool:
    words = paragraph.split()
    return 0 < len(words) <= 25 and paragraph[:1].isupper() and not is_sentence(paragraph)


def _is_chrome(paragraph: str) -> bool:
    """Menu items, section names and link labels that a page extraction left at an edge."""
    return len(paragraph.split()) <= 12 and not is_sentence(paragraph)


def _is_prose(paragraph: str) -> bool:
    return len(paragraph.split()) >= 8 and is_sentence(paragraph)


def byline_names(paragraph: str) -> list[str] | None:
    """Author names from `By Jane Doe and John Roe, Staff Writers`; None when not a byline."""
    match = _BYLINE.match(paragraph.strip())
    if match is None or is_sentence(paragraph.rstrip(".")):
        return None
    return _names(match["rest"])


def reporting_names(paragraph: str) -> list[str] | None:
    """Names from a closing `(Reporting by Jane Doe; Editing by John Roe)` credit."""
    match = _REPORTING.match(paragraph.strip())
    return _names(match["names"]) if match else None


def _names(text: str) -> list[str] | None:
    names: list[str] = []
    for part in _NAME_SPLIT.split(text.strip().rstrip(".")):
        tokens = part.split()
        if not tokens:
            continue
        lowered = {t.casefold().strip(".,") for t in tokens}
        if lowered & _ROLE_WORDS and names:
            break  # `Jane Doe, Staff Writer`: the role ends the names
        if (
            len(tokens) > 4
            or lowered & (_MONTHS | _WEEKDAYS)
            or not all(_NAME_TOKEN.match(t) or t.casefold() in _NAME_PARTICLES for t in tokens)
        ):
            return None
        names.append(part.title() if part.isupper() else part)
    return names or None


def is_date_line(paragraph: str) -> bool:
    """`Friday, January 4, 2019`, `Updated: 24.03.2016 18:30 GMT`, `2016-03-24`: a date alone."""
    words = re.findall(r"[^\W\d_]+\.?[^\W\d_]*\.?|\d+", paragraph.casefold())
    if not words or len(words) > 10 or not any(w.isdigit() for w in words):
        return False
    return all(w.isdigit() or w.rstrip(".") in _DATE_WORDS or w in _DATE_WORDS for w in words)


def source_credit_of(paragraph: str) -> str | None:
    """The credited source of a closing credit or copyright line ('' when it names none);
    None when the paragraph is not one."""
    text = paragraph.strip()
    for pattern in (_CREDIT_LINE, _POST_APPEARED, _ORIGINALLY, _INPUTS):
        match = pattern.match(text)
        if match:
            return match["credit"].strip(" .()")
    match = _COPYRIGHT.match(text)
    if match is None or not (match["alone"] or _is_copyright_notice(text)):
        return None
    holder = " ".join(_COPYRIGHT_NOISE.sub(" ", match["rest"] or "").split())
    return holder if 0 < len(holder.split()) <= 6 else ""


def _is_copyright_notice(text: str) -> bool:
    """`© 2024 Example`, `Copyright 2024 Example Ltd`; not `Copyright lawyers argued ...`."""
    return bool(re.search(r"©|\(c\)|\b(?:19|20)\d\d\b|rights\s+reserved", text, re.IGNORECASE))


def is_bare_credit(paragraph: str) -> bool:
    """A short title-cased line after the story naming its source (`Vestnik Kavkaza`)."""
    words = paragraph.split()
    return (
        0 < len(words) <= 5
        and not is_sentence(paragraph)
        and all(w[:1].isupper() or not w[:1].isalpha() for w in words)
        and not is_date_line(paragraph)
    )
