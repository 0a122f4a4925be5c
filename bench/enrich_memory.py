"""Peak memory of `wirestream enrich` on JSON Lines inputs of 100 MB and 1 GB: input streams,
so the peak stays the same whatever the input's size.

Each input, generated in /tmp, alternates a sample article (with its own id, through every
stage) and an oversized article (1.2 MB, dead-lettered `too_large` by clean, its echo cut): the
size comes mostly from the second kind, the work from the first. Peak RSS is the enrich
process's own (`wait4`), its models included.

    python bench/enrich_memory.py [--sizes-mb 100 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline import codec
from pipeline.demo import sample_dir
from pipeline.sources import read_sources

BIG_BODY_BYTES = 1_200_000  # over the default max_body_bytes (1 MiB)


def generate(path: Path, size: int) -> tuple[int, int]:
    """Write about ``size`` bytes of JSON Lines; returns (articles, oversized) written."""
    samples = [r.article for r in read_sources([sample_dir()]) if r.article]
    filler = " ".join(a["body"] for a in samples)
    big_body = (filler * (BIG_BODY_BYTES // len(filler) + 1))[:BIG_BODY_BYTES]
    written = articles = oversized = 0
    with path.open("wb") as out:
        while written < size:
            sample = samples[articles % len(samples)]
            line = codec.dumps_line({**sample, "id": f"bench-{articles}"})
            big = codec.dumps_line({"id": f"big-{oversized}", "body": big_body})
            out.write(line + big)
            written += len(line) + len(big)
            articles += 1
            oversized += 1
    return articles, oversized


def run(path: Path) -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, exit status) of one enrich run over ``path``."""
    command = [sys.executable, "-m", "pipeline", "enrich", str(path), "-o", os.devnull]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - started, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; enrich with default settings, output to /dev/null"
    )
    print(f"{'input':>9} {'articles':>9} {'oversized':>9} {'seconds':>8} {'peak RSS':>10}")
    with tempfile.TemporaryDirectory(prefix="wirestream-enrich-") as folder:
        for size_mb in args.sizes_mb:
            path = Path(folder) / f"input-{size_mb}mb.jsonl"
            articles, oversized = generate(path, size_mb * 1_000_000)
            actual = path.stat().st_size / 1e6
            rss, seconds, status = run(path)
            # Exit status 1: the oversized articles are dead letters, as intended.
            assert status == 1, f"enrich exited with {status}"
            print(
                f"{actual:>6.0f} MB {articles:>9,} {oversized:>9,} {seconds:>8.1f} {rss:>6.0f} MiB"
            )
            path.unlink()


if __name__ == "__main__":
    main()
