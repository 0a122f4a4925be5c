"""Name normalization and the word lists entity code relies on: aliases and job titles.

Both lists ship as data in ``pipeline/entities/data``; users extend the alias table with a
file of their own in the same format (setting ``ner_aliases``).
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
SHIPPED_ALIASES = DATA_DIR / "aliases.jsonl"
SHIPPED_TITLES = DATA_DIR / "titles.json"
# Labels for people: OntoNotes-style models (English) say PERSON, CoNLL/WikiNER-style ones
# (many other languages) say PER.
PERSON_LABELS = frozenset({"PERSON", "PER"})
PLACE_LABELS = frozenset({"GPE", "LOC"})

_POSSESSIVE = re.compile(r"(?:'s|'|’s|’)$", re.IGNORECASE)
_LEADING_ARTICLE = re.compile(r"^the\s+", re.IGNORECASE)
_EDGE_PUNCT = re.compile(r"""^[\s"'“”‘’(\[«»]+|[\s"'“”‘’)\],;:!?«»]+$""")
_NOT_WORD = re.compile(r"[^\w\s]")


# Bounded caches: names repeat within and across articles; the bound keeps memory flat.
@functools.lru_cache(maxsize=4096)
def surface_form(text: str) -> str:
    """A mention as a name: no possessive, no leading `the`, no surrounding quotes."""
    text = _EDGE_PUNCT.sub("", text.strip())
    text = _POSSESSIVE.sub("", text)
    text = _LEADING_ARTICLE.sub("", text)
    return " ".join(text.split())


@functools.lru_cache(maxsize=4096)
def name_key(text: str) -> str:
    """Comparable form of a name: `U.S.`, `US` and `the US's` share one key; accents dropped."""
    return plain_key(text)


def plain_key(text: str) -> str:
    """``name_key`` without the cache, for building word lists."""
    decomposed = unicodedata.normalize("NFKD", surface_form.__wrapped__(text))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = plain.replace(".", "").replace("'", "").replace("’", "")
    return " ".join(_NOT_WORD.sub(" ", plain).split())


@dataclass(frozen=True, slots=True)
class AliasEntry:
    """The canonical name an alias stands for, and its label when the table gives one."""

    name: str
    label: str | None


class AliasTable:
    """Alias keys (see ``name_key``) to canonical entries; later files override earlier ones."""

    def __init__(self, entries: Mapping[str, AliasEntry]) -> None:
        self._entries = dict(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> AliasEntry | None:
        return self._entries.get(key)

    @classmethod
    def load(
        cls, extra: Path | None = None, *, shipped: Path | None = SHIPPED_ALIASES
    ) -> AliasTable:
        """The shipped table, extended (and overridden where they overlap) by ``extra``."""
        entries: dict[str, AliasEntry] = {}
        sources = [p for p in (shipped, extra) if p is not None]
        for path in sources:
            entries.update(_read_aliases(path))
        return cls(entries)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, object]]) -> AliasTable:
        entries: dict[str, AliasEntry] = {}
        for number, record in enumerate(records, 1):
            entries.update(_entries_of(record, f"record {number}"))
        return cls(entries)


def _read_aliases(path: Path) -> dict[str, AliasEntry]:
    entries: dict[str, AliasEntry] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise OSError(f"cannot read alias table {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON: {exc}") from exc
        entries.update(_entries_of(record, f"{path}:{number}"))
    return entries


def _entries_of(record: object, where: str) -> dict[str, AliasEntry]:
    if not isinstance(record, Mapping):
        raise ValueError(f"{where}: expected an object with `name` and `aliases`")
    name, label, aliases = record.get("name"), record.get("label"), record.get("aliases", [])
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: `name` must be a non-empty string")
    if label is not None and not isinstance(label, str):
        raise ValueError(f"{where}: `label` must be a string")
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ValueError(f"{where}: `aliases` must be a list of strings")
    entry = AliasEntry(name=name.strip(), label=label)
    return {key: entry for key in map(name_key, [name, *aliases]) if key}


@dataclass(frozen=True, slots=True)
class Titles:
    """Lower-cased job-title words (see ``data/titles.json``)."""

    person_roles: frozenset[str]
    portfolios: frozenset[str]


@functools.cache
def load_titles(path: Path | None = None) -> Titles:
    data = json.loads(Path(path or SHIPPED_TITLES).read_text(encoding="utf-8"))
    return Titles(
        person_roles=frozenset(w.casefold() for w in data["person_roles"]),
        portfolios=frozenset(w.casefold() for w in data["portfolios"]),
    )
