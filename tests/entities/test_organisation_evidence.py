"""Organisation evidence, on documents whose entities a test sets (no statistical model)."""

from __future__ import annotations

import pytest
import spacy
from spacy.language import Language

from pipeline.entities import repair
from tests.entity_doubles import repair_nlp, repaired, with_ents


@pytest.fixture(scope="module")
def nlp() -> Language:
    return repair_nlp()


def test_a_legal_form_at_the_end_makes_an_organisation(nlp):
    doc = with_ents(
        nlp,
        "Shares of Homegate Hospitality Inc rose.",
        ("Homegate Hospitality Inc", "GPE"),
    )
    assert repaired(nlp, doc) == [("Homegate Hospitality Inc", "ORG")]


def test_a_city_with_a_clubs_word_is_a_club_but_a_city_so_named_stays_a_place(nlp):
    doc = with_ents(
        nlp,
        "Manchester United and Real Madrid met in Kansas City.",
        ("Manchester United", "PERSON"),
        ("Real Madrid", "GPE"),
        ("Kansas City", "GPE"),
    )
    assert repaired(nlp, doc) == [
        ("Manchester United", "ORG"),
        ("Real Madrid", "ORG"),
        ("Kansas City", "GPE"),
    ]


def test_an_acronym_defined_in_the_text_is_a_mention_wherever_it_is_used(nlp):
    doc = with_ents(
        nlp,
        "Fighters of the Kurdistan Democratic Party (KDP) advanced. The KDP said so. Who knows?",
        ("Kurdistan Democratic Party (KDP", "ORG"),
    )
    assert repaired(nlp, doc) == [
        ("Kurdistan Democratic Party", "ORG"),
        ("KDP", "ORG"),
        ("KDP", "ORG"),
    ]


def test_brackets_that_spell_no_acronym_add_nothing(nlp):
    doc = with_ents(nlp, "The Red Cross (ICRC) came. ICRC left.", ("Red Cross", "ORG"))
    assert repaired(nlp, doc) == [("Red Cross", "ORG")]


def test_teams_in_results_lines_are_organisations_there_and_elsewhere(nlp):
    text = (
        "Swansea beat their rivals on Saturday in Cardiff.\n\n"
        "Swansea 49 Cardiff 23\n\n"
        "Boston at Oakland\n\n"
        "Cleveland 80 53 .602 -\n\n"
        "England 2 Moldova 0"
    )
    doc = with_ents(
        nlp,
        text,
        ("Cardiff", "GPE"),
        ("Swansea", "GPE"),
        ("Cardiff", "GPE"),
        ("Boston", "GPE"),
        ("Oakland", "GPE"),
        ("England", "GPE"),
        ("Moldova", "GPE"),
    )
    assert repaired(nlp, doc) == [
        ("Swansea", "ORG"),
        ("Cardiff", "GPE"),  # `in Cardiff`: the city
        ("Swansea", "ORG"),
        ("Cardiff", "ORG"),
        ("Boston", "ORG"),
        ("Oakland", "ORG"),
        ("Cleveland", "ORG"),
        ("England", "GPE"),  # national sides stay places
        ("Moldova", "GPE"),
    ]


def test_a_headline_shaped_like_a_fixture_names_no_teams(nlp):
    doc = with_ents(nlp, "Protests at Westminster\n\nCrowds gathered.", ("Westminster", "GPE"))
    assert repaired(nlp, doc) == [("Westminster", "GPE")]


def test_players_and_prices_in_rows_of_figures_are_no_teams(nlp):
    text = "Colin Montgomerie 69 67 70\n\nGold 385 386 387\n\nParis 12 14 15"
    doc = with_ents(nlp, text, ("Colin Montgomerie", "PERSON"), ("Paris", "GPE"))
    assert repaired(nlp, doc) == [
        ("Colin Montgomerie", "PERSON"),
        ("Paris", "ORG"),
    ]


def test_organisation_evidence_can_be_switched_off():
    custom = spacy.blank("en")
    component = custom.add_pipe(repair.COMPONENT, config={"organisation_evidence": False})
    doc = with_ents(
        custom, "Shares of Homegate Hospitality Inc rose.", ("Homegate Hospitality Inc", "GPE")
    )
    assert component.organisations is None
    assert repaired(custom, doc) == [("Homegate Hospitality Inc", "GPE")]
