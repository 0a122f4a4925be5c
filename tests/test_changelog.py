"""The dict behind the duplicate index: changes tracked for the index topic."""

from __future__ import annotations

from pipeline import codec
from pipeline.changelog import DELETED, ChangelogDict, encode_change


def test_changes_are_each_keys_latest_value_and_are_taken_once() -> None:
    entries = ChangelogDict()
    entries["d:a"] = {"n": 0}
    entries["d:b"] = {"n": 1}
    entries["d:a"] = {"n": 2}
    del entries["d:b"]
    assert dict(entries) == {"d:a": {"n": 2}}
    assert entries.take_changes() == {"d:a": {"n": 2}, "d:b": DELETED}
    assert entries.take_changes() == {}
    assert entries.pop("d:a") == {"n": 2}
    assert entries.take_changes() == {"d:a": DELETED}


def test_reset_holds_what_was_read_back_with_nothing_to_write() -> None:
    entries = ChangelogDict()
    entries["d:old"] = {"n": 0}
    entries.reset({"d:a": {"n": 1}})
    assert dict(entries) == {"d:a": {"n": 1}}
    assert entries.take_changes() == {}


def test_changes_become_json_messages_or_tombstones() -> None:
    assert encode_change("d:a", {"n": 1}) == (b"d:a", codec.dumps({"n": 1}))
    assert encode_change("d:a", DELETED) == (b"d:a", None)
