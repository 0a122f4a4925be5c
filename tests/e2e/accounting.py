"""The accounting invariant of the reliability tests, and the helpers they share.

Every raw message ends as exactly one of: an enriched event (one ``event_id`` per article,
however many copies at-least-once delivery made), a dead letter, or a counted duplicate drop.
``Ledger`` reads the output topics and checks that sum for a set of produced articles.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from pipeline import codec
from pipeline.producer import read_topics
from pipeline.settings import ENV_PREFIX, Settings

# Full-size runs (`make soak`) set this; CI runs the same scenarios scaled down.
SOAK = os.environ.get("WIRESTREAM_SOAK") == "1"

_PEOPLE = ["Ines Varga", "Tomas Brenner", "Amara Okafor", "Lena Holm", "Rafael Ortiz", "Yuki Sato"]
_PLACES = ["Port Elling", "Marlow", "Kestrel Bay", "Aldburg", "Nova Riva", "Eastwick"]
_THINGS = ["the harbour budget", "a new bridge", "the flood defences", "school funding",
           "the rail strike", "a water shortage"]  # fmt: skip


def synthetic_articles(count: int, prefix: str) -> list[dict]:
    """Short articles written for the tests, each with its own id (NER stays fast on them)."""
    articles = []
    for n in range(count):
        person, place = _PEOPLE[n % len(_PEOPLE)], _PLACES[(n // 6) % len(_PLACES)]
        thing = _THINGS[(n // 36) % len(_THINGS)]
        articles.append(
            {
                "id": f"{prefix}-{n}",
                "title": f"{person} speaks on {thing} in {place}",
                "body": (
                    f"{person} told the council in {place} on Tuesday that {thing} would be "
                    f"decided within weeks. Report number {n} says residents were consulted."
                ),
            }
        )
    return articles


_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "pa", "do", "gre", "lun", "mar"]


def distinct_articles(count: int, prefix: str, seed: int = 11) -> list[dict]:
    """Articles of made-up words, no two alike enough to count as near-duplicates."""
    import random

    rng = random.Random(seed)
    vocabulary = sorted(
        {"".join(rng.choice(_SYLLABLES) for _ in range(rng.randrange(2, 4))) for _ in range(3000)}
    )
    return [
        {
            "id": f"{prefix}-{n}",
            "title": " ".join(rng.choice(vocabulary) for _ in range(5)).capitalize(),
            "body": " ".join(rng.choice(vocabulary) for _ in range(60)).capitalize() + ".",
        }
        for n in range(count)
    ]


@dataclass
class Ledger:
    """What became of each produced article, read back from the enriched and dead-letter topics."""

    expected: set[str]
    event_ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    enriched_records: Counter[str] = field(default_factory=Counter)
    dead: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    dead_records: Counter[str] = field(default_factory=Counter)
    dropped: set[str] = field(default_factory=set)

    def add(self, topic: str, settings: Settings, key: bytes | None, value: bytes | None) -> None:
        article_id = (key or b"").decode("utf-8", "replace")
        if article_id not in self.expected:
            return
        event = codec.loads(value or b"{}")
        if topic == settings.topic_enriched:
            self.event_ids[article_id].add(event["event_id"])
            self.enriched_records[article_id] += 1
        elif topic == settings.topic_dlq:
            self.dead[article_id].add(event["reason"])
            self.dead_records[article_id] += 1

    @property
    def accounted(self) -> set[str]:
        return set(self.event_ids) | set(self.dead) | self.dropped

    @property
    def complete(self) -> bool:
        return self.accounted >= self.expected

    @property
    def duplicates(self) -> int:
        """Copies beyond one per article: what consumers drop by ``event_id``."""
        return (
            sum(self.enriched_records.values())
            - len(self.event_ids)
            + sum(self.dead_records.values())
            - len(self.dead)
        )

    def check(self) -> None:
        """The invariant: each article exactly one of enriched (one event id), dead, dropped."""
        missing = self.expected - self.accounted
        assert not missing, f"{len(missing)} articles lost, e.g. {sorted(missing)[:5]}"
        both = set(self.event_ids) & set(self.dead)
        assert not both, f"enriched and dead-lettered: {sorted(both)[:5]}"
        dropped_too = self.dropped & (set(self.event_ids) | set(self.dead))
        assert not dropped_too, f"dropped and delivered: {sorted(dropped_too)[:5]}"
        several = {a: ids for a, ids in self.event_ids.items() if len(ids) > 1}
        assert not several, f"several event ids for one article: {list(several.items())[:3]}"
        assert len(self.event_ids) + len(self.dead) + len(self.dropped) == len(self.expected)


async def settle(settings: Settings, expected: set[str], timeout: float) -> None:
    """Read the output topics from the beginning until every article is accounted for."""
    ledger = Ledger(expected)
    async with asyncio.timeout(timeout):
        async for record in read_topics(settings, [settings.topic_enriched, settings.topic_dlq]):
            ledger.add(record.topic, settings, record.key, record.value)
            if ledger.complete:
                return


async def enriched(settings: Settings, wanted: set[str], timeout: float) -> None:
    """Until every one of ``wanted`` has an enriched event (earlier dead letters do not count)."""
    ledger = Ledger(wanted)
    async with asyncio.timeout(timeout):
        async for record in read_topics(settings, [settings.topic_enriched]):
            ledger.add(record.topic, settings, record.key, record.value)
            if set(ledger.event_ids) >= wanted:
                return


async def count(settings: Settings, expected: set[str]) -> Ledger:
    """Every copy on the output topics, once the pipeline is quiet."""
    ledger = Ledger(expected)
    async for record in read_topics(
        settings, [settings.topic_enriched, settings.topic_dlq], idle_timeout=2.0
    ):
        ledger.add(record.topic, settings, record.key, record.value)
    return ledger


async def progress(settings: Settings, expected: set[str], at_least: int, timeout: float) -> None:
    """Wait until at least ``at_least`` of the articles have come out of the pipeline."""
    ledger = Ledger(expected)
    async with asyncio.timeout(timeout):
        async for record in read_topics(settings, [settings.topic_enriched, settings.topic_dlq]):
            ledger.add(record.topic, settings, record.key, record.value)
            if len(ledger.accounted) >= at_least:
                return


# --- a `wirestream worker` command in its own process ------------------------------------------


def worker_environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for name, value in settings.as_strings(secrets=True).items():
        env[ENV_PREFIX + name.upper()] = value
    return env


@contextlib.contextmanager
def worker_command(
    settings: Settings, log: Path, prefix: Sequence[str] = ()
) -> Iterator[subprocess.Popen[bytes]]:
    """`wirestream worker` as its own process (run through ``prefix``, e.g. `ip netns exec`,
    which execs it in place); killed at the end if still running."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "pipeline", "worker"],
            env=worker_environment(settings),
            stdout=output,
            stderr=output,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def metric(settings: Settings, name: str, **labels: str) -> float:
    """A sample of the worker's /metrics: the sum of those with ``labels`` among theirs."""
    url = f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def wait_ready(settings: Settings, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the worker's /readyz answers 200."""
    url = f"http://{settings.metrics_host}:{settings.metrics_port}/readyz"
    async with aiohttp.ClientSession() as session, asyncio.timeout(timeout):
        while True:
            assert process.poll() is None, f"worker exited with {process.returncode}"
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.3)


def parent_pid(pid: int) -> int | None:
    """From /proc/PID/stat: the field after the state, past the name (which may hold spaces)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def stage_pids(worker_pid: int) -> list[int]:
    """The live child processes of ``worker_pid`` (a worker's stage processes, or a stage
    process's code process), from every process's /proc/PID/stat; never empty."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    assert pids, "no /proc to find child processes in"
    children = sorted(pid for pid in pids if parent_pid(pid) == worker_pid and alive(pid))
    assert children, f"process {worker_pid} has no child processes"
    return children


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return False


async def wait_gone(pids: list[int], timeout: float) -> float:
    """Seconds until every process has exited."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while any(alive(pid) for pid in pids):
            await asyncio.sleep(0.05)
    return time.monotonic() - started


def kill(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


async def busiest_leader(settings: Settings) -> int:
    """The id of the broker leading the most partitions of the pipeline's topics."""
    from aiokafka.admin import AIOKafkaAdminClient

    from pipeline.kafka import client_options

    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(list(settings.topic_partitions))
    finally:
        await admin.close()
    leaders = Counter(p["leader"] for topic in described for p in topic["partitions"])
    return leaders.most_common(1)[0][0]
