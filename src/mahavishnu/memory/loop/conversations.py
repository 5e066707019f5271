"""Agent conversations: turns kept verbatim, searchable as ``agent`` memories, mined for insights.

Each turn is one ``agent_conversations`` row (agent, session, role, full content) pointing at an
``agent`` memory of its text, so what was said in any assistant's session is found by memory search.
Every turn is scanned for ★ Insight blocks (``insights.py``), which become shared insight memories
(``cross_project.py``). ``import_transcript`` feeds a Claude Code session file through the same path;
each transcript entry keeps its id, so importing a file again adds only what is new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mahavishnu.clean_text import clean_text, clipped
from mahavishnu.errors import InvalidInputError, MahavishnuError, NotFoundError, given_path
from mahavishnu.memory.core import provenance
from mahavishnu.memory.core.backends.records import CONVERSATIONS, MAX_ROWS
from mahavishnu.memory.core.given import check_store
from mahavishnu.memory.core.models import (
    MAX_TURN_CHARS,
    PREVIOUS_TURN,
    PREVIOUS_TURN_CHARS,
    Memory,
    MemoryDraft,
    check_label,
    check_limit,
    check_metadata,
    check_name,
    format_time,
    parse_time,
    scrub_fields,
    utcnow,
)
from mahavishnu.memory.insights.cross_project import store_insights
from mahavishnu.memory.loop.decisions import store_decisions
from mahavishnu.redaction.scrub import scrub

if TYPE_CHECKING:
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.loop.transcripts import Transcript

Role = Literal["user", "assistant"]
ROLES: tuple[Role, ...] = ("user", "assistant")
TRANSCRIPT_AGENT = "claude-code"
_log = logging.getLogger(__name__)
_CUT = "\n…"  # marks a turn cut to the memory size limit (the conversation row keeps all of it)


@dataclass(frozen=True, slots=True)
class Turn:
    """One conversation turn to store."""

    agent_id: str
    session_id: str
    role: str
    content: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    project: str | None = None
    created_at: datetime | None = None
    external_id: str | None = None  # a stable id from the source (a transcript entry): stored once

    def checked(self) -> Turn:
        if self.role not in ROLES:
            raise InvalidInputError(f"invalid role {self.role!r}", hint="A turn's role is user or assistant.")
        for name in ("agent_id", "session_id"):
            if check_label(name, getattr(self, name)) is None:
                raise InvalidInputError(f"a conversation turn needs {name}")
        # a lone surrogate (half an emoji Node's JSON cut) as U+FFFD, no NUL: text any store takes
        content = clean_text(self.content) if isinstance(self.content, str) else ""
        if not content.strip():
            raise InvalidInputError("a conversation turn's content is empty")
        check_name("session", self.session_id)
        check_name("project", check_label("project", self.project))
        return Turn(
            self.agent_id,
            self.session_id,
            self.role,
            content,
            check_metadata(self.metadata),
            self.project,
            parse_time(self.created_at) if self.created_at is not None else None,
            self.external_id,
        )


@dataclass(frozen=True, slots=True)
class StoredTurns:
    """What storing turns did: conversation row ids (None: already stored), memories and insights."""

    conversation_ids: list[int | None]
    memory_ids: list[int]
    insight_ids: list[int]

    @property
    def added(self) -> int:
        return sum(i is not None for i in self.conversation_ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_ids": self.conversation_ids,
            "memory_ids": self.memory_ids,
            "insight_ids": self.insight_ids,
            "added": self.added,
        }


def store_conversation(
    store: MemoryStore,
    agent_id: str,
    session_id: str,
    role: str,
    content: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    project: str | None = None,
) -> StoredTurns:
    """Store one turn: the conversation row, its ``agent`` memory, and any ★ Insights in it."""
    check_store("store_conversation", store)
    return store_turns(store, [Turn(agent_id, session_id, role, content, metadata or {}, project)])


def store_turns(store: MemoryStore, turns: Sequence[Turn], *, source: str = "conversation") -> StoredTurns:
    """Store turns in batches (all validated first); a turn whose ``external_id`` is known is skipped.
    ``source`` labels the insights found in them."""
    checked = [_fits(_scrubbed(turn.checked())) for turn in turns]
    known = _known_external_ids(store, [t.external_id for t in checked if t.external_id])
    fresh_at = [i for i, t in enumerate(checked) if t.external_id is None or t.external_id not in known]
    fresh = [checked[i] for i in fresh_at]
    limit = store.settings.max_content_chars
    before = _previous_turns(store, checked)
    memories = store.store_many([_memory_draft(checked[i], limit, before[i]) for i in fresh_at])
    now = format_time(utcnow())
    rows = [
        {
            "agent_id": t.agent_id,
            "session_id": t.session_id,
            "role": t.role,
            "content": t.content,
            "metadata": dict(t.metadata),
            "memory_id": m.id,
            "external_id": t.external_id,
            "created_at": format_time(t.created_at) if t.created_at else now,
        }
        for t, m in zip(fresh, memories, strict=True)
    ]
    added = dict(zip(fresh_at, store.backend.add_records(CONVERSATIONS, rows) if rows else [], strict=True))
    insights = [i.id for i in _insights_of(store, fresh, source)]
    return StoredTurns(
        [added.get(i) for i in range(len(checked))], [m.id for m in memories], list(dict.fromkeys(insights))
    )


def _scrubbed(turn: Turn) -> Turn:
    """The turn with secrets scrubbed in every field (``scrub.py``): the conversation row keeps the
    full text, its agent, session and external ids, so it is scrubbed here, not only as the memory
    the store makes of it."""
    return scrub_fields(turn)


def _fits(turn: Turn) -> Turn:
    """The turn, when what is kept of it (scrubbed: a short key's mark is longer than the key) fits
    every store; checked before anything is stored, as a team store refuses the row last."""
    if len(turn.content) > MAX_TURN_CHARS:
        raise InvalidInputError(
            f"a conversation turn is {len(turn.content):,} characters, over the limit of {MAX_TURN_CHARS:,}",
            hint="Store it as several shorter turns; nothing was stored.",
        )
    return turn


def _previous_turns(store: MemoryStore, turns: Sequence[Turn]) -> list[str | None]:
    """The turn said just before each one in its session (agent and session id), as much of its
    end as a memory's vector reads (``models.embedding_text``): the one before it in ``turns``, and
    for a session's first turn here, the session's newest stored turn (a capture stores a session
    piece by piece); None for a session's first turn."""
    last: dict[tuple[str, str], str | None] = {}
    before: list[str | None] = []
    for turn in turns:
        key = (turn.agent_id, turn.session_id)
        if key not in last:
            stored = store.backend.records(CONVERSATIONS, {"agent_id": key[0], "session_id": key[1]}, limit=1)
            last[key] = str(stored[0]["content"]) if stored else None
        before.append(last[key])
        last[key] = turn.content
    return [None if text is None else text[-PREVIOUS_TURN_CHARS:] for text in before]


def _memory_draft(turn: Turn, limit: int, previous: str | None = None) -> MemoryDraft:
    text = turn.content if len(turn.content) <= limit else turn.content[: limit - len(_CUT)] + _CUT
    said_by = "user" if turn.role == "user" else "assistant"
    metadata: dict[str, Any] = {"role": turn.role, provenance.KEY: said_by}
    if previous is not None and previous.strip():
        metadata[PREVIOUS_TURN] = previous
    return MemoryDraft(
        text,
        "agent",
        ("conversation", turn.role),
        metadata,
        project=turn.project,
        agent_id=turn.agent_id,
        session_id=turn.session_id,
        source_system=turn.agent_id,
    )


def _insights_of(store: MemoryStore, turns: Sequence[Turn], source: str) -> list[Memory]:
    """The ★ Insights in the turns, stored once per (project, agent, session) they came from: each
    ``store_insights`` call scans the stored insights for duplicates, so not one call per turn."""
    from mahavishnu.memory.insights.extract import extract_insights

    found: dict[tuple[str | None, str, str], list[str]] = {}
    for turn in turns:
        found.setdefault((turn.project, turn.agent_id, turn.session_id), []).extend(
            extract_insights(turn.content, quoted=False)  # a quoted block is what it read
        )
    return [
        insight
        for (project, agent_id, session_id), texts in found.items()
        if texts
        for insight in store_insights(
            store,
            texts,
            project=project,
            source=source,
            agent_id=agent_id,
            session_id=session_id,
            source_system=agent_id,
        )
    ]


def _known_external_ids(store: MemoryStore, ids: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(ids), 500):
        batch = list(ids[start : start + 500])
        rows = store.backend.records(CONVERSATIONS, {"external_id": batch}, limit=len(batch))
        known.update(r["external_id"] for r in rows)
    return known


def conversations(
    store: MemoryStore,
    *,
    agent_id: str | None = None,
    session_id: str | None = None,
    since: datetime | str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Conversation turns, newest first. ``session_id`` may be a unique prefix (the 8 or 12
    characters a listing shows); an ambiguous one is an error naming the candidates."""
    check_store("conversations", store)
    session_id = check_label("session_id", session_id)
    if session_id is not None:
        session_id = resolve_session(store, session_id)
    where = {
        name: value
        for name, value in (
            ("agent_id", check_label("agent_id", agent_id)),
            ("session_id", session_id),  # checked above
        )
        if value is not None
    }
    after = format_time(parse_time(since)) if since is not None else None
    return store.backend.records(CONVERSATIONS, where, since=after, limit=check_limit(limit, MAX_ROWS))


def resolve_session(store: MemoryStore, prefix: str) -> str:
    """The session id ``prefix`` stands for: itself when stored as is, else the one stored session
    id starting with it (the newest 100,000 turns are looked at); unchanged when none does."""
    if store.backend.records(CONVERSATIONS, {"session_id": prefix}, limit=1):
        return prefix
    rows = store.backend.records(CONVERSATIONS, {}, limit=MAX_ROWS)
    found = sorted({str(r["session_id"]) for r in rows if str(r["session_id"]).startswith(prefix)})
    if len(found) > 1:
        shown = ", ".join(found[:5]) + (" …" if len(found) > 5 else "")
        raise InvalidInputError(
            f"session '{prefix}' is ambiguous: {len(found)} sessions start with it ({shown})",
            hint="Type more characters of the session id.",
        )
    return found[0] if found else prefix


# -- Claude Code transcripts ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TranscriptImport:
    path: str
    session_id: str
    project: str | None
    turns: int  # user/assistant turns in the file
    added: int  # new conversation rows
    insights: int  # insights found in the new turns (stored, or already known)
    skipped_lines: int  # lines that were not valid JSON
    decisions: int = 0  # decisions the new turns' user stated (``decisions.py``)

    def plus(self, later: TranscriptImport) -> TranscriptImport:
        """This report and ``later``'s, of a later piece of the same file, as one."""
        import dataclasses

        return dataclasses.replace(
            later,
            turns=self.turns + later.turns,
            added=self.added + later.added,
            insights=self.insights + later.insights,
            skipped_lines=self.skipped_lines + later.skipped_lines,
            decisions=self.decisions + later.decisions,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "session_id": self.session_id,
            "project": self.project,
            "turns": self.turns,
            "added": self.added,
            "insights": self.insights,
            "skipped_lines": self.skipped_lines,
            "decisions": self.decisions,
        }


def import_transcripts(
    store: MemoryStore,
    path: Path | str,
    *,
    agent_id: str = TRANSCRIPT_AGENT,
    project: str | None = None,
    on_error: Callable[[Path, MahavishnuError], None] | None = None,
) -> list[TranscriptImport]:
    """Import a Claude Code session file, or every ``*.jsonl`` under a directory
    (``~/.claude/projects``). Importing again adds only new turns.

    Under a directory a file that is not a readable transcript is skipped: passed to ``on_error``,
    or logged as a warning (shown on stderr when logging is not set up) without one; an error only
    when no file at all could be imported. A single file given directly that is bad is an error."""
    from mahavishnu.memory.loop.transcripts import find_transcripts

    check_store("import_transcripts", store)
    target = Path(given_path("import_transcripts", path)).expanduser()
    if not target.exists() and _claude_sessions_folder(target):
        raise NotFoundError(f"no Claude Code sessions yet: {target} does not exist", hint=_NO_SESSIONS_YET)
    if not target.is_dir():
        return [import_transcript(store, target, agent_id=agent_id, project=project)]
    files = find_transcripts(target)
    if not files and _claude_sessions_folder(target):
        raise NotFoundError(f"no Claude Code sessions under {target} yet", hint=_NO_SESSIONS_YET)
    if not files:
        raise NotFoundError(
            f"no Claude Code sessions (*.jsonl) under {target}",
            hint=f"Claude Code keeps them under {_claude_root()}: pass that folder, or one session file.",
        )
    reports: list[TranscriptImport] = []
    failed: list[tuple[Path, MahavishnuError]] = []
    for file in files:
        try:
            reports.append(import_transcript(store, file, agent_id=agent_id, project=project))
        except (InvalidInputError, NotFoundError) as error:
            failed.append((file, error))
            (on_error or _log_skipped)(file, error)
    if failed and not reports:
        first, why = failed[0]
        which = "the one transcript" if len(failed) == 1 else f"none of the {len(failed)} transcripts"
        could = "could not" if len(failed) == 1 else "could"
        raise InvalidInputError(
            f"{which} under {target} {could} be imported ({first.name}: {why.message})",
            hint="Pass a folder of Claude Code session files, such as ~/.claude/projects.",
        )
    return reports


#: What to do when Claude Code has written no session yet where its sessions go.
_NO_SESSIONS_YET = (
    "Claude Code writes one there for each conversation: use it in a project, then run this again. "
    "To store each turn as it happens instead: `mahavishnu memory hooks install --tool claude`."
)


def _claude_root() -> Path:
    from mahavishnu.memory.loop.session_logs import session_root

    return session_root("claude")


def _claude_sessions_folder(target: Path) -> bool:
    """Whether ``target`` is Claude Code's own sessions folder (or one of its project folders), where
    an absent or empty folder means no session was written yet, not a wrong path."""
    root = _claude_root().absolute()
    where = target.absolute()
    return where == root or root in where.parents


def _log_skipped(path: Path, error: MahavishnuError) -> None:
    _log.warning("warning: skipped %s: %s", path, error.message)


def import_transcript(
    store: MemoryStore, path: Path | str, *, agent_id: str = TRANSCRIPT_AGENT, project: str | None = None
) -> TranscriptImport:
    """Store the new turns of one Claude Code session file, read a piece at a time."""
    from mahavishnu.memory.loop.session_file import open_session, read_pieces
    from mahavishnu.memory.loop.transcripts import parse_transcript

    with open_session(Path(path), what="Claude Code") as session:
        total = TranscriptImport(str(session.path), session.path.stem, project, 0, 0, 0, 0)
        for piece in read_pieces(session, whole=True):
            transcript = parse_transcript(piece.data, session.path, first_turn=total.turns)
            report, _new = store_transcript_turns(store, transcript, agent_id, project)
            total = total.plus(report)
    return total


def store_transcript_turns(
    store: MemoryStore, transcript: Transcript, agent_id: str, project: str | None = None
) -> tuple[TranscriptImport, list[Turn]]:
    """Store a transcript's turns, each under a stable id (``<agent>:<session>:<entry>``) so a turn
    stored before is not added again, and the decisions the new ones state (``decisions.py``);
    the report, and the turns that were new. A turn longer than any store takes (``MAX_TURN_CHARS``)
    is kept as its first and last characters: a session is captured whatever was pasted into it.
    It is scrubbed before it is cut: a key cut in two at the cut would escape the scrub."""
    where = project or transcript.project
    turns = [
        Turn(
            agent_id,
            transcript.session_id,
            turn.role,
            clipped(scrub(clean_text(turn.content)), MAX_TURN_CHARS),  # its ends
            {**turn.metadata, "transcript": str(transcript.path)},
            where,
            turn.timestamp,
            f"{agent_id}:{transcript.session_id}:{turn.uuid or number}",
        )
        for number, turn in enumerate(transcript.turns, start=transcript.first_turn)
        if clean_text(turn.content).strip()  # (a NUL alone: nothing said, and no reason to stop)
    ]
    stored = store_turns(store, turns, source="transcript")
    new = [turn for turn, row in zip(turns, stored.conversation_ids, strict=True) if row is not None]
    decided = store_decisions(store, new)
    report = TranscriptImport(
        str(transcript.path),
        transcript.session_id,
        where,
        len(turns),
        stored.added,
        len(stored.insight_ids),
        transcript.skipped_lines,
        decided,
    )
    return report, new
