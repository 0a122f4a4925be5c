"""The word lists behind label evidence: GeoNames places, Faker's names and the cue words."""

from __future__ import annotations

from pipeline.entities.evidence import fold, load_cues, load_gazetteer, load_person_names


def test_places_are_found_by_folded_name_with_their_kind():
    gazetteer = load_gazetteer()
    assert gazetteer.kind("Reykjavik") == gazetteer.kind("Reykjavík") == "city"
    assert gazetteer.kind("SWITZERLAND") == "country"
    assert gazetteer.kind("Texas") == "us_state"
    assert (gazetteer.kind("Europe"), gazetteer.label("Europe")) == ("continent", "LOC")
    assert gazetteer.label("Brescia") == "GPE"
    assert gazetteer.kind("Trenord") is None


def test_only_countries_and_major_cities_are_places_out_of_context():
    gazetteer = load_gazetteer()
    assert gazetteer.is_well_known(fold("Brescia"))  # about 200,000 people
    assert gazetteer.is_well_known(fold("Moldova"))
    assert gazetteer.kind("Cremona") == "city" and not gazetteer.is_well_known(fold("Cremona"))


def test_given_names_come_from_many_locales_and_exclude_countries():
    names = load_person_names()
    assert names.is_given_name("Declan") and names.is_given_name("Marta")
    assert names.is_common_given_name("Frans")
    # Listed by one locale only: too rare to make a company name a person's.
    assert names.is_given_name("Dow") and not names.is_common_given_name("Dow")
    assert not names.is_given_name("China")
    assert names.is_name("Figueiredo") and not names.is_given_name("Figueiredo")
    assert not names.is_name("Brescia")


def test_cue_words_name_the_kind_of_thing():
    cues = load_cues()
    assert cues.kind_word("Telescope") == "PRODUCT"
    assert cues.kind_word("Gate") == "FAC"
    assert cues.kind_word("glacier") == "LOC"
    assert cues.kind_word("Agency") == cues.kind_word("Railways") == "ORG"
    assert cues.kind_word("Kerry") is None
    assert cues.place_prefixes["co"] == "GPE"
    assert "mr" in cues.honorifics and "sc" in cues.post_nominals
