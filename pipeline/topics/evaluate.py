"""Evaluating a topic model on any labelled JSONL, its labels mapped to the model's codes.

A mapping file is a JSON object from the dataset's labels to model codes, for example
``{"business": "medtop:04000000", "sport": "medtop:15000000"}``. Records whose label is not
in the mapping are counted and skipped. Top-1 accuracy asks whether the model's primary topic
(its best score among all of its topics) is the mapped label.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.topics.model import TopicModel
from pipeline.topics.train import TrainingDataError, read_jsonl


@dataclass(frozen=True, slots=True)
class ClassFigures:
    code: str
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Single-label figures over the mapped codes; ``confusion[gold][predicted]`` counts."""

    records: int
    skipped: int
    accuracy: float
    macro_f1: float
    per_class: list[ClassFigures]
    confusion: dict[str, dict[str, int]]


def load_mapping(path: Path) -> dict[str, str]:
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingDataError(f"cannot read mapping {path}: {exc}") from exc
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise TrainingDataError(f"mapping {path} must be a JSON object of label -> code")
    return mapping


def labelled_texts(
    path: Path, mapping: dict[str, str], label_field: str = "label"
) -> tuple[list[str], list[str], int]:
    """Classifier inputs (title, blank line, body), mapped gold codes, and how many were skipped."""
    texts, gold, skipped = [], [], 0
    for record in read_jsonl(path):
        code = mapping.get(str(record.get(label_field)))
        body = record.get("body") or record.get("text")
        if code is None or not isinstance(body, str):
            skipped += 1
            continue
        title = record.get("title")
        texts.append(f"{title}\n\n{body}" if title else body)
        gold.append(code)
    return texts, gold, skipped


def evaluate(
    model: TopicModel, texts: Sequence[str], gold: Sequence[str], skipped: int = 0
) -> Evaluation:
    unknown = sorted(set(gold) - set(model.taxonomy.codes))
    if unknown:
        raise TrainingDataError(f"mapped codes the model does not know: {', '.join(unknown)}")
    if not texts:
        raise TrainingDataError("no labelled records to evaluate")
    predicted = [scores[0].code for scores in model.predict(texts)]
    codes = [c for c in model.taxonomy.codes if c in set(gold) | set(predicted)]
    confusion = {g: dict.fromkeys(codes, 0) for g in codes if g in set(gold)}
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    per_class = []
    for code in sorted(set(gold), key=codes.index):
        true_positive = confusion[code][code]
        predicted_as = sum(row[code] for row in confusion.values())
        support = sum(confusion[code].values())
        precision = true_positive / predicted_as if predicted_as else 0.0
        recall = true_positive / support
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(
            ClassFigures(code, model.taxonomy.label(code), precision, recall, f1, support)
        )
    accuracy = float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)]))
    return Evaluation(
        records=len(texts),
        skipped=skipped,
        accuracy=accuracy,
        macro_f1=float(np.mean([c.f1 for c in per_class])),
        per_class=per_class,
        confusion=confusion,
    )


@dataclass(frozen=True, slots=True)
class Returned:
    """What the classify stage returns at ``threshold`` (every topic scoring at least it):
    how often the source's one label is among those topics, and how many topics come back."""

    threshold: float
    label_returned: float
    mean_topics: float
    none_returned: float


def evaluate_returned(
    model: TopicModel, texts: Sequence[str], gold: Sequence[str], threshold: float
) -> Returned:
    codes = list(model.taxonomy.codes)
    returned = model.probabilities(texts) >= threshold
    gold_columns = np.array([codes.index(g) for g in gold])
    return Returned(
        threshold=threshold,
        label_returned=float(returned[np.arange(len(gold)), gold_columns].mean()),
        mean_topics=float(returned.sum(axis=1).mean()),
        none_returned=float((~returned.any(axis=1)).mean()),
    )


def format_evaluation(evaluation: Evaluation) -> str:
    """A plain-text report: headline figures, per-class table, confusion matrix (rows = gold)."""
    lines = [
        f"records   {evaluation.records} (skipped {evaluation.skipped} without a mapped label)",
        f"accuracy  {evaluation.accuracy:.4f}",
        f"macro-F1  {evaluation.macro_f1:.4f}",
        "",
    ]
    lines += _class_rows(evaluation.per_class)
    columns = list(next(iter(evaluation.confusion.values())))
    short = [code.rsplit(":", 1)[-1][:8] for code in columns]
    lines += ["", "confusion (rows: gold, columns: predicted)"]
    lines.append(f"{'':<16} " + " ".join(f"{s:>8}" for s in short))
    for gold, row in evaluation.confusion.items():
        lines.append(f"{gold:<16} " + " ".join(f"{row[c]:>8}" for c in columns))
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class MultiLabelEvaluation:
    """Figures for texts with several gold topics: a topic is predicted when it scores at
    least the threshold; top-1 asks whether the primary topic is one of the gold ones."""

    records: int
    threshold: float
    top1: float
    micro_f1: float
    macro_f1: float
    per_class: list[ClassFigures]


def evaluate_multilabel(
    model: TopicModel, texts: Sequence[str], gold: Sequence[frozenset[str]], threshold: float
) -> MultiLabelEvaluation:
    codes = list(model.taxonomy.codes)
    scores = model.probabilities(texts)
    truth = np.array([[c in g for c in codes] for g in gold])
    predicted = scores >= threshold
    hits = truth & predicted
    per_class = []
    for k, code in enumerate(codes):
        support = int(truth[:, k].sum())
        if not support:
            continue
        tp, called = int(hits[:, k].sum()), int(predicted[:, k].sum())
        precision, recall = (tp / called if called else 0.0), tp / support
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(
            ClassFigures(code, model.taxonomy.label(code), precision, recall, f1, support)
        )
    return MultiLabelEvaluation(
        records=len(texts),
        threshold=threshold,
        top1=float(truth[np.arange(len(texts)), scores.argmax(axis=1)].mean()),
        micro_f1=float(2 * hits.sum() / (predicted.sum() + truth.sum())),
        macro_f1=float(np.mean([c.f1 for c in per_class])),
        per_class=per_class,
    )


def format_multilabel(evaluation: MultiLabelEvaluation) -> str:
    lines = [
        f"records   {evaluation.records}, threshold {evaluation.threshold}",
        f"top-1     {evaluation.top1:.4f} (primary topic among the gold topics)",
        f"micro-F1  {evaluation.micro_f1:.4f}",
        f"macro-F1  {evaluation.macro_f1:.4f}",
        "",
    ]
    lines += _class_rows(evaluation.per_class)
    return "\n".join(lines)


def _class_rows(per_class: Sequence[ClassFigures]) -> list[str]:
    rows = [f"{'code':<16} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}  label"]
    for c in per_class:
        figures = f"{c.precision:>9.4f} {c.recall:>7.4f} {c.f1:>7.4f} {c.support:>8}"
        rows.append(f"{c.code:<16} {figures}  {c.label}")
    return rows
