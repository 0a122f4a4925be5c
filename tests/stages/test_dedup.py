"""Duplicate index: exact and near duplicates, replays, expiry by time and by size, one entry
per article in the mapping handed in, lookups rebuilt from it; the dedup stage over messages."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from pipeline import codec, schemas
from pipeline.envelope import Incoming
from pipeline.events import Article, DeadLetter
from pipeline.settings import Settings
from pipeline.stages.clean import CleanStage
from pipeline.stages.dedup import (
    FINGERPRINT_HEADER,
    MAX_SHINGLED_WORDS,
    NUM_PERM,
    DedupStage,
    DuplicateIndex,
    DuplicateMatch,
    fingerprint,
    pack_fingerprint,
    shingles,
    unpack_fingerprint,
)

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


@pytest.mark.parametrize("text", [STORY, EDITED, OTHER, "", "Two words", STORY * 40])
def test_signatures_are_datasketchs_affine32_minhash(text: str) -> None:
    # Signatures written by earlier versions (with datasketch) sit in the duplicate index's
    # changelog: they must keep their meaning.
    from datasketch import MinHash

    reference = MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32")
    reference.update_batch(sorted(shingles(text)))
    assert fingerprint(text).signature.tolist() == reference.hashvalues.tolist()


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


class CountingStore(dict):
    """A dict that counts writes and deletes, as a table's changelog would."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.deletes = 0

    def __setitem__(self, key, value) -> None:
        self.writes += 1
        super().__setitem__(key, value)

    def __delitem__(self, key) -> None:
        self.deletes += 1
        super().__delitem__(key)

    def pop(self, key, *default):
        if key in self:
            self.deletes += 1
        return super().pop(key, *default)


def test_one_entry_per_article_and_one_write_per_check() -> None:
    store = CountingStore()
    index = make_index(store, max_entries=20)
    for i, text in enumerate(variants(60)):
        index.check(f"n{i}", fingerprint(text), i * 60.0)
    assert store.writes == 60
    assert store.deletes == 40
    assert sorted(store) == sorted(f"d:n{i}" for i in range(40, 60))
    # Values do not grow with the index: every entry is one signature and a few scalars.
    assert max(len(json.dumps(v)) for v in store.values()) < 1000


def variants(count: int) -> list[str]:
    """Texts in groups of three near-copies (one word changed), each group a different text."""
    vocabulary = sorted(
        set((STORY + " " + OTHER).lower().replace(".", "").replace(",", "").split())
    )
    texts = []
    for i in range(count):
        group, copy = divmod(i, 3)
        words = random.Random(group).choices(vocabulary, k=60)
        words[30] = f"edit{copy}"
        texts.append(" ".join(words))
    return texts


def run(index: DuplicateIndex, start: int, stop: int) -> list[DuplicateMatch | None]:
    """Articles half an hour apart, with a day's silence before the 90th."""
    texts = variants(stop)
    return [
        index.check(f"n{i}", fingerprint(texts[i]), i * 1800.0 + (24 * HOUR if i >= 90 else 0))
        for i in range(start, stop)
    ]


def test_rebuilt_from_the_store_an_index_gives_the_same_answers() -> None:
    """The size bound acts on the way (30 entries hold 15 hours), then expiry (a day's gap)."""
    live_store: dict = {}
    live = make_index(live_store, window_seconds=24 * HOUR, max_entries=30)
    run(live, 0, 60)
    # A restart: the entries come back from the changelog, in any order.
    restored = dict(reversed(json.loads(json.dumps(live_store)).items()))
    rebuilt = make_index(restored, window_seconds=24 * HOUR, max_entries=30)
    assert len(rebuilt) == len(live) == 30
    live_answers, rebuilt_answers = run(live, 60, 100), run(rebuilt, 60, 100)
    assert rebuilt_answers == live_answers
    assert sum(a is not None for a in live_answers) == 26  # two copies in each group of three
    assert restored == live_store
    assert len(rebuilt) == len(live) == 10


def test_replays_get_the_same_answer_after_a_rebuild() -> None:
    store: dict = {}
    first = run(make_index(store), 0, 9)
    assert run(make_index(json.loads(json.dumps(store))), 0, 9) == first
    assert [m.duplicate_of if m else None for m in first[:3]] == [None, "n0", "n0"]


def test_invalidate_rebuilds_from_what_the_store_holds_now() -> None:
    store: dict = {}
    index = make_index(store)
    index.check("a", fingerprint(STORY), 0.0)
    store.clear()  # e.g. the partition moved to another worker and back, with a fresh store
    index.invalidate()
    assert len(index) == 0
    assert index.check("b", fingerprint(STORY), HOUR) is None


def test_a_rebuild_overtaken_by_an_invalidation_is_discarded() -> None:
    store: dict = {}
    make_index(store).check("a", fingerprint(STORY), 0.0)
    index = make_index(store)
    steps = index.rebuild()
    assert next(steps) == 1
    index.invalidate()
    assert list(steps) == []
    store.clear()
    assert len(index) == 0  # the stale rebuild was not kept


def test_articles_older_than_the_window_are_forgotten() -> None:
    store: dict = {}
    index = make_index(store, window_seconds=24 * HOUR)
    index.check("a", fingerprint(STORY), 0.0)
    index.check("x", fingerprint(OTHER), 30 * HOUR)
    assert index.check("b", fingerprint(STORY), 31 * HOUR) is None
    assert "d:a" not in store
    assert sorted(store) == ["d:b", "d:x"]
    assert len(index) == 2


def test_size_bound_forgets_the_oldest_entries() -> None:
    store: dict = {}
    index = make_index(store, max_entries=2)
    index.check("n0", fingerprint(STORY), 0.0)
    for i in range(1, 5):
        index.check(f"n{i}", fingerprint(f"{OTHER} Update number {i} of the day."), float(i))
    assert len(index) == 2
    assert sorted(store) == ["d:n3", "d:n4"]
    # A forgotten article is gone from the lookups too: a copy of it is news again.
    assert index.check("again", fingerprint(STORY), 5.0) is None


def test_invalid_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        DuplicateIndex({}, window_seconds=0, max_entries=10)


def clean_message(article_id: str, body: str, timestamp: float) -> Incoming:
    """An article as the clean stage puts it on the dedup topic."""
    raw = Incoming(codec.dumps({"id": article_id, "body": body}), timestamp=timestamp)
    [article] = CleanStage(1 << 20, detect_language=False).process([raw])
    assert isinstance(article, Article)
    return Incoming(codec.dumps(article), key=article_id.encode(), timestamp=timestamp + 0.5)


def test_dedup_stage_annotates_copies_and_dead_letters_what_is_not_an_article() -> None:
    stage = DedupStage(make_index())
    results = stage.process(
        [
            clean_message("a", STORY, 1.7e9),
            clean_message("b", EDITED, 1.7e9 + 60),
            Incoming(b"{not json", key=b"x", topic="articles.dedup", partition=0, offset=7),
            clean_message("c", STORY.upper(), 1.7e9 + 120),
            clean_message("d", OTHER, 1.7e9 + 180),
        ]
    )
    first, edited, broken, exact, other = results
    assert isinstance(first, Article) and first.duplicate_of is None
    assert isinstance(edited, Article) and edited.duplicate_of == "a"
    assert 0.5 <= (edited.duplicate_similarity or 0) < 1
    assert isinstance(exact, Article)
    assert (exact.duplicate_of, exact.duplicate_similarity) == ("a", 1.0)
    assert isinstance(other, Article) and other.duplicate_of is None
    assert isinstance(broken, DeadLetter)
    assert (broken.stage, broken.reason, broken.offset) == ("dedup", "invalid_event", 7)
    assert schemas.errors("dead-letter", codec.to_plain(broken)) == []
    for article in (first, edited, exact, other):
        assert article.timings["dedup_ms"] > 0
        assert schemas.errors("clean-article", codec.to_plain(article)) == []


def test_dedup_stage_times_articles_by_when_they_reached_the_pipeline() -> None:
    """The window runs on the raw message's timestamp, not on when the check happens."""
    stage = DedupStage(make_index(window_seconds=24 * HOUR))
    stage.process([clean_message("a", STORY, 1.7e9)])
    stage.process([clean_message("x", OTHER, 1.7e9 + 30 * HOUR)])
    [late] = stage.process([clean_message("b", STORY, 1.7e9 + 31 * HOUR)])
    assert isinstance(late, Article)
    assert late.duplicate_of is None


def test_dedup_settings_are_validated() -> None:
    assert Settings.load(env={}).dedup_mode == "annotate"
    assert Settings.load(env={"WIRESTREAM_DEDUP_MODE": "drop"}).dedup_mode == "drop"
    with pytest.raises(ValueError, match="dedup_mode"):
        Settings.load(env={"WIRESTREAM_DEDUP_MODE": "merge"})
    with pytest.raises(ValueError, match="dedup_threshold"):
        Settings.load(env={"WIRESTREAM_DEDUP_THRESHOLD": "1.5"})


def test_only_the_first_words_of_a_very_long_text_are_shingled() -> None:
    head = " ".join(f"w{n}" for n in range(MAX_SHINGLED_WORDS))
    tail = " ".join(f"t{n}" for n in range(MAX_SHINGLED_WORDS))
    long, longer = fingerprint(head), fingerprint(f"{head} {tail}")
    assert long.signature.tolist() == longer.signature.tolist()
    assert long.content_hash != longer.content_hash  # the whole text still decides exact copies


def test_the_check_uses_the_fingerprint_the_clean_stage_sent() -> None:
    stage = DedupStage(make_index())
    stage.process([clean_message("a", STORY, 1.7e9)])
    # A header that says STORY, on an article whose text is OTHER: the header decides.
    told = clean_message("b", OTHER, 1.7e9 + 60)
    header = ((FINGERPRINT_HEADER, pack_fingerprint(fingerprint(STORY))),)
    [copy] = stage.process([dataclasses.replace(told, headers=header)])
    [fresh] = stage.process([clean_message("c", OTHER, 1.7e9 + 120)])
    assert isinstance(copy, Article) and copy.duplicate_of == "a"
    # b was remembered by the header's fingerprint, not by its text.
    assert isinstance(fresh, Article) and fresh.duplicate_of is None
    assert unpack_fingerprint(header[0][1]).signature.tolist() == (
        fingerprint(STORY).signature.tolist()
    )
