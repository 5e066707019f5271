"""``mahavishnu usage statusline``: one line for Claude Code's ``statusLine`` command, run after
every turn with the session's JSON on standard input, so it must answer in milliseconds.

It reads a small summary (``statusline.json`` in the cache folder: today's cost, the active
five-hour window, the costs of the sessions of the last two days) and prints from it; when the
summary is older than ``STALE`` seconds it starts one refresh in the background (a whole report:
every log's new lines) and prints what it has. Only with no summary yet does it compute one first.
It prints nothing, and exits 0, rather than fail: a status line is no place for a traceback.

This module imports only the standard library on the answering path; the refresh imports the rest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: A summary older than this is refreshed in the background (the line shows it meanwhile).
STALE = 30.0
#: A refresh started less than this ago is not started again.
REFRESHING = 120.0
#: After a cost some of whose requests nobody prices: the cost is at least the figure.
UNPRICED_MARK = "+"
#: How far back a refresh reads: a session's cost is its requests of these days (one begun before
#: midnight counts from its start, not from midnight), and the open window opened within them.
SESSION_DAYS = 2


def summary_file() -> Path:
    from mahavishnu import paths

    return paths.cache_dir() / "statusline.json"


def main(argv: list[str]) -> int:
    """``usage statusline [--refresh]``: the line, or (``--refresh``) a new summary."""
    try:
        if argv == ["--refresh"]:
            write_summary()
            return 0
        if argv:
            print("usage: mahavishnu usage statusline [--refresh]", file=sys.stderr)
            return 1
        print(line(_session(sys.stdin), time.time()))
    except Exception:
        return 0
    return 0


def line(session: tuple[str, str], now: float) -> str:
    """The status line for the session (its id, the model's name) from the summary."""
    summary = _read()
    if summary is None:
        write_summary()
        summary = _read() or {}
    elif now - _number(summary.get("at")) > STALE:
        _refresh_in_background(now)
    session_id, model = session
    parts = [model] if model else []
    if _day(_number(summary.get("at"))) == _day(now):  # (an earlier day's figures are not today's)
        sessions = summary.get("sessions", {})
        unpriced = summary.get("unpriced_sessions", [])
        if isinstance(sessions, dict) and session_id in sessions:
            partly = isinstance(unpriced, list) and session_id in unpriced
            parts.append(f"session {_usd(sessions[session_id], partly)}")
        parts.append(f"today {_usd(summary.get('today'), summary.get('today_unpriced') is True)}")
    block = summary.get("block")
    if isinstance(block, dict) and _number(block.get("end")) > now:
        left = int(_number(block.get("end")) - now) // 60
        rate = block.get("usd_per_hour")  # (None while too early to measure one)
        parts.append(
            f"block {_usd(block.get('cost'), block.get('unpriced') is True)} ({left // 60}h {left % 60:02d}m "
            "left" + (f", ${_number(rate):.2f}/h)" if isinstance(rate, int | float) else ")")
        )
    return " · ".join(parts)


def _usd(value: object, partly: bool) -> str:
    """A cost as the line shows it: ``$0.45``, or ``$0.45+`` when some of its requests are
    unpriced (nobody prices their model: the cost is more than the figure; ``usage --unpriced``)."""
    return f"${_number(value):.2f}" + (UNPRICED_MARK if partly else "")


def _day(at: float) -> str:
    """The local day of a time: the summary's sums are that day's, until a refresh."""
    return time.strftime("%Y-%m-%d", time.localtime(at))


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _session(stream: object) -> tuple[str, str]:
    """The session id and model name from Claude Code's JSON (empty when absent or not JSON)."""
    try:
        data = json.loads(stream.read(1_000_000))  # type: ignore[attr-defined]
    except (ValueError, OSError, AttributeError):
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    model = data.get("model")
    name = model.get("display_name") or model.get("id") if isinstance(model, dict) else None
    session = data.get("session_id")
    return (
        session if isinstance(session, str) else "",
        "".join(ch for ch in name if ch.isprintable())[:40] if isinstance(name, str) else "",
    )


def _read() -> dict[str, object] | None:
    try:
        data = json.loads(summary_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _refresh_in_background(now: float) -> None:
    marker = summary_file().with_suffix(".refreshing")
    try:
        if now - marker.stat().st_mtime < REFRESHING:
            return
    except OSError:
        pass
    try:
        marker.touch(mode=0o600)
        subprocess.Popen(
            [sys.executable, "-m", "mahavishnu", "usage", "statusline", "--refresh"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ},
        )
    except OSError:
        return


def write_summary() -> None:
    """A new summary from every assistant's logs: today's cost, the active window, and each
    session's cost over the last ``SESSION_DAYS`` days."""
    from datetime import date

    from mahavishnu.files.safe_write import write_private
    from mahavishnu.usage.blocks import blocks
    from mahavishnu.usage.records import TOOLS
    from mahavishnu.usage.report import day_start, priced_requests

    now = time.time()
    midnight = day_start(date.fromtimestamp(now))
    # a window may have opened yesterday, and a session still running may have begun then
    requests, _ = priced_requests(TOOLS, now - SESSION_DAYS * 86_400)
    today = [(record, cost) for record, cost in requests if record.time >= midnight]
    sessions: dict[str, float] = {}
    unpriced_sessions: set[str] = set()
    for record, cost in requests:
        sessions[record.session] = sessions.get(record.session, 0.0) + (cost or 0.0)
        if cost is None:
            unpriced_sessions.add(record.session)
    windows = blocks(requests, now)
    active = windows[-1] if windows and windows[-1].active else None
    summary = {
        "at": now,
        "today": sum(cost or 0.0 for _, cost in today),
        "today_unpriced": any(cost is None for _, cost in today),
        "sessions": sessions,
        "unpriced_sessions": sorted(unpriced_sessions),
        "block": None
        if active is None
        else {
            "end": active.end,
            "cost": active.cost,
            "usd_per_hour": None if (rate := active.burn(now)) is None else rate[1],
            "unpriced": active.unpriced_requests > 0,
        },
    }
    file = summary_file()
    write_private(file, json.dumps(summary))
    file.with_suffix(".refreshing").unlink(missing_ok=True)
