"""Precision@3 and @5 of Wirestream's entity salience ranking against the salient entities of
the GUM news documents (`meta::salientEntities`: entities the documents' summaries mention).

Each GUM document becomes an article: its heading is the title, the rest the text (tokens
joined as written). Our entities are matched to GUM entities through their name mentions (the
smallest GUM mention containing ours). A top-k entity is a hit when its GUM entity is salient
and no higher-ranked entity already hit it. Two gold sets: GUM entities named by at least 3 of
the 5 summaries (majority), and by any summary. Two plain rankings are scored in the same run:
by mention count, and by first position.

    python bench/ner_salience.py [--data DIR] [--model en_core_web_sm]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import SHARED_DATA, article_message

from pipeline.events import Article, Entity
from pipeline.settings import Settings
from pipeline.stages.ner import build_ner_stage

_SALIENT = re.compile(r"(\d+) \((\d)\*?\)")
_ENTITY_MARK = re.compile(r"\((\d+)-[^()]*(\)?)|(\d+)\)")


@dataclass
class GumDocument:
    name: str
    title: str
    text: str
    # GUM entity id -> character spans of its mentions in `text`
    mentions: list[tuple[int, int, str]] = field(default_factory=list)
    salience: dict[str, int] = field(default_factory=dict)

    def gold(self, minimum: int) -> set[str]:
        return {eid for eid, score in self.salience.items() if score >= minimum}


def read_gum(path: Path) -> GumDocument:
    """Text, title, entity mentions (character offsets) and salience scores of one document."""
    title, salience = "", {}
    parts: list[str] = []
    position = 0
    in_heading = False
    open_mentions: dict[str, list[int]] = {}
    mentions: list[tuple[int, int, str]] = []
    mwt_end, mwt_space = 0, True
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# meta::title = "):
            title = line.split("=", 1)[1].strip()
        elif line.startswith("# meta::salientEntities = "):
            salience = {eid: int(score) for eid, score in _SALIENT.findall(line)}
        elif line.startswith("# newpar_block = "):
            in_heading = line.split("=", 1)[1].strip().startswith("head")
            if parts and not in_heading:
                parts.append("\n\n")
                position += 2
        elif line and not line.startswith("#"):
            columns = line.split("\t")
            if "-" in columns[0]:
                mwt_end = int(columns[0].split("-")[1])
                mwt_space = "SpaceAfter=No" not in columns[9]
                continue
            if "." in columns[0] or in_heading:
                continue
            index, word, misc = int(columns[0]), columns[1], columns[9]
            start = position
            parts.append(word)
            position += len(word)
            space = (
                (mwt_space if index == mwt_end else False)
                if index <= mwt_end
                else ("SpaceAfter=No" not in misc)
            )
            _read_entity_marks(misc, start, position, open_mentions, mentions)
            if space:
                parts.append(" ")
                position += 1
        elif not line:
            mwt_end = 0
    return GumDocument(path.stem, title, "".join(parts).rstrip(), mentions, salience)


def _read_entity_marks(
    misc: str,
    start: int,
    end: int,
    open_mentions: dict[str, list[int]],
    mentions: list[tuple[int, int, str]],
) -> None:
    value = next((f[len("Entity=") :] for f in misc.split("|") if f.startswith("Entity=")), "")
    for match in _ENTITY_MARK.finditer(value):
        opened, closes_at_once, closed = match.groups()
        if opened:
            if closes_at_once:
                mentions.append((start, end, opened))
            else:
                open_mentions.setdefault(opened, []).append(start)
        elif closed and open_mentions.get(closed):
            mentions.append((open_mentions[closed].pop(), end, closed))


def gum_entity(document: GumDocument, entity: Entity) -> str | None:
    """The GUM entity most of ``entity``'s name mentions fall in (smallest enclosing mention)."""
    votes: Counter[str] = Counter()
    for mention in entity.mentions:
        if mention.kind != "name":
            continue
        enclosing = [
            (end - start, eid)
            for start, end, eid in document.mentions
            if start <= mention.start and mention.end <= end
        ]
        if enclosing:
            votes[min(enclosing)[1]] += 1
    return votes.most_common(1)[0][0] if votes else None


def precision_at(ranked: Sequence[str | None], gold: set[str], k: int) -> float | None:
    top = list(ranked[:k])
    if not top:
        return None
    seen, hits = set(), 0
    for eid in top:
        if eid in gold and eid not in seen:
            hits += 1
        seen.add(eid)
    return hits / len(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "gum-news")
    parser.add_argument("--model", default="en_core_web_sm")
    args = parser.parse_args()

    documents = [read_gum(p) for p in sorted(args.data.glob("*.conllu"))]
    stage = build_ner_stage(Settings.load({"spacy_model": args.model}, env={}))
    articles = stage.process(
        [article_message(d.text, d.title, article_id=d.name) for d in documents]
    )
    rankings: dict[str, Callable[[list[Entity]], list[Entity]]] = {
        "Wirestream salience": lambda es: sorted(es, key=lambda e: (-e.salience, e.first_offset)),
        "mention count": lambda es: sorted(es, key=lambda e: (-e.count, e.first_offset)),
        "first position": lambda es: sorted(es, key=lambda e: e.first_offset),
    }
    print(f"GUM news: {len(documents)} documents, model {args.model}")
    print(f"{'ranking':22} | {'majority P@3':>12} {'P@5':>6} | {'any-summary P@3':>15} {'P@5':>6}")
    for label, rank in rankings.items():
        scores: dict[tuple[int, int], list[float]] = {}
        for document, article in zip(documents, articles, strict=True):
            assert isinstance(article, Article), article
            ranked = [gum_entity(document, e) for e in rank(article.entities or [])]
            for minimum in (3, 1):
                for k in (3, 5):
                    value = precision_at(ranked, document.gold(minimum), k)
                    if value is not None:
                        scores.setdefault((minimum, k), []).append(value)

        def mean(key: tuple[int, int], table: dict = scores) -> float:
            return sum(table[key]) / len(table[key])

        print(
            f"{label:22} | {mean((3, 3)):12.3f} {mean((3, 5)):6.3f} | "
            f"{mean((1, 3)):15.3f} {mean((1, 5)):6.3f}"
        )


if __name__ == "__main__":
    main()
