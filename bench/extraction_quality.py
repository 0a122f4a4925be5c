"""Main-text extraction quality on full pages: Wikinews articles wrapped in five site templates.

For each article and template, the page goes through ``clean_text`` (and, for comparison, other
extractors when installed) and the extracted text is scored against the original article text:
token-level precision, recall and F1 (bag of lower-cased words, averaged over pages). Also checks
the metadata taken from the page (title, author, date, canonical URL, site name).

    .venv/bin/python bench/extraction_quality.py [--data ../shared/data/wikinews-full] [--compare]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import site_chrome
import wikinews

from pipeline.stages.clean import clean_text, normalize_unicode

_TOKEN = re.compile(r"\w+")
SITE = "Example Times"
AUTHOR = "Jane Example"


def scores(extracted: str, original: str) -> tuple[float, float, float]:
    got = Counter(_TOKEN.findall(extracted.casefold()))
    want = Counter(_TOKEN.findall(original.casefold()))
    overlap = sum((got & want).values())
    precision = overlap / max(1, sum(got.values()))
    recall = overlap / max(1, sum(want.values()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def extractors(compare: bool) -> dict[str, Callable[[str], str]]:
    found: dict[str, Callable[[str], str]] = {
        "wirestream clean_text": lambda page: clean_text(page).text
    }
    if not compare:
        return found
    import trafilatura

    found["trafilatura defaults"] = lambda page: trafilatura.extract(page) or ""
    try:
        import lxml.html
        from readability import Document

        found["readability-lxml"] = lambda page: lxml.html.fromstring(
            Document(page).summary()
        ).text_content()
    except ImportError:
        print("(readability-lxml not installed: skipped)")
    try:
        from resiliparse.extract.html2text import extract_plain_text

        found["resiliparse main_content"] = lambda page: extract_plain_text(page, main_content=True)
    except ImportError:
        print("(resiliparse not installed: skipped)")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=wikinews.DEFAULT_DIR)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N articles")
    parser.add_argument("--compare", action="store_true", help="also score other extractors")
    args = parser.parse_args()

    articles = wikinews.load(args.data)
    if args.limit:
        articles = articles[: args.limit]
    rng = random.Random(20240601)
    pages = []
    for article in articles:
        wrapped = site_chrome.PageArticle(
            article.title, article.paragraphs, AUTHOR, article.date, article.url, SITE
        )
        for name, template in site_chrome.TEMPLATES.items():
            pages.append((name, template(wrapped, rng), article))
    print(
        f"{len(articles)} Wikinews articles x {len(site_chrome.TEMPLATES)} templates "
        f"= {len(pages)} pages"
    )

    for label, extract in extractors(args.compare).items():
        per_template: dict[str, list[tuple[float, float, float]]] = {
            n: [] for n in site_chrome.TEMPLATES
        }
        seconds = []
        for name, page, article in pages:
            started = time.perf_counter()
            text = extract(page)
            seconds.append(time.perf_counter() - started)
            per_template[name].append(scores(text, article.text))
        every = [s for values in per_template.values() for s in values]
        p, r, f = (statistics.mean(s[i] for s in every) for i in range(3))
        print(
            f"\n{label}: precision {p:.3f}  recall {r:.3f}  F1 {f:.3f}  "
            f"median {statistics.median(seconds) * 1000:.2f} ms/page"
        )
        for name, values in per_template.items():
            tp, tr, tf = (statistics.mean(s[i] for s in values) for i in range(3))
            worst = min(s[2] for s in values)
            print(f"  {name:13s} P {tp:.3f}  R {tr:.3f}  F1 {tf:.3f}  min F1 {worst:.3f}")

    fields = Counter()
    for _, page, article in pages:
        cleaned = clean_text(page)
        # Titles come out with plain quotes; URLs may differ only in percent-encoding.
        fields["title"] += cleaned.title == normalize_unicode(article.title)
        fields["author"] += cleaned.author == AUTHOR
        fields["published_at"] += (cleaned.published_at or "").startswith(article.date)
        fields["url"] += urllib.parse.unquote(cleaned.url or "") == urllib.parse.unquote(
            article.url
        )
        fields["source (site name)"] += cleaned.source_credit == SITE
    print("\nmetadata from the page (share of pages where it is exactly right):")
    for field, right in fields.items():
        print(f"  {field:20s} {right / len(pages):.3f}")


if __name__ == "__main__":
    main()
