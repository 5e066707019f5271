"""Codex (``~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``, an archived session's in
``~/.codex/archived_sessions/``): ``session_meta`` names the
session and its ``cwd``; ``turn_context`` the ``model`` of the turns that follow. Codex 0.169 writes
a ``token_usage_record`` per response (``payload.response_id`` and ``payload.usage``) and then an
``event_msg`` ``token_count`` with the same figures (``info.last_token_usage``, and the running
``info.total_token_usage``); older versions write only the ``token_count``. An ``event_msg``
``thread_settings_applied``, when a session starts or resumes and whenever its thread settings
change, names the ``service_tier`` in force (none: the standard one): each request
after it is priced at that tier's rates. Codex 0.171 writes it; a rollout with none (an older
Codex's) is priced at the standard rates, never at today's ``config.toml``'s tier. ``session_meta``
also names the ``model_provider`` the session talked to (what attribution trusts first). So: the
records when a file has them (keyed by response id: a forked rollout that copies them counts them once), else
each ``token_count``'s last usage (or the growth of its total when it has none), keyed by session
and time. OpenAI's ``input_tokens`` include the cached ones: fresh input is the difference.

A forked session's rollout, and a subagent's (``session_meta`` naming ``forked_from_id`` or
``source.subagent.thread_spawn.parent_thread_id``), begins with its parent's history, token counts
included, under its own session: with their first times, or all stamped when the copy was made. A
token count of such a file from before its first second is that copy (counted in the parent's
file), not a request: skipped, its total kept as the one the file's own requests grow from. A file
holding several ``session_meta`` lines (a fork copies its parent's) is the session of its first."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.usage.readers.fields import State, epoch, label, obj, project, text
from mahavishnu.usage.readers.reader import Reader
from mahavishnu.usage.records import FLEX, MAIN, PRIORITY, BadLine, UsageRecord, count

WANTED = (
    b'"session_meta"', b'"turn_context"', b'"thread_settings_applied"', b'"token_usage_record"',
    b'"token_count"',
)  # fmt: skip
_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_input_tokens", "output_tokens")
#: The service tiers priced apart, by the ``service_tier`` Codex logs (0.150 on sends its ``fast``
#: as ``priority``); another (``default``, none) is the standard tier.
_TIERS = {"priority": PRIORITY, "fast": PRIORITY, "flex": FLEX}


def parse(path: Path, entries: Iterable[JSONObject], state: State) -> list[UsageRecord]:
    found = []
    for entry in entries:
        kind = entry.get("type")
        payload = obj(entry.get("payload"))
        if kind == "session_meta":
            if "session" in state:  # a parent's, copied into a fork's file after its own
                continue
            state["session"] = label(payload.get("id")) or label(payload.get("session_id")) or ""
            state["cwd"] = text(payload.get("cwd")) or ""
            state["via"] = label(payload.get("model_provider")) or ""
            if _parent(payload):
                state["copied_until"] = str(_end_of_second(entry.get("timestamp")))
        elif kind == "turn_context":
            state["model"] = label(payload.get("model")) or state.get("model", "")
        elif kind == "event_msg" and payload.get("type") == "thread_settings_applied":
            tier = obj(payload.get("thread_settings")).get("service_tier")
            state["tier"] = _TIERS.get(tier, "") if isinstance(tier, str) else ""
        elif kind == "token_usage_record":
            state["records"] = "yes"
            key = text(payload.get("response_id")) or f"{_session(state, path)}@{entry.get('timestamp')}"
            usage = obj(payload.get("usage"))
            found += _record(path, state, f"codex:{key}", entry, [count(usage.get(f)) for f in _FIELDS])
        elif kind == "event_msg" and payload.get("type") == "token_count" and "records" not in state:
            figures = _last_usage(obj(payload.get("info")), state)
            if _copied(entry, state):
                continue
            key = f"codex:{_session(state, path)}@{entry.get('timestamp')}"
            found += _record(path, state, key, entry, figures) if figures else []
    return found


def _parent(meta: JSONObject) -> str | None:
    """The session a forked or spawned session's rollout copies its history from."""
    spawned = obj(obj(obj(meta.get("source")).get("subagent")).get("thread_spawn"))
    return label(meta.get("forked_from_id")) or label(spawned.get("parent_thread_id"))


def _end_of_second(value: JSONValue | None) -> float:
    try:
        return math.floor(epoch(value)) + 1.0
    except BadLine:
        return 0.0


def _copied(entry: JSONObject, state: State) -> bool:
    """Whether this token count is the parent's history a fork's or subagent's file begins with."""
    until = float(state.get("copied_until", "0"))
    return until > 0 and _end_of_second(entry.get("timestamp")) <= until


def _last_usage(info: JSONObject, state: State) -> list[int] | None:
    """This request's figures: ``last_token_usage``, else the growth of ``total_token_usage``. None
    when the total has not grown: Codex writes the same ``token_count`` again (a rate-limit update
    repeats the last one, ``last_token_usage`` included), and that is no new request."""
    total = obj(info.get("total_token_usage"))
    now = [count(total.get(f)) for f in _FIELDS]
    before = [int(n) for n in state.get("total", "0,0,0,0").split(",")] if total else now
    if total:
        state["total"] = ",".join(map(str, now))
        if now == before:
            return None
    last = obj(info.get("last_token_usage"))
    if last:
        return [count(last.get(f)) for f in _FIELDS]
    growth = [max(0, a - b) for a, b in zip(now, before, strict=True)]
    return growth if any(growth) else None


def _record(path: Path, state: State, key: str, entry: JSONObject, figures: list[int]) -> list[UsageRecord]:
    when = epoch(entry.get("timestamp"))
    inclusive, cached, written, output = figures
    return [
        UsageRecord(
            tool="codex",
            key=key,
            time=when,
            model=state.get("model") or "unknown",
            input=max(0, inclusive - cached - written),
            output=output,
            cache_write=written,
            cache_read=cached,
            session=_session(state, path),
            project=project(state.get("cwd") or None),
            source=MAIN,
            via=state.get("via", ""),
            speed=state.get("tier", ""),
        )
    ]


def _session(state: State, path: Path) -> str:
    return state.get("session") or label(path.stem) or "-"


def find() -> list[Path]:
    """Every rollout: under ``sessions`` (as the memory loop reads them) and under
    ``archived_sessions``, where Codex moves a session the user archives (ccusage reads both): its
    requests still count, and a request found in both once (by its key, as any copy)."""
    from mahavishnu import paths
    from mahavishnu.memory.loop.session_logs import find_sessions

    found = find_sessions("codex")
    archived = paths.codex_home() / "archived_sessions"
    return found + find_sessions("codex", archived) if archived.is_dir() else found


READER = Reader("codex", WANTED, parse, find=find)
