"""Choosing dead letters to replay and restoring their original messages byte for byte."""

from __future__ import annotations

import datetime as dt

from pipeline import codec
from pipeline.envelope import Incoming, dead_letter
from pipeline.events import Rejection
from pipeline.replay import Selection, _Chooser, restore

RAW = "articles.raw"
INPUTS = (RAW, "articles.clean", "articles.entities")


def letter(value: bytes | None, key: bytes | None, **changes) -> dict:
    message = Incoming(value=value, key=key, topic=RAW, partition=2, offset=41)
    made = codec.to_plain(dead_letter("clean", message, Rejection("not_utf8", "bad bytes")))
    made.update(changes)
    return made


def test_payload_and_key_are_restored_byte_for_byte():
    value, key = bytes(range(256)) * 4, b"\xff\xfe-key"
    restored = restore(letter(value, key), INPUTS)
    assert (restored.topic, restored.key, restored.value) == (RAW, key, value)
    text = restore(letter(b'{"body": "caf\xc3\xa9"}', b"story-1"), INPUTS)
    assert (text.key, text.value) == (b"story-1", b'{"body": "caf\xc3\xa9"}')
    tombstone = restore(letter(b"", None), INPUTS)
    assert (tombstone.key, tombstone.value) == (None, b"")


def test_letters_that_cannot_be_replayed_say_why():
    assert "cut" in restore(letter(b"x", b"k", payload_truncated=True), INPUTS)
    assert "not an input topic" in restore(letter(b"x", b"k", topic="elsewhere"), INPUTS)
    assert "no source topic" in restore(letter(b"x", b"k", topic=None), INPUTS)


def test_selection_by_stage_reason_and_time():
    at = "2024-06-11T08:00:00.000Z"
    one = letter(b"x", b"k", failed_at=at)
    when = dt.datetime(2024, 6, 11, 8, tzinfo=dt.UTC)
    assert Selection().matches(one)
    assert Selection(stages=frozenset({"clean"}), reasons=frozenset({"not_utf8"})).matches(one)
    assert not Selection(stages=frozenset({"ner"})).matches(one)
    assert not Selection(reasons=frozenset({"timeout"})).matches(one)
    assert Selection(since=when, until=when + dt.timedelta(seconds=1)).matches(one)
    assert not Selection(since=when + dt.timedelta(seconds=1)).matches(one)
    assert not Selection(until=when).matches(one)
    assert not Selection(since=when).matches({**one, "failed_at": "garbage"})


def test_one_message_dead_lettered_twice_is_replayed_once():
    chooser = _Chooser(Selection(), INPUTS)
    twice = codec.dumps(letter(b"\xff", b"k"))
    chooser.consider(twice, "0:1")
    chooser.consider(twice, "0:2")
    chooser.consider(b"not json", "0:3")
    assert len(chooser.chosen) == 1
    assert (chooser.report.read, chooser.report.repeated) == (3, 1)
    assert chooser.report.skipped == {"not a dead letter": 1}
