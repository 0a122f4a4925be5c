"""Label repair: a spaCy component that fixes the usual failures of statistical NER on news.

Registered as ``wirestream_entity_repair`` and added after ``ner`` by ``load_nlp``. Every rule is
general and works on one document at a time, using what the rest of the document says (and,
for label evidence, word lists from installed packages, see ``pipeline.entities.evidence``):

- hyphenated place names the tokenizer split (`Rostov-on-Don`, `Stratford-upon-Avon`) become one
  GPE span;
- a minister's portfolio inside a title (`Secretary of State`) is not an organisation, and a span
  that starts with a person's office (`the Minister of Foreign Affairs`) is a title, not an ORG;
- a name glued onto the end of another span (`Russia Sergey Lavrov`) is split off when the
  document names that person elsewhere;
- a surname labelled ORG/GPE/... is a PERSON when the document names the full person;
- a short closing line that credits the source (`Vestnik Kavkaza`) holds organisations, and a
  closing `in Telegram`/`on X` line holds products (apps), never people;
- label evidence (``LabelEvidence``, English pipelines): span edges fixed, then one label per
  name by a vote that weighs person, place and organisation signals: known places, given names,
  cue words, the article's dateline (``doc.user_data[DATELINE]``) and the words around each
  mention.

``predict`` computes the new entity spans without touching the documents and
``set_annotations`` writes them, as spaCy's own components do.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans, minibatch

from pipeline.entities.evidence import (
    Gazetteer,
    LabelCues,
    PersonNames,
    load_cues,
    load_gazetteer,
    load_person_names,
)
from pipeline.entities.lexicon import (
    PERSON_LABELS,
    PLACE_LABELS,
    Titles,
    load_titles,
    name_key,
    surface_form,
)

COMPONENT = "wirestream_entity_repair"
# ``doc.user_data`` key under which the NER stage hands over the article's dateline: the place
# it names is place evidence.
DATELINE = "wirestream_dateline"

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
_HYPHENS = frozenset({"-", "‐", "‑", "–"})
_SENTENCE_END = re.compile(r"[.!?:;\"')\]…]\s*$")
_PLATFORM_LINE = re.compile(
    r"(?:(?:follow|join|find|read)\s+(?:us\s+)?)?(?:in|on|via|at)\s+", re.IGNORECASE
)
_DETERMINERS = frozenset({"the", "a", "an"})
_LINE = re.compile(r"[^\n]+")
NUMERIC_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})
# Labels a part of a person's name gets by mistake (`Marta` GPE, `Figueiredo` GPE); not NORP:
# `Roman Catholic`.
_NAME_LABELS = frozenset({*PERSON_LABELS, "ORG", "GPE", "LOC", "FAC"})
# Labels whose names the vote reconsiders (NORP, events, works and laws keep theirs).
_VOTED_LABELS = frozenset({*PERSON_LABELS, "ORG", *PLACE_LABELS})
# Gazetteer kinds that end organisation names (`Greenpeace Switzerland`) but hardly people's (a
# surname may be a city: `Duffy Waldorf`).
_REGION_KINDS = frozenset({"country", "us_state", "continent"})
# Labels a model of the CoNLL kind (PER, ORG, LOC, MISC) uses instead of OntoNotes ones.
_COARSE_LABELS = {"PERSON": "PER", "GPE": "LOC", "FAC": "LOC", "PRODUCT": "MISC"}
_SENTENCE_ENDS = frozenset({".", "!", "?", "…", ":", ";"})
_QUOTES_AND_BRACKETS = frozenset({'"', "“", "”", "‘", "’", "'", "(", "[", "«", "»"})
_MONTHS_AND_DAYS = frozenset(
    {"january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
     "saturday", "sunday"}
)  # fmt: skip
_POSSESSIVES = frozenset({"'s", "’s", "'", "’"})
_COORDINATION = frozenset({",", "and", "or", "&"})
_SAYING = frozenset({"said", "says", "say", "told", "added", "adds"})
_PERSONAL_PRONOUNS = frozenset({"he", "she", "his", "her"})
_THING_PRONOUNS = frozenset({"it", "its"})
_RELATIVE_PERSON = frozenset({"who", "whose", "whom"})


@dataclass(slots=True)
class _Ent:
    """A mutable entity candidate: token offsets and label."""

    start: int
    end: int
    label: str


class EntityRepair:
    """Rewrites ``doc.ents`` by the rules in the module docstring."""

    def __init__(
        self,
        name: str,
        titles: Titles,
        particles: Iterable[str],
        credit_max_words: int,
        evidence: LabelEvidence | None = None,
    ) -> None:
        self.name = name
        self.titles = titles
        self.particles = frozenset(p.casefold() for p in particles)
        self.credit_max_words = credit_max_words
        self.evidence = evidence
        # Most texts have no hyphenated place; one search spares them the token scan.
        dashes = "".join(re.escape(c) for c in sorted(_HYPHENS))
        links = "|".join(re.escape(p) for p in sorted(self.particles))
        self._hyphen_link = re.compile(rf"\w[{dashes}](?:{links})[{dashes}]\w")

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        for batch in minibatch(stream, size=batch_size):
            docs = list(batch)
            self.set_annotations(docs, self.predict(docs))
            yield from docs

    def predict(self, docs: Iterable[Doc]) -> list[list[tuple[int, int, str]]]:
        """The repaired entities of each document as (start token, end token, label)."""
        return [self._repair(doc) for doc in docs]

    def set_annotations(self, docs: Iterable[Doc], found: list[list[tuple[int, int, str]]]) -> None:
        for doc, ents in zip(docs, found, strict=True):
            doc.ents = filter_spans(Span(doc, s, e, label=label) for s, e, label in ents)

    def _repair(self, doc: Doc) -> list[tuple[int, int, str]]:
        text = doc.text  # built from the tokens on every access: once is enough
        ents = _split_at_line_breaks(doc, [_Ent(e.start, e.end, e.label_) for e in doc.ents])
        ents = self._join_hyphenated_places(doc, text, ents)
        ents = self._drop_titles(doc, ents)
        ents = self._split_glued_names(doc, ents)
        if self.evidence is not None:
            ents = self.evidence.apply(doc, text, ents, doc.user_data.get(DATELINE))
        self._relabel_surnames(doc, ents)
        self._label_closing_lines(doc, text, ents)
        _drop_leading_articles(doc, ents)
        return [(e.start, e.end, e.label) for e in ents if e.end > e.start]

    # -- hyphenated places ---------------------------------------------------------------------

    def _hyphen_chain_end(self, doc: Doc, i: int) -> int | None:
        """End of a `Name-particle(-particle)-Name` chain starting at token ``i``, if any."""
        if not _is_capitalized(doc[i].text):
            return None
        end, position, saw_particle = None, i, False
        while position + 2 < len(doc):
            hyphen, word = doc[position + 1], doc[position + 2]
            if doc[position].whitespace_ or hyphen.text not in _HYPHENS or hyphen.whitespace_:
                break
            if word.text.casefold() in self.particles and word.text.islower():
                saw_particle = True
            elif _is_capitalized(word.text):
                if saw_particle:
                    end = position + 3
            else:
                break
            position += 2
        return end

    def _join_hyphenated_places(self, doc: Doc, text: str, ents: list[_Ent]) -> list[_Ent]:
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
                ents.append(_Ent(i, end, label))
            i = end
        return sorted(ents, key=lambda e: e.start)

    # -- job titles ----------------------------------------------------------------------------

    def _is_role(self, text: str) -> bool:
        return text.casefold() in self.titles.person_roles

    def _drop_titles(self, doc: Doc, ents: list[_Ent]) -> list[_Ent]:
        kept = []
        for ent in ents:
            if ent.label == "ORG" and (
                self._is_portfolio_of_title(doc, ent) or self._starts_with_role(doc, ent)
            ):
                continue
            kept.append(ent)
        return kept

    def _is_portfolio_of_title(self, doc: Doc, ent: _Ent) -> bool:
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

    def _starts_with_role(self, doc: Doc, ent: _Ent) -> bool:
        """`the Minister of Foreign Affairs`: a person's office, not an organisation (but
        `General Motors` is one)."""
        words = [t for t in doc[ent.start : ent.end] if t.lower_ not in _DETERMINERS]
        if not words or not self._is_role(words[0].text):
            return False
        return len(words) == 1 or words[1].lower_ == "of"

    # -- names glued onto other spans -------------------------------------------------------------

    def _split_glued_names(self, doc: Doc, ents: list[_Ent]) -> list[_Ent]:
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
        out: list[_Ent] = []
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
                out.append(_Ent(ent.start, split, prefix_labels.most_common(1)[0][0]))
            elif any(t.is_title and not self._is_role(t.text) for t in prefix):
                # A prefix with a name of its own keeps the label; `Secretary` alone goes.
                out.append(_Ent(ent.start, split, ent.label))
            out.append(_Ent(split, ent.end, person_label))
        return out

    def _glued_name_start(
        self, doc: Doc, ent: _Ent, full_names: set[str], surnames: set[str]
    ) -> int | None:
        """Start of the longest tail of ``ent`` that is a person named in the document."""
        for i in range(ent.start + 1, ent.end):
            tail = doc[i : ent.end]
            if _fold(tail.text) in full_names:
                return i
            last = _fold(tail[-1].text)
            if len(tail) >= 2 and last in surnames and all(_is_capitalized(t.text) for t in tail):
                return i
        return None

    # -- surnames ------------------------------------------------------------------------------

    def _relabel_surnames(self, doc: Doc, ents: list[_Ent]) -> None:
        people = [
            e
            for e in ents
            if e.label in PERSON_LABELS and _looks_like_full_name(doc[e.start : e.end])
        ]
        surnames = {_fold(doc[e.end - 1].text): e.label for e in people}
        place_tails = _place_tails(doc, ents, _fold)
        for ent in ents:
            if ent.end - ent.start != 1:
                continue
            word = _fold(doc[ent.start].text)
            if ent.label in PLACE_LABELS and word in place_tails:
                continue  # `a house in Kerry` after `Co Kerry`, beside `Sergeant Niall Kerry`
            if ent.label in RELABELLED_AS_PERSON:
                ent.label = surnames.get(word, ent.label)

    # -- closing lines: source credits and app links -------------------------------------------

    def _label_closing_lines(self, doc: Doc, text: str, ents: list[_Ent]) -> None:
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


def _split_at_line_breaks(doc: Doc, ents: list[_Ent]) -> list[_Ent]:
    """A name never runs across a line break (`Rolf Soderlind\n\nLONGYEAR`)."""
    out = []
    for ent in ents:
        start = ent.start
        for i in range(ent.start, ent.end):
            if doc[i].is_space and "\n" in doc[i].text:
                if i > start:
                    out.append(_Ent(start, i, ent.label))
                start = i + 1
        if ent.end > start:
            out.append(_Ent(start, ent.end, ent.label))
    return out


def _drop_leading_articles(doc: Doc, ents: list[_Ent]) -> None:
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
    words = [t.text for t in span if t.text not in _HYPHENS]
    return (
        len(words) >= 2
        and all(_is_capitalized(w) and not w.isupper() for w in words)
        and not any(t.is_space for t in span)
    )


def _place_tails(doc: Doc, ents: list[_Ent], normalize: Callable[[str], str]) -> dict[str, str]:
    """The last word of each place named in full (`Co Kerry`, `County Durham`): its label."""
    return {
        normalize(doc[e.end - 1].text): e.label
        for e in ents
        if e.label in PLACE_LABELS and e.end - e.start >= 2
    }


def _fold(text: str) -> str:
    return surface_form(text).casefold()


def _is_capitalized(text: str) -> bool:
    return text[:1].isupper() and any(c.isalpha() for c in text)


@dataclass(frozen=True, slots=True)
class _Cue:
    """A cue word's label, and whether a given name can outweigh it (`Charlotte Church`)."""

    label: str
    strong: bool


class LabelEvidence:
    """Label rules that weigh what a name is made of and where it stands, per document:

    - titles and honorifics before a person's name and post-nominals after it are not part of
      it (`Sergeant Kerry` -> `Kerry`, `Ciarán Mulcahy SC` -> `Ciarán Mulcahy`);
    - a sentence's first word, capitalised only there, is no name when the text also writes it
      in lower case (`Mackerel do not carry passports`);
    - a given name right before another name span joins it as one person (`Marta` +
      `Figueiredo`);
    - a name takes in the capitalised word before it (`Rete` + `Ferroviaria Italiana`);
    - then every name's mentions vote on one label, with evidence: person signals (a given
      name, an honorific or title before, `, who`, `said he`, an age), place signals (a known
      place, the dateline, `in`/`near`/... before, `, Italy` after), organisation signals
      (cue words, an acronym or a country inside the name, `, which`, `said it`). A PERSON
      label needs a person signal to stand against the others; see ``_label_for``.
    """

    def __init__(
        self,
        titles: Titles,
        gazetteer: Gazetteer,
        names: PersonNames,
        cues: LabelCues,
        model_labels: frozenset[str],
    ) -> None:
        self.titles = titles
        self.gazetteer = gazetteer
        self.names = names
        self.cues = cues
        self.model_labels = model_labels

    def _label(self, label: str) -> str:
        """``label`` in the model's own label set (PER/LOC/MISC for CoNLL-style models)."""
        return label if label in self.model_labels else _COARSE_LABELS.get(label, label)

    def apply(self, doc: Doc, text: str, ents: list[_Ent], dateline: str | None) -> list[_Ent]:
        ents = self._add_names_after_titles(doc, ents)
        ents = self._trim_person_affixes(doc, ents)
        ents = self._drop_capitalised_words(doc, text, ents)
        ents = self._join_given_name_pairs(doc, ents)
        ents = self._extend_capitalised_runs(doc, text, ents)
        self._vote(doc, ents, dateline)
        return ents

    # -- span edges ------------------------------------------------------------------------------

    def _is_person_prefix(self, word: str) -> bool:
        return name_key(word) in self.cues.honorifics or word.casefold() in self.titles.person_roles

    def _trim_person_affixes(self, doc: Doc, ents: list[_Ent]) -> list[_Ent]:
        for ent in ents:
            if ent.label not in PERSON_LABELS:
                continue
            while ent.end - ent.start > 1 and self._is_person_prefix(doc[ent.start].text):
                ent.start += 1
            while ent.end - ent.start > 1 and self._is_post_nominal(doc[ent.end - 1].text):
                ent.end -= 1
        return ents

    def _add_names_after_titles(self, doc: Doc, ents: list[_Ent]) -> list[_Ent]:
        """A full name right after a title that the model left out (`Detective Sergeant Niall
        Kerry`): two or three capitalised words, the first a given name, none in an entity."""
        covered = {i for e in ents for i in range(e.start, e.end)}
        added: list[_Ent] = []
        i = 1
        while i < len(doc):
            # Cheap tests first: this runs on every token of every article.
            if (
                i in covered
                or not doc[i].is_title
                or not doc[i - 1].is_alpha
                or not self._is_person_prefix(doc[i - 1].text)
                or not self.names.is_given_name(doc[i].text)
            ):
                i += 1
                continue
            end = i
            while (
                end < len(doc)
                and end - i < 3
                and end not in covered
                and doc[end].is_title
                and doc[end].is_alpha
                and not doc[end].is_stop
                and not self._is_person_prefix(doc[end].text)
            ):
                end += 1
            if end - i >= 2 and self._cue(_words(doc[i:end])) is None:
                added.append(_Ent(i, end, self._label("PERSON")))
            i = max(end, i + 1)
        return sorted(ents + added, key=lambda e: e.start) if added else ents

    def _is_post_nominal(self, word: str) -> bool:
        return word[:1].isupper() and name_key(word) in self.cues.post_nominals

    def _drop_capitalised_words(self, doc: Doc, text: str, ents: list[_Ent]) -> list[_Ent]:
        kept = []
        for ent in ents:
            token = doc[ent.start]
            if (
                ent.end - ent.start == 1
                and ent.label not in NUMERIC_LABELS
                and token.is_title
                and token.is_alpha
                and _starts_sentence(doc, ent.start)
                and _written_in_lower_case(text, token.text)
            ):
                continue
            kept.append(ent)
        return kept

    def _join_given_name_pairs(self, doc: Doc, ents: list[_Ent]) -> list[_Ent]:
        out: list[_Ent] = []
        for ent in sorted(ents, key=lambda e: e.start):
            before = out[-1] if out else None
            if (
                before is not None
                and before.end == ent.start
                and before.end - before.start == 1
                and before.label in _NAME_LABELS
                and ent.label in _NAME_LABELS
                and doc[before.start].whitespace_ == " "
                and self._is_given_name_alone(doc[before.start].text)
                and self._could_be_surnames(doc[ent.start : ent.end])
            ):
                out[-1] = _Ent(before.start, ent.end, self._label("PERSON"))
                continue
            out.append(ent)
        return out

    def _is_given_name_alone(self, word: str) -> bool:
        return (
            _is_capitalized(word)
            and self.names.is_common_given_name(word)
            and self.gazetteer.kind(word) is None
        )

    def _could_be_surnames(self, span: Span) -> bool:
        words = _words(span)
        return (
            bool(words)
            and all(w[:1].isupper() and not w.isupper() for w in words)
            and self._cue(words) is None
            and self.gazetteer.kind(span.text) is None
        )

    def _extend_capitalised_runs(self, doc: Doc, text: str, ents: list[_Ent]) -> list[_Ent]:
        covered = {i for e in ents for i in range(e.start, e.end)}
        for ent in ents:
            if ent.label in NUMERIC_LABELS or not doc[ent.start].is_title:
                continue
            while ent.start > 0 and self._extends_name(doc, text, ent, covered):
                ent.start -= 1
                covered.add(ent.start)
        return ents

    def _extends_name(self, doc: Doc, text: str, ent: _Ent, covered: set[int]) -> bool:
        """Whether the word before ``ent`` belongs to the name: a capitalised word that is no
        title or function word, and the name then spelled out by an acronym the text uses
        (`Rete Ferroviaria Italiana` ... `RFI`), or a given name before a person's name, or any
        such word inside a sentence before another kind of name. (A sentence's first word may be
        any word: `Earlier`, `Controversial`.)"""
        i = ent.start - 1
        token = doc[i]
        if i in covered or token.whitespace_ != " " or not (token.is_title and token.is_alpha):
            return False
        if (
            token.is_stop
            or self._is_person_prefix(token.text)
            or token.lower_ in self.titles.portfolios
            or token.lower_ in _MONTHS_AND_DAYS
        ):
            return False
        if _acronym_used(text, doc[i : ent.end]):
            return True
        if ent.label in PERSON_LABELS:
            return self.names.is_given_name(token.text)
        return not _starts_sentence(doc, i)

    # -- the vote --------------------------------------------------------------------------------

    def _vote(self, doc: Doc, ents: list[_Ent], dateline: str | None) -> None:
        groups: dict[str, list[_Ent]] = {}
        shouted: set[int] = set()  # ids of mentions written in capitals
        for ent in ents:
            if ent.label in NUMERIC_LABELS:
                continue
            written = doc[ent.start : ent.end].text
            key = name_key(written)
            if key:
                groups.setdefault(key, []).append(ent)
                if written.isupper():
                    shouted.add(id(ent))
        if not groups:
            return
        context = _Context(
            doc=doc,
            by_start={e.start: e for e in ents},
            by_end={e.end: e for e in ents},
            dateline=f" {name_key(dateline)} " if dateline else "",
            person_words={
                name_key(doc[i].text)
                for e in ents
                if e.label in PERSON_LABELS and e.end - e.start >= 2
                for i in (e.start, e.end - 1)
            },
            alone=groups,
        )
        for key, members in groups.items():
            label = self._label_for(key, members, shouted, context)
            if label is not None:
                for ent in members:
                    ent.label = self._label(label)
        place_tails = _place_tails(doc, ents, name_key)
        for key, members in groups.items():
            if key in place_tails and all(e.label in PERSON_LABELS for e in members):
                # A surname shared with a place the text names in full: a mention in a place's
                # context is the place (`Sergeant Kerry's` ... `a house in Kerry`).
                for ent in members:
                    if self._place_context(ent, key, None, context):
                        ent.label = place_tails[key]

    def _label_for(
        self, key: str, members: list[_Ent], shouted: set[int], context: _Context
    ) -> str | None:
        """The label a name's mentions should all have, or None to leave them as they are."""
        votes: Counter[str] = Counter()
        for ent in members:
            votes[ent.label] += 0.5 if id(ent) in shouted else 1.0
        current = max(votes, key=lambda label: votes[label])  # a tie goes to the first
        if current not in _VOTED_LABELS:
            return None
        # The name as written in running text: headlines in capitals hide its make-up.
        written = [e for e in members if id(e) not in shouted] or members
        longest = max(written, key=lambda e: e.end - e.start)
        if current in PLACE_LABELS and longest.end - longest.start < 2:
            return None  # only a place of two words or more can be a misread person
        words = _words(context.doc[longest.start : longest.end])
        if not words:
            return None
        cue = self._cue(words)
        prefix = self.cues.place_prefixes.get(name_key(words[0])) if len(words) >= 2 else None
        if current in PERSON_LABELS:
            return self._person_or_not(key, members, words, cue, prefix, context)
        if current == "ORG":
            return self._organisation_or_not(key, members, words, cue, prefix, context)
        if (
            self._named_like_person(key, words, cue, prefix)
            and self.names.is_common_given_name(words[0])
            and name_key(words[-1]) in self.names.surnames
        ):
            return "PERSON"
        return None

    def _person_or_not(
        self,
        key: str,
        members: list[_Ent],
        words: list[str],
        cue: _Cue | None,
        prefix: str | None,
        context: _Context,
    ) -> str | None:
        if prefix:
            return prefix
        if cue and cue.strong:
            return cue.label
        if self._person_signal(members, words, cue, context):
            return None
        if cue:
            return cue.label
        place = self._place_label(key, members, words, context)
        if place is not None:
            return place
        mixed_acronym = any(map(_is_acronym, words)) and not all(w.isupper() for w in words)
        if len(words) >= 2 and (mixed_acronym or self.gazetteer.kind(words[-1]) in _REGION_KINDS):
            return "ORG"  # `ETH Zurich`, `Greenpeace Switzerland`
        if any(self._landform_follows(context.doc, e) for e in members):
            return "LOC"  # `the Plaine Morte glacier`
        if any(self._thing_context(context.doc, e) for e in members):
            return "ORG"
        return None

    def _organisation_or_not(
        self,
        key: str,
        members: list[_Ent],
        words: list[str],
        cue: _Cue | None,
        prefix: str | None,
        context: _Context,
    ) -> str | None:
        if cue:
            return cue.label if cue.strong and cue.label != "ORG" else None
        if prefix:
            return prefix
        if self._named_like_person(key, words, cue, prefix) and self._person_over_org(
            members, words, context
        ):
            return "PERSON"
        kind = self.gazetteer.kinds.get(key)
        if kind is None:
            return None
        # A city's name also names its clubs and councils: only a place in context is a place.
        if kind != "city" or any(
            self._place_context(e, key, kind, context, organisation=True) for e in members
        ):
            return self.gazetteer.label(key)
        return None

    def _person_over_org(self, members: list[_Ent], words: list[str], context: _Context) -> bool:
        """Whether a name labelled ORG that reads like a person's is one: the text treats it
        (or its last word alone) as a person, or it is a given name no company is likely to
        take (not also a surname or a place: `Frans Hals`, but not `Morgan Stanley`)."""
        doc = context.doc
        if any(self._thing_context(doc, e) for e in members):
            return False
        if len(words) >= 3 or any(self._person_context(doc, e) for e in members):
            return True
        surname = name_key(words[-1])
        if any(self._person_context(doc, e) for e in context.alone.get(surname, ())):
            return True
        first = words[0]
        return (
            self.names.is_common_given_name(first)
            and name_key(first) not in self.names.surnames
            and self.gazetteer.kind(first) is None
        )

    def _named_like_person(
        self, key: str, words: list[str], cue: _Cue | None, prefix: str | None
    ) -> bool:
        """`Helena Marques Coutinho`, `Frans Hals`: a given name first, then name-like words,
        nothing that is a known place, an acronym or a cue word."""
        return (
            len(words) >= 2
            and cue is None
            and prefix is None
            and self.names.is_given_name(words[0])
            and all(w[:1].isupper() and not _is_acronym(w) for w in words)
            and self.gazetteer.kinds.get(key) is None
            and not any(self.gazetteer.kind(w) in _REGION_KINDS for w in words[1:])
        )

    def _person_signal(
        self, members: list[_Ent], words: list[str], cue: _Cue | None, context: _Context
    ) -> bool:
        if len(words) >= 2 and self.names.is_given_name(words[0]) and not (cue and cue.strong):
            return True
        if len(words) == 1 and name_key(words[0]) in context.person_words:
            return True  # the surname or given name of a person named in full
        return any(self._person_context(context.doc, e) for e in members)

    def _person_context(self, doc: Doc, ent: _Ent) -> bool:
        if ent.start > 0 and self._is_person_prefix(doc[ent.start - 1].text):
            return True
        if (
            ent.start > 1
            and doc[ent.start - 1].text == ","
            and self._is_person_prefix(doc[ent.start - 2].text)
        ):
            return True  # `Norway's fisheries minister, Kari Lunde Haugen`
        after = [t.lower_ for t in doc[ent.end : ent.end + 3]]
        return (
            (after[:1] == [","] and after[1:2] and after[1] in _RELATIVE_PERSON)
            or (after[:1] and after[0] in _SAYING and after[1:2] and after[1] in _PERSONAL_PRONOUNS)
            or _age_follows(doc, ent.end)
        )

    def _landform_follows(self, doc: Doc, ent: _Ent) -> bool:
        after = doc[ent.end] if ent.end < len(doc) else None
        return after is not None and after.is_lower and after.lower_ in self.cues.location_words

    def _thing_context(self, doc: Doc, ent: _Ent) -> bool:
        """`Trenord said it ...`, `Rete Ferroviaria Italiana, which ...`: not a person."""
        after = [t.lower_ for t in doc[ent.end : ent.end + 2]]
        return after == [",", "which"] or (
            len(after) == 2 and after[0] in _SAYING and after[1] in _THING_PRONOUNS
        )

    def _place_label(
        self, key: str, members: list[_Ent], words: list[str], context: _Context
    ) -> str | None:
        """A place label for a name labelled PERSON without person evidence, if it is one:
        a known place (in context when it is also a person's name), or a single word in a
        place's context."""
        kind = self.gazetteer.kinds.get(key)
        in_context = any(self._place_context(e, key, kind, context) for e in members)
        if kind is not None:
            # Out of context only a well-known place that is no one's name (`Dole`, a French
            # town, is also a senator).
            ambiguous = len(words) == 1 and self.names.is_name(words[0])
            out_of_context = self.gazetteer.is_well_known(key) and not ambiguous
            return self.gazetteer.label(key) if in_context or out_of_context else None
        if len(words) == 1 and in_context:
            return "LOC" if any(e.label == "LOC" for e in members) else "GPE"
        return None

    def _place_context(
        self,
        ent: _Ent,
        key: str,
        kind: str | None,
        context: _Context,
        *,
        organisation: bool = False,
    ) -> bool:
        """The dateline names it, a locative preposition comes before it (or before the place
        it is listed with: `in Valais and Ticino`), or a country follows (`Brescia, Italy`)."""
        doc = context.doc
        if context.dateline and f" {key} " in context.dateline:
            return True
        after = doc[ent.end] if ent.end < len(doc) else None
        if after is not None and after.text in _POSSESSIVES:
            return False
        if after is not None and after.text == "," and ent.end + 1 in context.by_start:
            following = context.by_start[ent.end + 1]
            if self.gazetteer.kind(doc[following.start : following.end].text) in {
                "country",
                "us_state",
            }:
                return True
        i = ent.start - 1
        while i > 0 and doc[i].lower_ in _COORDINATION and i in context.by_end:
            head = context.by_end[i]
            head_text = doc[head.start : head.end].text
            if head.label not in PLACE_LABELS and self.gazetteer.kind(head_text) is None:
                return False
            i = head.start - 1
        if i > 0 and doc[i].lower_ == "the":
            i -= 1
        if i < 0:
            return False
        word = doc[i].lower_
        if word in self.cues.locative_prepositions:
            return True
        if organisation and word in self.cues.fixture_prepositions:
            return False  # `Cleveland at Detroit`: clubs
        return kind is not None and word in self.cues.shared_prepositions

    def _cue(self, words: list[str]) -> _Cue | None:
        """The cue word nearest the end of a name, if any (`University of Brescia`: ORG)."""
        for word in reversed(words):
            label = self.cues.kind_word(word)
            if label is not None:
                return _Cue(label, strong=name_key(word) not in self.names.surnames)
        return None


@dataclass(frozen=True, slots=True)
class _Context:
    """What the vote needs to know about the document."""

    doc: Doc
    by_start: dict[int, _Ent]
    by_end: dict[int, _Ent]
    dateline: str
    person_words: set[str]
    # Mentions by name key: a surname's own mentions say whether it is a person's.
    alone: dict[str, list[_Ent]]


def _words(span: Span) -> list[str]:
    """The words of a name; `&` counts as one (`Marks & Spencer` is no person)."""
    return [
        t.text
        for t in span
        if t.text == "&" or not (t.text in _HYPHENS or t.is_punct or t.is_space)
    ]


def _is_acronym(word: str) -> bool:
    return 2 <= len(word) <= 6 and word.isalpha() and word.isupper()


def _starts_sentence(doc: Doc, i: int) -> bool:
    """Whether token ``i`` opens a sentence or paragraph (quotes and brackets skipped)."""
    j = i - 1
    while j >= 0 and doc[j].text in _QUOTES_AND_BRACKETS:
        j -= 1
    return j < 0 or (doc[j].is_space and "\n" in doc[j].text) or doc[j].text in _SENTENCE_ENDS


def _acronym_used(text: str, span: Span) -> bool:
    """Whether the text writes the initials of ``span``'s capitalised words as a word."""
    initials = "".join(t.text[0] for t in span if t.is_title)
    return len(initials) >= 2 and re.search(rf"(?<!\w){initials}(?!\w)", text) is not None


def _written_in_lower_case(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word.lower())}(?!\w)", text) is not None


def _age_follows(doc: Doc, end: int) -> bool:
    """`Declan Fahy (54)`, `Fahy, 54,`: an age after a name."""
    after = [t.text for t in doc[end : end + 3]]
    if len(after) < 3 or (after[0], after[2]) not in {("(", ")"), (",", ",")}:
        return False
    return after[1].isdigit() and 0 < int(after[1]) < 120


@Language.factory(
    COMPONENT,
    default_config={
        "titles": None,
        "particles": list(DEFAULT_PARTICLES),
        "credit_max_words": 5,
        "label_evidence": True,
    },
)
def make_entity_repair(
    nlp: Language,
    name: str,
    titles: str | None,
    particles: list[str],
    credit_max_words: int,
    label_evidence: bool,
) -> EntityRepair:
    loaded_titles = load_titles(Path(titles) if titles else None)
    evidence = None
    # The context rules read English (`in Brescia`, `said it`); other languages keep their labels.
    if label_evidence and nlp.lang == "en":
        evidence = LabelEvidence(
            loaded_titles,
            load_gazetteer(),
            load_person_names(),
            load_cues(),
            _model_labels(nlp),
        )
    return EntityRepair(name, loaded_titles, particles, credit_max_words, evidence)


def _model_labels(nlp: Language) -> frozenset[str]:
    """The entity labels of the pipeline's NER (OntoNotes labels when there is none yet)."""
    if "ner" in nlp.pipe_names:
        return frozenset(nlp.get_pipe("ner").labels)
    return frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "PRODUCT", "NORP"})
