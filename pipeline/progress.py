"""Progress of a long command on standard error: a bar with rate and ETA on a terminal, nothing
when standard error is piped or redirected (logs and scripts stay clean)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class InputProgress:
    """Bytes of input consumed (the bar and its ETA) and articles handled (the rate).

    ``total`` is the input's size in bytes, or None when unknown (stdin): then no bar, no ETA.
    Lines written with ``echo`` appear above the bar instead of breaking it.
    """

    def __init__(self, description: str, total: int | None, stream: IO[str] | None = None) -> None:
        stream = stream or sys.stderr
        self.enabled = stream.isatty()
        self.stream = stream
        self.articles = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TextColumn("{task.fields[articles]} articles, {task.fields[rate]} /s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=stream),
                transient=False,
            )
            self._task = self._progress.add_task(description, total=total, articles=0, rate="-")

    def __enter__(self) -> InputProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, nbytes: int, articles: int = 0) -> None:
        self.articles += articles
        if self._progress is None or self._task is None:
            return
        task = self._progress.tasks[0]
        elapsed = task.elapsed or 0.0
        rate = f"{self.articles / elapsed:,.0f}" if elapsed > 0.5 else "-"
        self._progress.update(self._task, advance=nbytes, articles=f"{self.articles:,}", rate=rate)

    def echo(self, line: str) -> None:
        """A line for the user on standard error, above the bar when there is one."""
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()
