"""The binary frames between a stage process and its code process: everything crosses byte for
byte, None included."""

from __future__ import annotations

from pipeline.envelope import Incoming
from pipeline.runtime.encoded import Encoded, Summary
from pipeline.runtime.frames import decode_batch, decode_results, encode_batch, encode_results


def message(value: bytes | None, offset: int = 0, key: bytes | None = None) -> Incoming:
    return Incoming(
        value=value, key=key, topic="clean-x", partition=1, offset=offset, timestamp=1.7e9
    )


def test_messages_cross_to_the_child_byte_for_byte():
    batch = [message(bytes(range(256)), 0, key=b"\xff\x00"), message(None, 1), message(b"", 2)]
    batch.append(Incoming(value=b"no place"))
    batch.append(Incoming(value=b"traced", headers=(("traceparent", b"00-ab-cd-01"), ("t", b""))))
    assert decode_batch(encode_batch(batch)) == batch


def test_results_cross_back_byte_for_byte():
    results = [
        Encoded(b"a1", b'{"id":"a1"}', Summary(seconds=0.5, content=("en",))),
        Encoded(None, bytes(range(256)), Summary(dead_letter="timeout")),
        Encoded(b"a2", b"{}", Summary(latency=1.5), headers=(("h", b"\x00\xff"),)),
    ]
    assert decode_results(encode_results(results)) == results
