"""The second rule set of label repair: label evidence (English pipelines).

Span edges are fixed, then each name gets one label by a vote that weighs person, place and
organisation signals: known places, given names, cue words, the article's dateline and the words
around each mention. The word lists come from ``pipeline.entities.evidence``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from spacy.tokens import Doc, Span, Token

from pipeline.entities.evidence import Gazetteer, LabelCues, PersonNames
from pipeline.entities.lexicon import PERSON_LABELS, PLACE_LABELS, Titles, name_key
from pipeline.entities.spans import (
    HYPHENS,
    NUMERIC_LABELS,
    Ent,
    is_capitalized,
    last_words_of_places,
)

# Labels a part of a person's name gets by mistake (`Marta` GPE, `Figueiredo` GPE); not NORP:
# `Roman Catholic`.
_NAME_LABELS = frozenset({*PERSON_LABELS, "ORG", "GPE", "LOC", "FAC"})
# Labels whose names the vote reconsiders (NORP, events, works and laws keep theirs).
_VOTED_LABELS = frozenset({*PERSON_LABELS, "ORG", *PLACE_LABELS})
# Labels of names whose edges are trimmed (works, events and products may end in a number).
_EDGED_LABELS = frozenset({*_VOTED_LABELS, "NORP", "FAC"})
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

    def apply(self, doc: Doc, text: str, ents: list[Ent], dateline: str | None) -> list[Ent]:
        ents = self._add_names_after_titles(doc, ents)
        self._trim_name_edges(doc, text, ents)
        ents = self._trim_person_affixes(doc, ents)
        ents = self._drop_capitalised_words(doc, text, ents)
        ents = self._join_given_name_pairs(doc, ents)
        ents = self._extend_capitalised_runs(doc, text, ents)
        self._vote(doc, ents, dateline)
        return ents

    # -- span edges ------------------------------------------------------------------------------

    def _is_person_prefix(self, word: str) -> bool:
        return name_key(word) in self.cues.honorifics or word.casefold() in self.titles.person_roles

    def _trim_person_affixes(self, doc: Doc, ents: list[Ent]) -> list[Ent]:
        for ent in ents:
            if ent.label not in PERSON_LABELS:
                continue
            while ent.end - ent.start > 1 and self._is_person_prefix(doc[ent.start].text):
                ent.start += 1
            while ent.end - ent.start > 1 and self._is_post_nominal(doc[ent.end - 1].text):
                ent.end -= 1
        return ents

    def _trim_name_edges(self, doc: Doc, text: str, ents: list[Ent]) -> None:
        """A mention is the name alone: not a possessive, a number, punctuation or lower-case
        words after it (`Air France's`, `Dublin Newsroom +353`, `Interfax news agency`), nor a
        sentence's capitalised `The` before it (`The State Department said`) unless the text
        writes it inside a sentence too or it is a place's (`The Hague`)."""
        inside: set[str] | None = None  # names written after a `The` inside a sentence
        for ent in ents:
            if ent.label not in _EDGED_LABELS or doc[ent.start].is_lower:
                continue  # `west coast` is no name with a tail
            while ent.end - ent.start > 1 and _is_trailing_extra(doc[ent.end - 1], ent.label):
                ent.end -= 1
            if (
                ent.end - ent.start > 1
                and doc[ent.start].text == "The"
                and _starts_sentence(doc, ent.start)
                and self.gazetteer.kind(doc[ent.start : ent.end].text) is None
            ):
                if inside is None:
                    inside = _names_after_inner_the(doc)
                if doc[ent.start + 1 : ent.end].text not in inside:
                    ent.start += 1

    def _add_names_after_titles(self, doc: Doc, ents: list[Ent]) -> list[Ent]:
        """A full name right after a title that the model left out (`Detective Sergeant Niall
        Kerry`): two or three capitalised words, the first a given name, none in an entity."""
        covered = {i for e in ents for i in range(e.start, e.end)}
        added: list[Ent] = []
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
                added.append(Ent(i, end, self._label("PERSON")))
            i = max(end, i + 1)
        return sorted(ents + added, key=lambda e: e.start) if added else ents

    def _is_post_nominal(self, word: str) -> bool:
        return word[:1].isupper() and name_key(word) in self.cues.post_nominals

    def _drop_capitalised_words(self, doc: Doc, text: str, ents: list[Ent]) -> list[Ent]:
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

    def _join_given_name_pairs(self, doc: Doc, ents: list[Ent]) -> list[Ent]:
        out: list[Ent] = []
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
                out[-1] = Ent(before.start, ent.end, self._label("PERSON"))
                continue
            out.append(ent)
        return out

    def _is_given_name_alone(self, word: str) -> bool:
        return (
            is_capitalized(word)
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

    def _extend_capitalised_runs(self, doc: Doc, text: str, ents: list[Ent]) -> list[Ent]:
        covered = {i for e in ents for i in range(e.start, e.end)}
        for ent in ents:
            if ent.label in NUMERIC_LABELS or not doc[ent.start].is_title:
                continue
            while ent.start > 0 and self._extends_name(doc, text, ent, covered):
                ent.start -= 1
                covered.add(ent.start)
        return ents

    def _extends_name(self, doc: Doc, text: str, ent: Ent, covered: set[int]) -> bool:
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

    def _vote(self, doc: Doc, ents: list[Ent], dateline: str | None) -> None:
        groups: dict[str, list[Ent]] = {}
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
        place_tails = last_words_of_places(doc, ents, name_key)
        for key, members in groups.items():
            if key in place_tails and all(e.label in PERSON_LABELS for e in members):
                # A surname shared with a place the text names in full: a mention in a place's
                # context is the place (`Sergeant Kerry's` ... `a house in Kerry`).
                for ent in members:
                    if self._place_context(ent, key, None, context):
                        ent.label = place_tails[key]

    def _label_for(
        self, key: str, members: list[Ent], shouted: set[int], context: _Context
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
        members: list[Ent],
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
        members: list[Ent],
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

    def _person_over_org(self, members: list[Ent], words: list[str], context: _Context) -> bool:
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
        self, members: list[Ent], words: list[str], cue: _Cue | None, context: _Context
    ) -> bool:
        if len(words) >= 2 and self.names.is_given_name(words[0]) and not (cue and cue.strong):
            return True
        if len(words) == 1 and name_key(words[0]) in context.person_words:
            return True  # the surname or given name of a person named in full
        return any(self._person_context(context.doc, e) for e in members)

    def _person_context(self, doc: Doc, ent: Ent) -> bool:
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

    def _landform_follows(self, doc: Doc, ent: Ent) -> bool:
        after = doc[ent.end] if ent.end < len(doc) else None
        return after is not None and after.is_lower and after.lower_ in self.cues.location_words

    def _thing_context(self, doc: Doc, ent: Ent) -> bool:
        """`Trenord said it ...`, `Rete Ferroviaria Italiana, which ...`: not a person."""
        after = [t.lower_ for t in doc[ent.end : ent.end + 2]]
        return after == [",", "which"] or (
            len(after) == 2 and after[0] in _SAYING and after[1] in _THING_PRONOUNS
        )

    def _place_label(
        self, key: str, members: list[Ent], words: list[str], context: _Context
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
        ent: Ent,
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
    by_start: dict[int, Ent]
    by_end: dict[int, Ent]
    dateline: str
    person_words: set[str]
    # Mentions by name key: a surname's own mentions say whether it is a person's.
    alone: dict[str, list[Ent]]


def _words(span: Span) -> list[str]:
    """The words of a name; `&` counts as one (`Marks & Spencer` is no person)."""
    return [
        t.text for t in span if t.text == "&" or not (t.text in HYPHENS or t.is_punct or t.is_space)
    ]


def _is_acronym(word: str) -> bool:
    return 2 <= len(word) <= 6 and word.isalpha() and word.isupper()


def _starts_sentence(doc: Doc, i: int) -> bool:
    """Whether token ``i`` opens a sentence or paragraph (quotes and brackets skipped)."""
    j = i - 1
    while j >= 0 and doc[j].text in _QUOTES_AND_BRACKETS:
        j -= 1
    return j < 0 or (doc[j].is_space and "\n" in doc[j].text) or doc[j].text in _SENTENCE_ENDS


def _is_trailing_extra(token: Token, label: str) -> bool:
    """A possessive, punctuation, lower-case word or (but for an organisation's one-or-two
    digit number: `Channel 4`) a number at a name's end is none of its part."""
    if token.text in _POSSESSIVES or (token.is_lower and token.is_alpha):
        return True
    if any(c.isalpha() for c in token.text):
        return False
    return label != "ORG" or not (token.is_digit and len(token.text) <= 2)


def _names_after_inner_the(doc: Doc) -> set[str]:
    """The runs of one to five words after each capitalised `The` that does not open a sentence
    (`in The Hague`): names that own their `The`."""
    found = set()
    for i, token in enumerate(doc[:-1]):
        if token.text == "The" and not _starts_sentence(doc, i):
            found.update(doc[i + 1 : end].text for end in range(i + 2, min(i + 7, len(doc) + 1)))
    return found


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
