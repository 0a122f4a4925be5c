"""Language identification on the multilingual sample written for the project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.stages.language import LanguageDetector

SAMPLE = Path(__file__).parent / "fixtures" / "languages.jsonl"


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


def test_accuracy_on_the_multilingual_sample(detector: LanguageDetector) -> None:
    items = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line]
    right = 0
    for item in items:
        guess = detector.detect(item["text"])
        assert guess is not None
        assert 0.0 < guess.confidence <= 1.0
        right += guess.language == item["language"]
    assert right / len(items) >= 0.95


def test_nothing_to_judge_by(detector: LanguageDetector) -> None:
    assert detector.detect("12:30 — 4,500 / 17%") is None
    assert detector.detect("") is None


def test_model_is_named_in_stage_info(detector: LanguageDetector) -> None:
    assert detector.info.model == "fasttext-lid.176.ftz"
    assert detector.info.model_version
