"""Canonical entities from plain spans: grouping, aliases, fuzzy joins, titles, salience."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.entities import canonical
from pipeline.entities.canonical import Span, canonicalize, is_full_name, salience, same_person
from pipeline.entities.lexicon import AliasTable, load_titles, name_key, surface_form


def mark(text: str, *items: tuple[str, str]) -> list[Span]:
    """Spans for ``items`` ((surface, label), in text order), found left to right."""
    spans, position = [], 0
    for surface, label in items:
        start = text.index(surface, position)
        spans.append(Span(surface, label, start, start + len(surface)))
        position = start + len(surface)
    return spans


def by_name(entities):
    return {e.name: e for e in entities}


def test_names_normalize_across_possessives_articles_dots_and_accents():
    assert surface_form("Kerry's") == "Kerry"
    assert surface_form("the State Department") == "State Department"
    assert name_key("U.S.") == name_key("US") == "us"
    assert name_key("Zürich") == name_key("Zurich")


def test_surnames_and_possessives_join_the_full_name():
    text = "John Kerry arrived. Kerry said Kerry's plan works. Mr. Kerry left."
    entities = canonicalize(
        mark(
            text,
            ("John Kerry", "PERSON"),
            ("Kerry", "PERSON"),
            ("Kerry's", "PERSON"),
            ("Mr. Kerry", "PERSON"),
        ),
        text,
    )
    (kerry,) = entities
    assert (kerry.name, kerry.label, kerry.count) == ("John Kerry", "PERSON", 4)
    assert [m.start for m in kerry.mentions] == sorted(m.start for m in kerry.mentions)
    assert all(text[m.start : m.end] == m.text for m in kerry.mentions)
    assert kerry.first_offset == 0


def test_transliterated_names_join_and_keep_the_first_spelling():
    text = "Sergey Lavrov spoke. Later Sergei Lavrov and Lavrov left."
    entities = canonicalize(
        mark(text, ("Sergey Lavrov", "PERSON"), ("Sergei Lavrov", "PERSON"), ("Lavrov", "PERSON")),
        text,
    )
    assert [(e.name, e.count) for e in entities] == [("Sergey Lavrov", 3)]


def test_same_person_allows_spelling_variants_and_initials_but_not_relatives():
    assert same_person("sergey lavrov", "sergei lavrov")
    assert same_person("volodymyr zelensky", "volodymyr zelenskyy")
    assert same_person("j kerry", "john kerry")
    assert not same_person("bill clinton", "hillary clinton")
    assert not same_person("john kerry", "teresa kerry")


def test_a_surname_labelled_org_joins_the_person_and_takes_the_person_label():
    text = "Frank-Walter Steinmeier flew in. Steinmeier met Steinmeier's host."
    entities = canonicalize(
        mark(
            text,
            ("Frank-Walter Steinmeier", "PERSON"),
            ("Steinmeier", "ORG"),
            ("Steinmeier's", "ORG"),
        ),
        text,
    )
    assert [(e.name, e.label, e.count) for e in entities] == [
        ("Frank-Walter Steinmeier", "PERSON", 3)
    ]


def test_a_shared_surname_goes_to_the_person_named_last():
    text = "Bill Clinton spoke. Clinton left. Hillary Clinton arrived. Clinton smiled."
    entities = by_name(
        canonicalize(
            mark(
                text,
                ("Bill Clinton", "PERSON"),
                ("Clinton", "PERSON"),
                ("Hillary Clinton", "PERSON"),
                ("Clinton", "PERSON"),
            ),
            text,
        )
    )
    assert [m.start for m in entities["Bill Clinton"].mentions] == [0, 20]
    assert [m.start for m in entities["Hillary Clinton"].mentions] == [34, 59]


def test_a_place_named_like_a_persons_surname_keeps_its_place_mentions():
    text = "A home in Co Kerry. Sergeant Niall Kerry said Kerry's team sold the house in Kerry."
    entities = by_name(
        canonicalize(
            mark(
                text,
                ("Co Kerry", "GPE"),
                ("Niall Kerry", "PERSON"),
                ("Kerry's", "PERSON"),
                ("Kerry", "GPE"),
            ),
            text,
        )
    )
    assert [m.text for m in entities["Niall Kerry"].mentions] == ["Niall Kerry", "Kerry's"]
    assert [m.text for m in entities["Co Kerry"].mentions] == ["Co Kerry", "Kerry"]


def test_a_country_inside_a_longer_place_name_stays_apart():
    text = "Accounts in Ireland and in Northern Ireland were searched."
    entities = canonicalize(mark(text, ("Ireland", "GPE"), ("Northern Ireland", "GPE")), text)
    assert sorted(e.name for e in entities) == ["Ireland", "Northern Ireland"]


def test_a_lone_given_name_joins_the_only_person_with_it():
    text = "Ahmed Mohamed built a clock. Teachers called the police on Ahmed."
    (ahmed,) = canonicalize(mark(text, ("Ahmed Mohamed", "PERSON"), ("Ahmed", "PERSON")), text)
    assert (ahmed.name, ahmed.count) == ("Ahmed Mohamed", 2)


def test_full_names_are_capitalized_words_not_shouted_or_prefixed():
    assert is_full_name("John Kerry")
    assert is_full_name("Ludwig van Beethoven")
    assert not is_full_name("ex-England")
    assert not is_full_name("SRI LANKA")
    assert not is_full_name("Mr. Kerry")


def test_aliases_join_through_the_shipped_table():
    text = "The US and the United States, the U.S. and the State Department and State Department."
    entities = by_name(
        canonicalize(
            mark(
                text,
                ("US", "GPE"),
                ("the United States", "GPE"),
                ("U.S.", "GPE"),
                ("the State Department", "ORG"),
                ("State Department", "ORG"),
            ),
            text,
            aliases=AliasTable.load(),
        )
    )
    assert entities["United States"].count == 3
    assert entities["State Department"].count == 2
    assert len(entities) == 2


def test_users_extend_and_override_the_alias_table(tmp_path):
    extra = tmp_path / "aliases.jsonl"
    extra.write_text(
        json.dumps({"name": "Vestnik Kavkaza", "label": "ORG", "aliases": ["VK", "Vestnik"]})
        + "\n# comments and blank lines are fine\n\n"
        + json.dumps({"name": "America", "aliases": ["US"]})
        + "\n",
        encoding="utf-8",
    )
    table = AliasTable.load(extra)
    assert table.lookup(name_key("VK")).name == "Vestnik Kavkaza"
    assert table.lookup(name_key("US")).name == "America"
    assert table.lookup(name_key("U.K.")).name == "United Kingdom"
    text = "VK reported. Vestnik later added more."
    (vestnik,) = canonicalize(mark(text, ("VK", "ORG"), ("Vestnik", "PERSON")), text, aliases=table)
    assert (vestnik.name, vestnik.label, vestnik.count) == ("Vestnik Kavkaza", "ORG", 2)


def test_a_broken_alias_file_fails_with_its_line(tmp_path):
    extra = tmp_path / "aliases.jsonl"
    extra.write_text('{"name": "A", "aliases": ["B"]}\n{"aliases": ["C"]}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"aliases.jsonl:2"):
        AliasTable.load(extra)


def test_spelling_variants_and_acronyms_of_organisations_join():
    text = (
        "The National Strategy Institute said so. Analysts at NSI agreed, and the "
        "Natonal Strategy Institute repeated it."
    )
    (institute,) = canonicalize(
        mark(
            text,
            ("The National Strategy Institute", "ORG"),
            ("NSI", "ORG"),
            ("Natonal Strategy Institute", "ORG"),
        ),
        text,
    )
    assert (institute.name, institute.count) == ("National Strategy Institute", 3)


def test_labels_are_voted_and_capitals_count_half():
    text = "ARBIL ATTACKED\n\nTroops entered Arbil. Arbil fell. Residents fled Arbil."
    (arbil,) = canonicalize(
        mark(text, ("ARBIL", "ORG"), ("Arbil", "GPE"), ("Arbil", "ORG"), ("Arbil", "GPE")), text
    )
    assert arbil.label == "GPE"


def test_numeric_entities_are_dropped():
    text = "On Monday 40 people met."
    assert canonicalize(mark(text, ("Monday", "DATE"), ("40", "CARDINAL")), text) == []


def test_a_title_before_a_name_makes_later_titles_mentions_of_that_person():
    text = (
        "Russian President Vladimir Putin met US Secretary of State John Kerry. "
        "The Secretary of State thanked him. Later the US Secretary of State left, and "
        "President Barack Obama called. The Secretary of State Department staff waited."
    )
    entities = by_name(
        canonicalize(
            mark(
                text,
                ("Russian", "NORP"),
                ("Vladimir Putin", "PERSON"),
                ("US", "GPE"),
                ("John Kerry", "PERSON"),
                ("US", "GPE"),
                ("Barack Obama", "PERSON"),
            ),
            text,
        )
    )
    kerry = entities["John Kerry"]
    roles = [m for m in kerry.mentions if m.kind == "role"]
    assert [m.text for m in roles] == ["Secretary of State", "Secretary of State"]
    assert all(text[m.start : m.end] == m.text for m in roles)
    # `President` names two people here, so it is no one's title.
    assert entities["Vladimir Putin"].count == 1
    assert entities["Barack Obama"].count == 1


def test_a_longer_title_is_not_a_reference():
    text = (
        "Russian Foreign Minister Sergei Lavrov met the Foreign Minister of Germany. "
        "The Foreign Minister then left."
    )
    (lavrov,) = [
        e
        for e in canonicalize(
            mark(text, ("Russian", "NORP"), ("Sergei Lavrov", "PERSON"), ("Germany", "GPE")),
            text,
        )
        if e.label == "PERSON"
    ]
    assert [m.start for m in lavrov.mentions if m.kind == "role"] == [text.rindex("Foreign")]


def test_salience_orders_by_count_title_position_and_spread():
    text = "\n\n".join(
        [
            "Anna Berg opened the plant in Oslo.",
            "Berg said the plant in Oslo would hire.",
            "Workers praised Berg.",
            "A rival firm, Nordvik, declined to comment.",
        ]
    )
    entities = canonicalize(
        mark(
            text,
            ("Anna Berg", "PERSON"),
            ("Oslo", "GPE"),
            ("Berg", "PERSON"),
            ("Oslo", "GPE"),
            ("Berg", "PERSON"),
            ("Nordvik", "ORG"),
        ),
        text,
        title="Berg opens plant",
    )
    assert [e.name for e in entities] == ["Anna Berg", "Oslo", "Nordvik"]
    berg, oslo, nordvik = entities
    assert berg.in_title and not oslo.in_title and not nordvik.in_title
    assert all(0 <= e.salience <= 1 for e in entities)
    assert berg.salience > oslo.salience > nordvik.salience


def test_salience_stays_within_bounds():
    assert salience(5, 5, 0, 100, True, 1.0) == 1.0
    assert salience(1, 10, 99, 100, False, 0.0) == pytest.approx(0.0415, abs=1e-3)


def test_titles_in_capitals_match_case_insensitively():
    text = "Anna Berg opened the plant."
    (berg,) = canonicalize(mark(text, ("Anna Berg", "PERSON")), text, title="BERG OPENS PLANT")
    assert berg.in_title


def test_shipped_titles_know_common_offices():
    titles = load_titles()
    assert {"secretary", "minister", "president", "spokesman"} <= titles.person_roles
    assert "state" in titles.portfolios


WORDS = ["Anna", "Berg", "Oslo", "Secretary", "of", "State", "the", "U.S.", "Kerry's", "said"]
LABELS = ["PERSON", "ORG", "GPE", "NORP", "DATE"]


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=40),
    picks=st.lists(st.tuples(st.integers(0, 39), st.integers(1, 3), st.sampled_from(LABELS))),
    title=st.one_of(st.none(), st.text(max_size=30)),
)
def test_any_spans_give_consistent_entities(words, picks, title):
    text = " ".join(words)
    starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
    spans, taken = [], set()
    for first, length, label in picks:
        last = min(first + length, len(words))
        if first >= len(words) or taken & set(range(first, last)):
            continue
        taken |= set(range(first, last))
        start, end = starts[first], starts[last - 1] + len(words[last - 1])
        spans.append(Span(text[start:end], label, start, end))
    entities = canonicalize(spans, text, title, AliasTable.load())
    named = [m for e in entities for m in e.mentions if m.kind == "name"]
    assert len(named) == len({(m.start, m.end) for m in named})
    for entity in entities:
        assert entity.count == len(entity.mentions) >= 1
        assert entity.first_offset == min(m.start for m in entity.mentions)
        assert 0.0 <= entity.salience <= 1.0
        assert all(text[m.start : m.end] == m.text for m in entity.mentions)


def test_models_that_label_people_per_get_the_same_grouping():
    text = "Angela Merkel kam nach Paris. Merkel sprach mit Merkels Gast."
    (merkel, paris) = canonicalize(
        mark(
            text, ("Angela Merkel", "PER"), ("Paris", "LOC"), ("Merkel", "ORG"), ("Merkel", "PER")
        ),
        text,
    )
    assert (merkel.name, merkel.label, merkel.count) == ("Angela Merkel", "PER", 3)
    assert paris.label == "LOC"


def test_the_first_or_last_word_of_an_x_of_y_organisation_names_it_alone():
    text = (
        "The Church of Scientology denied it. The Church said Scientology was open. "
        "The Church met the Bank of England."
    )
    entities = by_name(
        canonicalize(
            mark(
                text,
                ("Church of Scientology", "ORG"),
                ("Church", "ORG"),
                ("Scientology", "ORG"),
                ("Church", "ORG"),
                ("Bank of England", "ORG"),
            ),
            text,
        )
    )
    assert set(entities) == {"Church of Scientology", "Bank of England"}
    assert entities["Church of Scientology"].count == 4


def test_a_word_two_organisations_share_joins_neither():
    text = "The Church of England and the Church of Scotland met. The Church said no."
    entities = canonicalize(
        mark(
            text,
            ("Church of England", "ORG"),
            ("Church of Scotland", "ORG"),
            ("Church", "ORG"),
        ),
        text,
    )
    assert sorted(e.name for e in entities) == ["Church", "Church of England", "Church of Scotland"]


def test_picture_captions_and_credits_do_not_count_for_salience():
    text = "\n\n".join(
        [
            "The crowd at the opening. Image: Nick Moreau.",
            "Fan Expo opened in Toronto. Nick Moreau took pictures.",
            "Fans came from Toronto and beyond.",
            "A cosplayer. Image: Nick Moreau.",
        ]
    )
    spans = mark(
        text,
        ("Nick Moreau", "PERSON"),
        ("Fan Expo", "ORG"),
        ("Toronto", "GPE"),
        ("Nick Moreau", "PERSON"),
        ("Toronto", "GPE"),
        ("Nick Moreau", "PERSON"),
    )
    entities = by_name(canonicalize(spans, text))
    assert entities["Nick Moreau"].count == 3  # still its mentions
    assert entities["Toronto"].salience > entities["Nick Moreau"].salience
    uncredited = text.replace("Image: ", "By ")
    plain = by_name(canonicalize(mark(uncredited, *[(s.text, s.label) for s in spans]), uncredited))
    assert plain["Nick Moreau"].salience > plain["Toronto"].salience


def test_a_nationality_weighs_half_as_much_as_a_place_in_the_same_position():
    text = "Swiss glaciers shrank. Switzerland lost ice.\n\nSwiss experts and Switzerland agree."
    entities = by_name(
        canonicalize(
            mark(
                text,
                ("Swiss", "NORP"),
                ("Switzerland", "GPE"),
                ("Swiss", "NORP"),
                ("Switzerland", "GPE"),
            ),
            text,
        )
    )
    swiss, switzerland = entities["Swiss"], entities["Switzerland"]
    assert swiss.salience < switzerland.salience
    assert swiss.salience == pytest.approx(
        0.5 * salience(2, 2, 0, len(text), False, 2 / 4), abs=1e-4
    )


def test_a_name_in_the_title_counts_for_the_entity_it_names_not_for_a_part_of_it():
    # The title's `Ahmed Mohamed` is the boy, not his father Mohamed El-Hassan Mohamed (whose
    # surname is part of it), nor a region called `Ahmed`.
    text = "Ahmed Mohamed built a clock. His father Mohamed El-Hassan Mohamed spoke. Ahmed lake."
    entities = by_name(
        canonicalize(
            mark(
                text,
                ("Ahmed Mohamed", "PERSON"),
                ("Mohamed El-Hassan Mohamed", "PERSON"),
                ("Ahmed", "LOC"),
            ),
            text,
            title="Ahmed Mohamed inspires a movement",
        )
    )
    assert entities["Ahmed Mohamed"].in_title
    assert not entities["Mohamed El-Hassan Mohamed"].in_title
    assert not entities["Ahmed"].in_title
    # Alone in a title, a surname still names its person.
    (father,) = canonicalize(
        mark(text, ("Mohamed El-Hassan Mohamed", "PERSON")), text, title="Mohamed speaks"
    )
    assert father.in_title


def test_a_news_outlet_cited_as_a_source_weighs_half(monkeypatch):
    text = (
        "The Korean Central News Agency covered the drills. The army was on alert, said KCNA.\n\n"
        "The Korea Herald sent reporters to the drills. The army denied it."
    )
    spans = mark(
        text, ("Korean Central News Agency", "ORG"), ("KCNA", "ORG"), ("Korea Herald", "ORG")
    )
    cited = by_name(canonicalize(spans, text))
    monkeypatch.setattr(canonical, "SOURCE_SALIENCE", 1.0)
    uncited = by_name(canonicalize(spans, text))
    kcna = "Korean Central News Agency"
    assert cited[kcna].count == 2
    assert cited[kcna].salience == pytest.approx(0.5 * uncited[kcna].salience, abs=1e-4)
    # An outlet the story is about, not citing it, keeps its weight.
    assert cited["Korea Herald"].salience == uncited["Korea Herald"].salience > 0
    # So does a cited organisation that is not an outlet.
    ministry = "The army was on alert, said the Ministry. The army fired shells."
    monkeypatch.setattr(canonical, "SOURCE_SALIENCE", 0.5)
    (organisation,) = canonicalize(mark(ministry, ("Ministry", "ORG")), ministry)
    at = ministry.index("Ministry")
    assert organisation.salience == salience(1, 1, at, len(ministry), False, 1 / 4)
