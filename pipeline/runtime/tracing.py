"""OpenTelemetry spans per article, made in the stage process (setting `tracing`).

One span per article, not per batch: each article arrives with its own W3C `traceparent` (its
own trace), and a span has one parent, so only a span per article keeps every article's trace
unbroken through clean → ner → classify. The span is a child of the incoming message's
`traceparent` (a root span when it has none) and covers the batch's time in the stage; the
result's `traceparent` (and `tracestate`) is replaced by the new span's, so the next stage's span
is its child. Spans are exported by the SDK's batch processor, off the event loop.

This module imports the optional `opentelemetry` packages (`pip install 'wirestream[otel]'`);
nothing imports it while `tracing` is `off`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pipeline.envelope import Incoming
from pipeline.runtime.encoded import Encoded

TRACE_HEADERS = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()


def console_provider(stage: str, out: TextIO | None = None) -> TracerProvider:
    """The provider `tracing = on` uses: spans as JSON lines on ``out`` (standard error). The
    resource's `service.name` is `wirestream-<stage>` unless `OTEL_SERVICE_NAME` says otherwise."""
    # Resource.create lets given attributes win over the environment's, so give it only a default.
    named = os.environ.get("OTEL_SERVICE_NAME") or f"wirestream-{stage}"
    resource = Resource.create({"service.name": named})
    provider = TracerProvider(resource=resource)
    exporter = ConsoleSpanExporter(
        out=out or sys.stderr, formatter=lambda span: span.to_json(indent=None) + "\n"
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class StageTracer:
    """Makes a stage's spans and rewrites its results' trace headers."""

    def __init__(self, stage: str, provider: TracerProvider) -> None:
        self.stage = stage
        self.provider = provider
        self._tracer = provider.get_tracer("wirestream")

    def trace(
        self, batch: Sequence[Incoming], results: Sequence[Encoded], started_ns: int
    ) -> list[Encoded]:
        """``results`` (one per message of ``batch``, in order), each with the trace headers of
        a new span for its article, a child of its message's."""
        ended_ns = time.time_ns()
        traced = []
        for message, result in zip(batch, results, strict=True):
            incoming = {n: v.decode("latin-1") for n, v in message.headers if n in TRACE_HEADERS}
            span = self._tracer.start_span(
                f"{self.stage} article",
                context=_PROPAGATOR.extract(incoming),
                kind=SpanKind.CONSUMER,
                start_time=started_ns,
                attributes=_attributes(self.stage, message),
            )
            reason = result.summary.dead_letter
            if reason is not None:
                span.set_status(Status(StatusCode.ERROR, f"dead letter: {reason}"))
            span.end(end_time=ended_ns)
            outgoing: dict[str, str] = {}
            _PROPAGATOR.inject(outgoing, context=trace.set_span_in_context(span))
            headers = tuple((n, v) for n, v in result.headers if n not in TRACE_HEADERS)
            headers += tuple((n, v.encode("latin-1")) for n, v in outgoing.items())
            traced.append(Encoded(result.key, result.value, result.summary, headers))
        return traced

    def close(self) -> None:
        """Export what is left (the batch processor's queue)."""
        self.provider.shutdown()


def _attributes(stage: str, message: Incoming) -> dict[str, str | int]:
    """The span's attributes (OpenTelemetry's messaging conventions); unknowns left out."""
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "wirestream.stage": stage,
    }
    if message.topic is not None:
        attributes["messaging.destination.name"] = message.topic
    if message.partition is not None:
        attributes["messaging.destination.partition.id"] = str(message.partition)
    if message.offset is not None:
        attributes["messaging.kafka.offset"] = message.offset
    return attributes
