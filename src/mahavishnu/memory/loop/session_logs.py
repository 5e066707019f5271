"""Read the session logs Codex, Qwen Code and Gemini CLI write, as ``Transcript``s like Claude Code's.

Formats, read from the files the pinned CLIs wrote against the loopback mock (samples in
``tests/memory/fixtures/sessions/``):

* **Codex** 0.169 (``~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl``): one JSON line
  ``{"timestamp", "type", "payload"}`` per event. ``session_meta`` carries ``payload.id`` (the
  session) and ``payload.cwd``; the conversation is the ``response_item`` lines whose payload is a
  ``message`` with role ``user`` (``input_text`` blocks) or ``assistant`` (``output_text`` blocks),
  each with an ``id``. Codex also files its own context as user messages (``<environment_context>``,
  ``<user_instructions>``, AGENTS.md) and as ``developer`` messages: those are not conversation.
* **Qwen Code** 0.24 (``~/.qwen/projects/<encoded-cwd>/chats/<session>.jsonl``): Claude-like lines
  ``{"uuid", "sessionId", "timestamp", "type": "user"|"assistant"|"system", "cwd", "message":
  {"role", "parts": [{"text"}...]}}``; ``thought`` parts and tool calls are not conversation, and a
  prompt's hook context (``<qwen:user-prompt-submit-context>``) is cut out of the user's text.
* **Gemini CLI** 0.61 (``~/.gemini/tmp/<project>/chats/session-<time>-<id>.jsonl``): a first line
  ``{"sessionId", "projectHash", "startTime", ...}``, then messages ``{"id", "timestamp", "type":
  "user"|"gemini"|"info"|"error", "content": str | [{"text"}]}`` and ``{"$set": ...}`` updates
  (whose ``messages`` hold the ``<session_context>`` preamble). The working directory is not in the
  file: Gemini CLI writes it to ``.project_root`` in the chats folder's parent. A prompt's hook
  context (``<hook_context>…</hook_context>``) is cut out of the user's text.
* **Pi** 0.73 (``~/.pi/agent/sessions/--<cwd>--/<time>_<uuid>.jsonl``): a first line ``{"type":
  "session", "id", "cwd", ...}``, then entries ``{"type", "id", "parentId", "timestamp"}``; the
  conversation is the ``message`` entries whose ``message.role`` is ``user`` or ``assistant``
  (``content``: a string or ``text`` blocks; ``thinking`` and ``toolCall`` blocks are not
  conversation). What the memory extension adds is a ``custom_message`` entry: never a turn.

Everything else (telemetry, token counts, tool calls, reasoning) is skipped; malformed lines are
counted, like the Claude Code reader does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mahavishnu import paths
from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.memory.core.projects import project_for
from mahavishnu.memory.loop.session_file import open_session, read_pieces, session_entry, session_files
from mahavishnu.memory.loop.transcripts import (
    Role,
    Transcript,
    TranscriptTurn,
    find_transcripts,
    parse_transcript,
    session_folder,
)
from mahavishnu.memory.loop.transcripts import _timestamp as parse_timestamp
from mahavishnu.wording import a

Tool = Literal["claude", "codex", "qwen", "gemini", "pi", "opencode"]
TOOLS: tuple[Tool, ...] = ("claude", "codex", "qwen", "gemini", "pi", "opencode")
#: Those whose sessions are files (OpenCode keeps its in a database: ``opencode_sessions``).
FILE_TOOLS: tuple[Tool, ...] = ("claude", "codex", "qwen", "gemini", "pi")
#: The agent id each assistant's turns are filed under.
AGENT_IDS: dict[Tool, str] = {
    "claude": "claude-code",
    "codex": "codex",
    "qwen": "qwen-code",
    "gemini": "gemini-cli",
    "pi": "pi",
    "opencode": "opencode",
}
#: How Codex's own context filed as user messages starts (``model_visible_context.rs``: its
#: "contextual user fragments", each one content item): the environment, AGENTS.md, a skill's
#: SKILL.md, plugins, the output of a shell command the user ran with ``!`` (what the command
#: printed: a file, a web page), a subagent's notification, an aborted turn's marker.
_CODEX_CONTEXT = (
    "<environment_context>",
    "<user_instructions>",
    "# agents.md instructions",
    "<permissions",
    "<skill>",
    "<skill ",
    "<plugins>",
    "<user_shell_command>",
    "<subagents>",
    "<subagent_notification>",
    "<turn_aborted>",
)
_HOOK_CONTEXT = re.compile(
    r"<(?:qwen:user-prompt-submit-context|hook_context)>.*?</(?:qwen:user-prompt-submit-context|hook_context)>",
    re.DOTALL,
)


#: How a session file's lines (all of them, or a piece) become a transcript: the bytes, the file,
#: the number of the piece's first turn in the whole file.
Parse = Callable[[bytes, Path, int], Transcript]


@dataclass(frozen=True)
class SessionSource:
    """Where one assistant keeps its sessions and how to read one."""

    tool: Tool
    label: str  #: the assistant's name, as messages say it
    root: Callable[[], Path]
    patterns: tuple[str, ...]  #: the session files' names under ``root`` (``session_file.session_files``)
    parse: Parse


def check_tool(tool: str) -> Tool:
    if tool not in TOOLS:
        raise InvalidInputError(
            f"unknown assistant {tool!r}", hint=f"Use one of: {', '.join(TOOLS[:-1])} or {TOOLS[-1]}."
        )
    return tool  # type: ignore[return-value]  # checked above


def session_root(tool: Tool) -> Path:
    """The folder the assistant writes its sessions under, for the current HOME."""
    return SOURCES[tool].root()


#: Hook events that only Gemini CLI sends (Claude Code, Codex and Qwen Code name theirs alike:
#: SessionStart, UserPromptSubmit, Stop).
GEMINI_ONLY_EVENTS = frozenset({"BeforeAgent", "AfterAgent"})


def hook_sender(payload: Mapping[str, str]) -> Tool | None:
    """The assistant whose hook sent ``payload`` when it can be told: its ``transcript_path`` lies
    under one assistant's session folder (each sends its own session file), or its event is one
    only Gemini CLI sends; None when it cannot be told."""
    transcript = payload.get("transcript_path")
    if transcript and Path(transcript).is_absolute():
        plain = Path(os.path.normpath(transcript))
        for where in (plain, _resolved(plain)):
            found = [tool for tool in TOOLS if _is_under(where, session_root(tool))]
            if len(found) == 1:
                return found[0]
    if payload.get("hook_event_name") in GEMINI_ONLY_EVENTS:
        return "gemini"
    return None


def _is_under(path: Path, folder: Path) -> bool:
    return path != folder and (path.is_relative_to(folder) or path.is_relative_to(_resolved(folder)))


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL in the path
        return path


def find_sessions(tool: Tool, root: Path | None = None) -> list[Path]:
    """Every session file of ``tool`` under ``root`` (default: its own folder), sorted; none when the
    default folder does not exist (the assistant never ran here)."""
    source = SOURCES[tool]
    base = root or source.root()
    if root is None and not base.is_dir():
        return []
    if tool == "claude":
        return find_transcripts(base)
    if not base.exists():
        raise NotFoundError(
            f"No such file or directory: {base}",
            hint="Pass a session file, the folder that holds them, or no PATH for every session kept.",
        )
    if not base.is_dir():
        raise InvalidInputError(f"Not a directory: {base}", hint="Pass the folder that holds the sessions.")
    return session_files(base, *source.patterns)


def read_session(tool: Tool, path: Path) -> Transcript:
    """The conversation in one whole session file of ``tool`` (a capture reads it in pieces:
    ``session_file.read_pieces`` and ``parse_piece``)."""
    with open_session(path, what=SOURCES[tool].label) as session:
        data = b"".join(piece.data for piece in read_pieces(session, whole=True))
    return parse_piece(tool, data, path)


def parse_piece(tool: Tool, data: bytes, path: Path, first_turn: int = 0) -> Transcript:
    """The conversation in ``data``, lines of ``tool``'s session file ``path``."""
    return SOURCES[tool].parse(data, path, first_turn)


# -- shared line reading -------------------------------------------------------------------------
def _lines(data: bytes, path: Path, what: str) -> tuple[list[dict[str, Any]], int]:
    """The JSON object lines of ``data`` (of the file ``path``) and the count of lines that are not."""
    entries: list[dict[str, Any]] = []
    skipped = 0
    for raw in data.removeprefix(b"\xef\xbb\xbf").split(b"\n"):
        if not raw.strip():
            continue
        try:
            value = session_entry(raw)
        except ValueError:
            value = None
        if isinstance(value, dict):
            entries.append(value)
        else:
            skipped += 1
    if skipped and not entries:
        raise InvalidInputError(f"{path} is not {a(what)} session log: none of its {skipped} lines is JSON")
    return entries, skipped


def _texts(blocks: object, kinds: Iterable[str] = ("text",)) -> str:
    """Plain-string content as is; of a block list, the text of the wanted blocks (not ``thought``)."""
    if isinstance(blocks, str):
        return blocks.strip()
    if not isinstance(blocks, list):
        return ""
    wanted = tuple(kinds)  # (compared, not hashed: a damaged block's "type" may be a list)
    texts = [
        block["text"].strip()
        for block in blocks
        if isinstance(block, dict)
        and isinstance(block.get("text"), str)
        and block.get("type", "text") in wanted
        and not block.get("thought")
    ]
    return "\n\n".join(text for text in texts if text)


def _turn(
    role: Role, text: str, timestamp: object, uuid: object, **metadata: object
) -> TranscriptTurn | None:
    text = _HOOK_CONTEXT.sub("", text).strip() if role == "user" else text.strip()
    if not text:
        return None
    return TranscriptTurn(
        role=role,
        content=text,
        timestamp=parse_timestamp(timestamp),
        uuid=uuid if isinstance(uuid, str) and uuid else None,
        metadata={k: v for k, v in metadata.items() if isinstance(v, str) and v},
    )


def _transcript(
    path: Path, session: object, cwd: object, turns: list[TranscriptTurn], skipped: int, first: int
) -> Transcript:
    """The transcript of ``path``; ``session`` and ``cwd`` as the log holds them (not text: unknown)."""
    session = session if isinstance(session, str) and session else path.stem
    cwd = session_folder(cwd)
    return Transcript(path, session, cwd, project_for(cwd), turns, skipped, first)


# -- Codex ------------------------------------------------------------------------------------------
def parse_codex(data: bytes, path: Path, first_turn: int = 0) -> Transcript:
    entries, skipped = _lines(data, path, "Codex")
    meta = next((e.get("payload") for e in entries if e.get("type") == "session_meta"), None)
    meta = meta if isinstance(meta, dict) else {}
    session = meta.get("id") or meta.get("session_id")
    cwd = meta.get("cwd")
    turns = [t for t in (_codex_turn(e) for e in entries) if t is not None]
    return _transcript(path, session, cwd, turns, skipped, first_turn)


def _codex_turn(entry: dict[str, Any]) -> TranscriptTurn | None:
    payload = entry.get("payload")
    if entry.get("type") != "response_item" or not isinstance(payload, dict):
        return None
    role = payload.get("role")
    if payload.get("type") != "message" or role not in ("user", "assistant"):
        return None
    kinds = ("input_text",) if role == "user" else ("output_text",)
    content = payload.get("content")
    if role == "user":  # each item of Codex's own context is left out, whatever it comes with
        content = (
            [item for item in content if not _codex_context(item)] if isinstance(content, list) else content
        )
        if isinstance(content, str) and _codex_context({"text": content}):
            return None
    text = _texts(content, kinds)
    return _turn(role, text, entry.get("timestamp"), payload.get("id"))


def _codex_context(item: object) -> bool:
    """Whether a user message's content item is context Codex added (``_CODEX_CONTEXT``), as
    Codex tells it: its text starts with a marker, in any case, after leading blanks."""
    text = item.get("text") if isinstance(item, dict) else None
    return isinstance(text, str) and text.lstrip()[:40].lower().startswith(_CODEX_CONTEXT)


# -- Qwen Code --------------------------------------------------------------------------------------
def parse_qwen(data: bytes, path: Path, first_turn: int = 0) -> Transcript:
    entries, skipped = _lines(data, path, "Qwen Code")
    session = next((e["sessionId"] for e in entries if isinstance(e.get("sessionId"), str)), None)
    cwd = next((e["cwd"] for e in entries if isinstance(e.get("cwd"), str)), None)
    turns = [t for t in (_qwen_turn(e) for e in entries) if t is not None]
    return _transcript(path, session, cwd, turns, skipped, first_turn)


#: Qwen Code's records of the user role that the user typed: a prompt (no subtype) and one typed
#: while tools ran. The others are Qwen Code's own (a background agent's ``notification``, a
#: ``cron`` prompt, a goal's runtime message), recorded with a ``provenance`` other than ``real_user``.
_QWEN_TYPED = (None, "mid_turn_user_message")


def _qwen_turn(entry: dict[str, Any]) -> TranscriptTurn | None:
    kind = entry.get("type")
    message = entry.get("message")
    if kind not in ("user", "assistant") or not isinstance(message, dict):
        return None
    role: Role = "user" if kind == "user" else "assistant"
    if role == "assistant":
        text = _texts(message.get("parts"))
    elif entry.get("subtype") not in _QWEN_TYPED or entry.get("provenance", "real_user") != "real_user":
        return None
    else:
        # what the user typed (``systemPayload.displayText``); the parts sent also hold the files
        # an ``@`` mention read, cut out when there is no displayText
        payload = entry.get("systemPayload")
        typed = payload.get("displayText") if isinstance(payload, dict) else None
        text = typed.strip() if isinstance(typed, str) else _texts(_typed_parts(message.get("parts")))
    return _turn(role, text, entry.get("timestamp"), entry.get("uuid"), model=entry.get("model"))


# -- Gemini CLI -------------------------------------------------------------------------------------
def parse_gemini(data: bytes, path: Path, first_turn: int = 0) -> Transcript:
    entries, skipped = _lines(data, path, "Gemini CLI")
    session = next((e["sessionId"] for e in entries if isinstance(e.get("sessionId"), str)), None)
    turns = [t for t in (_gemini_turn(e) for e in entries) if t is not None]
    return _transcript(path, session, _gemini_cwd(path), turns, skipped, first_turn)


def _gemini_turn(entry: dict[str, Any]) -> TranscriptTurn | None:
    kind = entry.get("type")
    if kind not in ("user", "gemini") or "$set" in entry:
        return None
    role: Role = "user" if kind == "user" else "assistant"
    if role == "user":
        # what the user typed: ``displayContent`` when Gemini CLI sent something else (``content``
        # holds the files an ``@`` mention read), else ``content`` less those files
        shown = entry.get("displayContent")
        text = _texts(_typed_parts(shown if isinstance(shown, str | list) else entry.get("content")))
        if text.startswith("<session_context>"):
            return None
    else:
        text = _texts(entry.get("content"))
    return _turn(role, text, entry.get("timestamp"), entry.get("id"), model=entry.get("model"))


#: How Gemini CLI (and Qwen Code, its fork) mark the files and resources an ``@`` mention read,
#: appended to the prompt it sends (``REFERENCE_CONTENT_START`` / ``_END``): the file's text, not
#: the user's. Without the end marker, everything after the start is the files'.
_REFERENCES_START, _REFERENCES_END = "--- Content from referenced files ---", "--- End of content ---"
_REFERENCES = re.compile(
    rf"\n?{re.escape(_REFERENCES_START)}.*?(?:\n?{re.escape(_REFERENCES_END)}|\Z)", re.DOTALL
)
#: The note Gemini CLI adds for an ``@agent`` mention: Gemini CLI's words, not the user's.
_SYSTEM_NOTE = re.compile(r"\n?<system_note>.*?</system_note>\n?", re.DOTALL)


def _typed_parts(blocks: object) -> object:
    """A user message's parts without the files an ``@`` mention read into it (the parts from
    ``--- Content from referenced files ---`` through ``--- End of content ---``) and without the
    notes the assistant added (``<system_note>``); a plain-string message likewise."""
    if isinstance(blocks, str):
        return _SYSTEM_NOTE.sub("", _REFERENCES.sub("", blocks))
    if not isinstance(blocks, list):
        return blocks
    kept: list[object] = []
    inside = False
    for block in blocks:
        text = block.get("text") if isinstance(block, dict) else None
        if not isinstance(text, str):
            if not inside:
                kept.append(block)
            continue
        if inside:
            inside = _REFERENCES_END not in text
            continue
        start = text.find(_REFERENCES_START)
        if start >= 0:
            inside = _REFERENCES_END not in text[start:]
            text = text[:start]
        kept.append({**block, "text": _SYSTEM_NOTE.sub("", text)})
    return kept


def _gemini_cwd(path: Path) -> str | None:
    """The folder the session ran in: ``.project_root`` beside the ``chats`` folder (read as a
    session file is: a regular file of this user, never waited on)."""
    import os

    try:
        with open_session(path.parent.parent / ".project_root", what="Gemini CLI") as marker:
            text = os.pread(marker.fd, 4096, 0).decode("utf-8").strip()
    except (InvalidInputError, NotFoundError, OSError, UnicodeDecodeError):
        return None
    return text or None


# -- Pi ---------------------------------------------------------------------------------------------
def parse_pi(data: bytes, path: Path, first_turn: int = 0) -> Transcript:
    entries, skipped = _lines(data, path, "Pi")
    header = next((e for e in entries if e.get("type") == "session"), {})
    session, cwd = header.get("id"), header.get("cwd")
    turns = [t for t in (_pi_turn(e) for e in entries) if t is not None]
    return _transcript(path, session, cwd, turns, skipped, first_turn)


def _pi_turn(entry: dict[str, Any]) -> TranscriptTurn | None:
    message = entry.get("message")
    if entry.get("type") != "message" or not isinstance(message, dict):
        return None
    role = message.get("role")
    if role not in ("user", "assistant"):
        return None
    text = _texts(message.get("content"))
    return _turn(role, text, entry.get("timestamp"), entry.get("id"), model=message.get("model"))


def _parse_claude(data: bytes, path: Path, first_turn: int = 0) -> Transcript:
    return parse_transcript(data, path, first_turn=first_turn)


def _claude_root() -> Path:
    return paths.claude_config_dir() / "projects"


def _codex_root() -> Path:
    return paths.codex_home() / "sessions"


def _qwen_root() -> Path:
    return paths.qwen_home() / "projects"


def _gemini_root() -> Path:
    return paths.gemini_home() / "tmp"


def _opencode_root() -> Path:
    return paths.opencode_data_dir()


def _parse_opencode(data: bytes, path: Path, first_turn: int = 0) -> Transcript:
    raise InvalidInputError(
        f"{path} is not a session file: OpenCode keeps its sessions in a database",
        hint="Run `mahavishnu memory import --tool opencode` (opencode_sessions reads it).",
    )


SOURCES: dict[Tool, SessionSource] = {
    "claude": SessionSource("claude", "Claude Code", _claude_root, ("**/*.jsonl",), _parse_claude),
    "codex": SessionSource("codex", "Codex", _codex_root, ("**/rollout-*.jsonl",), parse_codex),
    "qwen": SessionSource("qwen", "Qwen Code", _qwen_root, ("*/chats/*.jsonl",), parse_qwen),
    "gemini": SessionSource("gemini", "Gemini CLI", _gemini_root, ("*/chats/*.jsonl",), parse_gemini),
    # (a folder a project under its default folder; in one Pi's sessionDir names, each file)
    "pi": SessionSource("pi", "Pi", paths.pi_sessions_dir, ("*/*.jsonl", "*.jsonl"), parse_pi),
    # (read from its SQLite database by ``opencode_sessions``, not in pieces of a file)
    "opencode": SessionSource("opencode", "OpenCode", _opencode_root, ("opencode.db",), _parse_opencode),
}
