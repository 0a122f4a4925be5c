import io

from pipeline.progress import InputProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_rate_and_eta():
    screen = Terminal()
    with InputProgress("enrich", total=1000, stream=screen) as progress:
        progress.advance(400, articles=3)
        progress.echo("skipped x.jsonl:2: not JSON")
    shown = screen.getvalue()
    assert "enrich" in shown and "3 articles" in shown and "/s" in shown and "ETA" in shown
    assert "skipped x.jsonl:2: not JSON" in shown


def test_a_pipe_gets_only_the_echoed_lines():
    piped = io.StringIO()
    with InputProgress("enrich", total=1000, stream=piped) as progress:
        progress.advance(1000, articles=5)
        progress.echo("one line")
    assert piped.getvalue() == "one line\n"
    assert progress.articles == 5
