"""Top entities of every sample article, through the clean and NER stages, for eyeballing labels.

Each file in ``samples/`` (or the paths given) goes through the same stage code as the workers;
for each article the script prints its title, dateline and its most salient entities as
`name (LABEL, count)`.

    python bench/ner_samples.py [PATH ...] [--top 12] [--model en_core_web_sm]
"""

from __future__ import annotations

import argparse

from pipeline import codec
from pipeline.demo import sample_dir
from pipeline.envelope import Incoming
from pipeline.events import Article
from pipeline.settings import Settings
from pipeline.sources import read_sources
from pipeline.stages import build_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="files or folders (default: the samples)")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--model", default="en_core_web_sm")
    args = parser.parse_args()

    settings = Settings.load({"spacy_model": args.model}, env={})
    clean, ner = build_stage(settings, "clean"), build_stage(settings, "ner")
    records = list(read_sources(args.paths or [sample_dir()]))
    messages = [Incoming(value=codec.dumps(r.article)) for r in records if r.article is not None]
    cleaned = clean.process(messages)
    survivors = [Incoming(value=codec.dumps(a)) for a in cleaned if isinstance(a, Article)]
    for record, article in zip(records, ner.process(survivors), strict=True):
        if not isinstance(article, Article):
            print(f"{record.origin}: dead letter: {article.reason}: {article.error}\n")
            continue
        print(f"{record.origin}\n  title:    {article.title}")
        if article.dateline:
            print(f"  dateline: {article.dateline}")
        for entity in (article.entities or [])[: args.top]:
            print(f"    {entity.salience:.2f}  {entity.name} ({entity.label}, {entity.count})")
        print()


if __name__ == "__main__":
    main()
