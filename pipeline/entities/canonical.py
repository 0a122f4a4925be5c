"""Canonical entities: one entity per real-world thing in an article, with its salience.

Pure functions over plain data (text, title, entity spans), so they can be tested without spaCy:

- ``canonicalize`` groups name mentions into entities: by normalized name, through the alias
  table, surnames and possessives onto the full name, transliteration and spelling variants by
  fuzzy matching (rapidfuzz), acronyms onto the organisation they abbreviate; one label per
  entity by vote.
- ``role_mentions`` finds later references by job title (`the Secretary of State`) to a person
  introduced with that title (`US Secretary of State John Kerry`).
- ``salience`` scores each entity from its count, first position, title presence and spread.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from pipeline.entities.lexicon import (
    PERSON_LABELS,
    PLACE_LABELS,
    AliasTable,
    Titles,
    load_titles,
    name_key,
    surface_form,
)
from pipeline.events import Entity, Mention

# Labels that are quantities rather than things an article is about.
NUMERIC_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})
MODIFIER_LABELS = frozenset({"GPE", "NORP"})

# Fuzzy thresholds (rapidfuzz ratio, 0..100).
SAME_FULL_NAME = 90  # `Sergey Lavrov` ~ `Sergei Lavrov` scores 92
SAME_SURNAME = 88
SAME_GIVEN_NAME = 75  # `Sergey` ~ `Sergei` scores 83
SAME_OTHER_NAME = 92
MIN_FUZZY_LENGTH = 5

# Salience weights; they sum to 1 so the score stays in 0..1.
SALIENCE_WEIGHTS = {"count": 0.4, "title": 0.25, "position": 0.15, "spread": 0.2}
# Nationalities and religions mostly modify what a story is about (`Saudi officials`): their
# salience is scaled down.
LABEL_SALIENCE = {"NORP": 0.5}
# A news outlet cited as a source (`said KCNA`, `told The Huffington Post`) is where the story
# comes from, not what it is about: its salience is scaled down.
SOURCE_SALIENCE = 0.5
_OUTLET = re.compile(
    r"(?i)news\b|\b(?:agency|post|times|press|journal|herald|telegraph|tribune|gazette|"
    r"guardian|radio|television|tv|broadcasting|newspaper)\b"
)
_CITED_AFTER = re.compile(
    r"(?i)(?:\baccording to|\btold|\bquoting|\bsaid|\badded|\breported|\b(?:seen|cited|quoted) by)"
    r"\s+(?:the\s+)?$"
)
_CITED_BEFORE = re.compile(r"^\s+(?:said|says|reported|reports|has learned|learned|added)\b")
_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "lord", "lady"})
_HONORIFIC = re.compile(rf"^(?:{'|'.join(sorted(_HONORIFICS))})\s+")
# A picture's credit: `Image: Nick Moreau`, `Photo: AP`.
_CREDIT = re.compile(r"\b(?:Image|Photo|Photograph|Picture|Credit)s?\s*:")
_LINE = re.compile(r"[^\n]+")
_ACRONYM_SKIP = frozenset({"of", "the", "and", "for", "in", "on", "de", "&"})
_WORD = re.compile(r"\S+")
_WORD_CHARS = re.compile(r"\w+")
_ABBREVIATION = re.compile(r"^(?:[A-Z]\.)+$")
_CONNECTORS = frozenset({"of", "to", "for"})
_NAME_PARTICLES = frozenset({"van", "von", "de", "da", "der", "den", "du", "dos", "del", "bin",
                             "ibn", "al", "el", "la", "le", "di", "ter", "y"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Span:
    """One entity mention: its text, label and character offsets into the article text."""

    text: str
    label: str
    start: int
    end: int


@dataclass(slots=True)
class _Cluster:
    """Mentions believed to name one thing, while they are being grouped."""

    mentions: list[Span] = field(default_factory=list)
    alias_name: str | None = None
    alias_label: str | None = None
    # Set once the cluster holds a person's full name: surnames joined to it, whatever their
    # labels, are that person.
    person: bool = False

    def label(self) -> str:
        """The alias table's label, else the mentions' vote. Mentions in capitals (headlines,
        datelines) count half, as models label them poorly; a tie goes to the first mention."""
        if self.person:
            labels = Counter(m.label for m in self.mentions if m.label in PERSON_LABELS)
            return labels.most_common(1)[0][0]
        if self.alias_label:
            return self.alias_label
        votes: Counter[str] = Counter()
        first: dict[str, int] = {}
        for order, mention in enumerate(sorted(self.mentions, key=lambda m: m.start)):
            shouted = mention.text.isupper()
            votes[mention.label] += 0.5 if shouted else 1.0
            first.setdefault(mention.label, order + (len(self.mentions) if shouted else 0))
        return max(votes, key=lambda lb: (votes[lb], -first[lb]))

    def name_keys(self) -> set[str]:
        return {_person_key(m.text) for m in self.mentions}

    def full_name_keys(self) -> set[str]:
        """Keys of mentions written as a full name (`John Kerry`, `Ludwig van Beethoven`)."""
        return {_person_key(m.text) for m in self.mentions if is_full_name(surface_form(m.text))}


def is_full_name(text: str) -> bool:
    """Capitalized given name and surname, maybe particles between; not in capitals."""
    words = text.split()
    if words and words[0].casefold().rstrip(".") in _HONORIFICS:
        words = words[1:]
    if len(words) < 2 or text.isupper():
        return False
    inner = words[1:-1]
    return (
        _is_name_word(words[0])
        and _is_name_word(words[-1])
        and all(_is_name_word(w) or w in _NAME_PARTICLES for w in inner)
    )


def _is_name_word(word: str) -> bool:
    return word[:1].isupper() and any(c.isalpha() for c in word)


def _person_key(text: str) -> str:
    return _HONORIFIC.sub("", name_key(text))


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def same_person(a: str, b: str) -> bool:
    """Whether two full-name keys (see ``name_key``) name one person, allowing spelling variants."""
    if a == b or fuzz.ratio(a, b) >= SAME_FULL_NAME:
        return True
    ta, tb = a.split(), b.split()
    if len(ta) < 2 or len(tb) < 2 or fuzz.ratio(ta[-1], tb[-1]) < SAME_SURNAME:
        return False
    first_a, first_b = ta[0], tb[0]
    if first_a[0] != first_b[0]:
        return False
    return (
        min(len(first_a), len(first_b)) == 1  # an initial: `J Kerry`
        or first_a.startswith(first_b)
        or first_b.startswith(first_a)
        or fuzz.ratio(first_a, first_b) >= SAME_GIVEN_NAME
    )


def _acronym(key: str) -> str:
    return "".join(word[0] for word in key.split() if word not in _ACRONYM_SKIP)


def _group_by_name(spans: Iterable[Span], aliases: AliasTable | None) -> list[_Cluster]:
    """First pass: mentions sharing a normalized name (or an alias entry) form one cluster."""
    by_key: dict[str, _Cluster] = {}
    for span in spans:
        if span.label in NUMERIC_LABELS:
            continue
        key = _person_key(span.text) if span.label in PERSON_LABELS else name_key(span.text)
        if not key:
            continue
        entry = aliases.lookup(key) if aliases else None
        if entry is not None:
            key = "alias:" + name_key(entry.name)
        cluster = by_key.setdefault(key, _Cluster())
        cluster.mentions.append(span)
        if entry is not None:
            cluster.alias_name, cluster.alias_label = entry.name, entry.label
    return list(by_key.values())


def _join_people(clusters: list[_Cluster]) -> list[_Cluster]:
    """Join spelling variants of full names, then surnames onto the full name they shorten,
    and a lone given name onto the only person who has it."""
    full_keys = {
        i: c.full_name_keys() for i, c in enumerate(clusters) if c.label() in PERSON_LABELS
    }
    full = [i for i, keys in full_keys.items() if keys]
    for i in full:
        clusters[i].person = True
    joined = _UnionFind(len(clusters))
    for n, i in enumerate(full):
        for j in full[n + 1 :]:
            if any(same_person(a, b) for a in full_keys[i] for b in full_keys[j]):
                joined.union(i, j)
    surname_of: dict[int, set[str]] = {}
    given_name_of: dict[int, set[str]] = {}
    for i in full:
        surname_of.setdefault(joined.find(i), set()).update(k.split()[-1] for k in full_keys[i])
        given_name_of.setdefault(joined.find(i), set()).update(k.split()[0] for k in full_keys[i])
    # Single words (whatever their label: a surname labelled ORG is still the person) and
    # possessives join the one person whose surname they are; between two people with that
    # surname, each mention goes to the one named most recently before it.
    moved: dict[int, list[tuple[int, Span]]] = {}
    full_set = set(full)
    # The last word of a place named in full (`Co Kerry`) that is also a person's surname
    # (`Sergeant Niall Kerry`): its mentions labelled as a place go to the place.
    place_tails = {
        key.split()[-1]: i
        for i, cluster in enumerate(clusters)
        if cluster.label() in PLACE_LABELS
        for key in cluster.name_keys()
        if len(key.split()) >= 2
    }
    for i, cluster in enumerate(clusters):
        keys = cluster.name_keys()
        if i in full_set or any(len(k.split()) != 1 for k in keys) or cluster.alias_name:
            continue
        word = next(iter(keys))
        owners = [root for root, names in surname_of.items() if _matches_surname(word, names)]
        if not owners and cluster.label() in PERSON_LABELS:
            # A given name alone (`Ahmed` after `Ahmed Mohamed`) names the one person with it.
            given = [root for root, names in given_name_of.items() if word in names]
            owners = given if len(given) == 1 else []
        place = place_tails.get(word)
        if owners and place is not None and any(m.label in PLACE_LABELS for m in cluster.mentions):
            moved[i] = [
                (
                    place
                    if mention.label in PLACE_LABELS
                    else _nearest_owner(mention, owners, clusters, joined),
                    mention,
                )
                for mention in cluster.mentions
            ]
        elif len(owners) == 1:
            joined.union(owners[0], i)
        elif owners:
            moved[i] = [
                (_nearest_owner(mention, owners, clusters, joined), mention)
                for mention in cluster.mentions
            ]
    return _merge(clusters, joined, moved)


def _matches_surname(word: str, surnames: set[str]) -> bool:
    return word in surnames or (
        len(word) >= MIN_FUZZY_LENGTH
        and any(fuzz.ratio(word, s) >= SAME_SURNAME for s in surnames if s[0] == word[0])
    )


def _nearest_owner(
    mention: Span, owners: list[int], clusters: list[_Cluster], joined: _UnionFind
) -> int:
    """Of the people a surname may belong to, the one named last before ``mention``."""

    def last_before(owner: int) -> int:
        root = joined.find(owner)
        starts = [
            m.start
            for i, c in enumerate(clusters)
            if joined.find(i) == root
            for m in c.mentions
            if m.start < mention.start
        ]
        return max(starts, default=-1)

    return max(owners, key=last_before)


def _merge(
    clusters: list[_Cluster], joined: _UnionFind, moved: dict[int, list[tuple[int, Span]]]
) -> list[_Cluster]:
    merged: dict[int, _Cluster] = {}
    for i, cluster in enumerate(clusters):
        if i in moved:
            continue
        target = merged.setdefault(joined.find(i), _Cluster())
        target.mentions.extend(cluster.mentions)
        target.person = target.person or cluster.person
        if cluster.alias_name and not target.alias_name:
            target.alias_name, target.alias_label = cluster.alias_name, cluster.alias_label
    for pairs in moved.values():
        for root, mention in pairs:
            merged.setdefault(joined.find(root), _Cluster()).mentions.append(mention)
    return list(merged.values())


def _join_variants(clusters: list[_Cluster]) -> list[_Cluster]:
    """Join non-person spelling variants (same label) and acronyms onto what they abbreviate."""
    joined = _UnionFind(len(clusters))
    labels = [c.label() for c in clusters]
    keys = [name_key(c.alias_name) if c.alias_name else _main_key(c) for c in clusters]
    for i in range(len(clusters)):
        if labels[i] in PERSON_LABELS:
            continue
        for j in range(i + 1, len(clusters)):
            if labels[j] != labels[i] or (clusters[i].alias_name and clusters[j].alias_name):
                continue
            a, b = keys[i], keys[j]
            similar = (
                min(len(a), len(b)) >= MIN_FUZZY_LENGTH and fuzz.ratio(a, b) >= SAME_OTHER_NAME
            )
            if similar or _is_acronym_of(clusters[i], b) or _is_acronym_of(clusters[j], a):
                joined.union(i, j)
    for short, long in _short_forms(keys, labels):
        joined.union(short, long)
    return _merge(clusters, joined, {})


def _short_forms(keys: list[str], labels: list[str]) -> Iterator[tuple[int, int]]:
    """(short, long) pairs: the first or last word of an organisation named `X of Y` names it
    alone (`the Church`, `Scientology` for `Church of Scientology`) when it is the only such
    organisation of the article with that word."""
    long_names: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        words = key.split()
        if labels[i] == "ORG" and len(words) >= 3 and "of" in words[1:-1]:
            for word in {words[0], words[-1]}:
                long_names.setdefault(word, []).append(i)
    if not long_names:
        return
    for i, key in enumerate(keys):
        found = long_names.get(key, []) if labels[i] == "ORG" else []
        if len(found) == 1:
            yield i, found[0]


def _main_key(cluster: _Cluster) -> str:
    return Counter(name_key(m.text) for m in cluster.mentions).most_common(1)[0][0]


def _is_acronym_of(short: _Cluster, long_key: str) -> bool:
    """`NSI` abbreviates `National Strategy Institute` (written in capitals, 2 to 6 letters)."""
    text = surface_form(short.mentions[0].text).replace(".", "")
    if not (2 <= len(text) <= 6 and text.isalpha() and text.isupper()):
        return False
    return len(long_key.split()) >= 2 and _acronym(long_key) == text.casefold()


def _display_name(cluster: _Cluster, label: str) -> str:
    if cluster.alias_name:
        return cluster.alias_name
    forms = Counter(surface_form(m.text) for m in cluster.mentions)
    first = {}
    for m in sorted(cluster.mentions, key=lambda m: m.start):
        first.setdefault(surface_form(m.text), m.start)
    if label in PERSON_LABELS:
        # The fullest form names a person best (`John Kerry` over `Mr. Kerry`); among equally
        # full forms, the most used, then the first used.
        return max(
            forms,
            key=lambda f: (is_full_name(f), len(_person_key(f).split()), forms[f], -first[f]),
        )
    # `Church of Scientology` names the entity better than `the Church`, however often used.
    return max(forms, key=lambda f: (not _is_short_form(f, forms), forms[f], -first[f]))


def _is_short_form(form: str, forms: Iterable[str]) -> bool:
    """Whether ``form`` is the first or last word of another form named `X of Y`."""
    if " " in form:
        return False
    for other in forms:
        words = other.split()
        if len(words) >= 3 and "of" in words[1:-1] and form in (words[0], words[-1]):
            return True
    return False


def _role_before(text: str, start: int, titles: Titles, modifiers: Sequence[Span]) -> str | None:
    """A job title written right before a name (`US Secretary of State John Kerry`), without
    leading nationality modifiers: `Secretary of State`."""
    window = max(0, start - 120)
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, window, start)]
    if window > 0 and words:
        words.pop(0)  # may be cut by the window
    title: list[tuple[int, int]] = []
    expected_end = start - 1
    for w_start, w_end in reversed(words):
        word = text[w_start:w_end]
        if w_end != expected_end or text[w_end : expected_end + 1] != " ":
            break
        if not (word in _CONNECTORS and title) and not _is_title_word(word, titles):
            break
        title.insert(0, (w_start, w_end))
        expected_end = w_start - 1
    while title and text[title[0][0] : title[0][1]] in _CONNECTORS:
        title.pop(0)
    while title and (
        text[title[0][0] : title[0][1]] == "The"
        or any(m.start <= title[0][0] and title[0][1] <= m.end for m in modifiers)
    ):
        title.pop(0)
    if not title or not any(text[s:e].casefold() in titles.person_roles for s, e in title):
        return None
    role = text[title[0][0] : title[-1][1]]
    return role if role[:1].isupper() or len(title) >= 2 else None


def _is_title_word(word: str, titles: Titles) -> bool:
    if word.casefold() in titles.person_roles:
        return True
    if _ABBREVIATION.match(word):
        return True
    return word[:1].isupper() and word[-1:].isalnum() and not word.endswith("'s")


def role_mentions(
    text: str, people: Sequence[Sequence[Span]], modifiers: Sequence[Span], titles: Titles
) -> list[list[Span]]:
    """Later references by title to each person introduced with that title.

    ``people`` holds each person's name mentions; the result holds, per person, the title
    mentions found (`the Secretary of State`). A title given to two people is ambiguous and
    ignored; a title followed by a name or by `of`/`to` (a longer title) is not a reference.
    """
    owners: dict[str, set[int]] = {}
    for index, mentions in enumerate(people):
        for mention in mentions:
            role = _role_before(text, mention.start, titles, modifiers)
            if role:
                owners.setdefault(role, set()).add(index)
    found: list[list[Span]] = [[] for _ in people]
    names = [(m.start, m.end) for mentions in people for m in mentions]
    for role, indexes in owners.items():
        if len(indexes) != 1:
            continue
        owner = next(iter(indexes))
        # `The Secretary of State` or `the chancellor`: the first letter's case may differ.
        pattern = re.compile(rf"(?<!\w)(?i:{re.escape(role[0])}){re.escape(role[1:])}(?!\w)")
        for match in pattern.finditer(text):
            s, e = match.span()
            if any(ns < e and s < ne for ns, ne in names):
                continue
            if _continues_title(text, e) or not _preceded_by_determiner(text, s, modifiers):
                continue
            found[owner].append(Span(match.group(), "PERSON", s, e))
    return found


def _continues_title(text: str, end: int) -> bool:
    """`Foreign Minister of Germany` or `Secretary of State John Kerry`: not a bare title."""
    return re.match(r"(?:,?[ \t]+[A-Z]|[ \t]+(?:of|to|for)\b)", text[end : end + 40]) is not None


def _preceded_by_determiner(text: str, start: int, modifiers: Sequence[Span]) -> bool:
    position = start
    while True:
        before = text[max(0, position - 60) : position]
        modifier = next((m for m in modifiers if m.end == position - 1), None)
        if modifier is not None and before.endswith(" "):
            position = modifier.start
            continue
        return re.search(r"(?<!\w)[Tt]he $", before) is not None


def _paragraph_starts(text: str) -> list[int]:
    starts = [0] + [m.end() for m in re.finditer(r"\n\s*\n", text)]
    if len(starts) >= 3:
        return starts
    # Short texts: equal quarters stand in for paragraphs.
    return [len(text) * q // 4 for q in range(4)]


def salience(
    count: int, max_count: int, first_offset: int, text_length: int, in_title: bool, spread: float
) -> float:
    """0..1: how central an entity is to the article."""
    position = 1.0 - min(first_offset / max(text_length, 1), 1.0)
    score = (
        SALIENCE_WEIGHTS["count"] * count / max(max_count, 1)
        + SALIENCE_WEIGHTS["title"] * float(in_title)
        + SALIENCE_WEIGHTS["position"] * position
        + SALIENCE_WEIGHTS["spread"] * spread
    )
    return round(min(max(score, 0.0), 1.0), 4)


def _words(text: str) -> str:
    """Words of ``text`` between spaces, for whole-word matching by substring search."""
    return " " + " ".join(_WORD_CHARS.findall(text)) + " "


def _title_spans(
    title_words: str, shouted: bool, cluster: _Cluster, name: str, label: str
) -> list[tuple[int, int]]:
    """Where the entity's forms (a person's surname among them) occur in the title's words."""
    if not title_words.strip():
        return []
    forms = {surface_form(m.text) for m in cluster.mentions} | {name}
    if label in PERSON_LABELS:
        forms |= {f.split()[-1] for f in forms if len(f.split()) >= 2}
    spans = []
    for form in forms:
        needle = _words(form.casefold() if shouted else form)
        if not needle.strip():
            continue
        start = title_words.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = title_words.find(needle, start + 1)
    return spans


def _in_title(spans_by_entity: list[list[tuple[int, int]]]) -> list[bool]:
    """Whether each entity is named in the title: by words that are not only part of a longer
    name of another entity there (`Mohamed` of `Ahmed Mohamed` is not his father's, `North` of
    `North Korea` not a region's)."""

    def inside_another(i: int, start: int, end: int) -> bool:
        return any(
            other <= start and end <= other_end and other_end - other > end - start
            for j, spans in enumerate(spans_by_entity)
            if j != i
            for other, other_end in spans
        )

    return [
        any(not inside_another(i, start, end) for start, end in spans)
        for i, spans in enumerate(spans_by_entity)
    ]


def canonicalize(
    spans: Iterable[Span],
    text: str = "",
    title: str | None = None,
    aliases: AliasTable | None = None,
    titles: Titles | None = None,
) -> list[Entity]:
    """One entity per real-world thing in the article, most salient first."""
    titles = titles or load_titles()
    spans = list(spans)
    clusters = _join_variants(_join_people(_group_by_name(spans, aliases)))
    labels = [c.label() for c in clusters]
    people = [i for i, label in enumerate(labels) if label in PERSON_LABELS]
    modifiers = [s for s in spans if s.label in MODIFIER_LABELS]
    roles = role_mentions(text, [clusters[i].mentions for i in people], modifiers, titles)
    role_spans = dict(zip(people, roles, strict=True))

    shouted = bool(title) and title.isupper()
    title_words = _words((title.casefold() if shouted else title) if title else "")
    paragraph_starts = _paragraph_starts(text)
    captions = _caption_lines(text)
    names = [_display_name(cluster, labels[i]) for i, cluster in enumerate(clusters)]
    in_title = _in_title(
        [
            _title_spans(title_words, shouted, cluster, names[i], labels[i])
            for i, cluster in enumerate(clusters)
        ]
    )
    built = []
    for i, cluster in enumerate(clusters):
        mentions = sorted(
            [Mention(m.start, m.end, m.text, "name") for m in cluster.mentions]
            + [Mention(m.start, m.end, m.text, "role") for m in role_spans.get(i, [])],
            key=lambda m: m.start,
        )
        counted = [m.start for m in mentions if not _in_ranges(captions, m.start)]
        weight = LABEL_SALIENCE.get(labels[i], 1.0)
        if _is_cited_outlet(cluster, labels[i], text):
            weight *= SOURCE_SALIENCE
        built.append(_Built(names[i], labels[i], mentions, in_title[i], counted, weight))
    max_count = max((len(b.counted) for b in built), default=1)
    entities = []
    for b in built:
        counted = b.counted or [len(text)]
        spread = len({_section(paragraph_starts, s) for s in counted}) / len(paragraph_starts)
        score = salience(len(b.counted), max_count, min(counted), len(text), b.in_title, spread)
        score = round(score * b.weight, 4)
        entities.append(
            Entity(
                name=b.name,
                label=b.label,
                count=len(b.mentions),
                mentions=b.mentions,
                first_offset=b.mentions[0].start,
                in_title=b.in_title,
                salience=score,
            )
        )
    entities.sort(key=lambda e: (-e.salience, e.first_offset))
    return entities


@dataclass(slots=True)
class _Built:
    """An entity as salience sees it: ``counted`` holds the starts of the mentions that count
    (not those in picture captions and credits)."""

    name: str
    label: str
    mentions: list[Mention]
    in_title: bool
    counted: list[int]
    weight: float  # the label's share of salience, halved for a cited news outlet


def _is_cited_outlet(cluster: _Cluster, label: str, text: str) -> bool:
    """A news organisation cited as a source somewhere in the article."""
    if label != "ORG" or not any(_OUTLET.search(m.text) for m in cluster.mentions):
        return False
    return any(
        _CITED_AFTER.search(text[max(0, m.start - 40) : m.start])
        or _CITED_BEFORE.match(text[m.end : m.end + 20])
        for m in cluster.mentions
    )


def _caption_lines(text: str) -> list[tuple[int, int]]:
    """Lines holding a picture's caption or credit (`... Image: Nick Moreau.`): the people and
    places in them are the picture's, not the story's."""
    if not _CREDIT.search(text):
        return []
    return [(m.start(), m.end()) for m in _LINE.finditer(text) if _CREDIT.search(m.group())]


def _in_ranges(ranges: list[tuple[int, int]], offset: int) -> bool:
    """Whether ``offset`` falls in one of ``ranges`` (sorted, not overlapping)."""
    i = bisect.bisect_right(ranges, (offset, math.inf)) - 1
    return i >= 0 and ranges[i][0] <= offset < ranges[i][1]


def _section(starts: list[int], offset: int) -> int:
    return bisect.bisect_right(starts, offset) - 1
