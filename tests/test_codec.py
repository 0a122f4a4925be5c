import pytest

from pipeline import codec
from pipeline.events import Mention


def test_dataclasses_encode_as_objects_and_lines_end_with_newline():
    assert codec.loads(codec.dumps(Mention(1, 5, "Kerry"))) == {
        "start": 1,
        "end": 5,
        "text": "Kerry",
        "kind": "name",
    }
    assert codec.dumps_line({"a": 1}) == b'{"a":1}\n'


def test_bad_json_raises_a_value_error():
    with pytest.raises(ValueError, match="unexpected character"):
        codec.loads(b"{not json")
    with pytest.raises(codec.JSONDecodeError):
        codec.loads(b'"\xff"')
