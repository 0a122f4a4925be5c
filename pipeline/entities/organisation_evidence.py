"""The third rule set of label repair: organisations the model misses or mislabels (English).

- **Legal forms and clubs**: a name ending in a company's legal form (`Homegate Hospitality Inc`,
  `Gold Fields Ltd`) is an organisation, whatever the model said; so is a known city with a
  club's word before or after it (`Real Madrid`, `Dinamo Zagreb`, `Manchester United`,
  `Norwich City`), unless the whole name is itself a place (`Kansas City`).
- **Acronyms defined in the text**: `Kurdistan Democratic Party (KDP)` makes every `KDP` of the
  document a mention with the label of the name it spells out.
- **Teams in results**: a line of sports results names teams (`Swansea 49 Cardiff 23`, a
  standings row `Cleveland 80 53 .602`, a fixture `Boston at Oakland`); a team named after a
  city or region is an organisation, in that line and wherever else the document names it
  outside a place's context. Countries stay places (national teams, by the usual convention).

The lists are in ``data/label_cues.json`` (`legal_forms`, `club_words_before`,
`club_words_after`); places come from the gazetteer of ``pipeline.entities.evidence``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from spacy.tokens import Doc, Span, Token

from pipeline.entities.evidence import Gazetteer, LabelCues, PersonNames
from pipeline.entities.lexicon import PERSON_LABELS, PLACE_LABELS, name_key
from pipeline.entities.spans import NUMERIC_LABELS, Ent

# Gazetteer kinds a national side is named after: such a team stays a place.
_NATIONAL_KINDS = frozenset({"country", "continent"})
# Words between a fixture's two teams.
_FIXTURE_WORDS = frozenset({"at", "v", "v.", "vs", "vs.", "versus"})
# A score or a standings figure: `49`, `429-7`, `.602`, `14 1/2`, `-`.
_FIGURE = re.compile(r"^(?:\d{1,3}(?:-\d{1,3})?|\d{1,2}/\d|\.\d{3}|-)$")
_SCORE = re.compile(r"^\d{1,3}(?:-\d{1,2})?$")
_LABELS_OF_NAMES = frozenset({*PERSON_LABELS, "ORG", *PLACE_LABELS, "NORP", "FAC", "MISC"})


class OrganisationEvidence:
    """The rules in the module docstring, run after the label vote."""

    def __init__(
        self,
        gazetteer: Gazetteer,
        names: PersonNames,
        cues: LabelCues,
        organisation_label: str,
    ) -> None:
        self.gazetteer = gazetteer
        self.names = names
        self.cues = cues
        self.org = organisation_label

    def apply(self, doc: Doc, text: str, ents: list[Ent]) -> list[Ent]:
        self._legal_forms_and_clubs(doc, ents)
        ents = self._defined_acronyms(doc, text, ents)
        return self._teams_in_results(doc, text, ents)

    # -- legal forms and clubs -------------------------------------------------------------------

    def _legal_forms_and_clubs(self, doc: Doc, ents: list[Ent]) -> None:
        for ent in ents:
            if ent.label == self.org or ent.label not in _LABELS_OF_NAMES:
                continue
            words = [t for t in doc[ent.start : ent.end] if not t.is_punct]
            if len(words) < 2:
                continue
            if name_key(words[-1].text) in self.cues.legal_forms or self._is_club(words):
                ent.label = self.org

    def _is_club(self, words: list[Token]) -> bool:
        whole = " ".join(t.text for t in words)
        if self.gazetteer.kind(whole) is not None:
            return False  # `Kansas City`, `Mexico City`
        first, last = name_key(words[0].text), name_key(words[-1].text)
        rest_before = " ".join(t.text for t in words[1:])
        rest_after = " ".join(t.text for t in words[:-1])
        return (first in self.cues.club_words_before and self._is_town(rest_before)) or (
            last in self.cues.club_words_after and self._is_town(rest_after)
        )

    def _is_town(self, name: str) -> bool:
        return self.gazetteer.kind(name) not in (None, *_NATIONAL_KINDS)

    # -- acronyms defined in the text ------------------------------------------------------------

    def _defined_acronyms(self, doc: Doc, text: str, ents: list[Ent]) -> list[Ent]:
        if "(" not in text:
            return ents
        defined: dict[str, str] = {}
        for ent in ents:
            if ent.label in _LABELS_OF_NAMES and ent.label not in PERSON_LABELS:
                found = _defined_acronym(doc, ent)
                if found is not None:
                    opening, acronym = found
                    defined[acronym] = ent.label
                    ent.end = min(ent.end, opening)  # `National Association ( NAPM`
        return _label_tokens(doc, ents, defined, fold_case=False) if defined else ents

    # -- teams in results ------------------------------------------------------------------------

    def _teams_in_results(self, doc: Doc, text: str, ents: list[Ent]) -> list[Ent]:
        labels = {(e.start, e.end): e.label for e in ents}
        teams: dict[str, str] = {}
        for line in _lines(doc):
            found = _teams_of_line(doc, line)
            checks = [self._is_team(doc[s:e], labels.get((s, e)), paired) for s, e, paired in found]
            if len(found) == 2 and not found[0][2] and not all(checks):
                continue  # a fixture names two teams or none (`Protests at Westminster`)
            for (start, end, _), team in zip(found, checks, strict=True):
                if team:
                    teams[doc[start:end].text.casefold()] = self.org
        if not teams:
            return ents
        return _label_tokens(
            doc, ents, teams, fold_case=True, places_after=self.cues.locative_prepositions
        )

    def _is_team(self, span: Span, label: str | None, paired: bool) -> bool:
        """A name in a results line is a team unless it is a person's or a nation's; without a
        score of its own (a fixture, a standings row) it must also be a known place or a name
        the model found (not `Gold 385 386 387`)."""
        if label in PERSON_LABELS or label in NUMERIC_LABELS:
            return False
        if span[0].is_title and len(span) >= 2 and self.names.is_given_name(span[0].text):
            return False  # a player: `Colin Montgomerie 69 67 70`
        kind = self.gazetteer.kind(span.text)
        if kind in _NATIONAL_KINDS:
            return False
        return paired or kind is not None or label is not None


def _defined_acronym(doc: Doc, ent: Ent) -> tuple[int, str] | None:
    """The `(` and the acronym in brackets right after ``ent`` (or inside its end) that its
    capitalised words spell (`Kurdistan Democratic Party ( KDP )`), if any."""
    opening = next(
        (i for i in range(ent.start + 1, min(ent.end + 1, len(doc))) if doc[i].text == "("),
        None,
    )
    if opening is None or opening + 2 >= len(doc) or doc[opening + 2].text != ")":
        return None
    candidate = doc[opening + 1].text
    if not (2 <= len(candidate) <= 8 and candidate.isalpha() and candidate.isupper()):
        return None
    initials = "".join(t.text[0] for t in doc[ent.start : opening] if t.text[:1].isupper())
    return (opening, candidate) if initials == candidate else None


def _label_tokens(
    doc: Doc,
    ents: list[Ent],
    names: dict[str, str],
    *,
    fold_case: bool,
    places_after: frozenset[str] = frozenset(),
) -> list[Ent]:
    """Every occurrence of ``names`` (text, casefolded with ``fold_case`` -> label) becomes a
    mention with that label: a mention of exactly that text is relabelled, a free occurrence
    added; one after a word of ``places_after`` (`in Cardiff`) is left as it is."""
    by_span = {(e.start, e.end): e for e in ents}
    covered = {i for e in ents for i in range(e.start, e.end)}
    lengths = {len(n.split()) for n in names}
    added: list[Ent] = []
    for i in range(len(doc)):
        if not doc[i].text[:1].isupper():
            continue
        for length in lengths:
            end = i + length
            if end > len(doc):
                continue
            written = doc[i:end].text
            key = written.casefold() if fold_case else written
            if key not in names:
                continue
            if end < len(doc) and doc[end].text[:1].isupper() and doc[end].is_alpha:
                continue  # part of a longer name
            if i > 0 and doc[i - 1].lower_ in places_after:
                continue
            label = names[key]
            ent = by_span.get((i, end))
            if ent is not None:
                ent.label = label
            elif not any(j in covered for j in range(i, end)):
                added.append(Ent(i, end, label))
                covered.update(range(i, end))
    return sorted(ents + added, key=lambda e: e.start) if added else ents


def _lines(doc: Doc) -> Iterable[tuple[int, int]]:
    """Token ranges of the document's lines."""
    start = 0
    for i, token in enumerate(doc):
        if token.is_space and "\n" in token.text:
            if i > start:
                yield start, i
            start = i + 1
        elif "\n" in token.whitespace_:
            yield start, i + 1
            start = i + 1
    if start < len(doc):
        yield start, len(doc)


def _name_run(doc: Doc, i: int, end: int) -> int:
    """End of the run of capitalised words from token ``i`` (`St Louis`, `Queen 's Park`)."""
    j = i
    while j < end and (
        (
            doc[j].text[:1].isupper()
            and any(c.isalpha() for c in doc[j].text)
            and doc[j].lower_ not in _FIXTURE_WORDS
        )
        or (j > i and doc[j].text in {".", "&"} and j + 1 < end and doc[j + 1].text[:1].isupper())
    ):
        j += 1
    return j


def _skip_bracket(doc: Doc, i: int, end: int) -> int:
    """After a bracketed country or note (`Benetton ( Italy ) 92`), the token that follows."""
    if i < end and doc[i].text == "(":
        j = i + 1
        while j < end and doc[j].text != ")" and j - i <= 4:
            j += 1
        if j < end and doc[j].text == ")":
            return j + 1
    return i


def _teams_of_line(doc: Doc, line: tuple[int, int]) -> list[tuple[int, int, bool]]:
    """The teams a results line names, as (start, end, paired with a score): `A 2 B 1` (two
    names each with a score), a fixture (`A at B`) or a standings row (a name, then three
    figures or more and nothing else)."""
    start, end = line
    first_end = _name_run(doc, start, end)
    if first_end == start:
        return []
    after = _skip_bracket(doc, first_end, end)
    rest = [t.text for t in doc[after:end]]
    if len(rest) >= 3 and all(_FIGURE.match(w) for w in rest):
        return [(start, first_end, False)]
    if after < end and doc[after].lower_ in _FIXTURE_WORDS:
        second_end = _name_run(doc, after + 1, end)
        if second_end > after + 1 and _skip_bracket(doc, second_end, end) == end:
            return [(start, first_end, False), (after + 1, second_end, False)]
        return []
    if after < end and _SCORE.match(doc[after].text):
        second = after + 1
        while second < end and doc[second].text in {",", ";"}:
            second += 1
        second_end = _name_run(doc, second, end)
        if second_end > second:
            score_at = _skip_bracket(doc, second_end, end)
            if score_at < end and _SCORE.match(doc[score_at].text):
                return [(start, first_end, True), (second, second_end, True)]
    return []
