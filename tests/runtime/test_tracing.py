"""Spans per article (setting `tracing`): children of the incoming `traceparent`, whose header
the results then carry, so that one trace follows an article through every stage."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from pipeline.envelope import Incoming
from pipeline.metrics import StageMetrics
from pipeline.runtime.encoded import Encoded
from pipeline.runtime.runner import LocalStage, StageRunner
from pipeline.runtime.tracing import StageTracer
from tests.stage_doubles import MisbehavingStage

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01".encode()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def runner(name: str, exporter: InMemorySpanExporter | None) -> StageRunner:
    tracer = None
    if exporter is not None:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = StageTracer(name, provider)
    stage = LocalStage(MisbehavingStage(name), 1 << 20, threaded=False)
    return StageRunner(stage, StageMetrics(name, CollectorRegistry()), 2.0, 1 << 20, tracer)


def next_hop(result: Encoded, topic: str) -> Incoming:
    """The message the next stage reads: the result as sent, with its headers."""
    return Incoming(result.value, result.key, topic, 0, 7, headers=result.headers)


def header(result: Encoded, name: str) -> bytes:
    [value] = [v for n, v in result.headers if n == name]
    return value


async def test_a_trace_follows_an_article_through_the_stages(exporter):
    message = Incoming(
        b"text",
        b"a1",
        "articles.raw",
        0,
        3,
        headers=(("traceparent", TRACEPARENT), ("tenant", b"acme")),
    )
    parents = [PARENT_ID]
    for stage, topic in (("clean", "articles.clean"), ("ner", "articles.entities")):
        [result] = await runner(stage, exporter).process([message])
        span = exporter.get_finished_spans()[-1]
        context = span.get_span_context()
        assert span.name == f"{stage} article"
        assert format(context.trace_id, "032x") == TRACE_ID
        assert format(span.parent.span_id, "016x") == parents[-1]
        assert span.parent.is_remote
        assert span.attributes["messaging.destination.name"] == message.topic
        assert span.attributes["messaging.kafka.offset"] == message.offset
        # The result carries the new span's context, not the one it came with.
        span_id = format(context.span_id, "016x")
        assert header(result, "traceparent") == f"00-{TRACE_ID}-{span_id}-01".encode()
        assert header(result, "tenant") == b"acme"
        parents.append(span_id)
        message = next_hop(result, topic)
    [result] = await runner("classify", exporter).process([message])
    clean, ner, classify = exporter.get_finished_spans()
    assert classify.parent.span_id == ner.context.span_id
    assert ner.parent.span_id == clean.context.span_id
    assert len({s.context.trace_id for s in (clean, ner, classify)}) == 1


async def test_an_article_without_trace_context_starts_a_trace(exporter):
    [result] = await runner("clean", exporter).process([Incoming(b"text", b"a2", "raw", 0, 0)])
    [span] = exporter.get_finished_spans()
    assert span.parent is None
    trace_id = format(span.context.trace_id, "032x")
    span_id = format(span.context.span_id, "016x")
    # Sampled, and (W3C level 2) a random trace id: flags 03.
    assert header(result, "traceparent") == f"00-{trace_id}-{span_id}-03".encode()


async def test_one_span_per_article_and_a_dead_letter_marks_its_span(exporter):
    batch = [
        Incoming(b"text", b"a3", "raw", 0, 0, headers=(("traceparent", TRACEPARENT),)),
        Incoming(b"deep", b"a4", "raw", 0, 1),  # a result too deep to encode: a dead letter
    ]
    results = await runner("ner", exporter).process(batch)
    assert [r.is_dead_letter for r in results] == [False, True]
    article, letter = exporter.get_finished_spans()
    assert article.status.status_code is StatusCode.UNSET
    assert letter.status.status_code is StatusCode.ERROR
    assert format(article.parent.span_id, "016x") == PARENT_ID
    assert letter.parent is None


async def test_without_a_tracer_the_headers_pass_through_untouched():
    message = Incoming(b"text", b"a5", "raw", 0, 0, headers=(("traceparent", TRACEPARENT),))
    [result] = await runner("clean", None).process([message])
    assert header(result, "traceparent") == TRACEPARENT
