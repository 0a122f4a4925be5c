"""Near-duplicate detection: precision and recall on generated pairs.

From each Wikinews article (read from the shared data folder) the bench makes copies the way
newsrooms make them, cleans every text with ``clean_text`` as the stage would, and streams them
through one ``DuplicateIndex``:

- light edit: about 3 % of words replaced and 2 % dropped, curly quotes, one paragraph cut or an
  editor's note added;
- wire copy under a new headline: a dateline and agency in front, a reporting credit after, and the
  last paragraphs cut as outlets trim wire copy to length;
- light edit with two paragraphs swapped.

Negatives are the originals themselves (each must not match an earlier, different story) and, as
hard negatives, each article paired with its most similar other article by TF-IDF cosine, usually a
different story on the same topic or a follow-up of the same event. Last, the Python heap the index
takes per remembered article (tracemalloc), for sizing ``dedup_max_entries``.

    .venv/bin/python bench/near_duplicates.py [--data ../shared/data/wikinews-full]
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import wikinews

from pipeline.settings import Settings
from pipeline.stages.clean import clean_text
from pipeline.stages.dedup import DuplicateIndex, fingerprint

FILLER = ["reportedly", "also", "officially", "local", "several", "new", "major", "recent", "key"]
HOUR = 3600.0


def light_edit(paragraphs: list[str], rng: random.Random) -> list[str]:
    edited = []
    for paragraph in paragraphs:
        words = []
        for word in paragraph.split():
            roll = rng.random()
            if roll < 0.02:
                continue
            words.append(rng.choice(FILLER) if roll < 0.05 else word)
        text = " ".join(words)
        text = re.sub(r'"([^"]*)"', "\u201c\\1\u201d", text).replace("'", "\u2019")
        edited.append(text)
    if len(edited) >= 4 and rng.random() < 0.5:
        del edited[rng.randrange(1, len(edited))]
    else:
        edited.append("Editor's note: an earlier version of this story misstated a date.")
    return edited


def wire_copy(paragraphs: list[str], rng: random.Random) -> list[str]:
    city = rng.choice(["LONDON", "NEW YORK", "PARIS", "NAIROBI", "SYDNEY"])
    agency = rng.choice(["Reuters", "AP", "AFP"])
    kept = paragraphs[: max(2, len(paragraphs) - rng.choice([0, 1, 2]))]
    return [
        f"{city} ({agency}) - {kept[0]}",
        *kept[1:],
        "(Reporting by Jane Example; Editing by John Roe)",
    ]


def swapped(paragraphs: list[str], rng: random.Random) -> list[str]:
    edited = light_edit(paragraphs, rng)
    if len(edited) >= 3:
        i = rng.randrange(len(edited) - 1)
        edited[i], edited[i + 1] = edited[i + 1], edited[i]
    return edited


VARIANTS = {"light edit": light_edit, "wire copy, new headline": wire_copy, "edit + swap": swapped}


def nearest_other(texts: list[str]) -> list[int]:
    """Index of each text's most similar other text by TF-IDF cosine."""
    bags = [Counter(re.findall(r"\w+", t.casefold())) for t in texts]
    df = Counter(word for bag in bags for word in bag)
    idf = {w: math.log(len(texts) / n) for w, n in df.items()}
    vectors = []
    for bag in bags:
        vec = {w: c * idf[w] for w, c in bag.items() if idf[w] > 0}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vectors.append({w: v / norm for w, v in vec.items()})
    nearest = []
    for i, vec in enumerate(vectors):
        best = max(
            (j for j in range(len(vectors)) if j != i),
            key=lambda j: sum(v * vectors[j].get(w, 0.0) for w, v in vec.items()),
        )
        nearest.append(best)
    return nearest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=wikinews.DEFAULT_DIR)
    parser.add_argument("--threshold", type=float, default=Settings().dedup_threshold)
    args = parser.parse_args()
    articles = sorted(wikinews.load(args.data), key=lambda a: a.date)
    rng = random.Random(7)
    originals = [clean_text(a.text, title=a.title).text for a in articles]

    index = DuplicateIndex({}, window_seconds=1e9, max_entries=100_000, threshold=args.threshold)
    false_positives: list[str] = []
    fp_seconds = []
    for i, text in enumerate(originals):
        started = time.perf_counter()
        found = index.check(f"orig-{i}", fingerprint(text), i * HOUR)
        fp_seconds.append(time.perf_counter() - started)
        if found is not None:
            false_positives.append(f"original {i} matched {found}")

    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    similarities: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for i, article in enumerate(articles):
        for name, make in VARIANTS.items():
            body = "\n\n".join(make(article.paragraphs, rng))
            text = clean_text(body, title=f"Another headline {i}").text
            found = index.check(f"{name}-{i}", fingerprint(text), (len(articles) + i) * HOUR)
            totals[name] += 1
            if found is not None and found.duplicate_of == f"orig-{i}":
                hits[name] += 1
                similarities[name].append(found.similarity)
            elif found is not None:
                false_positives.append(f"{name} of {i} matched {found}")

    hard_negative_similarity = []
    for i, j in enumerate(nearest_other(originals)):
        pair = DuplicateIndex({}, window_seconds=1e9, max_entries=10, threshold=args.threshold)
        pair.check("a", fingerprint(originals[j]), 0.0)
        a, b = fingerprint(originals[i]), fingerprint(originals[j])
        hard_negative_similarity.append(a.similarity(b.signature))
        if (found := pair.check("b", a, 1.0)) is not None:
            false_positives.append(f"hard negative {i}~{j} matched at {found.similarity}")

    true_positives = sum(hits.values())
    positives = sum(totals.values())
    precision = true_positives / max(1, true_positives + len(false_positives))
    recall = true_positives / positives
    print(
        f"{len(articles)} originals, {positives} generated duplicates, "
        f"{len(articles)} hard-negative pairs; threshold {args.threshold}"
    )
    print(
        f"precision {precision:.3f}  recall {recall:.3f}  "
        f"(true positives {true_positives}, false positives {len(false_positives)})"
    )
    for name in VARIANTS:
        sims = similarities[name] or [0.0]
        print(
            f"  {name:24s} recall {hits[name] / totals[name]:.3f}  "
            f"similarity median {statistics.median(sims):.2f} min {min(sims):.2f}"
        )
    print(
        f"  hard negatives: similarity median {statistics.median(hard_negative_similarity):.2f}, "
        f"max {max(hard_negative_similarity):.2f}"
    )
    print(
        f"fingerprint + index check: median {statistics.median(fp_seconds) * 1000:.3f} ms/article"
    )
    print(f"memory: {index_bytes_per_article(originals) / 1024:.1f} KiB per remembered article")
    for line in false_positives[:10]:
        print(f"  false positive: {line}")


def index_bytes_per_article(texts: list[str]) -> float:
    """Python heap the index takes per article: its entry plus the lookups derived from it."""
    fingerprints = [fingerprint(text) for text in texts]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = DuplicateIndex({}, window_seconds=1e9, max_entries=100_000)
    for i, fp in enumerate(fingerprints):
        index.check(f"article-{i:06d}", fp, float(i))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / len(texts)


if __name__ == "__main__":
    main()
