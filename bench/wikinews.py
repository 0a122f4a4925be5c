"""Full-text Wikinews articles (CC BY 2.5) read from the shared data folder at bench time.

Never copied into the repository: benches take the folder as an argument.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "wikinews-full"
_DATE_LINE = re.compile(r"^\w+day, \w+ \d{1,2}, \d{4}$")


@dataclass(frozen=True, slots=True)
class WikinewsArticle:
    url: str
    date: str
    title: str
    paragraphs: list[str]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def load(folder: Path = DEFAULT_DIR, min_words: int = 50) -> list[WikinewsArticle]:
    """Articles of the yearly CSV files, as paragraphs; the date line Wikinews puts first is
    dropped (it is page furniture there, kept in ``date``)."""
    csv.field_size_limit(1 << 30)
    articles = []
    for path in sorted(folder.glob("wikinews_*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", row["text"])]
                paragraphs = [p for p in paragraphs if p]
                if paragraphs and _DATE_LINE.match(paragraphs[0]):
                    paragraphs = paragraphs[1:]
                if sum(len(p.split()) for p in paragraphs) >= min_words:
                    url = row["url"].replace("//wiki/", "/wiki/")
                    articles.append(WikinewsArticle(url, row["date"], row["title"], paragraphs))
    if not articles:
        raise SystemExit(f"no Wikinews articles under {folder}; pass --data")
    return articles
