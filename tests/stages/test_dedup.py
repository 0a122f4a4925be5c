"""Duplicate index: exact and near duplicates, replays, expiry by time and by size, state kept
in the mapping handed in."""

from __future__ import annotations

import json

import pytest

from pipeline.stages.dedup import DuplicateIndex, DuplicateMatch, fingerprint, shingles

HOUR = 3600.0
STORY = (
    "The regional council approved the budget on Monday after a long debate that ran past "
    "midnight. Spending on roads rises by a fifth, while the culture budget is cut by a tenth. "
    "Opposition members said the cuts would close two theatres and a music school in the north. "
    "The council leader said the savings were needed to repair bridges damaged in spring floods."
)
EDITED = STORY.replace("a long debate", "a lengthy debate").replace(
    "two theatres", "three theatres"
)
OTHER = (
    "The regional council delayed a vote on the new stadium on Tuesday, saying it needed more "
    "time to study the costs. Supporters of the project protested outside the building, while "
    "residents near the site welcomed the delay and asked for a public inquiry into traffic."
)


def make_index(store: dict | None = None, **kwargs: float) -> DuplicateIndex:
    options = {"window_seconds": 48 * HOUR, "max_entries": 1000} | kwargs
    return DuplicateIndex({} if store is None else store, **options)


def test_fingerprint_is_deterministic_and_ignores_case_and_spacing() -> None:
    a, b = fingerprint(STORY), fingerprint("  " + STORY.upper().replace(" ", "  "))
    assert a.content_hash == b.content_hash
    assert a.similarity(b.signature) == 1.0
    assert fingerprint(STORY).signature.tolist() == a.signature.tolist()


def test_shingles_of_a_short_text() -> None:
    assert shingles("Hello, world") == {b"hello world"}
    assert len(shingles("one two three four")) == 2


def test_exact_duplicate_points_to_the_first() -> None:
    index = make_index()
    assert index.check("a", fingerprint(STORY), 0.0) is None
    assert index.check("b", fingerprint(STORY.lower()), HOUR) == DuplicateMatch("a", 1.0)


def test_near_duplicate_found_and_different_story_not() -> None:
    index = make_index()
    index.check("a", fingerprint(STORY), 0.0)
    match = index.check("b", fingerprint(EDITED), HOUR)
    assert match is not None
    assert match.duplicate_of == "a"
    assert 0.5 <= match.similarity < 1.0
    assert index.check("c", fingerprint(OTHER), 2 * HOUR) is None


def test_copy_of_a_copy_points_to_the_first_article() -> None:
    index = make_index()
    index.check("a", fingerprint(STORY), 0.0)
    index.check("b", fingerprint(EDITED), HOUR)
    match = index.check("c", fingerprint(EDITED), 2 * HOUR)
    assert match is not None
    assert match.duplicate_of == "a"


def test_replayed_id_gets_the_same_answer() -> None:
    index = make_index()
    index.check("a", fingerprint(STORY), 0.0)
    first = index.check("b", fingerprint(EDITED), HOUR)
    assert index.check("b", fingerprint(EDITED), 5 * HOUR) == first
    assert index.check("a", fingerprint(STORY), 6 * HOUR) is None
    assert len(index) == 2


def test_state_lives_in_the_store_and_is_json() -> None:
    store: dict = {}
    make_index(store).check("a", fingerprint(STORY), 0.0)
    reloaded = json.loads(json.dumps(store))  # what a changelogged table would restore
    match = make_index(reloaded).check("b", fingerprint(EDITED), HOUR)
    assert match is not None
    assert match.duplicate_of == "a"


def test_articles_older_than_the_window_are_forgotten() -> None:
    store: dict = {}
    index = make_index(store, window_seconds=24 * HOUR)
    index.check("a", fingerprint(STORY), 0.0)
    index.check("x", fingerprint(OTHER), 30 * HOUR)
    assert index.check("b", fingerprint(STORY), 31 * HOUR) is None
    assert "d:a" not in store
    assert len(index) == 2


def test_size_bound_forgets_the_oldest_and_its_keys() -> None:
    store: dict = {}
    index = make_index(store, max_entries=2)
    for i in range(5):
        index.check(f"n{i}", fingerprint(f"{OTHER} Update number {i} of the day."), float(i))
    assert len(index) == 2
    assert {k for k in store if k.startswith("d:")} == {"d:n3", "d:n4"}
    held = {i for k, v in store.items() if k.startswith("b:") for i in v["ids"]}
    assert held <= {"n3", "n4"}


def test_invalid_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        DuplicateIndex({}, window_seconds=0, max_entries=10)
