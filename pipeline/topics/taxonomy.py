"""Topic taxonomies as data: the IPTC Media Topics top level, or a user's own codes and labels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

IPTC_MEDIA_TOPICS_FILE = Path(__file__).parent / "data" / "iptc-media-topics.json"


class TaxonomyError(ValueError):
    """A taxonomy file or list that cannot be used."""


@dataclass(frozen=True, slots=True)
class Topic:
    code: str
    label: str


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """An ordered set of topics with unique codes, and where they come from."""

    name: str
    topics: tuple[Topic, ...]
    attribution: str = ""

    def __post_init__(self) -> None:
        codes = [t.code for t in self.topics]
        if not codes:
            raise TaxonomyError(f"taxonomy {self.name!r} has no topics")
        if len(set(codes)) != len(codes):
            raise TaxonomyError(f"taxonomy {self.name!r} repeats a code")

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.topics)

    def label(self, code: str) -> str:
        for topic in self.topics:
            if topic.code == code:
                return topic.label
        raise KeyError(code)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "attribution": self.attribution,
            "topics": [{"code": t.code, "label": t.label} for t in self.topics],
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Taxonomy:
        """Read ``{"name", "attribution"?, "topics": [{"code", "label"?}, ...]}``."""
        entries = data.get("topics")
        if not isinstance(entries, list):
            raise TaxonomyError("a taxonomy needs a list of topics")
        topics = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
                raise TaxonomyError(f"topic without a string code: {entry!r}")
            topics.append(Topic(entry["code"], str(entry.get("label") or entry["code"])))
        return cls(
            name=str(data.get("name") or "custom"),
            topics=tuple(topics),
            attribution=str(data.get("attribution") or ""),
        )

    @classmethod
    def from_codes(cls, codes: list[str], name: str = "custom") -> Taxonomy:
        """A taxonomy whose labels are its codes, for training data that names only codes."""
        return cls(name=name, topics=tuple(Topic(code, code) for code in codes))


def load_taxonomy(path: Path) -> Taxonomy:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TaxonomyError(f"cannot read taxonomy {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TaxonomyError(f"taxonomy {path} is not a JSON object")
    return Taxonomy.from_dict(data)


def iptc_media_topics() -> Taxonomy:
    """The 17 top-level IPTC Media Topics shipped with Wirestream."""
    return load_taxonomy(IPTC_MEDIA_TOPICS_FILE)
