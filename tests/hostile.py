"""A hostile corpus written for Wirestream's reliability tests.

Every case is built here, from a fixed seed, out of text written for the project: random bytes,
broken and deeply nested JSON, wrong types, invalid UTF-8, NUL bytes, oversized bodies, HTML
nested 100,000 deep, inputs built to make the clean stage's regular expressions backtrack,
control and bidi characters, emoji floods. ``raw_cases()`` are messages for the raw topic (the
clean stage's input); ``event_cases()`` are messages for the topics between stages (the NER and
classify stages' input), which a misbehaving producer could write to as well.

Each case pins the one outcome a stage gives it: ``ARTICLE`` (the stage emits an article) or a
dead-letter reason code. Where the NER and classify stages differ on an event, the case says so
per stage.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from pipeline import __version__, codec
from pipeline.events import Article, PipelineInfo, Reason, StageInfo

ARTICLE = "article"
SEED = 20240611
MIB = 1 << 20

_STORY = (
    "The harbour authority in Port Elling said on Monday that two container ships had collided "
    "in thick fog near the northern breakwater. Nobody was hurt, according to a spokeswoman, "
    "but the channel will stay closed while divers inspect the damage.\n\n"
    "Captain Ines Varga, who commands the pilot boats, said visibility had dropped to less than "
    "fifty metres within minutes. The port expects to reopen by Wednesday."
)
_WORDS = [
    "council", "budget", "river", "harbour", "minister", "election", "court", "ruling", "vote",
    "storm", "bridge", "school", "hospital", "union", "strike", "market", "shares", "inflation",
    "farmers", "drought", "rain", "festival", "museum",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Case:
    """One hostile message and the outcome a stage gives it."""

    name: str
    value: bytes | None
    expect: str
    key: bytes | None = b"hostile"
    # (stage, outcome or outcomes) for a stage whose outcome differs from ``expect``.
    by_stage: tuple[tuple[str, str | tuple[str, ...]], ...] = field(default=())

    def expected(self, stage: str) -> tuple[str, ...]:
        """The outcomes this stage may give the case: one, or the limits that may come first."""
        outcome = dict(self.by_stage).get(stage, self.expect)
        return outcome if isinstance(outcome, tuple) else (outcome,)


def _article(body: object, **fields: object) -> bytes:
    return codec.dumps(
        {"id": "hostile-article", "title": "Ships collide in fog", **fields, "body": body}
    )


# --- raw messages: the clean stage's input --------------------------------------------------


def _random_bytes(rng: random.Random) -> Iterator[Case]:
    for size in (0, 1, 2, 3, 5, 8, 13, 31, 64, 100, 255, 512, 1000, 4096, 16384, 65536):
        data = rng.randbytes(size)
        # Seeded: every draw is invalid UTF-8 except the empty one, which is not JSON.
        outcome = Reason.NOT_UTF8 if size else Reason.INVALID_JSON
        yield Case(f"random-bytes-{size}", data, outcome)
    for n in range(12):
        size = rng.randrange(1, 3000)
        data = b"{" + rng.randbytes(size)
        yield Case(f"random-after-brace-{n}", data, Reason.NOT_UTF8)
    for n in range(10):
        text = "".join(
            rng.choice('{}[]":,0123456789abc \n\\') for _ in range(rng.randrange(1, 400))
        )
        yield Case(f"json-punctuation-noise-{n}", text.encode(), Reason.INVALID_JSON)


def _truncated_json() -> Iterator[Case]:
    whole = _article(_STORY, url="https://news.example/ships", metadata={"desk": ["port", 1]})
    for n in range(24):
        cut = (len(whole) * n) // 24
        yield Case(f"truncated-json-at-{cut}", whole[:cut], Reason.INVALID_JSON)


def _nesting() -> Iterator[Case]:
    for depth in (10, 100, 1000, 10_000, 100_000):
        # The JSON parser reads up to 1,024 levels: within them, valid JSON but not an article.
        outcome = Reason.SCHEMA_VIOLATION if depth <= 1024 else Reason.INVALID_JSON
        yield Case(f"nested-arrays-{depth}", b"[" * depth + b"]" * depth, outcome)
        yield Case(f"nested-objects-{depth}", b'{"a":' * depth + b"1" + b"}" * depth, outcome)
        yield Case(f"nested-arrays-unclosed-{depth}", b"[" * depth, Reason.INVALID_JSON)
    # Metadata is passed through untouched: nesting the JSON writer cannot write again (over
    # 254 levels) is refused before any work, deeper than the parser reads is not JSON.
    for depth, outcome in [
        (50, ARTICLE), (200, ARTICLE), (300, Reason.SCHEMA_VIOLATION),
        (1000, Reason.SCHEMA_VIOLATION), (5000, Reason.INVALID_JSON),
    ]:  # fmt: skip
        nested = '{"m":' * depth + "1" + "}" * depth
        value = b'{"body": ' + codec.dumps(_STORY) + b', "metadata": ' + nested.encode() + b"}"
        yield Case(f"nested-metadata-{depth}", value, outcome)


def _wrong_types() -> Iterator[Case]:
    schema = Reason.SCHEMA_VIOLATION
    for name, body in [
        ("number", 1), ("float", 1.5), ("true", True), ("null", None), ("list", ["a", "b"]),
        ("object", {"text": _STORY}), ("empty-list", []),
    ]:  # fmt: skip
        yield Case(f"body-is-{name}", _article(body), schema)
    for field_name, value in [
        ("id", 5), ("id", ["x"]), ("id", "i" * 600), ("url", 9), ("url", "u" * 9000),
        ("title", 7), ("title", {"t": 1}), ("title", "t" * 5000), ("source", False),
        ("author", ["a"]), ("published_at", 1_700_000_000), ("published_at", "p" * 200),
        ("language", {"code": "en"}), ("language", "l" * 40), ("content_type", "application/pdf"),
        ("content_type", 3), ("metadata", "desk"), ("metadata", [1, 2]), ("schema_version", 1),
    ]:  # fmt: skip
        yield Case(
            f"{field_name}-wrong-{type(value).__name__}-{len(str(value))}",
            _article(_STORY, **{field_name: value}),
            schema,
        )
    for name, value in [
        ("top-level-list", b"[1, 2, 3]"), ("top-level-string", b'"just a string"'),
        ("top-level-number", b"42"), ("top-level-null", b"null"), ("top-level-true", b"true"),
        ("empty-object", b"{}"), ("no-body", b'{"title": "Nothing else"}'),
    ]:  # fmt: skip
        yield Case(name, value, schema)
    yield Case("unknown-fields-ignored", _article(_STORY, extra={"x": 1}, flag=True), ARTICLE)


def _invalid_utf8() -> Iterator[Case]:
    not_utf8 = Reason.NOT_UTF8
    prefix, suffix = b'{"body": "Harbour news ', b' and more."}'
    for name, raw in [
        ("latin1-e-acute", b"caf\xe9"), ("lone-continuation", b"\x80\x80"),
        ("overlong-slash", b"\xc0\xaf"), ("overlong-nul", b"\xc0\x80"),
        ("encoded-surrogate", b"\xed\xa0\x80"), ("truncated-euro", b"\xe2\x82"),
        ("five-byte-form", b"\xf8\x88\x80\x80\x80"), ("beyond-unicode", b"\xf4\x90\x80\x80"),
        ("ff-fe", b"\xff\xfe"), ("cesu8-emoji", b"\xed\xa0\xbd\xed\xb8\x80"),
        ("high-bytes-run", bytes(range(0x80, 0x100))), ("windows-1252-quotes", b"\x93hi\x94"),
    ]:  # fmt: skip
        yield Case(f"invalid-utf8-{name}", prefix + raw + suffix, not_utf8)
    yield Case("invalid-utf8-in-key", b'{"bo\xffdy": "x"}', not_utf8)
    yield Case("utf16-with-bom", '{"body": "UTF-16 text"}'.encode("utf-16"), not_utf8)
    yield Case("utf32", '{"body": "UTF-32 text"}'.encode("utf-32"), not_utf8)
    yield Case("latin1-whole-doc", '{"body": "Zürich, Málaga"}'.encode("latin-1"), not_utf8)
    # Valid UTF-8 bytes, but JSON escapes for half a surrogate pair: not a Unicode string.
    yield Case("escaped-lone-surrogate", b'{"body": "a \\ud800 b"}', Reason.INVALID_JSON)
    yield Case("escaped-low-surrogate", b'{"body": "\\udc00"}', Reason.INVALID_JSON)
    yield Case("escaped-surrogate-pair-ok", b'{"body": "Smile \\ud83d\\ude00 please"}', ARTICLE)
    yield Case("utf8-bom-prefix", b"\xef\xbb\xbf" + _article(_STORY), Reason.INVALID_JSON)


def _nul_bytes() -> Iterator[Case]:
    yield Case("raw-nul-bytes", b"\x00" * 100, Reason.INVALID_JSON)
    yield Case("nul-then-json", b"\x00" + _article(_STORY), Reason.INVALID_JSON)
    yield Case("json-then-nul", _article(_STORY) + b"\x00", Reason.INVALID_JSON)
    yield Case("body-all-nul", _article("\x00" * 10_000), Reason.EMPTY_BODY)
    yield Case("body-nul-between-words", _article(_STORY.replace(" ", "\x00")), ARTICLE)
    yield Case("body-nul-sprinkled", _article("\x00".join(_STORY)), ARTICLE)
    yield Case("title-with-nul", _article(_STORY, title="Ships\x00collide"), ARTICLE)
    yield Case("id-with-nul", _article(_STORY, id="id\x00with\x00nul"), ARTICLE)
    yield Case("html-with-nul", _article("<p>Ships\x00collide</p><p>\x00</p>"), ARTICLE)
    yield Case("nul-key", _article(_STORY), ARTICLE, key=b"\x00\x00")


def _sizes(max_body_bytes: int) -> Iterator[Case]:
    yield Case("body-5-mb", _article("x" * (5 * MIB)), Reason.TOO_LARGE)
    yield Case("padding-5-mb", b" " * (5 * MIB) + _article(_STORY), Reason.TOO_LARGE)
    just_under = max_body_bytes - len(_article("")) - 16
    yield Case("one-token-just-under-limit", _article("w" * just_under), ARTICLE)
    words = " ".join(_WORDS)
    sentences = (words + ". ") * (just_under // (len(words) + 2))
    yield Case("words-just-under-limit", _article(sentences), ARTICLE)
    # A line break takes two bytes as a JSON escape.
    yield Case("newlines-just-under-limit", _article("\n" * (just_under // 2)), Reason.EMPTY_BODY)
    yield Case("dots-just-under-limit", _article("." * just_under), ARTICLE)
    yield Case("tiny-paragraphs-200k", _article("a\n\n" * 200_000), ARTICLE)
    yield Case("whitespace-padding-500k", b" " * 500_000 + _article(_STORY), ARTICLE)
    yield Case("empty-value", b"", Reason.INVALID_JSON)
    yield Case("tombstone", None, Reason.EMPTY_BODY)
    yield Case("huge-key", _article(_STORY), ARTICLE, key=b"k" * 100_000)
    yield Case("no-key", _article(_STORY), ARTICLE, key=None)


def _html() -> Iterator[Case]:
    depth = 100_000
    # The HTML parser gives up past its depth limit: text under 100,000 open block or inline
    # elements is lost (an empty body), except where the parser closes each <p> or <li> at the
    # next one.
    for tag, outcome in [("b", Reason.EMPTY_BODY), ("p", ARTICLE), ("li", ARTICLE)]:
        nested = f"<{tag}>" * depth + "Deep text." + f"</{tag}>" * depth
        yield Case(f"html-nested-{tag}-{depth}", _article(nested), outcome)
    for tag in ("div", "span", "table"):  # never closed
        yield Case(
            f"html-open-{tag}-{depth}", _article(f"<{tag}>" * depth + "Deep."), Reason.EMPTY_BODY
        )
    yield Case(
        "html-page-nested-divs",
        _article("<!doctype html><html><body>" + "<div>" * depth + _STORY + "</body></html>"),
        Reason.EMPTY_BODY,
    )
    yield Case("html-unclosed-p-100k", _article("<p>word " * depth), ARTICLE)
    yield Case("html-comment-unclosed", _article("<p>Start</p><!--" + "x" * 100_000), ARTICLE)
    yield Case("html-cdata-unclosed", _article("<p>a</p><![CDATA[" + "y" * 100_000), ARTICLE)
    yield Case(
        "html-script-500k",
        _article("<p>Story.</p><script>" + "v=1;" * 125_000 + "</script>"),
        ARTICLE,
    )
    yield Case("html-entity-flood", _article("<p>" + "&amp;" * depth + "</p>"), ARTICLE)
    yield Case("html-numeric-entities", _article("<p>" + "&#128512;" * 50_000 + "</p>"), ARTICLE)
    yield Case(
        "html-bad-entities", _article("<p>" + "&#0;&#xD800;&#99999999;" * 20_000 + "</p>"), ARTICLE
    )
    yield Case(  # one letter of text
        "html-huge-attribute", _article('<p title="' + "a" * 500_000 + '">x</p>'), Reason.EMPTY_BODY
    )
    yield Case("html-angle-brackets", _article("<<<<>>>>" * 50_000), ARTICLE)
    yield Case("html-only-lt", _article("<" * 300_000), ARTICLE)
    yield Case("html-tags-no-text", _article("<p></p>" * 50_000), Reason.EMPTY_BODY)
    yield Case(
        "html-many-pages", _article("<html><body><p>Page.</p></body></html>" * 10_000), ARTICLE
    )
    yield Case("html-head-only", _article("<html><head><title>T</title></head></html>"), ARTICLE)
    yield Case("html-declared-plain", _article("<div>" * 1000, content_type="text/plain"), ARTICLE)
    yield Case("html-declared-html-no-tags", _article(_STORY, content_type="text/html"), ARTICLE)


def _regex_bait() -> Iterator[Case]:
    """Inputs shaped against each pattern the clean stage applies to whole bodies or paragraphs:
    long runs that almost match, repeated starts without an end."""
    n = 200_000
    baits = {
        "tag-starts-without-end": "<p" * n,
        "tag-start-then-no-gt": "<a " + "x" * 500_000,
        "doctype-then-spaces": "<!doctype" + " \t" * n,
        "html-starts": "<html" * n,
        "entity-starts": "&#" * n,
        "entity-digits": "&#" + "1" * 500_000,
        "ampersands": "&" * 500_000,
        "byline-spaces": "By" + " " * 500_000 + "x",
        "byline-colons": "By:" + ":" * 500_000,
        "dateline-caps": "MOSCOW " * 100_000,
        "dateline-capitals-one-word": "A" * 500_000 + " - text",
        "dateline-comma-words": "PARIS, " + "Word." * 100_000,
        "read-more-spaces": "Read more" + " " * 500_000 + "x",
        "platform-list": "Facebook | " * 50_000,
        "click-here": "Click here" + " x" * 200_000,
        "subscribe-newsletter": "Subscribe" + " newsletter" * 50_000,
        "copyright-words": "copyright " * 100_000,
        "copyright-signs": "©" * 500_000,
        "year-ranges": "1999-2000 " * 100_000,
        "post-appeared": "The post " + "x " * 200_000 + "appeared first on",
        "reporting-by": "(Reporting by " + "a" * 500_000,
        "date-words-dots": "a." * 400_000,
        "sentence-end-search": "word" * 200_000,
        "line-breaks": "\r" * 500_000 + "text",
        "mixed-spaces": "\u00a0 \t\u3000" * 100_000 + "text",
        "title-separators": "x" + " " * 4000,
        "hyphenated-breaks": "ab-\n" * 200_000,
        "lowercase-wraps": "word\nword\n" * 70_000,
    }
    empty = {"html-starts", "title-separators"}  # nothing left once tags and spaces go
    for name, body in baits.items():
        outcome = Reason.EMPTY_BODY if name in empty else ARTICLE
        yield Case(f"regex-bait-{name}", _article(body), outcome)
    yield Case("regex-bait-title", _article(_STORY, title="x" + " " * 4000 + "| y"), ARTICLE)
    yield Case(
        "regex-bait-byline-paragraph", _article("By " + "Ann, " * 30 + "\n\n" + _STORY), ARTICLE
    )


def _control_and_bidi() -> Iterator[Case]:
    c0 = "".join(chr(c) for c in range(32) if chr(c) not in "\t\n\r")
    c1 = "".join(chr(c) for c in range(0x80, 0xA0))
    texts = {
        "c0-controls": (c0 + " word ") * 2000,
        "c1-controls": (c1 + " word ") * 2000,
        "delete-chars": "\x7f" * 10_000 + _STORY,
        "bidi-override-names": _STORY.replace("Ines Varga", "\u202eagraV senI\u202c"),
        "bidi-isolates": "\u2066\u2067\u2068" * 30_000 + _STORY,
        "direction-marks": ("\u200e\u200f" * 5 + "word ") * 10_000,
        "zero-width-joiners": "\u200d" * 200_000 + _STORY,
        "zero-width-spaces": "\u200b".join(_STORY),
        "line-separators": "\u2028" * 100_000 + _STORY,
        "paragraph-separators": ("word\u2029") * 100_000,
        "zalgo": "H" + "\u0301\u0316\u0334" * 160_000 + " arbour",
        "variation-selectors": ("a\ufe0f" * 50_000),
        "tag-characters": "".join(chr(0xE0020 + i % 95) for i in range(100_000)) + _STORY,
        "noncharacters": "\ufffe\uffff\U0001fffe" * 20_000 + _STORY,
        "private-use": "\ue000\U000f0000" * 50_000,
        "byte-order-marks": "\ufeff" * 50_000 + _STORY,
        "form-feeds-vertical-tabs": "\x0c\x0b" * 100_000 + _STORY,
        "soft-hyphens": "\u00ad".join(_STORY),
        "replacement-chars": "\ufffd" * 200_000,
        "interlinear-annotation": "\ufff9a\ufffab\ufffb" * 30_000,
    }
    for name, body in texts.items():
        yield Case(f"control-{name}", _article(body), ARTICLE)
    yield Case("control-bidi-title", _article(_STORY, title="\u202eeltit desrever\u202c"), ARTICLE)


def _emoji() -> Iterator[Case]:
    texts = {
        "flood": "😀" * 200_000,
        "zwj-families": "👩\u200d👩\u200d👧\u200d👦" * 30_000,
        "flags": "🇫🇷🇩🇪🇯🇵" * 40_000,
        "skin-tones-alone": "🏽" * 100_000,
        "keycaps": "1\ufe0f\u20e3" * 60_000,
        "between-words": " ".join(f"{w} 🔥" for w in _WORDS * 3000),
        "in-story": _STORY.replace(" ", " 🚢 "),
    }
    for name, body in texts.items():
        yield Case(f"emoji-{name}", _article(body), ARTICLE)
    yield Case("emoji-title-only", _article("⚓", title="🚢🚢🚢"), ARTICLE)


def _odd_text(rng: random.Random) -> Iterator[Case]:
    texts = {
        "cjk-no-spaces": "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(300_000)),
        "arabic-letters": " ".join(
            "".join(chr(rng.randrange(0x0621, 0x064A)) for _ in range(rng.randrange(2, 8)))
            for _ in range(40_000)
        ),
        "math-alphanumerics": "𝐏𝐨𝐫𝐭 𝐄𝐥𝐥𝐢𝐧𝐠 " * 20_000,
        "fullwidth": "Ｐｏｒｔ　Ｅｌｌｉｎｇ " * 30_000,
        "mojibake-e-acute": "CafÃ© " * 60_000,
        "mojibake-quotes": "Itâ€™s â€œfineâ€\x9d " * 20_000,
        "honorific-flood": "Mr. " * 100_000 + "Varga said.",
        "capitalised-names": "John Smith met Anna Kovacs. " * 20_000,
        "long-number": "1" * 500_000,
        "single-long-token": "".join(rng.choice("abcdefghij") for _ in range(500_000)),
        "repeated-sentence": (_STORY.split("\n\n")[0] + "\n\n") * 1500,
        "homoglyphs": "Pоrt Еlling" * 30_000,  # Cyrillic о and Е among Latin letters
        "decomposed-accents": ("Ma\u0301laga Zu\u0308rich " * 40_000),
        "ligatures": "ﬁnance ﬂood ﬀ " * 40_000,
        "all-caps-shouting": _STORY.upper() * 200,
    }
    for name, body in texts.items():
        yield Case(f"odd-{name}", _article(body), ARTICLE)


def _json_oddities() -> Iterator[Case]:
    invalid = Reason.INVALID_JSON
    story = _STORY.replace("\n", "\\n").encode()
    yield Case("json-nan", b'{"body": "x", "metadata": {"n": NaN}}', invalid)
    yield Case("json-infinity", b'{"body": "x", "metadata": {"n": Infinity}}', invalid)
    yield Case("json-huge-exponent", b'{"body": "x", "metadata": {"n": 1e999999}}', invalid)
    yield Case(
        "json-huge-integer", b'{"body": "x", "metadata": {"n": ' + b"9" * 5000 + b"}}", invalid
    )
    yield Case("json-duplicate-keys", b'{"body": "first", "body": "' + story + b'"}', ARTICLE)
    yield Case("json-trailing-garbage", _article(_STORY) + b" trailing", invalid)
    yield Case("json-two-objects", _article(_STORY) + _article(_STORY), invalid)
    yield Case("json-comment", b'{"body": "x" /* note */}', invalid)
    yield Case("json-single-quotes", b"{'body': 'x'}", invalid)
    yield Case("json-unquoted-key", b"{body: 1}", invalid)
    yield Case(
        "json-escaped-everything",
        b'{"body": "' + b"".join(b"\\u%04x" % ord(c) for c in _STORY[:2000]) + b'"}',
        ARTICLE,
    )
    yield Case("json-bad-escape", b'{"body": "\\x41"}', invalid)
    yield Case("json-control-in-string", b'{"body": "a\x01b"}', invalid)
    yield Case(
        "json-many-keys",
        codec.dumps({"body": _STORY, "metadata": {f"k{i}": i for i in range(50_000)}}),
        ARTICLE,
    )
    yield Case("json-long-key", codec.dumps({"body": _STORY, "k" * 200_000: 1}), ARTICLE)


def raw_cases(max_body_bytes: int = MIB) -> list[Case]:
    """Messages for the raw topic, each with the outcomes the clean stage may give it."""
    rng = random.Random(SEED)
    cases = [
        *_random_bytes(rng),
        *_truncated_json(),
        *_nesting(),
        *_wrong_types(),
        *_invalid_utf8(),
        *_nul_bytes(),
        *_sizes(max_body_bytes),
        *_html(),
        *_regex_bait(),
        *_control_and_bidi(),
        *_emoji(),
        *_odd_text(rng),
        *_json_oddities(),
    ]
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


# --- events between stages: the NER and classify stages' input --------------------------------


# What NER gives the texts that are too much for it at full size (`make soak`): spaCy's
# tokenizer is quadratic on long runs without spaces, and 100,000 one-letter lines outgrow the
# stage's memory limit. 199,000 words reach the memory limit in about 10 s on a quiet machine,
# the time limit (20 s) first on a busy one.
FULL_SIZE_NER: dict[str, str | tuple[str, ...]] = {
    "emoji-flood": Reason.TIMEOUT,
    "replacement-chars": Reason.TIMEOUT,
    "text-just-under-spacy-limit": (Reason.STAGE_ERROR, Reason.TIMEOUT),
    "newlines": Reason.STAGE_ERROR,
}


def clean_event(text: str, **fields: object) -> bytes:
    """A clean-article event as the clean stage would write it, around any text."""
    article = Article(
        id=str(fields.pop("id", "hostile-event")),
        text=text,
        word_count=len(text.split()),
        content_hash="sha256:" + "0" * 64,
        received_at="2024-06-11T08:00:00.000Z",
        pipeline=PipelineInfo(version=__version__, stages={"clean": StageInfo()}),
        title=fields.pop("title", "Ships collide in fog"),  # type: ignore[arg-type]
        language=fields.pop("language", "en"),  # type: ignore[arg-type]
    )
    data = codec.to_plain(article)
    data.update(fields)
    return codec.dumps(data)


def event_cases(scale: float = 1.0) -> list[Case]:
    """Messages for the clean and entities topics: malformed events, and well-formed events whose
    text is hostile; ``scale`` shrinks the long texts (spaCy's tokenizer is quadratic on long
    runs without spaces, such as emoji floods: at full size they meet the time limit)."""
    rng = random.Random(SEED)

    def n(count: int) -> int:
        return max(int(count * scale), 1)

    invalid = Reason.INVALID_EVENT
    cases: list[Case] = []
    for size in (0, 1, 17, 300, 5000):
        cases.append(Case(f"event-random-bytes-{size}", rng.randbytes(size), invalid))
    for name, value in [
        ("not-json", b"{broken"), ("list", b"[]"), ("string", b'"text"'), ("null", b"null"),
        ("empty-object", b"{}"), ("no-pipeline", codec.dumps({"id": "x", "text": "t"})),
        ("tombstone", None),
    ]:  # fmt: skip
        cases.append(Case(f"event-{name}", value, invalid))
    for name, overrides in [
        ("text-number", {"text": 5}), ("text-empty", {"text": ""}), ("text-null", {"text": None}),
        ("text-list", {"text": ["a"]}), ("pipeline-string", {"pipeline": "v1"}),
        ("pipeline-stages-list", {"pipeline": {"version": "1", "stages": [1]}}),
        ("entities-string", {"entities": "many"}), ("entities-bad-item", {"entities": [{"x": 1}]}),
        ("topics-bad-item", {"topics": [{"code": 1}]}), ("unknown-field", {"surprise": 1}),
        ("id-number", {"id": 7}), ("timings-string", {"timings": "fast"}),
        ("received-at-garbage", {"received_at": "yesterday"}), ("language-number", {"language": 5}),
    ]:  # fmt: skip
        data = codec.loads(clean_event(_STORY))
        data.update(overrides)
        # The stages check the type of every field they read before any work; fields they do
        # not know are carried along.
        outcome = ARTICLE if name == "unknown-field" else invalid
        cases.append(Case(f"event-{name}", codec.dumps(data), outcome))
    texts = {
        "story": _STORY,
        "emoji-flood": "😀" * n(100_000),
        "zalgo": "H" + "\u0301\u0316" * n(20_000) + "arbour",
        "bidi": "\u202e" + _STORY + "\u202c",
        "nul-between-words": _STORY.replace(" ", "\x00"),
        "controls": "".join(chr(c) for c in range(32)) * n(1000),
        "cjk": "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(n(100_000))),
        "single-long-token": "x" * n(300_000),
        "capitalised-names": "John Smith met Anna Kovacs in Port Elling. " * n(5000),
        "honorifics": "Mr. " * n(50_000),
        "numbers": "1,234.5 " * n(50_000),
        "newlines": "a\n" * n(100_000),
        "math-letters": "𝐏𝐨𝐫𝐭 " * n(30_000),
        "replacement-chars": "\ufffd" * n(100_000),
        "surrogate-escapes-ok": "Smile 😀 " * n(1000),
        "text-just-under-spacy-limit": "word " * n(199_000),
        "text-over-spacy-limit": "word " * 210_000,
    }
    for name, text in texts.items():
        by_stage = ()
        if name == "text-over-spacy-limit":  # spaCy refuses texts over its length limit
            by_stage = (("ner", Reason.STAGE_ERROR),)
        elif scale == 1.0 and name in FULL_SIZE_NER:
            by_stage = (("ner", FULL_SIZE_NER[name]),)
        cases.append(Case(f"event-text-{name}", clean_event(text), ARTICLE, by_stage=by_stage))
    cases.append(Case("event-unknown-language", clean_event(_STORY, language="tlh"), ARTICLE))
    cases.append(Case("event-language-garbage", clean_event(_STORY, language="\x00" * 40), ARTICLE))
    cases.append(Case("event-title-huge", clean_event(_STORY, title="T" * 100_000), ARTICLE))
    return cases
