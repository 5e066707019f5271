"""Read-only views of processes, from ``/proc`` (Linux) with a ``ps`` fallback for the start time.

A process is identified by its pid *and* its start time: a pid alone can be reused by an unrelated
process once ours has exited, so nothing here or in the supervisor signals a pid whose start time
differs from the one recorded when we started it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str  # R, S, D, Z (zombie), X (dead), T ...
    ppid: int
    pgrp: int
    session: int
    start_time: str  # clock ticks after boot, as text (a `ps` lstart string off Linux)

    @property
    def gone(self) -> bool:
        """A zombie has exited: it only waits to be reaped."""
        return self.state in ("Z", "X")


def stat(pid: int) -> ProcStat | None:
    """The process's identity and state, or None when there is no such process."""
    if not PROC.is_dir():
        start = _ps_start_time(pid)
        return None if start is None else ProcStat(pid, "R", 0, _getpgid(pid), 0, start)
    try:
        raw = (PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 of proc(5): state, ppid, pgrp, session, ..., starttime is field 22.
    return ProcStat(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[3]), fields[19])


def start_time(pid: int) -> str | None:
    found = stat(pid)
    return found.start_time if found else None


def alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, when ``started`` is given, is the process started then."""
    found = stat(pid)
    return found is not None and not found.gone and (started is None or found.start_time == started)


def pids() -> Iterator[int]:
    if not PROC.is_dir():
        return
    for entry in os.scandir(PROC):
        if entry.name.isdigit():
            yield int(entry.name)


def group_members(pgid: int) -> list[ProcStat]:
    """Live processes of a process group (Linux only; elsewhere just the leader, if alive)."""
    if not PROC.is_dir():
        leader = stat(pgid)
        return [leader] if leader and not leader.gone else []
    members = []
    for pid in pids():
        found = stat(pid)
        if found is not None and found.pgrp == pgid and not found.gone:
            members.append(found)
    return members


def cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def environ(pid: int) -> dict[str, str]:
    """The environment a process was started with (readable for our own processes only)."""
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (part.decode("utf-8", "replace").partition("=") for part in raw.split(b"\0") if part)
    return {key: value for key, _, value in pairs}


def owner(pid: int) -> int | None:
    """The user id a process runs as, or None when there is no such process."""
    try:
        return (PROC / str(pid)).stat().st_uid
    except OSError:
        return None


def cwd(pid: int) -> str | None:
    try:
        return os.readlink(PROC / str(pid) / "cwd")
    except OSError:
        return None


def boot_id() -> str | None:
    """This boot's random id (Linux): a PID file from another boot names some unrelated process."""
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip() or None
    except OSError:
        return None


def boot_time() -> float | None:
    try:
        for line in (PROC / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def started_at(found: ProcStat) -> float | None:
    """Wall-clock start of a process (Linux), for uptimes."""
    boot = boot_time()
    if boot is None or not found.start_time.isdigit():
        return None
    return boot + int(found.start_time) / os.sysconf("SC_CLK_TCK")


def _getpgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return 0


def _ps_start_time(pid: int) -> str | None:
    import subprocess  # rarely needed: not on every import (`ai switch-llm` reads /proc only)

    try:
        out = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out or None


#: How much of the end of a process's output ``said_last`` reads.
SAID_LAST_BYTES = 4096


def said_last(output: IO[bytes]) -> str:
    """What a process wrote last to ``output`` (a file it wrote to: its stderr), stripped: the end,
    ``SAID_LAST_BYTES`` at most, however much it wrote."""
    output.seek(max(0, output.seek(0, os.SEEK_END) - SAID_LAST_BYTES))
    return output.read().decode("utf-8", "replace").strip()
