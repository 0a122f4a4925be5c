"""A NER worker's memory over a long run: RSS must stay flat (within 5 %) after warm-up.

Feeds the NER stage (as a worker builds it) synthetic news articles, each with freshly
invented names, places, organisations and codes, so that every article brings strings spaCy
has never seen: without ``nlp.memory_zone()`` the StringStore would grow with each one. Prints
the process RSS, the StringStore size and the number of live Python memory blocks at
intervals, then the RSS growth after warm-up.

    python bench/ner_memory.py [--articles 50000] [--warmup 5000]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time

import psutil
from _common import article_message

from pipeline.settings import Settings
from pipeline.stages.ner import build_ner_stage

SYLLABLES = (
    "ka", "vo", "ren", "mi", "tas", "lo", "bre", "dan", "shi", "por", "ul", "zet",
    "mar", "en", "qui", "sol", "tov", "ar", "nyk", "gel", "ib", "ost", "ra", "wen",
)  # fmt: skip
TEMPLATES = (
    "{person} , the chief executive of {org} , said on {day} that the company would open a new "
    "plant in {place} next year .",
    "Police in {place} arrested {person} after a raid on the offices of {org} , according to a "
    "statement from the {place2} prosecutor .",
    "{person} won the {place} marathon in {minutes} minutes , ahead of {person2} of {org} .",
    "The {org} board approved a merger with {org2} worth {amount} million dollars , {person} "
    "told reporters in {place} .",
    "Voters in {place} elected {person} as mayor , defeating {person2} , who had led the city "
    "council since {year} .",
    "Shares of {org} fell {amount} percent after {person} , its founder , resigned over the "
    "contract code {code} .",
)


def invented(rng: random.Random, parts: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, parts))).capitalize()


def synthetic_article(rng: random.Random) -> tuple[str, str]:
    """A title and a few paragraphs full of names nobody has used before."""

    def fill(template: str) -> str:
        return template.format(
            person=f"{invented(rng)} {invented(rng, 4)}",
            person2=f"{invented(rng)} {invented(rng, 4)}",
            org=f"{invented(rng)} {rng.choice(('Holdings', 'Group', 'Bank', 'Motors', 'Labs'))}",
            org2=f"{invented(rng)} {rng.choice(('Capital', 'Airlines', 'Energy', 'Media'))}",
            place=invented(rng),
            place2=invented(rng),
            day=rng.choice(("Monday", "Tuesday", "Friday")),
            minutes=rng.randint(120, 200),
            amount=rng.randint(2, 900),
            year=rng.randint(1990, 2023),
            code=f"{invented(rng).upper()}-{rng.randint(1000, 99999)}",
        )

    paragraphs = [fill(rng.choice(TEMPLATES)) for _ in range(rng.randint(3, 6))]
    return fill(rng.choice(TEMPLATES))[:80], "\n\n".join(paragraphs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--warmup", type=int, default=0, help="default: a tenth of --articles")
    parser.add_argument("--model", default="en_core_web_sm")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    warmup = args.warmup or args.articles // 10

    settings = Settings.load({"spacy_model": args.model}, env={})
    stage = build_ner_stage(settings)
    strings = stage.default.nlp.vocab.strings
    process = psutil.Process()
    rng = random.Random(args.seed)
    step = max(args.articles // 20, settings.batch_size)

    def rss_mib() -> float:
        gc.collect()
        return process.memory_info().rss / 2**20

    print(
        f"{args.articles} synthetic articles, warm-up {warmup}, model {args.model}, "
        f"batch {settings.batch_size}"
    )
    print(f"{'articles':>9} {'RSS MiB':>9} {'strings':>9} {'py blocks':>10} {'articles/s':>10}")
    print(f"{0:9d} {rss_mib():9.1f} {len(strings):9d} {sys.getallocatedblocks():10d}")
    baseline, peak_after_warmup, done, started = None, 0.0, 0, time.perf_counter()
    while done < args.articles:
        size = min(settings.batch_size, args.articles - done)
        batch = [
            article_message(text, title, f"a{done + i}")
            for i, (title, text) in enumerate(synthetic_article(rng) for _ in range(size))
        ]
        stage.process(batch)
        before, done = done, done + size
        if done // step != before // step or done == args.articles or (before < warmup <= done):
            rss = rss_mib()
            rate = done / (time.perf_counter() - started)
            marker = ""
            if baseline is None and done >= warmup:
                baseline, marker = rss, "  <- end of warm-up (baseline)"
            elif baseline is not None:
                peak_after_warmup = max(peak_after_warmup, rss)
            blocks = sys.getallocatedblocks()
            print(f"{done:9d} {rss:9.1f} {len(strings):9d} {blocks:10d} {rate:10.1f}{marker}")
    final = rss_mib()
    assert baseline is not None
    print(
        f"RSS after warm-up {baseline:.1f} MiB, final {final:.1f} MiB: growth "
        f"{(final - baseline) / baseline:+.2%}; peak after warm-up "
        f"{(max(peak_after_warmup, final) - baseline) / baseline:+.2%} (target within 5%)"
    )


if __name__ == "__main__":
    main()
