"""What ``memory ingest`` shows while it runs, and what it says when Ctrl-C stops it.

On a terminal: a Rich progress bar. Anywhere else (a pipe, a log file, CI): one plain line on
stderr when every changed file is searchable by text, then one every ``PLAIN_EVERY`` seconds
while vectors are computed, so a long run is never silent and stdout keeps only the result.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mahavishnu import wording
from mahavishnu.cli.output import console, err_console

if TYPE_CHECKING:
    from mahavishnu.memory.ingest.pipeline import IngestProgress, IngestReport

PLAIN_EVERY = 5.0  # seconds between two plain progress lines


class PlainProgress:
    """``done/total`` as a plain stderr line every ``PLAIN_EVERY`` seconds (with rate and ETA), for
    a long run whose stdout is not a terminal (``memory reembed``); silent when ``quiet``."""

    def __init__(self, label: str, unit: str, *, quiet: bool) -> None:
        self.label, self.unit, self.quiet = label, unit, quiet
        self.started = self.last_line = time.monotonic()
        self.done = self.total = 0
        self.first: int | None = None  # done when first called: a resumed run's earlier work

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        now = time.monotonic()
        if self.first is None:  # the rate counts this run's work only (a resumed run starts past 0)
            self.first, self.started = done, now
        if self.quiet or (now - self.last_line < PLAIN_EVERY and done < total):
            return
        self.last_line = now
        line = f"{self.label}: {done}/{total} {self.unit}"
        rate = (done - self.first) / (now - self.started) if now > self.started else 0.0
        if rate > 0 and done < total:
            line += f", {rate:.1f}/s, ETA {_duration((total - done) / rate)}"
        print(line, file=sys.stderr, flush=True)


class IngestProgressView(AbstractContextManager["IngestProgressView"]):
    """Call it with each ``IngestProgress``; use it as a context manager around the run."""

    def __init__(self, label: str, *, as_json: bool) -> None:
        self.label = label
        self.started = time.monotonic()
        self.embedding_since: float | None = None
        self.last_line = 0.0
        self.last_phase = "text"
        self.bar: Any = None
        if console.is_terminal and not as_json:
            self.bar = _rich_bar()

    def __enter__(self) -> IngestProgressView:
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task(f"ingest {self.label}", total=None, detail="scanning…")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.__exit__(kind, error, trace)

    def __call__(self, progress: IngestProgress) -> None:
        now = time.monotonic()
        if progress.phase == "vectors" and self.embedding_since is None:
            self.embedding_since = now
        line = self.describe(progress, now)
        if self.bar is not None:
            done, total = progress.chunks_done, progress.chunks_total
            self.bar.update(self.task, completed=done, total=total, detail=line)
            return
        phase_changed = progress.phase != self.last_phase
        self.last_phase = progress.phase
        if phase_changed or now - self.last_line >= PLAIN_EVERY:
            self.last_line = now
            print(f"ingest {self.label}: {line}", file=sys.stderr, flush=True)

    def describe(self, p: IngestProgress, now: float) -> str:
        """``files, chunks, rate, ETA`` in words."""
        files = f"{p.files_done}/{p.files_total} changed files read"
        chunks = f"{p.chunks_done}/{p.chunks_total} chunks embedded"
        elapsed = now - self.embedding_since if self.embedding_since is not None else 0.0
        if p.phase == "text" or not p.chunks_done or elapsed <= 0:
            return f"{files}, {chunks}"
        rate = p.chunks_done / elapsed
        remaining = (p.chunks_total - p.chunks_done) / rate
        return f"{files}, {chunks}, {rate:.1f} chunks/s, ETA {_duration(remaining)}"


def interrupted_message(report: IngestReport, command: str) -> str:
    """What Ctrl-C kept, and how to go on."""
    kept = (
        f"kept {wording.count(report.files_indexed, 'changed file')} "
        f"({wording.count(report.chunks_created, 'chunk')}, searchable by text); "
        f"{wording.count(report.chunks_embedded, 'chunk')} embedded, {report.chunks_pending} still wait for "
        "their vectors"
    )
    return f"interrupted: {kept}. Run `{command}` again to resume where it stopped."


def resume_command(path: Path, repo_id: str | None, include: Sequence[str], exclude: Sequence[str]) -> str:
    """The command line that resumes this run."""
    words = ["mahavishnu", "memory", "ingest", str(path)]
    words += ["--repo-id", repo_id] if repo_id else []
    words += [w for glob in include for w in ("--include", glob)]
    words += [w for glob in exclude for w in ("--exclude", glob)]
    return shlex.join(words)


def print_interrupted(report: IngestReport, command: str) -> None:
    err_console.print(interrupted_message(report, command), markup=False)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _rich_bar() -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console.rich,
    )
