"""Fixtures for topic tests: a tiny labelled corpus with a taxonomy of its own, written for
these tests, and a model trained on it once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.topics.model import TopicModel, load_topic_model, save_topic_model
from pipeline.topics.taxonomy import load_taxonomy
from pipeline.topics.train import read_labelled_jsonl, train_custom_model

GARDEN = [
    "Tomato seedlings need a sunny windowsill and compost before planting out in spring.",
    "Prune the roses in late winter and mulch the beds with bark to keep weeds down.",
    "Slugs ate the lettuce again, so the allotment society is trying copper tape.",
    "Sow runner beans against a cane wigwam and water the soil every evening.",
    "The orchard's apple trees were grafted onto dwarf rootstock for a smaller harvest.",
    "Hedge trimming should wait until nesting birds have left the garden.",
]
CHESS = [
    "The grandmaster sacrificed a knight on move twenty to open the king's file.",
    "A queen's gambit declined led to a long endgame with rooks and pawns.",
    "The club championship was decided by a blitz tiebreak after a drawn final.",
    "Castling early protects the king while the bishops develop toward the centre.",
    "The engine rated the opening as equal until black blundered a pawn in the middlegame.",
    "The young player earned her first norm with a checkmate in the last round.",
]


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("topics-fixture")
    records = [{"title": "", "text": t, "labels": ["hobby:garden"]} for t in GARDEN]
    records += [{"text": t, "label": "hobby:chess"} for t in CHESS]
    records.append(
        {
            "title": "Chess in the garden",
            "text": "A giant chess board was laid on the lawn beside the vegetable beds "
            "and the roses, and the grandmaster played pawns among the compost bins.",
            "labels": ["hobby:garden", "hobby:chess"],
        }
    )
    data = folder / "hobbies.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    taxonomy = folder / "taxonomy.json"
    taxonomy.write_text(
        json.dumps(
            {
                "name": "hobbies",
                "topics": [
                    {"code": "hobby:garden", "label": "gardening"},
                    {"code": "hobby:chess", "label": "chess"},
                    {"code": "hobby:knitting", "label": "knitting"},
                ],
            }
        ),
        encoding="utf-8",
    )
    return data, taxonomy


@pytest.fixture(scope="session")
def hobby_model_dir(
    fixture_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    data, taxonomy = fixture_files
    model = train_custom_model(
        read_labelled_jsonl(data), load_taxonomy(taxonomy), name="hobbies", version="0.1", seed=7
    )
    directory = tmp_path_factory.mktemp("hobby-model")
    save_topic_model(model, directory)
    return directory


@pytest.fixture(scope="session")
def shipped_model() -> TopicModel:
    return load_topic_model(None)
