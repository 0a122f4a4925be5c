"""Label evidence, on documents whose entities a test sets."""

from __future__ import annotations

import pytest
from spacy.language import Language
from spacy.tokens import Doc

from pipeline.entities import repair
from tests.entity_doubles import repair_nlp, repaired, with_ents


@pytest.fixture(scope="module")
def nlp() -> Language:
    return repair_nlp()


def dated(doc: Doc, dateline: str) -> Doc:
    doc.user_data[repair.DATELINE] = dateline
    return doc


def test_a_known_place_labelled_person_without_person_evidence_is_a_place(nlp):
    doc = with_ents(
        nlp,
        "The train derailed south of Brescia. The Brescia fire brigade arrived.",
        ("Brescia", "PERSON"),
        ("Brescia", "PERSON"),
    )
    assert repaired(nlp, doc) == [("Brescia", "GPE"), ("Brescia", "GPE")]


def test_a_place_that_is_also_a_name_needs_context_the_dateline_gives_it(nlp):
    text = "Doubts remain over Goma, officials said."
    assert repaired(nlp, with_ents(nlp, text, ("Goma", "PERSON"))) == [("Goma", "PERSON")]
    doc = dated(with_ents(nlp, text, ("Goma", "PERSON")), "GOMA, Congo")
    assert repaired(nlp, doc) == [("Goma", "GPE")]
    doc = with_ents(nlp, "Aid convoys reached camps around Goma.", ("Goma", "PERSON"))
    assert repaired(nlp, doc) == [("Goma", "GPE")]


def test_a_person_whose_name_is_also_a_town_stays_a_person(nlp):
    # `Dole` is a French town of some 24,000 people, and a senator.
    doc = with_ents(
        nlp, "Dole said he would campaign in Ohio.", ("Dole", "PERSON"), ("Ohio", "GPE")
    )
    assert repaired(nlp, doc) == [("Dole", "PERSON"), ("Ohio", "GPE")]


def test_people_with_rare_names_stay_people(nlp):
    doc = with_ents(
        nlp,
        "Meseret Tesfaye won in Berlin. Declan Fahy (54), from Clontarf, watched. "
        "A message from Tesfaye followed.",
        ("Meseret Tesfaye", "PERSON"),
        ("Berlin", "GPE"),
        ("Declan Fahy", "PERSON"),
        ("Clontarf", "GPE"),
        ("Tesfaye", "PERSON"),
    )
    labels = dict(repaired(nlp, doc))
    assert labels["Meseret Tesfaye"] == labels["Declan Fahy"] == labels["Tesfaye"] == "PERSON"


def test_a_city_labelled_org_is_a_place_in_a_places_context_but_not_as_a_club(nlp):
    doc = with_ents(nlp, "Deputies in Kinshasa objected.", ("Kinshasa", "ORG"))
    assert repaired(nlp, doc) == [("Kinshasa", "GPE")]
    doc = with_ents(nlp, "Kinshasa accused its neighbour.", ("Kinshasa", "ORG"))
    assert repaired(nlp, doc) == [("Kinshasa", "ORG")]
    doc = with_ents(nlp, "Cleveland lost at Detroit.", ("Cleveland", "ORG"), ("Detroit", "ORG"))
    assert repaired(nlp, doc) == [("Cleveland", "ORG"), ("Detroit", "ORG")]


def test_names_of_organisations_and_things_are_not_people(nlp):
    doc = with_ents(
        nlp,
        "Greenpeace Switzerland and ETH Zurich studied data from the James Webb Space "
        "Telescope. Trenord said it had set up a helpline.",
        ("Greenpeace Switzerland", "PERSON"),
        ("ETH Zurich", "PERSON"),
        ("James Webb Space Telescope", "PERSON"),
        ("Trenord", "PERSON"),
    )
    assert repaired(nlp, doc) == [
        ("Greenpeace Switzerland", "ORG"),
        ("ETH Zurich", "ORG"),
        ("James Webb Space Telescope", "PRODUCT"),
        ("Trenord", "ORG"),
    ]


def test_a_county_and_a_landform_are_places(nlp):
    doc = with_ents(
        nlp,
        "He bought a house in Co Kerry and walked on the Plaine Morte glacier.",
        ("Co Kerry", "PERSON"),
        ("Plaine Morte", "PERSON"),
    )
    assert repaired(nlp, doc) == [("Co Kerry", "GPE"), ("Plaine Morte", "LOC")]


def test_a_given_name_makes_a_person_of_an_org_but_a_cue_word_keeps_the_museum(nlp):
    doc = with_ents(
        nlp,
        "Nobody painted like Frans Hals. Works by Hals hang in the Frans Hals Museum.",
        ("Frans Hals", "ORG"),
        ("Hals", "GPE"),
        ("Frans Hals Museum", "ORG"),
    )
    assert repaired(nlp, doc) == [
        ("Frans Hals", "PERSON"),
        ("Hals", "PERSON"),
        ("Frans Hals Museum", "ORG"),
    ]


def test_company_names_built_on_rare_given_names_stay_organisations(nlp):
    doc = with_ents(
        nlp,
        "Shares of Dow Jones and Morgan Stanley rose.",
        ("Dow Jones", "ORG"),
        ("Morgan Stanley", "ORG"),
    )
    assert repaired(nlp, doc) == [("Dow Jones", "ORG"), ("Morgan Stanley", "ORG")]


def test_a_given_name_and_a_surname_split_by_the_model_are_one_person(nlp):
    doc = with_ents(
        nlp,
        "said Marta Figueiredo, who leads ocean policy. Figueiredo added more.",
        ("Marta", "GPE"),
        ("Figueiredo", "GPE"),
        ("Figueiredo", "GPE"),
    )
    assert repaired(nlp, doc) == [("Marta Figueiredo", "PERSON"), ("Figueiredo", "PERSON")]


def test_a_name_takes_in_the_capitalised_word_its_acronym_spells_out(nlp):
    doc = with_ents(
        nlp,
        "Rete Ferroviaria Italiana, which manages the network, said the track was safe. "
        "RFI declined to comment.",
        ("Ferroviaria Italiana", "PERSON"),
        ("RFI", "ORG"),
    )
    assert repaired(nlp, doc) == [("Rete Ferroviaria Italiana", "ORG"), ("RFI", "ORG")]


def test_a_capitalised_first_word_is_not_taken_into_a_name(nlp):
    doc = with_ents(nlp, "Earlier Russian officials met Asian envoys.", ("Russian", "NORP"))
    assert repaired(nlp, doc) == [("Russian", "NORP")]
    doc = with_ents(nlp, "He met Sandrine Testud in Paris.", ("Testud", "PERSON"), ("Paris", "GPE"))
    assert repaired(nlp, doc) == [("Sandrine Testud", "PERSON"), ("Paris", "GPE")]


def test_titles_and_post_nominals_are_not_part_of_a_name(nlp):
    doc = with_ents(
        nlp,
        "Sergeant Kerry's inquiry was praised by counsel Ciarán Mulcahy SC yesterday.",
        ("Sergeant Kerry's", "PERSON"),
        ("Ciarán Mulcahy SC", "PERSON"),
    )
    assert repaired(nlp, doc) == [("Kerry", "PERSON"), ("Ciarán Mulcahy", "PERSON")]


def test_a_full_name_after_a_title_is_a_person_when_the_model_missed_it(nlp):
    doc = with_ents(nlp, "Detective Sergeant Niall Kerry of the bureau told the court.")
    assert repaired(nlp, doc) == [("Niall Kerry", "PERSON")]
    # Not without a given name, nor over an entity the model found.
    doc = with_ents(nlp, "The Sergeant Harbour Police unit spoke.")
    assert repaired(nlp, doc) == []
    doc = with_ents(
        nlp, "Judge Orla Brennan of Dublin Circuit Court ruled.", ("Dublin Circuit Court", "ORG")
    )
    assert ("Dublin Circuit Court", "ORG") in repaired(nlp, doc)


def test_a_surname_shared_with_a_named_place_is_the_place_in_a_places_context(nlp):
    doc = with_ents(
        nlp,
        "He bought a home in Co Kerry. Sergeant Niall Kerry said Kerry's team sold the house "
        "in Kerry.",
        ("Co Kerry", "GPE"),
        ("Niall Kerry", "PERSON"),
        ("Kerry's", "PERSON"),
        ("Kerry", "PERSON"),
    )
    assert repaired(nlp, doc) == [
        ("Co Kerry", "GPE"),
        ("Niall Kerry", "PERSON"),
        ("Kerry", "PERSON"),
        ("Kerry", "GPE"),
    ]


def test_a_common_word_capitalised_at_a_sentence_start_is_no_name(nlp):
    doc = with_ents(
        nlp,
        'The deal covers mackerel. "Mackerel do not carry passports," she said.',
        ("Mackerel", "PERSON"),
    )
    assert repaired(nlp, doc) == []


def test_a_mention_is_the_name_without_possessive_number_or_lower_case_tail(nlp):
    doc = with_ents(
        nlp,
        "Air France's pilots wrote to the Interfax news agency and to Dublin Newsroom +353.",
        ("Air France's", "ORG"),
        ("Interfax news agency", "ORG"),
        ("Dublin Newsroom +353", "ORG"),
    )
    assert repaired(nlp, doc) == [
        ("Air France", "ORG"),
        ("Interfax", "ORG"),
        ("Dublin Newsroom", "ORG"),
    ]


def test_a_short_number_may_end_an_organisations_name(nlp):
    doc = with_ents(nlp, "She joined Channel 4 in May.", ("Channel 4", "ORG"))
    assert repaired(nlp, doc) == [("Channel 4", "ORG")]


def test_a_lower_case_span_keeps_its_words(nlp):
    doc = with_ents(nlp, "Storms hit the west coast.", ("west coast", "LOC"))
    assert repaired(nlp, doc) == [("west coast", "LOC")]


def test_a_sentences_capitalised_the_is_not_part_of_a_name_unless_written_inside_one(nlp):
    doc = with_ents(
        nlp,
        "The State Department declined. The Hague court sat. The Guardian said so to The Guardian.",
        ("The State Department", "ORG"),
        ("The Hague", "GPE"),
        ("The Guardian", "ORG"),
        ("The Guardian", "ORG"),
    )
    assert repaired(nlp, doc) == [
        ("State Department", "ORG"),
        ("The Hague", "GPE"),
        ("The Guardian", "ORG"),
        ("The Guardian", "ORG"),
    ]
