"""The label-repair component: registration, configuration, predict and set_annotations."""

from __future__ import annotations

import pytest
import spacy
from spacy.language import Language

from pipeline.entities import repair
from tests.entity_doubles import repair_nlp, repaired, with_ents


@pytest.fixture(scope="module")
def nlp() -> Language:
    return repair_nlp()


def test_the_component_is_registered_and_configurable():
    custom = spacy.blank("en")
    component = custom.add_pipe(repair.COMPONENT, config={"credit_max_words": 2})
    assert component.rules.credit_max_words == 2
    assert custom.pipe_names == [repair.COMPONENT]


def test_predict_does_not_touch_the_document(nlp):
    doc = with_ents(nlp, "Floods hit Rostov-on-Don on Monday.", ("Rostov", "PERSON"))
    component = nlp.get_pipe(repair.COMPONENT)
    (found,) = component.predict([doc])
    assert [(e.text, e.label_) for e in doc.ents] == [("Rostov", "PERSON")]
    component.set_annotations([doc], [found])
    assert [(e.text, e.label_) for e in doc.ents] == [("Rostov-on-Don", "GPE")]


def test_label_evidence_can_be_switched_off():
    custom = spacy.blank("en")
    component = custom.add_pipe(repair.COMPONENT, config={"label_evidence": False})
    doc = with_ents(custom, "The train derailed near Brescia.", ("Brescia", "PERSON"))
    assert component.evidence is None
    assert repaired(custom, doc) == [("Brescia", "PERSON")]
