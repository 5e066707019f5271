"""Pi (``~/.pi/agent/sessions/--<cwd with / as ->--/<time>_<uuid>.jsonl``, or under
``$PI_CODING_AGENT_DIR``): a first ``session`` line with the session ``id`` and its ``cwd``, then
entries ``{"type", "id", "parentId", "timestamp"}``. A reply is a ``message`` entry whose
``message`` has ``role: "assistant"``, the ``provider`` and ``model`` it was sent to, the
provider's ``responseId`` and ``usage`` ``{input (fresh), output, cacheRead, cacheWrite,
totalTokens, cost}``. A forked or cloned session copies its history into a new file: the key is
the ``responseId`` (the provider's, the same in the copy) with the entry's id and ``timestamp``
(Ollama's ids repeat), else the entry's id and ``timestamp`` (a fork copies them verbatim; an older
Pi, and some providers, write no ``responseId``). The day is the entry's ``timestamp`` (as ccusage counts
it). Pi has no helpers of its own: every request is the session's.

``totalTokens`` is the provider's own total for the request (Gemini's ``totalTokenCount``, the
Responses API's ``total_tokens``; Pi sizes the context by it before the parts). A provider that
reports only a total leaves the parts 0 (and Pi's cost 0): what the total has beyond the parts
is counted as output when the reply reports no output, as ccusage counts it, its cost so an upper
bound (the split is not in the log)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mahavishnu.json_types import JSONObject
from mahavishnu.usage.readers.fields import State, epoch, label, obj, project, text
from mahavishnu.usage.readers.reader import Reader
from mahavishnu.usage.records import MAIN, UsageRecord, count

WANTED = (b'"session"', b'"usage"')


def parse(path: Path, entries: Iterable[JSONObject], state: State) -> list[UsageRecord]:
    found = []
    for entry in entries:
        kind = entry.get("type")
        if kind == "session":
            state["session"] = label(entry.get("id")) or ""
            state["cwd"] = text(entry.get("cwd")) or ""
            continue
        message = obj(entry.get("message"))
        usage = obj(message.get("usage"))
        model = label(message.get("model"))
        if kind != "message" or message.get("role") != "assistant" or not usage or model is None:
            continue
        fresh, output, written, read = _figures(usage)
        if not any((fresh, output, written, read)):  # an error or an abort before the provider answered
            continue
        when = epoch(entry.get("timestamp"))
        session = state.get("session") or _session_of(path)
        key = _key(message, entry, session, when)
        found.append(
            UsageRecord(
                tool="pi",
                key=f"pi:{key}",
                time=when,
                model=model,
                input=fresh,
                output=output,
                cache_write=written,
                cache_read=read,
                session=session,
                project=project(state.get("cwd") or None),
                source=MAIN,
                via=label(message.get("provider")) or "",
            )
        )
    return found


_PARTS = ("input", "output", "cacheWrite", "cacheRead")


def _figures(usage: JSONObject) -> tuple[int, int, int, int]:
    """Fresh input, output, cache write and cache read; with no output, what ``totalTokens`` has
    beyond the rest is output (a provider that reported only a total: ccusage's fallback)."""
    fresh, output, written, read = (count(usage.get(f)) for f in _PARTS)
    if not output:
        output = max(0, count(usage.get("totalTokens")) - fresh - written - read)
    return fresh, output, written, read


def _key(message: JSONObject, entry: JSONObject, session: str, when: float) -> str:
    """A reply's key: the provider's ``responseId`` with the entry's id and time (a fork copies all
    three), else ``_copied_key``. The id alone is not one reply's: Ollama numbers its replies
    ``chatcmpl-0`` to ``chatcmpl-998``, and every reply after the first of each number went
    uncounted; with the time alone, two sessions' replies of one number in the same millisecond
    were one (the first's input with the most output of either)."""
    response = text(message.get("responseId"))
    if not response:
        return _copied_key(entry, session, when)
    entry_id = text(entry.get("id"))
    return f"{response}@{entry_id}@{when!r}" if entry_id else f"{response}@{when!r}"


def _copied_key(entry: JSONObject, session: str, when: float) -> str:
    """A reply's key without a ``responseId``: its entry id with its timestamp, which a fork or a
    clone copies unchanged into the new file (the session id there is new: keyed by it, every
    copied reply counted again). The id alone is 8 hex digits, unique only within one file."""
    entry_id = text(entry.get("id"))
    return f"{entry_id}@{when!r}" if entry_id else f"{session}/{when!r}"


def _session_of(path: Path) -> str:
    """The session id in a file's name (``<time>_<uuid>.jsonl``) when its first line is missing."""
    return label(path.stem.partition("_")[2] or path.stem) or "-"


# (its logs are the memory loop's session files: ``session_logs.SOURCES``, ``paths.pi_sessions_dir``)
READER = Reader("pi", WANTED, parse)
