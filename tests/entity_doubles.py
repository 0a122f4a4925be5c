"""Documents with entities a test sets, for the label-repair rule sets (no statistical model)."""

from __future__ import annotations

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from pipeline.entities import repair


def repair_nlp() -> Language:
    """A blank English pipeline with only the label-repair component."""
    blank = spacy.blank("en")
    blank.add_pipe(repair.COMPONENT)
    return blank


def with_ents(nlp: Language, text: str, *items: tuple[str, str]) -> Doc:
    """``text`` tokenized, with ``items`` ((surface, label), in text order) as its entities."""
    doc = nlp.make_doc(text)
    spans, position = [], 0
    for surface, label in items:
        start = text.index(surface, position)
        span = doc.char_span(start, start + len(surface), label=label)
        assert span is not None, surface
        spans.append(span)
        position = start + len(surface)
    doc.ents = spans
    return doc


def repaired(nlp: Language, doc: Doc) -> list[tuple[str, str]]:
    return [(e.text, e.label_) for e in nlp.get_pipe(repair.COMPONENT)(doc).ents]
