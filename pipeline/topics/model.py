"""The topic model at inference: TF-IDF features, two linear heads, a per-topic calibration.

A model is a directory with ``model.json`` (taxonomy, vocabulary, provenance) and
``weights.npz`` (plain arrays, read with ``allow_pickle=False``). For each topic the score is
``sigmoid(a * logistic + b * naive_bayes + c)``: a one-vs-rest logistic regression and a
complement naive Bayes over the same features, stacked and calibrated on held-out folds at
training time, so a score reads as the chance that the topic applies. Topics are independent
(multi-label): a ceasefire story can score high on politics and on conflict at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.events import StageInfo, TopicScore
from pipeline.topics.taxonomy import Taxonomy

FORMAT = "wirestream-topic-model"
FORMAT_VERSION = 1
SHIPPED_MODEL_DIR = Path(__file__).parent / "data" / "model"
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"

_WORD = re.compile(r"\w\w+")


class ModelFormatError(ValueError):
    """A model directory that is not a readable Wirestream topic model."""


def tokenize(text: str) -> list[str]:
    """Lower-cased words of two or more characters, numbers left out (they say little of topic)."""
    words = _WORD.findall(text.lower())
    return [w for w in words if not w.isdigit()]


@dataclass(slots=True)
class TopicModel:
    """A trained topic model; ``predict`` scores every topic of its taxonomy for each text."""

    info: StageInfo
    taxonomy: Taxonomy
    vocabulary: dict[str, int]
    idf: np.ndarray  # (terms,)
    logistic_weights: np.ndarray  # (terms, topics)
    logistic_bias: np.ndarray  # (topics,)
    bayes_weights: np.ndarray  # (terms, topics)
    calibration: np.ndarray  # (topics, 3): a, b, c
    provenance: dict[str, Any] = field(default_factory=dict)

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Column ids and L2-normalised sublinear TF-IDF values of one text's known words."""
        ids = [i for i in map(self.vocabulary.get, tokenize(text)) if i is not None]
        if not ids:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        columns, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        values = (1.0 + np.log(counts)) * self.idf[columns]
        return columns, (values / np.linalg.norm(values)).astype(np.float32)

    def head_scores(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Raw logistic margins and naive Bayes log-posteriors of every topic."""
        columns, values = self.features(text)
        logistic = values @ self.logistic_weights[columns] + self.logistic_bias
        bayes = values @ self.bayes_weights[columns]
        bayes = bayes - _logsumexp(bayes)
        return logistic, bayes

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated scores, one row per text, columns in taxonomy order."""
        out = np.empty((len(texts), len(self.taxonomy.topics)), dtype=np.float64)
        a, b, c = self.calibration.T
        for row, text in enumerate(texts):
            logistic, bayes = self.head_scores(text)
            out[row] = _sigmoid(a * logistic + b * bayes + c)
        return out

    def predict(self, texts: Sequence[str]) -> list[list[TopicScore]]:
        """Every topic with its calibrated score in 0..1 for each text, best first."""
        topics = self.taxonomy.topics
        results = []
        for row in self.probabilities(texts):
            order = np.argsort(-row, kind="stable")
            results.append(
                [
                    TopicScore(topics[i].code, topics[i].label, round(float(row[i]), 4))
                    for i in order
                ]
            )
        return results


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


def _logsumexp(x: np.ndarray) -> float:
    top = float(x.max())
    return top + float(np.log(np.exp(x - top).sum()))


def save_topic_model(model: TopicModel, directory: Path) -> None:
    """Write the model as JSON plus an ``.npz`` of arrays; vocabulary in column order."""
    directory.mkdir(parents=True, exist_ok=True)
    terms = sorted(model.vocabulary, key=model.vocabulary.__getitem__)
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": model.info.model,
        "version": model.info.model_version,
        "taxonomy": model.taxonomy.to_dict(),
        "provenance": model.provenance,
        "vocabulary": terms,
    }
    (directory / MODEL_FILE).write_text(
        json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    # Weights are stored as float16: the scores move by well under 0.001 and the file halves.
    with (directory / WEIGHTS_FILE).open("wb") as handle:
        np.savez_compressed(
            handle,
            idf=model.idf.astype(np.float32),
            logistic_weights=model.logistic_weights.astype(np.float16),
            logistic_bias=model.logistic_bias.astype(np.float32),
            bayes_weights=model.bayes_weights.astype(np.float16),
            calibration=model.calibration.astype(np.float64),
        )


def load_topic_model(path: Path | None = None) -> TopicModel:
    """Load a model directory; ``None`` loads the model shipped with Wirestream."""
    directory = SHIPPED_MODEL_DIR if path is None else Path(path)
    try:
        document = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as arrays:
            weights = {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"cannot read a topic model from {directory}: {exc}") from exc
    if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(f"{directory} is not a {FORMAT} v{FORMAT_VERSION} model")
    taxonomy = Taxonomy.from_dict(document["taxonomy"])
    terms: list[str] = document["vocabulary"]
    model = TopicModel(
        info=StageInfo(model=document["name"], model_version=document["version"]),
        taxonomy=taxonomy,
        vocabulary={term: i for i, term in enumerate(terms)},
        idf=weights["idf"].astype(np.float32),
        logistic_weights=weights["logistic_weights"].astype(np.float32),
        logistic_bias=weights["logistic_bias"].astype(np.float32),
        bayes_weights=weights["bayes_weights"].astype(np.float32),
        calibration=weights["calibration"].astype(np.float64),
        provenance=document.get("provenance", {}),
    )
    _check_shapes(model, directory)
    return model


def _check_shapes(model: TopicModel, directory: Path) -> None:
    terms, topics = len(model.vocabulary), len(model.taxonomy.topics)
    expected: Iterable[tuple[str, tuple[int, ...], tuple[int, ...]]] = (
        ("idf", model.idf.shape, (terms,)),
        ("logistic_weights", model.logistic_weights.shape, (terms, topics)),
        ("logistic_bias", model.logistic_bias.shape, (topics,)),
        ("bayes_weights", model.bayes_weights.shape, (terms, topics)),
        ("calibration", model.calibration.shape, (topics, 3)),
    )
    for name, shape, want in expected:
        if shape != want:
            raise ModelFormatError(f"{directory}: {name} has shape {shape}, expected {want}")
