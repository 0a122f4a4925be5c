"""The whole pipeline on the embedded broker: real topics, consumer groups and processes."""

from __future__ import annotations

import pytest

from pipeline import codec, schemas
from pipeline.demo import sample_dir
from pipeline.producer import produce, produce_raw
from pipeline.sources import read_sources
from tests.e2e.conftest import collect, counter, running_worker

pytestmark = pytest.mark.e2e

TRACED = (
    ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ("x-tenant", b"desk-7"),
)
TRACED_ID = {"id": "traced-1"}
SPAN = '{"name": "'


def sample_articles() -> list[dict]:
    return [r.article for r in read_sources([sample_dir()]) if r.article]


async def test_articles_in_schema_valid_enriched_events_out_and_bad_input_dead_lettered(
    e2e_settings, tmp_path
):
    settings = e2e_settings
    articles = sample_articles()
    async with running_worker(settings, tmp_path, "worker") as worker:
        keys = await produce(settings, articles[:4])
        bad = [(b"broken-1", b'{"body": "unterminated'), (b"empty-1", b'{"body": " "}')]
        await produce_raw(settings, bad, headers=TRACED)
        await produce_raw(settings, [(b"traced-1", codec.dumps(articles[0] | TRACED_ID))], TRACED)
        keys += await produce(settings, articles[4:])
        watched = [settings.topic_enriched, settings.topic_dlq]
        records = await collect(settings, watched, len(articles) + 3)
        # Metrics are read while the worker runs: they go with its processes.
        invalid_json = counter(
            worker, "wirestream_dead_letters_total", stage="clean", reason="invalid_json"
        )
        classified = counter(worker, "wirestream_messages_total", stage="classify", outcome="out")
        latencies = counter(worker, "wirestream_end_to_end_seconds_count")

    enriched = [r for r in records if r.topic == settings.topic_enriched]
    dead = [r for r in records if r.topic == settings.topic_dlq]
    # A producer's headers (trace context, tenant) reach the enriched event and dead letters.
    (traced,) = [r for r in enriched if r.key == b"traced-1"]
    assert traced.headers == TRACED
    assert all(r.headers == () for r in enriched if r.key != b"traced-1")
    assert [r.headers for r in dead] == [TRACED, TRACED]
    enriched = [r for r in enriched if r.key != b"traced-1"]
    assert sorted(r.key for r in enriched) == sorted(keys)
    for record in enriched:
        event = codec.loads(record.value)
        assert schemas.errors("enriched-article", event) == []
        assert record.key == event["id"].encode()
        assert event["entities"] and event["topic"]
    reasons = {r.key: codec.loads(r.value)["reason"] for r in dead}
    assert reasons == {b"broken-1": "invalid_json", b"empty-1": "empty_body"}
    for record in dead:
        assert schemas.errors("dead-letter", codec.loads(record.value)) == []
    assert invalid_json == 1
    assert classified == latencies == len(articles) + 1


async def test_with_tracing_one_trace_follows_an_article_through_the_stages(e2e_settings, tmp_path):
    settings = e2e_settings.replace(tracing="on")
    article = sample_articles()[0] | TRACED_ID
    async with running_worker(settings, tmp_path, "worker"):
        await produce_raw(settings, [(b"traced-1", codec.dumps(article))], TRACED)
        [record] = await collect(settings, [settings.topic_enriched], 1)
    headers = dict(record.headers)
    version, trace_id, span_id, _ = headers["traceparent"].split(b"-")
    # The same trace, continued by the last stage's span; the other headers untouched.
    assert (version, trace_id) == (b"00", b"4bf92f3577b34da6a3ce929d0e0e4736")
    assert span_id != b"00f067aa0ba902b7"
    assert headers["x-tenant"] == b"desk-7"
    # The stage processes' spans, one JSON object a line in the worker's log (after any
    # terminal control codes faust writes there).
    lines = (tmp_path / "worker.log").read_text().splitlines()
    spans = [codec.loads(line[line.index(SPAN) :]) for line in lines if SPAN in line]
    by_name = {span["name"]: span for span in spans}
    clean, ner, classify = (by_name[f"{s} article"] for s in ("clean", "ner", "classify"))
    assert clean["parent_id"] == "0x00f067aa0ba902b7"
    assert ner["parent_id"] == clean["context"]["span_id"]
    assert classify["parent_id"] == ner["context"]["span_id"]
    assert classify["context"]["span_id"] == "0x" + span_id.decode()
    assert {s["context"]["trace_id"] for s in spans} == {"0x4bf92f3577b34da6a3ce929d0e0e4736"}


async def test_stages_scale_independently_with_partitions_split_between_workers(
    e2e_settings, tmp_path
):
    """Two workers running only NER beside one running the other stages deliver everything,
    each NER worker taking its share of the partitions."""
    settings = e2e_settings
    articles = [
        {**article, "id": f"copy-{n}-{i}"}
        for n in range(2)
        for i, article in enumerate(sample_articles())
    ]
    ner_only = settings.replace(stages=("ner",))
    others = settings.replace(stages=("clean", "classify"))
    async with (
        running_worker(ner_only, tmp_path, "ner-a") as ner_a,
        running_worker(ner_only, tmp_path, "ner-b") as ner_b,
        running_worker(others, tmp_path, "others") as rest,
    ):
        await wait_for_assignment([ner_a, ner_b], "ner", settings.partitions)
        keys = await produce(settings, articles)
        records = await collect(settings, [settings.topic_enriched], len(articles))
        handled = [
            counter(w, "wirestream_messages_total", stage="ner", outcome="out")
            for w in (ner_a, ner_b)
        ]
        ner_elsewhere = counter(rest, "wirestream_messages_total", stage="ner", outcome="out")
        classified = counter(rest, "wirestream_messages_total", stage="classify", outcome="out")

    assert sorted({r.key for r in records}) == sorted(keys)
    assert all(n > 0 for n in handled)
    assert sum(handled) >= len(articles)
    assert ner_elsewhere == 0
    assert classified >= len(articles)


async def wait_for_assignment(workers, stage: str, partitions: int, timeout: float = 60.0) -> None:
    """Until the group has settled: every partition assigned, each worker holding some."""
    import asyncio

    async with asyncio.timeout(timeout):
        while True:
            held = [counter(w, "wirestream_assigned_partitions", stage=stage) for w in workers]
            if sum(held) == partitions and all(held):
                return
            await asyncio.sleep(0.2)
