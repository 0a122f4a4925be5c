"""The document rules of label repair, on documents whose entities a test sets."""

from __future__ import annotations

import pytest
from spacy.language import Language

from tests.entity_doubles import repair_nlp, repaired, with_ents


@pytest.fixture(scope="module")
def nlp() -> Language:
    return repair_nlp()


@pytest.mark.parametrize(
    ("place", "model_said"),
    [
        ("Rostov-on-Don", [("Rostov", "PERSON")]),
        ("Stratford-upon-Avon", [("Stratford", "PERSON"), ("Avon", "ORG")]),
        ("Bourton-on-the-Water", []),
        ("Halle-an-der-Saale", [("Halle", "GPE"), ("Saale", "GPE")]),
    ],
)
def test_hyphenated_place_names_become_one_place(nlp, place, model_said):
    text = f"The floods reached {place} on Monday."
    assert repaired(nlp, with_ents(nlp, text, *model_said)) == [(place, "GPE")]


def test_hyphenated_words_without_a_link_word_are_left_alone(nlp):
    doc = with_ents(nlp, "The Austro-Hungarian army and Coca-Cola.", ("Coca-Cola", "ORG"))
    assert repaired(nlp, doc) == [("Coca-Cola", "ORG")]


def test_a_portfolio_inside_a_title_is_not_an_organisation(nlp):
    doc = with_ents(
        nlp,
        "US Secretary of State John Kerry met the Polish Energy Minister and the State Department.",
        ("US", "GPE"),
        ("State", "ORG"),
        ("John Kerry", "PERSON"),
        ("Energy", "ORG"),
        ("the State Department", "ORG"),
    )
    assert repaired(nlp, doc) == [
        ("US", "GPE"),
        ("John Kerry", "PERSON"),
        ("State Department", "ORG"),
    ]


def test_a_span_that_starts_with_an_office_is_a_title_not_an_organisation(nlp):
    doc = with_ents(
        nlp,
        "He congratulated the Minister of Foreign Affairs, the Ministry of Defence and "
        "General Motors.",
        ("the Minister of Foreign Affairs", "ORG"),
        ("the Ministry of Defence", "ORG"),
        ("General Motors", "ORG"),
    )
    assert repaired(nlp, doc) == [("Ministry of Defence", "ORG"), ("General Motors", "ORG")]


def test_a_name_glued_to_another_span_is_split_when_the_person_is_named_elsewhere(nlp):
    doc = with_ents(
        nlp,
        "The Minister of Foreign Affairs of Russia Sergey Lavrov met Kerry in Russia. "
        "Sergei Lavrov smiled.",
        ("Russia Sergey Lavrov", "ORG"),
        ("Kerry", "PERSON"),
        ("Russia", "GPE"),
        ("Sergei Lavrov", "PERSON"),
    )
    assert repaired(nlp, doc) == [
        ("Russia", "GPE"),
        ("Sergey Lavrov", "PERSON"),
        ("Kerry", "PERSON"),
        ("Russia", "GPE"),
        ("Sergei Lavrov", "PERSON"),
    ]


def test_a_glued_name_needs_the_person_named_elsewhere(nlp):
    doc = with_ents(nlp, "Officials in Sri Lanka met.", ("Sri Lanka", "GPE"))
    assert repaired(nlp, doc) == [("Sri Lanka", "GPE")]


def test_a_surname_labelled_org_or_gpe_is_the_person_named_in_full(nlp):
    doc = with_ents(
        nlp,
        "Frank-Walter Steinmeier arrived. Steinmeier and Brandt met in Berlin. "
        "Willy Brandt had left.",
        ("Frank-Walter Steinmeier", "PERSON"),
        ("Steinmeier", "ORG"),
        ("Brandt", "GPE"),
        ("Berlin", "GPE"),
        ("Willy Brandt", "PERSON"),
    )
    assert dict(repaired(nlp, doc)) == {
        "Frank-Walter Steinmeier": "PERSON",
        "Steinmeier": "PERSON",
        "Brandt": "PERSON",
        "Berlin": "GPE",
        "Willy Brandt": "PERSON",
    }


def test_surnames_come_only_from_real_full_names(nlp):
    doc = with_ents(
        nlp,
        "The ex-England captain spoke. England won.",
        ("ex-England", "PERSON"),
        ("England", "GPE"),
    )
    assert ("England", "GPE") in repaired(nlp, doc)


def test_closing_credit_and_app_lines_hold_an_organisation_and_a_product(nlp):
    text = "The talks went on.\n\nThey ended at night.\n\nKavkaz Herald\n\nin Telegram"
    doc = with_ents(nlp, text, ("Kavkaz Herald", "PERSON"), ("Telegram", "ORG"))
    assert repaired(nlp, doc) == [("Kavkaz Herald", "ORG"), ("Telegram", "PRODUCT")]


def test_a_table_row_at_the_end_is_not_a_credit(nlp):
    text = "Leading money winners:\n\n19. Jonathan Lomas 181,005\n\n20. Paul Broadhurst 176,780"
    doc = with_ents(nlp, text, ("Jonathan Lomas", "PERSON"), ("Paul Broadhurst", "PERSON"))
    assert repaired(nlp, doc) == [("Jonathan Lomas", "PERSON"), ("Paul Broadhurst", "PERSON")]


def test_an_entity_never_runs_across_a_paragraph_break(nlp):
    doc = with_ents(
        nlp, "By Rolf Soderlind\n\nLONGYEAR, Norway", ("Rolf Soderlind\n\nLONGYEAR", "PERSON")
    )
    assert repaired(nlp, doc) == [("Rolf Soderlind", "PERSON"), ("LONGYEAR", "PERSON")]


def test_surname_repair_keeps_the_models_person_label(nlp):
    doc = with_ents(
        nlp,
        "Angela Merkel kam. Merkel sprach.",
        ("Angela Merkel", "PER"),
        ("Merkel", "MISC"),
    )
    assert repaired(nlp, doc) == [("Angela Merkel", "PER"), ("Merkel", "PER")]


def test_a_lower_case_article_is_not_part_of_a_name_but_a_capitalised_one_may_be(nlp):
    doc = with_ents(
        nlp,
        "Officers of the Garda Bureau flew to The Hague.",
        ("the Garda Bureau", "ORG"),
        ("The Hague", "GPE"),
    )
    assert repaired(nlp, doc) == [("Garda Bureau", "ORG"), ("The Hague", "GPE")]
