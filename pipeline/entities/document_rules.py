"""The first rule set of label repair: rules that use only what the same document says.

- a name never runs across a line break;
- hyphenated place names the tokenizer split (`Rostov-on-Don`, `Stratford-upon-Avon`) become one
  GPE span;
- a minister's portfolio inside a title (`Secretary of State`) is not an organisation, and a span
  that starts with a person's office (`the Minister of Foreign Affairs`) is a title, not an ORG;
- a name glued onto the end of another span (`Russia Sergey Lavrov`) is split off when the
  document names that person elsewhere;
- a surname labelled ORG/GPE/... is a PERSON when the document names the full person;
- a short closing line that credits the source (`Vestnik Kavkaza`) holds organisations, and a
  closing `in Telegram`/`on X` line holds products (apps), never people;
- a lower-case `the` is not part of a name.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from spacy.tokens import Doc, Span

from pipeline.entities.lexicon import PERSON_LABELS, PLACE_LABELS, Titles, surface_form
from pipeline.entities.spans import (
    HYPHENS,
    NUMERIC_LABELS,
    Ent,
    is_capitalized,
    last_words_of_places,
)

# Lower-case links inside hyphenated place names (Rostov-on-Don, Frankfurt-am-Main,
# Weston-super-Mare, Bourton-on-the-Water, Châlons-en-Champagne).
DEFAULT_PARTICLES = (
    "on", "upon", "under", "by", "the", "super", "sur", "sous", "am", "an", "im", "in", "der",
    "de", "du", "des", "la", "le", "les", "en", "lès", "ob", "di", "del", "sul",
)  # fmt: skip
# Labels a surname can wrongly get when the full name is a PERSON elsewhere in the document.
RELABELLED_AS_PERSON = frozenset(
    {"ORG", "GPE", "NORP", "LOC", "FAC", "PRODUCT", "WORK_OF_ART", "EVENT", "LAW", "LANGUAGE",
     "MISC"}
)  # fmt: skip
_SENTENCE_END = re.compile(r"[.!?:;\"')\]…]\s*$")
_PLATFORM_LINE = re.compile(
    r"(?:(?:follow|join|find|read)\s+(?:us\s+)?)?(?:in|on|via|at)\s+", re.IGNORECASE
)
_DETERMINERS = frozenset({"the", "a", "an"})
_LINE = re.compile(r"[^\n]+")


class DocumentRules:
    """The rules above, each a step ``EntityRepair`` runs in its order."""

    def __init__(self, titles: Titles, particles: Iterable[str], credit_max_words: int) -> None:
        self.titles = titles
        self.particles = frozenset(p.casefold() for p in particles)
        self.credit_max_words = credit_max_words
        # Most texts have no hyphenated place; one search spares them the token scan.
        dashes = "".join(re.escape(c) for c in sorted(HYPHENS))
        links = "|".join(re.escape(p) for p in sorted(self.particles))
        self._hyphen_link = re.compile(rf"\w[{dashes}](?:{links})[{dashes}]\w")

    # -- hyphenated places ---------------------------------------------------------------------

    def _hyphen_chain_end(self, doc: Doc, i: int) -> int | None:
        """End of a `Name-particle(-particle)-Name` chain starting at token ``i``, if any."""
        if not is_capitalized(doc[i].text):
            return None
        end, position, saw_particle = None, i, False
        while position + 2 < len(doc):
            hyphen, word = doc[position + 1], doc[position + 2]
            if doc[position].whitespace_ or hyphen.text not in HYPHENS or hyphen.whitespace_:
                break
            if word.text.casefold() in self.particles and word.text.islower():
                saw_particle = True
            elif is_capitalized(word.text):
                if saw_particle:
                    end = position + 3
            else:
                break
            position += 2
        return end

    def join_hyphenated_places(self, doc: Doc, text: str, ents: list[Ent]) -> list[Ent]:
        if not self._hyphen_link.search(text):
            return ents
        i = 0
        while i < len(doc):
            end = self._hyphen_chain_end(doc, i)
            if end is None:
                i += 1
                continue
            touching = [e for e in ents if e.start < end and e.end > i]
            if not any(e.start <= i and e.end >= end for e in touching):
                label = "LOC" if any(e.label == "LOC" for e in touching) else "GPE"
                ents = [e for e in ents if e not in touching]
                ents.append(Ent(i, end, label))
            i = end
        return sorted(ents, key=lambda e: e.start)

    # -- job titles ----------------------------------------------------------------------------

    def _is_role(self, text: str) -> bool:
        return text.casefold() in self.titles.person_roles

    def drop_titles(self, doc: Doc, ents: list[Ent]) -> list[Ent]:
        kept = []
        for ent in ents:
            if ent.label == "ORG" and (
                self._is_portfolio_of_title(doc, ent) or self._starts_with_role(doc, ent)
            ):
                continue
            kept.append(ent)
        return kept

    def _is_portfolio_of_title(self, doc: Doc, ent: Ent) -> bool:
        """`State` in `Secretary of State`, `Energy` in `Energy Minister`: a minister's
        portfolio, part of a title."""
        if doc[ent.start : ent.end].text.casefold() not in self.titles.portfolios:
            return False
        after = doc[ent.end] if ent.end < len(doc) else None
        if after is not None and self._is_role(after.text):
            return True
        return (
            ent.start >= 2
            and doc[ent.start - 1].lower_ == "of"
            and self._is_role(doc[ent.start - 2].text)
        )

    def _starts_with_role(self, doc: Doc, ent: Ent) -> bool:
        """`the Minister of Foreign Affairs`: a person's office, not an organisation (but
        `General Motors` is one)."""
        words = [t for t in doc[ent.start : ent.end] if t.lower_ not in _DETERMINERS]
        if not words or not self._is_role(words[0].text):
            return False
        return len(words) == 1 or words[1].lower_ == "of"

    # -- names glued onto other spans -------------------------------------------------------------

    def split_glued_names(self, doc: Doc, ents: list[Ent]) -> list[Ent]:
        people = [e for e in ents if e.label in PERSON_LABELS]
        if not people:
            return ents
        person_label = people[0].label
        full_names = {
            _fold(doc[e.start : e.end].text)
            for e in people
            if _looks_like_full_name(doc[e.start : e.end])
        }
        surnames = {_fold(doc[e.end - 1].text) for e in people if not doc[e.end - 1].is_upper}
        labels_by_text: dict[str, Counter[str]] = {}
        for e in ents:
            labels_by_text.setdefault(_fold(doc[e.start : e.end].text), Counter())[e.label] += 1
        out: list[Ent] = []
        for ent in ents:
            split = None
            if ent.label not in PERSON_LABELS and ent.end - ent.start >= 2:
                split = self._glued_name_start(doc, ent, full_names, surnames)
            if split is None:
                out.append(ent)
                continue
            prefix = doc[ent.start : split]
            prefix_labels = labels_by_text.get(_fold(prefix.text), Counter())
            for label in PERSON_LABELS:
                prefix_labels.pop(label, None)
            if prefix_labels:
                out.append(Ent(ent.start, split, prefix_labels.most_common(1)[0][0]))
            elif any(t.is_title and not self._is_role(t.text) for t in prefix):
                # A prefix with a name of its own keeps the label; `Secretary` alone goes.
                out.append(Ent(ent.start, split, ent.label))
            out.append(Ent(split, ent.end, person_label))
        return out

    def _glued_name_start(
        self, doc: Doc, ent: Ent, full_names: set[str], surnames: set[str]
    ) -> int | None:
        """Start of the longest tail of ``ent`` that is a person named in the document."""
        for i in range(ent.start + 1, ent.end):
            tail = doc[i : ent.end]
            if _fold(tail.text) in full_names:
                return i
            last = _fold(tail[-1].text)
            if len(tail) >= 2 and last in surnames and all(is_capitalized(t.text) for t in tail):
                return i
        return None

    # -- surnames ------------------------------------------------------------------------------

    def relabel_surnames(self, doc: Doc, ents: list[Ent]) -> None:
        people = [
            e
            for e in ents
            if e.label in PERSON_LABELS and _looks_like_full_name(doc[e.start : e.end])
        ]
        surnames = {_fold(doc[e.end - 1].text): e.label for e in people}
        place_tails = last_words_of_places(doc, ents, _fold)
        for ent in ents:
            if ent.end - ent.start != 1:
                continue
            word = _fold(doc[ent.start].text)
            if ent.label in PLACE_LABELS and word in place_tails:
                continue  # `a house in Kerry` after `Co Kerry`, beside `Sergeant Niall Kerry`
            if ent.label in RELABELLED_AS_PERSON:
                ent.label = surnames.get(word, ent.label)

    # -- closing lines: source credits and app links -------------------------------------------

    def label_closing_lines(self, doc: Doc, text: str, ents: list[Ent]) -> None:
        """Entities in the short lines that close an article: credits are ORG, apps PRODUCT."""
        # The closing lines are short: the text's tail is enough to find them.
        tail = max(0, len(text) - 1000)
        lines = [m for m in _LINE.finditer(text, tail) if m.group().strip()]
        if tail == 0 and len(lines) < 3:
            return
        for line in reversed(lines[-2:]):
            content = line.group().strip()
            if len(content.split()) > self.credit_max_words or _SENTENCE_END.search(content):
                return
            inside = [e for e in ents if line.start() <= doc[e.start].idx < line.end()]
            # Only a bare name, maybe after `in`/`on`/`follow us on`: a results table's last
            # row (`20. Paul Broadhurst 176,780`) is not a credit.
            rest = line.group()
            for ent in inside:
                span = doc[ent.start : ent.end]
                start, end = span.start_char - line.start(), span.end_char - line.start()
                rest = rest[:start] + " " * (end - start) + rest[end:]
            indent = len(rest) - len(rest.lstrip())
            platform = _PLATFORM_LINE.match(line.group(), indent)
            leftover = rest[platform.end() if platform else indent :]
            if not inside or any(c.isalnum() for c in leftover):
                return
            for ent in inside:
                ent.label = "PRODUCT" if platform else "ORG"


def split_at_line_breaks(doc: Doc, ents: list[Ent]) -> list[Ent]:
    """A name never runs across a line break (`Rolf Soderlind\n\nLONGYEAR`)."""
    out = []
    for ent in ents:
        start = ent.start
        for i in range(ent.start, ent.end):
            if doc[i].is_space and "\n" in doc[i].text:
                if i > start:
                    out.append(Ent(start, i, ent.label))
                start = i + 1
        if ent.end > start:
            out.append(Ent(start, ent.end, ent.label))
    return out


def drop_leading_articles(doc: Doc, ents: list[Ent]) -> None:
    """`the Garda National Economic Crime Bureau` -> `Garda National Economic Crime Bureau`: a
    mention is the name; a capitalised `The` may belong to it (`The Hague`) and stays."""
    for ent in ents:
        if (
            ent.end - ent.start > 1
            and doc[ent.start].text == "the"
            and ent.label not in NUMERIC_LABELS
        ):
            ent.start += 1


def _looks_like_full_name(span: Span) -> bool:
    """`John Kerry`, `Jean-Pierre Raffarin`: capitalized words (hyphens between), not shouted
    (headlines in capitals are unreliable) and not `ex-England`."""
    words = [t.text for t in span if t.text not in HYPHENS]
    return (
        len(words) >= 2
        and all(is_capitalized(w) and not w.isupper() for w in words)
        and not any(t.is_space for t in span)
    )


def _fold(text: str) -> str:
    return surface_form(text).casefold()
