"""Topic classifier figures: quality on text the model never saw, and cost against NER.

Quality: the BBC development file (five classes mapped to IPTC by ``mappings/bbc-iptc.json``;
top-1 is the primary topic among all 17; as a multi-label classifier, how often BBC's label is
among the topics returned at the threshold) and the held-out tenth of Wikinews (multi-label, at
the classify stage's threshold, with a threshold sweep). Speed: the same BBC texts through the
topic model and through spaCy NER (``load_nlp('en_core_web_sm')`` and ``nlp.pipe``), rounds
alternating, each figure the median over rounds of the mean time per article.

    .venv/bin/python bench/topics_bench.py [--data ../shared/data] [--model DIR] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from pipeline.stages.ner import load_nlp
from pipeline.topics.evaluate import (
    evaluate,
    evaluate_multilabel,
    evaluate_returned,
    format_evaluation,
    format_multilabel,
    labelled_texts,
    load_mapping,
)
from pipeline.topics.model import TopicModel, load_topic_model
from pipeline.topics.train import DEFAULT_DATA_DIR, shipped_corpus

BBC_DEV = Path("bbc/bbc-dev.jsonl")
BBC_MAPPING = Path(__file__).resolve().parent / "mappings" / "bbc-iptc.json"
SEED_ARTICLE = Path("../shared/samples/seed-article.txt")
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def bbc_figures(model: TopicModel, data: Path, threshold: float) -> list[str]:
    mapping = load_mapping(BBC_MAPPING)
    texts, gold, skipped = labelled_texts(data / BBC_DEV, mapping)
    result = evaluate(model, texts, gold, skipped)
    # Secondary figure: the best of the five mapped topics only, as a closed-set classifier.
    codes = list(model.taxonomy.codes)
    mapped = np.array([codes.index(c) for c in sorted(set(mapping.values()))])
    best = mapped[model.probabilities(texts)[:, mapped].argmax(axis=1)]
    closed = float(np.mean([codes[i] == g for i, g in zip(best, gold, strict=True)]))
    returned = evaluate_returned(model, texts, gold, threshold)
    return [
        "== BBC dev (never trained on), top-1 among all topics ==",
        format_evaluation(result),
        f"closed-set accuracy (best of the 5 mapped topics): {closed:.4f}",
        f"BBC label among the topics returned at {threshold}: {returned.label_returned:.4f}",
        f"topics returned per story {returned.mean_topics:.2f}, none {returned.none_returned:.4f}",
    ]


def wikinews_figures(model: TopicModel, data: Path, threshold: float) -> list[str]:
    held_out = shipped_corpus(data).held_out
    texts = [f"{e.title}\n\n{e.text}" for e in held_out]
    gold = [frozenset(e.codes) for e in held_out]
    lines = ["", "== Wikinews held-out tenth (never trained on) ==", ""]
    lines.append(format_multilabel(evaluate_multilabel(model, texts, gold, threshold)))
    lines += ["", "threshold sweep: micro-F1 / macro-F1"]
    for t in THRESHOLDS:
        sweep = evaluate_multilabel(model, texts, gold, t)
        lines.append(f"  {t:.2f}  {sweep.micro_f1:.4f} / {sweep.macro_f1:.4f}")
    return lines


def seed_article_figures(model: TopicModel, path: Path, threshold: float) -> list[str]:
    """The project's seed article (first line the title), as the classify stage would see it."""
    title, _, body = path.read_text(encoding="utf-8").partition("\n")
    (scores,) = model.predict([f"{title.strip()}\n\n{body.strip()}"])
    kept = [f"{s.label} {s.score:.3f}" for s in scores if s.score >= threshold]
    return ["", f"== Seed article, topics >= {threshold} ==", "; ".join(kept) or "(none)"]


def per_article_seconds(work: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) / count


def speed_figures(
    model: TopicModel, texts: Sequence[str], rounds: int, batch_size: int
) -> list[str]:
    nlp = load_nlp("en_core_web_sm")
    classify_times, ner_times = [], []
    for _ in range(rounds):
        classify_times.append(per_article_seconds(lambda: model.predict(texts), len(texts)))
        ner_times.append(
            per_article_seconds(lambda: list(nlp.pipe(texts, batch_size=batch_size)), len(texts))
        )
    classify, ner = statistics.median(classify_times), statistics.median(ner_times)
    return [
        "",
        f"== Speed over {len(texts)} BBC articles, median of {rounds} rounds ==",
        f"classify  {classify * 1000:8.3f} ms/article",
        f"ner       {ner * 1000:8.3f} ms/article (en_core_web_sm, nlp.pipe batch {batch_size})",
        f"ratio     {classify / ner:.4f} (classify / ner)",
    ]


def load_figures(model_dir: Path | None, rounds: int) -> list[str]:
    """Loading the model, as a worker does at start (fresh objects each time)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        load_topic_model(model_dir)
        times.append(time.perf_counter() - started)
    return [
        "",
        f"== Loading the model, median of {rounds} loads ==",
        f"load      {statistics.median(times) * 1000:8.1f} ms",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--threshold", type=float, default=0.25)
    parser.add_argument("--seed-article", type=Path, default=SEED_ARTICLE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--speed-articles", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    model = load_topic_model(args.model)
    print(f"model {model.info.model} {model.info.model_version}")
    lines = bbc_figures(model, args.data, args.threshold)
    lines += wikinews_figures(model, args.data, args.threshold)
    lines += seed_article_figures(model, args.seed_article, args.threshold)
    texts, _, _ = labelled_texts(args.data / BBC_DEV, load_mapping(BBC_MAPPING))
    lines += speed_figures(model, texts[: args.speed_articles], args.rounds, args.batch_size)
    lines += load_figures(args.model, 5)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
