"""The NER stage's throughput against raw spaCy, side by side in one run.

Raw: ``nlp.pipe`` with the model's NER components only (what ``load_nlp`` enables), entities
read off each document. Stage: ``NerStage.process`` on the same texts as clean-article
messages, in batches of the configured size: decoding, NER, label repair, canonical entities
and salience. Third, the same stage as a worker runs it: in its own code process, each batch
sent over a socket and its results sent back (``IsolatedStage``). The three alternate batch by
batch; the medians of the rounds are reported. Separately, the canonicalization and salience
work alone (``canonicalize`` on spans already found) and the label repair alone, each as a
fraction of raw NER time; the label repair also without its organisation rule set, so that the
difference is that rule set's cost.

    python bench/ner_speed.py [--articles 200] [--rounds 5] [--model en_core_web_sm]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
from pathlib import Path

import spacy
from _common import SHARED_DATA, article_message, median

from pipeline.entities import repair
from pipeline.entities.canonical import canonicalize
from pipeline.runtime.sandbox import IsolatedStage
from pipeline.settings import Settings
from pipeline.stages.clean import clean_text
from pipeline.stages.ner import build_ner_stage, load_nlp


def news_texts(directory: Path, limit: int) -> list[tuple[str, str]]:
    """(title, clean text) of Wikinews articles, as the clean stage would hand them on."""
    csv.field_size_limit(sys.maxsize)
    articles = []
    for path in sorted(directory.glob("wikinews_*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                text = clean_text(row["text"], title=row["title"]).text
                if text:
                    articles.append((row["title"], text))
    return articles[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "wikinews-full")
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default="en_core_web_sm")
    args = parser.parse_args()

    articles = news_texts(args.data, args.articles)
    texts = [text for _, text in articles]
    settings = Settings.load({"spacy_model": args.model}, env={})
    raw_nlp = load_nlp(args.model, repair_labels=False)
    stage = build_ner_stage(settings)
    recognizer = stage.default
    messages = [article_message(t, title, str(i)) for i, (title, t) in enumerate(articles)]
    batches = [
        messages[i : i + settings.batch_size] for i in range(0, len(messages), settings.batch_size)
    ]

    def raw_batch(texts_in_batch: list[str]) -> None:
        with raw_nlp.memory_zone():
            for doc in raw_nlp.pipe(texts_in_batch, batch_size=settings.batch_size):
                [(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents]

    loop = asyncio.new_event_loop()
    isolated = IsolatedStage(settings, "ner")
    loop.run_until_complete(isolated.start())

    def isolated_batch(batch: list) -> None:
        loop.run_until_complete(isolated.process(batch, 600.0))

    def timed(work, *arguments) -> float:
        started = time.perf_counter()
        work(*arguments)
        return time.perf_counter() - started

    spans = recognizer.spans(texts)
    # The label repair alone (its ``predict`` leaves the documents as they are) on documents
    # raw NER has labelled, in a memory zone like every raw batch: strings left in the
    # vocabulary would make later raw batches faster than a worker's.
    repair_component = recognizer.nlp.get_pipe(repair.COMPONENT)
    without_organisations = spacy.blank("en").add_pipe(
        repair.COMPONENT, config={"organisation_evidence": False}
    )

    def run_repair() -> tuple[float, float]:
        with raw_nlp.memory_zone():
            raw_docs = list(raw_nlp.pipe(texts, batch_size=settings.batch_size))
            started = time.perf_counter()
            repair_component.predict(raw_docs)
            middle = time.perf_counter()
            without_organisations.predict(raw_docs)
            return middle - started, time.perf_counter() - middle

    def run_canonical() -> float:
        started = time.perf_counter()
        for found, (title, text) in zip(spans, articles, strict=True):
            canonicalize(found, text, title, recognizer.aliases, recognizer.titles)
        return time.perf_counter() - started

    # Warm up, then alternate raw and stage batch by batch (the order flipping every batch), so
    # that load from other processes on a shared machine hits both alike.
    raw_batch(texts[: settings.batch_size]), stage.process(batches[0])
    isolated_batch(batches[0])
    raw_times, stage_times, isolated_times, canonical_times = [], [], [], []
    repair_times, plain_repair_times = [], []
    for _ in range(args.rounds):
        raw_total = stage_total = isolated_total = 0.0
        for number, batch in enumerate(batches):
            batch_texts = texts[number * settings.batch_size : (number + 1) * settings.batch_size]
            runs = [
                ("raw", raw_batch, batch_texts),
                ("stage", stage.process, batch),
                ("isolated", isolated_batch, batch),
            ]
            # Rotate the order every batch.
            for name, work, argument in runs[number % 3 :] + runs[: number % 3]:
                seconds = timed(work, argument)
                if name == "raw":
                    raw_total += seconds
                elif name == "stage":
                    stage_total += seconds
                else:
                    isolated_total += seconds
        raw_times.append(raw_total)
        stage_times.append(stage_total)
        isolated_times.append(isolated_total)
        canonical_times.append(run_canonical())
        with_organisations, plain = run_repair()
        repair_times.append(with_organisations)
        plain_repair_times.append(plain)
    isolated.stop()
    loop.close()
    raw_rate = len(texts) / median(raw_times)
    stage_rate = len(texts) / median(stage_times)
    isolated_rate = len(texts) / median(isolated_times)
    round_ratios = [r / s for r, s in zip(raw_times, stage_times, strict=True)]
    characters = sum(map(len, texts))
    print(
        f"{len(texts)} Wikinews articles ({characters / len(texts):.0f} characters on average), "
        f"model {args.model}, batch {settings.batch_size}, {args.rounds} rounds (medians)"
    )
    print(f"raw nlp.pipe (NER only):  {raw_rate:8.1f} articles/s")
    print(f"Wirestream NER stage:     {stage_rate:8.1f} articles/s")
    print(f"ratio stage/raw:          {stage_rate / raw_rate:8.3f}  (target >= 0.90)")
    print(f"per-round ratios:         {', '.join(f'{r:.3f}' for r in round_ratios)}")
    print(f"stage in its code process:{isolated_rate:8.1f} articles/s")
    print(f"ratio code process/raw:   {isolated_rate / raw_rate:8.3f}  (as a worker runs it)")
    share = median(canonical_times) / median(raw_times)
    print(
        f"canonical entities + salience: {median(canonical_times) * 1000 / len(texts):.2f} ms "
        f"per article = {share:.1%} of NER time  (target < 5%)"
    )
    repair_share = median(repair_times) / median(raw_times)
    print(
        f"label repair (evidence and span rules): "
        f"{median(repair_times) * 1000 / len(texts):.2f} ms per article = {repair_share:.1%} "
        f"of NER time"
    )
    organisations = median(repair_times) - median(plain_repair_times)
    print(
        f"  of which organisation evidence: {organisations * 1000 / len(texts):.2f} ms per "
        f"article = {organisations / median(raw_times):.1%} of NER time  (target <= 10%)"
    )


if __name__ == "__main__":
    main()
