"""Labels on the sample articles (written for the project) through the clean and NER stages
with the real model: the errors a newsroom noticed, and people who must stay people."""

from __future__ import annotations

import pytest

from pipeline import codec
from pipeline.demo import sample_dir
from pipeline.envelope import Incoming
from pipeline.events import Article
from pipeline.settings import Settings
from pipeline.sources import read_sources
from pipeline.stages import build_stage


@pytest.fixture(scope="module")
def labels() -> dict[str, dict[str, str]]:
    """Entity name -> label, per sample file name."""
    settings = Settings.load({}, env={})
    clean, ner = build_stage(settings, "clean"), build_stage(settings, "ner")
    records = [r for r in read_sources([sample_dir()]) if r.article is not None]
    cleaned = clean.process([Incoming(value=codec.dumps(r.article)) for r in records])
    enriched = ner.process([Incoming(value=codec.dumps(a)) for a in cleaned])
    found = {}
    for record, article in zip(records, enriched, strict=True):
        assert isinstance(article, Article)
        found[record.origin.rsplit("/", 1)[-1]] = {e.name: e.label for e in article.entities}
    return found


@pytest.mark.parametrize(
    ("sample", "name", "label"),
    [
        ("10-lombardy-train-derailment.txt", "Brescia", "GPE"),
        ("10-lombardy-train-derailment.txt", "Cremona", "GPE"),
        ("10-lombardy-train-derailment.txt", "Trenord", "ORG"),
        ("10-lombardy-train-derailment.txt", "Rete Ferroviaria Italiana", "ORG"),
        ("10-lombardy-train-derailment.txt", "Roberto Ferrante", "PERSON"),
        ("02-doha-ceasefire-north-kivu.txt", "Goma", "GPE"),
        ("02-doha-ceasefire-north-kivu.txt", "Kinshasa", "GPE"),
        ("02-doha-ceasefire-north-kivu.txt", "Jean-Pierre Kabeya", "PERSON"),
        ("01-lisbon-fisheries-accord.txt", "Reykjavik", "GPE"),
        ("01-lisbon-fisheries-accord.txt", "Marta Figueiredo", "PERSON"),
        ("01-lisbon-fisheries-accord.txt", "Helena Marques Coutinho", "PERSON"),
        ("09-leyster-painting-rijksmuseum.txt", "Haarlem", "GPE"),
        ("09-leyster-painting-rijksmuseum.txt", "Frans Hals", "PERSON"),
        ("09-leyster-painting-rijksmuseum.txt", "Frans Hals Museum", "ORG"),
        ("07-swiss-glaciers-record-loss.txt", "Greenpeace Switzerland", "ORG"),
        ("07-swiss-glaciers-record-loss.txt", "ETH Zurich", "ORG"),
        ("07-swiss-glaciers-record-loss.txt", "Andrea Baumgartner", "PERSON"),
        ("05-webb-water-vapour-exoplanet.html", "James Webb Space Telescope", "PRODUCT"),
        ("08-dublin-bank-fraud-sentence.txt", "Co Kerry", "GPE"),
        ("08-dublin-bank-fraud-sentence.txt", "Declan Fahy", "PERSON"),
        ("04-berlin-marathon.txt", "Meseret Tesfaye", "PERSON"),
        ("04-berlin-marathon.txt", "Daniel Kiprono", "PERSON"),
        ("06-measles-europe-who.txt", "Copenhagen", "GPE"),
    ],
)
def test_sample_labels(labels, sample, name, label):
    assert labels[sample].get(name) == label


def test_no_person_is_made_of_a_place_a_painting_or_a_fish(labels):
    people = {
        name for found in labels.values() for name, label in found.items() if label == "PERSON"
    }
    assert not people & {"Brescia", "Goma", "Mackerel", "Victim", "Hals"}
