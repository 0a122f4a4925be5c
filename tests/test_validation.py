"""Output checking (`validate_output`): an event that fails its topic's schema becomes the dead
letter of the message it came from; `sample` checks one event in SAMPLE_EVERY."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline import codec, schemas
from pipeline.envelope import Incoming
from pipeline.events import DeadLetter, Entity, Mention
from pipeline.runtime.sandbox import IsolatedStage
from pipeline.validation import SAMPLE_EVERY, OutputCheck
from tests.stage_doubles import article_for


def message(n: int) -> Incoming:
    return Incoming(value=f"text {n}".encode(), key=f"m{n}".encode(), topic="t", offset=n)


def good(n: int):
    entity = Entity("Anna", "PER", 1, [Mention(0, 4, "Anna")], salience=0.5)
    return dataclasses.replace(article_for(message(n)), entities=[entity])


def bad(n: int):
    return article_for(message(n))  # no `entities`: not an entities-article event


def test_all_turns_each_failing_event_into_its_messages_dead_letter():
    check = OutputCheck("ner", "entities-article", "all")
    batch = [message(0), message(1)]
    results = check(batch, [good(0), bad(1)])
    assert results[0] == good(0)
    letter = results[1]
    assert isinstance(letter, DeadLetter)
    assert (letter.stage, letter.reason, letter.article_id) == ("ner", "invalid_output", "m1")
    assert (
        "entities-article" in letter.error
        and 'entities: null is not of type "array"' in letter.error
    )
    assert (letter.payload, letter.offset) == ("text 1", 1)  # the input, for a replay
    assert schemas.errors("dead-letter", codec.to_plain(letter)) == []


def test_sample_checks_the_first_event_and_every_hundredth():
    check = OutputCheck("ner", "entities-article", "sample")
    batch = [message(n) for n in range(2 * SAMPLE_EVERY + 1)]
    results = check(batch, [bad(n) for n in range(len(batch))])
    letters = [n for n, r in enumerate(results) if isinstance(r, DeadLetter)]
    assert letters == [0, SAMPLE_EVERY, 2 * SAMPLE_EVERY]


def test_off_checks_nothing():
    check = OutputCheck("ner", "entities-article", "off")
    assert check([message(0)], [bad(0)]) == [bad(0)]


@pytest.mark.parametrize(("mode", "reasons"), [("all", ["invalid_output"]), ("off", [])])
async def test_stage_processes_check_their_output_when_asked(settings, mode, reasons):
    # The stage double emits articles without entities, which the entities topic's schema
    # requires.
    stage = IsolatedStage(
        settings.replace(validate_output=mode), "ner", factory="tests.stage_doubles:build"
    )
    await stage.start()
    try:
        results = await stage.process([message(0)], time_limit=30)
    finally:
        stage.close()
    assert [r.summary.dead_letter for r in results if r.is_dead_letter] == reasons
