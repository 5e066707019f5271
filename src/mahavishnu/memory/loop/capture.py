"""Capture: every assistant's sessions become memory, from a hook or as a backfill.

``import_session`` reads one session file of Claude Code, Codex, Qwen Code or Gemini CLI
(``session_logs.py``) and stores its turns through ``conversations.store_turns``: each turn keeps
a stable id (``<agent>:<session>:<entry id>``), so importing the same file again, as the
assistant's stop hook does after every turn, adds only the new turns. ★ Insights are collected
by ``store_turns``; decisions the user states ("we decided to…", "Decision: …") become
``decision`` memories of the project as well, so they come back at the next session's start.

``capture_hook`` takes the JSON an assistant's hook receives (``transcript_path``, ``session_id``,
``cwd``) and imports that session; ``import_history`` backfills every session an assistant kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mahavishnu.errors import InvalidInputError, MahavishnuError, NotFoundError
from mahavishnu.memory.core.models import MemoryDraft
from mahavishnu.memory.core.projects import project_for
from mahavishnu.memory.loop.conversations import TranscriptImport, Turn, store_transcript_turns
from mahavishnu.memory.loop.session_logs import AGENT_IDS, Tool, find_sessions, read_session
from mahavishnu.memory.loop.transcripts import Transcript

if TYPE_CHECKING:
    from mahavishnu.memory.core.store import MemoryStore

_DECISION = re.compile(
    r"\b(?:we|i|the team)\s+(?:have\s+|'ve\s+)?(?:decided|agreed|settled on)\b"
    r"|\b(?:we|the team)\s+(?:have\s+|'ve\s+)?chose\b"
    r"|\bdecision\s*:"
    r"|\blet'?s\s+(?:go with|standardi[sz]e on|stick with)\b"
    r"|\bwe\s+(?:will\s+|'ll\s+)?always\s+use\b",
    re.IGNORECASE,
)
# "Let's use X" / "we will use X" is a decision only when it says it lasts.
_LASTING_USE = re.compile(
    r"\b(?:let'?s|we\s+will|we'll)\s+use\b.*\b(?:from now on|going forward|by default|everywhere|"
    r"in (?:this|the) (?:project|repo|codebase))\b",
    re.IGNORECASE,
)
# Not a decision: a question, something asked of the assistant, or something meant for the moment.
_NOT_A_DECISION = re.compile(
    r"\?|\b(?:whether|if|why|did|do you|can you|could you|would you|should we|remember|not sure)\b"
    r".*\b(?:decided|agreed|settled|chose|use)\b"
    r"|\b(?:for now|for the moment|temporarily|just this once|this time|for this test|earlier)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_DECISION_CHARS = (12, 500)


def import_session(
    store: MemoryStore, tool: Tool, path: Path | str, *, project: str | None = None
) -> TranscriptImport:
    """Store the new turns (and their insights and decisions) of one session file."""
    return store_transcript(store, tool, read_session(tool, Path(path).expanduser()), project=project)


def store_transcript(
    store: MemoryStore, tool: Tool, transcript: Transcript, *, project: str | None = None
) -> TranscriptImport:
    report, new = store_transcript_turns(store, transcript, AGENT_IDS[tool], project)
    _store_decisions(store, new)
    return report


def import_history(
    store: MemoryStore,
    tool: Tool,
    root: Path | str | None = None,
    *,
    project: str | None = None,
    on_error: Callable[[Path, MahavishnuError], None] | None = None,
) -> list[TranscriptImport]:
    """Import every session file of ``tool`` under ``root`` (default: where it keeps them). A file
    that cannot be read is passed to ``on_error`` and skipped (raised when there is no
    ``on_error``): one damaged log must not stop a backfill."""
    base = Path(root).expanduser() if root is not None else None
    if base is not None and base.is_file():
        return [import_session(store, tool, base, project=project)]
    reports = []
    for path in find_sessions(tool, base):
        try:
            reports.append(import_session(store, tool, path, project=project))
        except (InvalidInputError, NotFoundError) as error:
            if on_error is None:
                raise
            on_error(path, error)
    return reports


def capture_hook(store: MemoryStore, tool: Tool, payload: Mapping[str, Any]) -> TranscriptImport:
    """Import the session a hook's JSON names (``transcript_path``); its project comes from the
    hook's ``cwd`` when the session file does not say."""
    path = payload.get("transcript_path")
    if not isinstance(path, str) or not path:
        raise InvalidInputError(
            "the hook's JSON on standard input has no transcript_path",
            hint="Run this from an assistant's stop hook (see `mahavishnu memory hooks install`).",
        )
    transcript = read_session(tool, Path(path))
    cwd = payload.get("cwd")
    project = transcript.project or (project_for(cwd) if isinstance(cwd, str) else None)
    return store_transcript(store, tool, transcript, project=project)


def extract_decisions(text: str) -> list[str]:
    """The sentences of a user's turn that state a lasting decision, in order, without duplicates
    (not questions, requests or what is meant for now)."""
    found: dict[str, None] = {}
    for sentence in _SENTENCE.split(text):
        sentence = " ".join(sentence.split())
        low, high = _DECISION_CHARS
        if not low <= len(sentence) <= high or _NOT_A_DECISION.search(sentence):
            continue
        if _DECISION.search(sentence) or _LASTING_USE.search(sentence):
            found[sentence] = None
    return list(found)


def _store_decisions(store: MemoryStore, turns: Sequence[Turn]) -> None:
    drafts = [
        MemoryDraft(
            decision,
            "decision",
            ("captured",),
            {"turn": turn.external_id},
            project=turn.project,
            agent_id=turn.agent_id,
            session_id=turn.session_id,
            source_system=turn.agent_id,
        )
        for turn in turns
        if turn.role == "user"
        for decision in extract_decisions(turn.content)
    ]
    if drafts:
        store.store_many(drafts)
