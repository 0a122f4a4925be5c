import io
import json

from pipeline.sources import read_articles, read_sources, text_article, total_size


def test_text_file_first_line_is_the_title(tmp_path):
    (tmp_path / "a.txt").write_text("Title here\n\nFirst paragraph.\n\nSecond.", encoding="utf-8")
    (record,) = read_sources([tmp_path / "a.txt"])
    assert record.article == {
        "title": "Title here",
        "body": "\nFirst paragraph.\n\nSecond.",
        "content_type": "text/plain",
    }


def test_single_line_text_is_all_body():
    assert text_article("Just one line") == {"body": "Just one line", "content_type": "text/plain"}


def test_folders_are_walked_in_order_and_every_format_is_read(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.html").write_text("<p>Hi</p>", encoding="utf-8")
    (tmp_path / "a.json").write_text(
        json.dumps([{"body": "one"}, {"body": "two"}]), encoding="utf-8"
    )
    (tmp_path / "sub" / "c.jsonl").write_text(
        '{"body": "three"}\n\n{"body": "four"}\n', encoding="utf-8"
    )
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    records = list(read_sources([tmp_path]))
    assert [r.article["body"] for r in records] == ["one", "two", "<p>Hi</p>", "three", "four"]
    assert records[2].article["content_type"] == "text/html"
    assert records[3].origin.endswith("c.jsonl:1") and records[4].origin.endswith("c.jsonl:3")


def test_problems_are_reported_not_raised(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"body": "ok"}\nnot json\n[1]\n', encoding="utf-8")
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    records = list(
        read_sources(
            [
                tmp_path / "bad.jsonl",
                tmp_path / "x.pdf",
                tmp_path / "latin1.txt",
                tmp_path / "missing.txt",
            ]
        )
    )
    errors = [r.error for r in records if r.error]
    assert len(errors) == 5
    assert "not JSON" in errors[0] and "JSON object" in errors[1]
    assert "unsupported" in errors[2] and "cannot read" in errors[3] and "no such" in errors[4]


def test_stdin_json_lines_or_text(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"body": "a"}\n{"body": "b"}\n'))
    assert [r.article["body"] for r in read_sources(["-"])] == ["a", "b"]
    monkeypatch.setattr("sys.stdin", io.StringIO("A title\nThe body."))
    (record,) = read_sources(["-"])
    assert record.article["title"] == "A title"


def test_read_articles_collects_the_readable_and_reports_the_rest(tmp_path):
    (tmp_path / "a.txt").write_text("Title\nBody.", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"body": "x"}\n{oops\n', encoding="utf-8")
    reported: list[str] = []
    articles, unreadable = read_articles([tmp_path], reported.append)
    assert [a["body"] for a in articles] == ["Body.", "x"]
    assert unreadable == 1
    assert reported[0].startswith("skipped ") and "b.jsonl:2" in reported[0]


def test_json_lines_stream_with_their_line_numbers_and_sizes(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"body": "one"}\n\n{"body": "two"}\n')
    records = read_sources([path])
    first = next(records)
    assert (first.article, first.file, first.line, first.size) == (
        {"body": "one"},
        str(path),
        1,
        16,
    )
    # Read a line at a time: what is appended after the first record was read still comes.
    with path.open("ab") as more:
        more.write(b'{"body": "three"}\n')
    rest = list(records)
    assert [(r.article["body"], r.line) for r in rest] == [("two", 3), ("three", 4)]
    assert sum(r.size for r in [first, *rest]) == path.stat().st_size
    assert total_size([path, tmp_path]) == 2 * path.stat().st_size
    assert total_size([path, "-"]) is None


def test_stdin_json_lines_are_read_a_line_at_a_time(monkeypatch):
    def lines():
        yield b'{"body": "a"}\n'
        raise AssertionError("read past the first article")

    class Stdin:
        buffer = lines()

    monkeypatch.setattr("sys.stdin", Stdin)
    first = next(read_sources(["-"]))
    assert (first.article, first.file, first.line) == ({"body": "a"}, "<stdin>", 1)
