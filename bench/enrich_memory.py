"""Peak memory of `wirestream enrich` on JSON Lines inputs of 100 MB and 1 GB: input streams,
so the peak stays the same whatever the input's size.

Each input, generated in /tmp, alternates a sample article (with its own id, through every
stage) and an oversized article (1.2 MB, dead-lettered `too_large` by clean, its echo cut): the
size comes mostly from the second kind, the work from the first. Peak RSS is the enrich
process's own (`wait4`), its models included; the peak over the first half of the run, sampled
every second, shows whether memory still grows in the second half.

    python bench/enrich_memory.py [--sizes-mb 100 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
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


def rss_mib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next(int(line.split()[1]) / 1024 for line in status.splitlines() if "VmRSS" in line)


def run(path: Path) -> tuple[float, float, float, int]:
    """(peak RSS in MiB over the run's first half, over all of it, seconds, exit status) of one
    enrich run over ``path``; RSS is sampled every second, the peak is the kernel's."""
    command = [sys.executable, "-m", "pipeline", "enrich", str(path), "-o", os.devnull]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples: list[float] = []

    def sample() -> None:
        while process.poll() is None:
            if (rss := rss_mib(process.pid)) is not None:
                samples.append(rss)
            time.sleep(1.0)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    first_half = max(samples[: max(len(samples) // 2, 1)])
    return first_half, usage.ru_maxrss / 1024, time.perf_counter() - started, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; enrich with default settings, output to /dev/null"
    )
    print(
        f"{'input':>9} {'articles':>9} {'oversized':>9} {'seconds':>8} "
        f"{'peak RSS, first half':>21} {'peak RSS':>9}"
    )
    with tempfile.TemporaryDirectory(prefix="wirestream-enrich-") as folder:
        for size_mb in args.sizes_mb:
            path = Path(folder) / f"input-{size_mb}mb.jsonl"
            articles, oversized = generate(path, size_mb * 1_000_000)
            actual = path.stat().st_size / 1e6
            half, peak, seconds, status = run(path)
            # Exit status 1: the oversized articles are dead letters, as intended.
            assert status == 1, f"enrich exited with {status}"
            print(
                f"{actual:>6.0f} MB {articles:>9,} {oversized:>9,} {seconds:>8.1f} "
                f"{half:>17.0f} MiB {peak:>5.0f} MiB"
            )
            path.unlink()


if __name__ == "__main__":
    main()
