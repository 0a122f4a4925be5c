"""Language identification: accuracy on a multilingual sample and time per article.

The sample (``tests/stages/fixtures/languages.jsonl``) holds news sentences and headlines written
for the project in 17 languages, close pairs among them (Russian/Ukrainian, Spanish/Portuguese/
Catalan, Danish/Norwegian/Swedish, Czech/Slovak); whole English
Wikinews articles check long texts. ``--compare`` scores lingua and py3langid the same way when
they are installed.

    .venv/bin/python bench/language_detection.py [--data ../shared/data/wikinews-full] [--compare]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import wikinews

from pipeline.stages.language import LanguageDetector

SAMPLE = (
    Path(__file__).resolve().parent.parent / "tests" / "stages" / "fixtures" / "languages.jsonl"
)


def detectors(compare: bool) -> dict[str, Callable[[], Callable[[str], str | None]]]:
    def ours() -> Callable[[str], str | None]:
        detector = LanguageDetector()
        return lambda text: guess.language if (guess := detector.detect(text)) else None

    found = {"wirestream (fastText lid.176.ftz)": ours}
    if not compare:
        return found
    try:
        from lingua import LanguageDetectorBuilder

        def lingua_low() -> Callable[[str], str | None]:
            model = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()

            def detect(text: str) -> str | None:
                found = model.detect_language_of(text)
                return found.iso_code_639_1.name.lower() if found else None

            return detect

        found["lingua (all languages, low-accuracy mode)"] = lingua_low
    except ImportError:
        print("(lingua-language-detector not installed: skipped)")
    try:
        import py3langid

        found["py3langid"] = lambda: lambda text: py3langid.classify(text)[0]
    except ImportError:
        print("(py3langid not installed: skipped)")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=wikinews.DEFAULT_DIR)
    parser.add_argument("--compare", action="store_true", help="also score lingua and py3langid")
    args = parser.parse_args()
    sample = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line]
    articles = [a.text for a in wikinews.load(args.data)]
    languages = Counter(s["language"] for s in sample)
    print(f"sample: {len(sample)} texts in {len(languages)} languages; ", end="")
    print(f"{len(articles)} English articles")

    for label, build in detectors(args.compare).items():
        started = time.perf_counter()
        detect = build()
        load_seconds = time.perf_counter() - started
        right, short_right, short_total, per_text, misses = 0, 0, 0, [], []
        for item in sample:
            t0 = time.perf_counter()
            guess = detect(item["text"])
            per_text.append(time.perf_counter() - t0)
            ok = guess == item["language"]
            right += ok
            if len(item["text"].split()) <= 8:
                short_total += 1
                short_right += ok
            if not ok:
                misses.append(f"{item['language']}->{guess}: {item['text'][:40]}")
        per_article, english = [], 0
        for text in articles:
            t0 = time.perf_counter()
            english += detect(text) == "en"
            per_article.append(time.perf_counter() - t0)
        print(f"\n{label}  (load {load_seconds:.2f} s)")
        print(
            f"  sample accuracy {right / len(sample):.3f} ({right}/{len(sample)}); "
            f"headlines <= 8 words {short_right}/{short_total}"
        )
        print(f"  English articles {english / len(articles):.3f} ({english}/{len(articles)})")
        print(
            f"  median time: {statistics.median(per_text) * 1000:.3f} ms per sample text, "
            f"{statistics.median(per_article) * 1000:.3f} ms per article"
        )
        for miss in misses:
            print(f"  miss {miss}")


if __name__ == "__main__":
    main()
