"""Does the topic recipe hold across writing styles? Train on one source, test on the others.

Each row fits the shipped recipe (``fit_topic_model``, shipped options, same seed) on one
source's training part; each column scores one source's test part. Sources: Wikinews topic
snippets (test: the held-out tenth by URL hash), HuffPost headlines with their descriptions
(test: the tenth whose link hashes the same way), the stories written from the IPTC Media
Topics definitions (test: all of them; too few to split), and the BBC development file
(evaluation only: never a training source). The last row trains on the three sources together.

The figure is top-1: the model's primary topic (best of all 17) is one of the story's gold
topics, over the test stories with at least one gold topic the training source has examples
of; the count of such stories is printed beside it. Calibration folds default to 3 here (5 for
the shipped model) to keep the four fits within minutes on 2 cores.

    .venv/bin/python bench/topics_cross_source.py [--data ../shared/data] [--folds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.topics.evaluate import evaluate_multilabel, labelled_texts, load_mapping
from pipeline.topics.model import TopicModel
from pipeline.topics.taxonomy import iptc_media_topics
from pipeline.topics.train import (
    DEFAULT_DATA_DIR,
    DEFAULT_SEED,
    HUFFPOST,
    WIKINEWS_TOPICS,
    WRITTEN_DIR,
    Example,
    FitOptions,
    fit_topic_model,
    huffpost_examples,
    is_held_out,
    read_labelled_jsonl,
    wikinews_topic_examples,
)

BBC_DEV = Path("bbc/bbc-dev.jsonl")
BBC_MAPPING = Path(__file__).resolve().parent / "mappings" / "bbc-iptc.json"
IPTC_STORIES = WRITTEN_DIR / "iptc-topics.jsonl"


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    name: str
    train: list[Example]
    test: list[tuple[str, frozenset[str]]]  # classifier input, gold codes


def _as_input(example: Example) -> str:
    return f"{example.title}\n\n{example.text}" if example.title else example.text


def split_source(name: str, examples: Sequence[Example], *, split: bool) -> Source:
    """Held-out tenth by key hash when ``split``; otherwise train and test on all of them."""
    test = [e for e in examples if is_held_out(e.key)] if split else list(examples)
    train = [e for e in examples if not is_held_out(e.key)] if split else list(examples)
    return Source(name, train, [(_as_input(e), frozenset(e.codes)) for e in test])


def top1(model: TopicModel, test: Sequence[tuple[str, frozenset[str]]], known: set[str]) -> str:
    kept = [(text, gold & known) for text, gold in test if gold & known]
    if not kept:
        return "—"
    texts, gold = zip(*kept, strict=True)
    result = evaluate_multilabel(model, texts, gold, threshold=0.25)
    return f"{result.top1:.3f} ({result.records})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()
    data: Path = args.data
    sources = [
        split_source("Wikinews", wikinews_topic_examples(data / WIKINEWS_TOPICS), split=True),
        split_source("HuffPost", huffpost_examples(data / HUFFPOST), split=True),
        split_source("IPTC definitions", read_labelled_jsonl(IPTC_STORIES), split=False),
    ]
    texts, gold, _ = labelled_texts(data / BBC_DEV, load_mapping(BBC_MAPPING))
    columns = [(s.name, s.test) for s in sources]
    columns.append(("BBC dev", [(t, frozenset([g])) for t, g in zip(texts, gold, strict=True)]))
    rows = [(s.name, s.train) for s in sources]
    rows.append(("all three", [e for s in sources for e in s.train]))

    options = FitOptions(folds=args.folds)
    header = ["trained on \\ tested on", *[name for name, _ in columns]]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name, train in rows:
        started = time.perf_counter()
        model = fit_topic_model(
            train,
            iptc_media_topics(),
            name=name,
            version="cross",
            seed=DEFAULT_SEED,
            options=options,
        )
        known = {c for e in train for c in e.codes}
        # The IPTC stories are too few to split: where they were trained on, they are not scored.
        in_sample = {"IPTC definitions"} if name in ("IPTC definitions", "all three") else set()
        cells = [
            "in-sample" if column in in_sample else top1(model, test, known)
            for column, test in columns
        ]
        lines.append(f"| {name} ({len(train)}) | " + " | ".join(cells) + " |")
        print(f"fitted {name} in {time.perf_counter() - started:.0f} s", flush=True)
    print("\ntop-1 (primary topic among the gold topics), stories scored in brackets\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
