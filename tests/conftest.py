"""Shared fixtures: settings isolated per test, and article texts written for the tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pipeline.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SEED_ARTICLE = REPO.parent / "shared" / "samples" / "seed-article.txt"

# A short story written for these tests: people, places and organisations for NER, and a clear
# topic (diplomacy and a ceasefire) for the classifier.
CEASEFIRE_TITLE = "Foreign ministers agree ceasefire talks in Geneva"
CEASEFIRE_BODY = """Foreign ministers from France and Germany met in Geneva on Tuesday to prepare \
talks on a ceasefire in the east of the country, officials said.

French Foreign Minister Claire Dubois said the two governments would ask the United Nations to \
monitor any truce. "We cannot allow the fighting to continue through the winter," Dubois told \
reporters after the meeting.

German Foreign Minister Markus Weber said Berlin would host a second round of negotiations next \
month. Weber added that humanitarian corridors were the first priority.

The talks follow weeks of heavy shelling around the city of Kharkiv, where the army and rebel \
forces have exchanged fire since the summer."""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Defaults with topics, groups and state private to one test."""
    suffix = uuid.uuid4().hex[:8]
    return Settings.load(
        {
            "app_prefix": f"test-{suffix}",
            "topic_raw": f"raw-{suffix}",
            "topic_clean": f"clean-{suffix}",
            "topic_entities": f"entities-{suffix}",
            "topic_enriched": f"enriched-{suffix}",
            "topic_dlq": f"dlq-{suffix}",
            "topic_dedup": f"dedup-{suffix}",
            "topic_dedup_index": f"dedup-index-{suffix}",
            "data_dir": tmp_path / "state",
            "metrics_port": 0,
        },
        env={},
    )


@pytest.fixture
def clean_article_bytes() -> bytes:
    """The test story as the clean stage puts it on the clean topic."""
    from pipeline import codec
    from pipeline.envelope import Incoming
    from pipeline.events import Article
    from pipeline.stages.clean import CleanStage

    raw = codec.dumps({"title": CEASEFIRE_TITLE, "body": CEASEFIRE_BODY})
    (article,) = CleanStage(max_body_bytes=1 << 20).process([Incoming(value=raw, timestamp=1.7e9)])
    assert isinstance(article, Article)
    return codec.dumps(article)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--broker",
        choices=("embedded", "kafka"),
        default="embedded",
        help="broker of the end-to-end tests: the embedded one, or a three-node Apache Kafka "
        "cluster (the one `make kafka-up` started, else one started for the session)",
    )
