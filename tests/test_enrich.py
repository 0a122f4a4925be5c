from itertools import islice

from pipeline.enrich import ECHO_CHARS, Enricher, located
from pipeline.envelope import Incoming, dead_letter
from pipeline.events import Rejection
from pipeline.settings import Settings
from pipeline.validation import OutputCheck
from tests.stage_doubles import MisbehavingStage


def enricher(batch_size: int, validate_output: str = "off") -> Enricher:
    # The real stages' wiring without their models: a stage double that makes an article of
    # each message, without the entities its output schema requires.
    instance = Enricher.__new__(Enricher)
    instance.settings = Settings.load({"batch_size": batch_size}, env={})
    instance.stages = [MisbehavingStage()]
    instance.checks = [OutputCheck("ner", "entities-article", validate_output)]
    return instance


def test_enrich_takes_input_a_batch_at_a_time():
    taken = []

    def articles():
        for number in range(1_000_000):
            taken.append(number)
            yield number, {"body": f"article {number}"}

    first = list(islice(enricher(batch_size=4).enrich(articles()), 5))
    assert [tag for tag, _ in first] == [0, 1, 2, 3, 4]
    assert len(taken) == 8  # two batches read, not the whole input


def test_located_dead_letters_say_where_and_echo_a_bounded_payload():
    payload = ("é" * 5_000_000).encode()
    letter = dead_letter("clean", Incoming(value=payload), Rejection("too_large", "big"))
    shown = located(letter, "in.jsonl", 7)
    assert (shown.input_file, shown.input_line) == ("in.jsonl", 7)
    assert shown.payload == "é" * ECHO_CHARS and shown.payload_truncated
    small = located(dead_letter("clean", Incoming(value=b"{}"), Rejection("x", "y")), "-", None)
    assert small.payload == "{}" and not small.payload_truncated


def test_enrich_checks_outputs_when_asked():
    articles = [(n, {"body": f"article {n}"}) for n in range(3)]
    checked = [result for _, result in enricher(2, "all").enrich(articles)]
    assert [getattr(r, "reason", None) for r in checked] == ["invalid_output"] * 3
    unchecked = [result for _, result in enricher(2, "off").enrich(articles)]
    assert [getattr(r, "reason", None) for r in unchecked] == [None] * 3
