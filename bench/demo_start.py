"""Wall time of `make demo` on each embedded broker: Apache Kafka (one node) vs Tansu.

Each round runs `make demo` as a user does (the sample articles, everything started and
stopped), once with `embedded_broker` kafka and once with tansu, in alternating
order; the medians of the rounds and their ratio are printed, with the demo's own "Broker ready"
and "Workers ready" times. Needs Java (and the Kafka jars, or Maven to fetch them).

    python bench/demo_start.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from throughput import machine  # noqa: E402

KINDS = ("kafka", "tansu")


def one_demo(kind: str) -> dict[str, float]:
    env = {**os.environ, "WIRESTREAM_EMBEDDED_BROKER": kind, "WIRESTREAM_METRICS_PORT": "0"}
    env.pop("WIRESTREAM_BROKER", None)
    started = time.monotonic()
    result = subprocess.run(
        ["make", "--no-print-directory", "demo"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"the demo on {kind} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    figures = {"wall": wall}
    for name, pattern in (("broker", r"Broker ready in ([\d.]+)s"),
                          ("workers", r"Workers ready in ([\d.]+)s")):  # fmt: skip
        found = re.search(pattern, result.stdout)
        if found is None:
            sys.exit(f"the demo on {kind} did not say {pattern!r}:\n{result.stdout[-3000:]}")
        figures[name] = float(found.group(1))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the start")
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    for n in range(args.rounds):
        for kind in KINDS if n % 2 == 0 else KINDS[::-1]:
            figures = one_demo(kind)
            runs[kind].append(figures)
            print(
                f"round {n + 1} {kind:<5}: `make demo` {figures['wall']:.1f}s, broker ready "
                f"{figures['broker']:.1f}s, workers ready {figures['workers']:.1f}s",
                flush=True,
            )
    medians = {
        kind: {key: statistics.median(r[key] for r in runs[kind]) for key in runs[kind][0]}
        for kind in KINDS
    }
    for kind in KINDS:
        m = medians[kind]
        print(
            f"median {kind:<5}: `make demo` {m['wall']:.1f}s, broker ready {m['broker']:.1f}s, "
            f"workers ready {m['workers']:.1f}s"
        )
    ratio = medians["kafka"]["wall"] / medians["tansu"]["wall"]
    print(f"`make demo` wall time, Apache Kafka / Tansu: {ratio:.2f} ({args.rounds} rounds each)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
