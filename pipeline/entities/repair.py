"""Label repair: a spaCy component that fixes the usual failures of statistical NER on news.

Registered as ``wirestream_entity_repair`` and added after ``ner`` by ``load_nlp``. Every rule is
general and works on one document at a time. Three rule sets, each in its module:

- ``pipeline.entities.document_rules``: what the same document says (hyphenated places, titles,
  glued names, surnames, closing credit lines, line breaks);
- ``pipeline.entities.label_evidence`` (English pipelines): span edges fixed, then one label per
  name by a vote that weighs person, place and organisation signals, using word lists from
  installed packages and the article's dateline (``doc.user_data[DATELINE]``);
- ``pipeline.entities.organisation_evidence`` (English pipelines, after the vote): legal forms,
  club names, acronyms defined in the text and teams in sports results are organisations.

``predict`` computes the new entity spans without touching the documents and
``set_annotations`` writes them, as spaCy's own components do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans, minibatch

from pipeline.entities.document_rules import (
    DEFAULT_PARTICLES,
    DocumentRules,
    drop_leading_articles,
    split_at_line_breaks,
)
from pipeline.entities.evidence import load_cues, load_gazetteer, load_person_names
from pipeline.entities.label_evidence import LabelEvidence
from pipeline.entities.lexicon import load_titles
from pipeline.entities.organisation_evidence import OrganisationEvidence
from pipeline.entities.spans import Ent

COMPONENT = "wirestream_entity_repair"
# ``doc.user_data`` key under which the NER stage hands over the article's dateline: the place
# it names is place evidence.
DATELINE = "wirestream_dateline"


class EntityRepair:
    """Rewrites ``doc.ents`` by the three rule sets, in the order of ``_repair``."""

    def __init__(
        self,
        name: str,
        rules: DocumentRules,
        evidence: LabelEvidence | None = None,
        organisations: OrganisationEvidence | None = None,
    ) -> None:
        self.name = name
        self.rules = rules
        self.evidence = evidence
        self.organisations = organisations

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
        rules = self.rules
        ents = split_at_line_breaks(doc, [Ent(e.start, e.end, e.label_) for e in doc.ents])
        ents = rules.join_hyphenated_places(doc, text, ents)
        ents = rules.drop_titles(doc, ents)
        ents = rules.split_glued_names(doc, ents)
        if self.evidence is not None:
            ents = self.evidence.apply(doc, text, ents, doc.user_data.get(DATELINE))
        if self.organisations is not None:
            ents = self.organisations.apply(doc, text, ents)
        rules.relabel_surnames(doc, ents)
        rules.label_closing_lines(doc, text, ents)
        drop_leading_articles(doc, ents)
        return [(e.start, e.end, e.label) for e in ents if e.end > e.start]


@Language.factory(
    COMPONENT,
    default_config={
        "titles": None,
        "particles": list(DEFAULT_PARTICLES),
        "credit_max_words": 5,
        "label_evidence": True,
        "organisation_evidence": True,
    },
)
def make_entity_repair(
    nlp: Language,
    name: str,
    titles: str | None,
    particles: list[str],
    credit_max_words: int,
    label_evidence: bool,
    organisation_evidence: bool,
) -> EntityRepair:
    loaded_titles = load_titles(Path(titles) if titles else None)
    evidence, organisations = None, None
    # The context rules read English (`in Brescia`, `said it`); other languages keep their labels.
    if nlp.lang == "en" and (label_evidence or organisation_evidence):
        gazetteer, names, cues = load_gazetteer(), load_person_names(), load_cues()
        labels = _model_labels(nlp)
        if label_evidence:
            evidence = LabelEvidence(loaded_titles, gazetteer, names, cues, labels)
        if organisation_evidence:
            organisations = OrganisationEvidence(gazetteer, names, cues, "ORG")
    rules = DocumentRules(loaded_titles, particles, credit_max_words)
    return EntityRepair(name, rules, evidence, organisations)


def _model_labels(nlp: Language) -> frozenset[str]:
    """The entity labels of the pipeline's NER (OntoNotes labels when there is none yet)."""
    if "ner" in nlp.pipe_names:
        return frozenset(nlp.get_pipe("ner").labels)
    return frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "PRODUCT", "NORP"})
