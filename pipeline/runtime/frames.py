"""The binary frames between a stage process and its code process.

Every frame is a 4-byte big-endian length and a body. A batch body is the messages' count, then
per message its partition, offset and timestamp (fixed width; -1 or NaN for none), its topic,
key and value as length-prefixed blobs (length 0xFFFFFFFF for None) and its headers (a count,
then each name and value as blobs). A results body is the
count, then per result its key, value and headers as blobs and its summary as a small JSON
array. Payloads travel as they are: no base64, no JSON around them, no decoding on the way back.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from pipeline import codec
from pipeline.envelope import Incoming
from pipeline.runtime.encoded import Encoded, Summary

HEADER = 4
_COUNT = struct.Struct("!I")
_PLACE = struct.Struct("!iqd")
_NONE = 0xFFFFFFFF


def frame(body: bytes) -> bytes:
    return len(body).to_bytes(HEADER, "big") + body


def _blob(parts: list[bytes], data: bytes | None) -> None:
    if data is None:
        parts.append(_COUNT.pack(_NONE))
    else:
        parts.append(_COUNT.pack(len(data)))
        parts.append(data)


def _headers(parts: list[bytes], headers: Sequence[tuple[str, bytes]]) -> None:
    parts.append(_COUNT.pack(len(headers)))
    for name, value in headers:
        _blob(parts, name.encode())
        _blob(parts, value)


class _Reader:
    def __init__(self, body: bytes) -> None:
        self.view = memoryview(body)
        self.at = 0

    def unpack(self, layout: struct.Struct) -> tuple:
        values = layout.unpack_from(self.view, self.at)
        self.at += layout.size
        return values

    def blob(self) -> bytes | None:
        (size,) = self.unpack(_COUNT)
        if size == _NONE:
            return None
        data = bytes(self.view[self.at : self.at + size])
        if len(data) != size:
            raise ValueError("frame cut short")
        self.at += size
        return data

    def headers(self) -> tuple[tuple[str, bytes], ...]:
        (count,) = self.unpack(_COUNT)
        return tuple(((self.blob() or b"").decode(), self.blob() or b"") for _ in range(count))


def encode_batch(batch: Sequence[Incoming]) -> bytes:
    parts = [_COUNT.pack(len(batch))]
    for m in batch:
        parts.append(
            _PLACE.pack(
                -1 if m.partition is None else m.partition,
                -1 if m.offset is None else m.offset,
                math.nan if m.timestamp is None else m.timestamp,
            )
        )
        _blob(parts, None if m.topic is None else m.topic.encode())
        _blob(parts, m.key)
        _blob(parts, m.value)
        _headers(parts, m.headers)
    return b"".join(parts)


def decode_batch(body: bytes) -> list[Incoming]:
    reader = _Reader(body)
    (count,) = reader.unpack(_COUNT)
    batch = []
    for _ in range(count):
        partition, offset, timestamp = reader.unpack(_PLACE)
        topic = reader.blob()
        key = reader.blob()
        value = reader.blob()
        headers = reader.headers()
        batch.append(
            Incoming(
                value=value,
                key=key,
                topic=None if topic is None else topic.decode(),
                partition=None if partition < 0 else partition,
                offset=None if offset < 0 else offset,
                timestamp=None if math.isnan(timestamp) else timestamp,
                headers=headers,
            )
        )
    return batch


def encode_results(results: Sequence[Encoded]) -> bytes:
    parts = [_COUNT.pack(len(results))]
    for r in results:
        _blob(parts, r.key)
        _blob(parts, r.value)
        s = r.summary
        _blob(parts, codec.dumps([s.dead_letter, s.seconds, s.latency, s.content]))
        _headers(parts, r.headers)
    return b"".join(parts)


def decode_results(body: bytes) -> list[Encoded]:
    reader = _Reader(body)
    (count,) = reader.unpack(_COUNT)
    results = []
    for _ in range(count):
        key = reader.blob()
        value = reader.blob() or b""
        dead_letter, seconds, latency, content = codec.loads(reader.blob() or b"null")
        headers = reader.headers()
        summary = Summary(dead_letter, seconds, latency, tuple(content))
        results.append(Encoded(key, value, summary, headers))
    return results
