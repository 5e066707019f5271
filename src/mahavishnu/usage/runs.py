"""The sessions ``mahavishnu run PROFILE`` started: when, which assistant, on which profile.

``run`` records each start here, just before it replaces itself with the assistant: the time, the
assistant, the profile, the model it selected and the process id (the assistant's: ``run`` execs it).
A start whose exec fails is removed again (``forget``): only runs that started are kept.
Codex, Pi and OpenCode log a run's provider by the name ``run`` defines it under, which names the
profile (``run_names.run_provider``). Runs before that all had one name, ``mahavishnu-run``: for a
request logged under it ``attribution`` takes the latest run of that assistant and model started
before it.

One JSON line a run in ``runs.jsonl`` in Mahavishnu's data dir (0600: it names no key, only
profiles), appended under the file's lock; past ``2 * KEEP`` lines the newest ``KEEP`` are kept.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from mahavishnu import paths
from mahavishnu.errors import MahavishnuError
from mahavishnu.files import safe_write
from mahavishnu.files.safe_write import read_text

#: Runs kept (a line each, about 100 bytes): years of sessions for most users.
KEEP = 5000


@dataclass(frozen=True)
class Run:
    """One start of an assistant by ``mahavishnu run``."""

    time: float  #: seconds since the epoch (UTC)
    tool: str
    profile: str
    model: str
    pid: int = 0


def log_file() -> Path:
    return paths.data_dir() / "runs.jsonl"


def record(tool: str, profile: str, model: str) -> Run:
    """Record a run starting now, in this process (which then becomes the assistant)."""
    run = Run(time.time(), tool, profile, model, os.getpid())
    line = json.dumps({"time": run.time, "tool": tool, "profile": profile, "model": model, "pid": run.pid})
    path = log_file()
    paths.make_dir(path.parent)
    with safe_write.file_lock(path):
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > 2 * KEEP * len(line):  # (most runs: not read back)
            lines = (read_text(path) or "").splitlines(keepends=True)
            if len(lines) > 2 * KEEP:
                safe_write.write_private(path, "".join(lines[-KEEP:]), lock=False)
    return run


def forget(run: Run) -> None:
    """Remove ``run``'s line: the assistant did not start after all (its exec failed)."""
    path = log_file()
    with safe_write.file_lock(path):
        lines = (read_text(path) or "").splitlines(keepends=True)
        kept = [line for line in lines if not _is(line, run)]
        if len(kept) != len(lines):
            safe_write.write_private(path, "".join(kept), lock=False)


def _is(line: str, run: Run) -> bool:
    try:
        data = json.loads(line)
        return bool(data["time"] == run.time and data["pid"] == run.pid)
    except (ValueError, KeyError, TypeError):
        return False


def runs() -> list[Run]:
    """Every run recorded, oldest first (a damaged line is skipped; an unreadable log is none)."""
    try:
        text = read_text(log_file()) or ""
    except (OSError, MahavishnuError):
        return []
    found = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
            at, pid = float(data["time"]), int(data.get("pid", 0))
            tool, profile, model = data["tool"], data["profile"], data["model"]
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if math.isfinite(at) and all(isinstance(field, str) for field in (tool, profile, model)):
            found.append(Run(at, tool, profile, model, pid))
    return sorted(found, key=lambda run: run.time)
