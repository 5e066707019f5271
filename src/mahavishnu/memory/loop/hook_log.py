"""The hook log: where the memory hooks say what went wrong, since an assistant shows little of a
hook's output (Codex only "SessionStart Failed") and a detached capture has no terminal.

Detached captures write their errors there, each line stamped (``StampedErrors``); recalls their
failures (``log_hook_line``). ``memory hooks status`` shows the newest failure of each hook still
standing: a later success of the same hook (``mark_success``, a file's time) ends it. Lines are
written without what a terminal would act on (``clean_text.printable``) and with secrets scrubbed
(``redaction.scrub``, imported when a line is written). Otherwise only the standard library is
imported (and ``clean_text``, which imports only ``re``): the hooks load this module.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

CAPTURE_LOG_BYTES = 512 * 1024  # the capture log is rotated past this size


def capture_log() -> Path:
    """The hook log: where detached captures write their errors (each line stamped:
    ``StampedErrors``) and recalls their failures (``log_hook_line``)."""
    from mahavishnu import paths

    return paths.data_dir() / "capture" / "capture.log"


#: A hook log line: local time and its UTC offset (the lines of releases before it have none),
#: assistant, " recall" for the recall hook (nothing for the capture hook).
_LINE = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)([+-]\d{4})? ([\w.-]+)( recall)?: (.*)"
HOOK_ROLES = ("capture", "recall")


def _stamp() -> str:
    """Now, as a hook log line starts: local time with its UTC offset, so a line written in the
    hour a clock change repeats reads as the moment it was."""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S%z", time.localtime(time.time()))


def _moment(stamp: str, offset: str | None) -> float:
    """The Unix time of a hook log stamp (without an offset: as local time, the clock's guess)."""
    import time
    from datetime import datetime

    if offset:
        return datetime.strptime(stamp + offset, "%Y-%m-%d %H:%M:%S%z").timestamp()
    return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))


def log_hook_line(tool: str, role: str, text: str) -> None:
    """Append one stamped line to the hook log (never raises: a hook must not fail for its log),
    without what a terminal would act on and with secrets scrubbed (``_loggable``)."""
    tag = "" if role == "capture" else f" {role}"
    name = "".join(c if c.isalnum() or c in "._-" else "?" for c in tool[:40]) or "?"
    line = f"{_stamp()} {name}{tag}: {_loggable(' '.join(text.split()))}\n"
    from mahavishnu.paths import make_dir

    log = capture_log()
    with contextlib.suppress(OSError):
        make_dir(log.parent)
        rotate(log)
        import os

        with os.fdopen(open_log(log), "a", encoding="utf-8", errors="replace") as handle:
            handle.write(line)


def open_log(log: Path) -> int:
    """A descriptor appending to the hook log ``log``, which is made 0600 whatever the umask: its
    lines (a detached import's errors too) quote what the hooks read."""
    import os

    return os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def _loggable(text: str) -> str:
    """``text`` as the hook log keeps it: without what a terminal would act on, and with secrets
    scrubbed (a hook's payload is the assistant's, and the paths and errors it names may quote a
    token). The scrubber is imported only here: a hook that logs nothing never loads it."""
    from mahavishnu.clean_text import printable
    from mahavishnu.redaction.scrub import scrub

    return scrub(printable(text))


def rotate(log: Path) -> None:
    import os

    with contextlib.suppress(OSError):
        if log.stat().st_size > CAPTURE_LOG_BYTES:  # one older generation is kept
            os.replace(log, log.with_name(log.name + ".1"))


def _success_marker(tool: str, role: str) -> Path:
    return capture_log().with_name(f"ok.{role}.{tool}")


def mark_success(tool: str, role: str) -> None:
    """Note that ``tool``'s ``role`` hook (capture or recall) just worked: an earlier failure of it
    is no longer what ``memory hooks status`` shows. (A file's time; never raises.)"""
    import os

    from mahavishnu.paths import make_dir

    marker = _success_marker(tool, role)
    try:
        os.utime(marker)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            make_dir(marker.parent)
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError:
        pass


def last_failures(tools: Iterable[str] | None = None) -> dict[str, str]:
    """The newest failure still standing of each hook role (``capture``, ``recall``) in the hook
    log, of ``tools`` (all by default): a failure followed by a success of the same assistant's
    hook (``mark_success``) is over. role -> the log line."""
    import re

    try:
        lines = capture_log().read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    wanted = None if tools is None else set(tools)
    found: dict[str, str] = {}
    for line in reversed(lines):
        match = re.fullmatch(_LINE, line)
        if match is None:
            continue
        stamp, offset, tool, recall, text = match.groups()
        role = "recall" if recall else "capture"
        if role in found or (wanted is not None and tool not in wanted) or not text.startswith("error: "):
            continue
        try:
            at = _moment(stamp, offset)
            succeeded = _success_marker(tool, role).stat().st_mtime
        except (OSError, ValueError, OverflowError):
            succeeded = None
        # the stamp is cut to the second: a success within the same second may have come first
        if succeeded is None or succeeded < at + 1:
            found[role] = line
        else:
            found[role] = ""  # the newest failure is over: older ones are too
        if len(found) == len(HOOK_ROLES):
            break
    return {role: line for role, line in found.items() if line}


def forget_failures(tools: Iterable[str]) -> None:
    """Mark every hook of ``tools`` as working (their hooks were removed: old failures are moot)."""
    for tool in tools:
        for role in HOOK_ROLES:
            mark_success(tool, role)


class StampedErrors(io.TextIOBase):
    """stderr of a detached capture: each line starts with the time and the assistant, so the log
    says when a capture failed and whose (and is written as ``_loggable``)."""

    encoding, errors = "utf-8", "replace"  # Click writes to it as a text stream

    def __init__(self, stream: TextIO, tool: str) -> None:
        self.stream, self.tool, self.at_line_start = stream, tool, True

    def writable(self) -> bool:
        return True

    def write(self, text: str | bytes) -> int:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for piece in _loggable(text).splitlines(keepends=True):
            if self.at_line_start:
                self.stream.write(f"{_stamp()} {self.tool}: ")
            self.stream.write(piece)
            self.at_line_start = piece.endswith("\n")
        self.stream.flush()
        return len(text)
