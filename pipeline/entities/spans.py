"""Entity candidates as the repair rules pass them along, and the span tests the rule sets
(``document_rules``, ``label_evidence``, ``organisation_evidence``) share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from spacy.tokens import Doc

from pipeline.entities.lexicon import PLACE_LABELS

NUMERIC_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})
HYPHENS = frozenset({"-", "‐", "‑", "–"})


@dataclass(slots=True)
class Ent:
    """A mutable entity candidate: token offsets and label."""

    start: int
    end: int
    label: str


def is_capitalized(text: str) -> bool:
    return text[:1].isupper() and any(c.isalpha() for c in text)


def last_words_of_places(
    doc: Doc, ents: list[Ent], normalize: Callable[[str], str]
) -> dict[str, str]:
    """The last word of each place named in full (`Co Kerry`, `County Durham`): its label."""
    return {
        normalize(doc[e.end - 1].text): e.label
        for e in ents
        if e.label in PLACE_LABELS and e.end - e.start >= 2
    }
