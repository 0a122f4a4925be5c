"""Cost of the clean stage per article as a fraction of NER's, measured side by side.

Wikinews articles (read from the shared data folder) go through the whole ``CleanStage``
(contract check, cleaning, language detection) and then ``DedupStage`` (the clean article decoded
again, fingerprint, duplicate index), as in a worker, as raw plain-text messages and, separately,
as full HTML pages in site chrome; the same clean texts then go through spaCy NER
(``load_nlp('en_core_web_sm')`` and ``nlp.pipe``). Each round runs every part once, rounds
alternate, and the figure per part is the median over rounds of its mean time per article.

    .venv/bin/python bench/clean_speed.py [--data ../shared/data/wikinews-full] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import site_chrome
import wikinews

from pipeline import codec
from pipeline.envelope import Incoming
from pipeline.events import Article
from pipeline.stages.clean import CleanStage, clean_text
from pipeline.stages.dedup import DedupStage, DuplicateIndex, fingerprint
from pipeline.stages.language import LanguageDetector
from pipeline.stages.ner import load_nlp


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=wikinews.DEFAULT_DIR)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    articles = wikinews.load(args.data)
    rng = random.Random(3)
    templates = list(site_chrome.TEMPLATES.values())
    plain = [codec.dumps({"title": a.title, "body": a.text}) for a in articles]
    pages = [
        codec.dumps(
            {
                "body": rng.choice(templates)(
                    site_chrome.PageArticle(
                        a.title, a.paragraphs, "Jane Example", a.date, a.url, "Example Times"
                    ),
                    rng,
                )
            }
        )
        for a in articles
    ]
    texts = [clean_text(a.text, title=a.title).text for a in articles]
    nlp = load_nlp("en_core_web_sm")
    detector = LanguageDetector()
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{len(articles)} articles, {words:.0f} words on average; spaCy pipes: {nlp.pipe_names}")

    def stage_over(payloads: list[bytes]) -> Callable[[], None]:
        def run() -> None:
            index = DuplicateIndex({}, window_seconds=72 * 3600, max_entries=200_000)
            stage, dedup = CleanStage(1 << 20), DedupStage(index)
            messages = [Incoming(p, timestamp=1.7e9 + i) for i, p in enumerate(payloads)]
            for start in range(0, len(messages), args.batch_size):
                cleaned = stage.process(messages[start : start + args.batch_size])
                dedup.process(
                    [
                        Incoming(codec.dumps(a), timestamp=1.7e9 + start)
                        for a in cleaned
                        if isinstance(a, Article)
                    ]
                )

        return run

    def ner() -> None:
        for doc in nlp.pipe(texts, batch_size=args.batch_size):
            _ = doc.ents

    parts: dict[str, Callable[[], None]] = {
        "clean_text only (plain text)": lambda: [
            clean_text(a.text, title=a.title) for a in articles
        ],
        "language detection only": lambda: [detector.detect(t) for t in texts],
        "fingerprint + index only": lambda: _dedup(texts),
        "CleanStage + DedupStage, plain text": stage_over(plain),
        "CleanStage + DedupStage, HTML pages": stage_over(pages),
        "spaCy NER (nlp.pipe)": ner,
    }
    per_article: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(args.rounds):
        for name, run in parts.items():
            started = time.perf_counter()
            run()
            per_article[name].append((time.perf_counter() - started) / len(articles))
    medians = {name: statistics.median(values) for name, values in per_article.items()}
    ner_cost = medians["spaCy NER (nlp.pipe)"]
    for name, seconds in medians.items():
        print(f"  {name:34s} {seconds * 1000:8.3f} ms/article  {seconds / ner_cost:6.1%} of NER")


def _dedup(texts: list[str]) -> None:
    index = DuplicateIndex({}, window_seconds=72 * 3600, max_entries=200_000)
    for i, text in enumerate(texts):
        index.check(str(i), fingerprint(text), float(i))


if __name__ == "__main__":
    main()
