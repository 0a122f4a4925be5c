"""The hostile corpus through each stage as a worker runs it (stage code in its own process,
with the time and memory limits of the settings): outcomes, the slowest cases, and the peak
resident memory of the stage's code process.

    python bench/hostile.py [--article-timeout SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.envelope import Incoming
from pipeline.events import DeadLetter
from pipeline.metrics import StageMetrics
from pipeline.runtime.runner import StageRunner
from pipeline.runtime.sandbox import IsolatedStage
from pipeline.settings import Settings
from tests.hostile import ARTICLE, event_cases, raw_cases


def peak_rss_mib(pid: int | None) -> float:
    """The process's high-water mark of resident memory (VmHWM)."""
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run(settings: Settings, stage_name: str, cases) -> None:
    from prometheus_client import CollectorRegistry

    stage = IsolatedStage(settings, stage_name)
    await stage.start()
    idle = peak_rss_mib(stage.pid)
    runner = StageRunner(
        stage,
        StageMetrics(stage_name, CollectorRegistry()),
        settings.article_timeout,
        settings.max_message_bytes,
    )
    outcomes: Counter[str] = Counter()
    timings, peak, unexpected = [], idle, []
    started = time.perf_counter()
    for n, case in enumerate(cases):
        message = Incoming(value=case.value, key=case.key, topic="t", partition=0, offset=n)
        began = time.perf_counter()
        (encoded,) = await runner.process([message])
        result = encoded.decode()
        timings.append((time.perf_counter() - began, case.name))
        outcome = result.reason if isinstance(result, DeadLetter) else ARTICLE
        outcomes[outcome] += 1
        if outcome not in case.expected(stage_name):
            unexpected.append((case.name, outcome))
        peak = max(peak, peak_rss_mib(stage.pid))
    total = time.perf_counter() - started
    stage.close()
    print(f"\n{stage_name}: {len(cases)} cases in {total:.1f}s; restarts of its process: "
          f"{stage.restarts}")  # fmt: skip
    print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    print(
        f"  peak RSS of the stage's code process: {peak:.0f} MiB (idle after loading: {idle:.0f})"
    )
    print("  slowest: " + "; ".join(f"{name} {s:.1f}s" for s, name in sorted(timings)[-5:][::-1]))
    print(f"  unexpected outcomes: {unexpected or 'none'}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--article-timeout", type=float, default=None)
    args = parser.parse_args()
    settings = Settings.load({"article_timeout": args.article_timeout}, env={})
    print(f"machine: {platform.machine()}, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}; article_timeout {settings.article_timeout:g}s, "
          f"stage_memory_limit {settings.stage_memory_limit} MiB")  # fmt: skip
    await run(settings, "clean", raw_cases(settings.max_body_bytes))
    events = event_cases()
    await run(settings, "ner", events)
    await run(settings, "classify", events)


if __name__ == "__main__":
    asyncio.run(main())
