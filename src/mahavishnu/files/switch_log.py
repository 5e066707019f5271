"""The changes Mahavishnu made to the assistants' files, newest first: what ``ai backups`` lists and
``ai rollback`` undoes.

Every transaction that changed files (``transaction.run``) records one entry: a switch
(``switch-llm``, kind "switch") or another change (``mcp-servers add/remove/sync``, ``mcp install``,
``memory hooks install/remove``…, kind "change", named by its command): when, what, which
assistants and scope, for each file the backup taken just before it was written (None when the
change created it), and the folders it created (the rollback removes those it leaves empty). ``ai
rollback`` puts back the files of the most recent entry not undone yet, whatever they were, in one
transaction; a rollback is recorded too (of the kind of what it undid, naming it), and the next ``ai
rollback`` passes over it and what it undid: it walks back a stack.

Claude Code's own state file (``~/.claude.json``: its MCP servers beside its startup count, user id,
projects…, rewritten by every ``claude`` run) is merged, never overwritten: for it an entry also keeps
a fingerprint of each MCP server entry the change set or removed (``touched``), and a rollback puts
back those entries alone, where they still hold what the change left (``merge_state``).

Entries are small JSON files under the backups dir (paths, backup ids and fingerprints, never file
content).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mahavishnu import paths
from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files import history, safe_write
from mahavishnu.files.history import Entry, first_per_file
from mahavishnu.files.safe_write import Backup, Change, read_text

if TYPE_CHECKING:
    import click
    import typer._click.core

    #: A running command's context: Typer's own copy of Click's, or Click's.
    _Context = typer._click.core.Context | click.Context

KEEP = 200
SWITCH = "switch"
CHANGE = "change"


@dataclass(frozen=True)
class SwitchRecord:
    id: str
    time: str  # ISO 8601, UTC
    profile: str  # the profile, "rollback of <id> (...)", or the command of a change
    tools: list[str]
    scope: str
    files: list[Entry]
    #: Each file's SHA-256 right after the switch: a later change is someone else's edit.
    after: dict[str, str] = field(default_factory=dict)
    kind: str = SWITCH
    #: For Claude Code's state file: each MCP server entry the change set or removed (its keys, as a
    #: JSON list) with the fingerprint of what it left there (``entry_digest``).
    touched: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The folders its writes created (absolute): a rollback removes those it leaves empty.
    folders: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "id": self.id,
            "time": self.time,
            "kind": self.kind,
            "profile": self.profile,
            "tools": self.tools,
            "scope": self.scope,
            "files": [{"path": str(e.path), "backup": e.backup} for e in self.files],
        }

    @property
    def undoes(self) -> str | None:
        """The id of the entry this one undid, for a rollback of a recorded entry (``ai rollback``
        labels it ``rollback of <id> (…)``); None for anything else (``rollback --to`` included)."""
        words = self.profile.split()
        return words[2] if len(words) > 2 and words[:2] == ["rollback", "of"] else None

    def describe(self) -> str:
        """What it was, for people: ``switch-llm qwen``, ``mcp-servers add docs``, ``rollback of …``."""
        if self.kind == SWITCH and not self.profile.startswith("rollback "):
            return f"switch-llm {self.profile}"
        return self.profile


@dataclass(frozen=True)
class Label:
    """What a transaction is recorded as: ``what`` (a profile, a rollback, or a command), the
    assistants (None: those whose files it changed), the scope and the kind."""

    what: str
    tools: Sequence[str] | None = None
    scope: str = "-"
    kind: str = CHANGE


def log_dir() -> Path:
    return paths.backups_dir() / "switches"


def record(
    profile: str,
    tools: Iterable[str],
    scope: str,
    files: list[Entry],
    *,
    kind: str = SWITCH,
    changes: Iterable[Change] = (),
    transaction: str | None = None,
    folders: Sequence[str] = (),
) -> SwitchRecord | None:
    """Save one switch or change (nothing when it changed no file) and trim the oldest. ``changes``
    (what was written) gives the MCP server entries of Claude Code's state file it touched;
    ``transaction``: the id of the transaction recording it (``forget`` removes its entry);
    ``folders``: those its writes created."""
    if not files:
        return None
    now = datetime.now(UTC)
    touched = {
        safe_write.source_key(c.path): found
        for c in changes
        if c.changed and is_state_file(c.path) and (found := touched_entries(c.before, c.after)) is not None
    }
    entry = SwitchRecord(
        id=now.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + uuid.uuid4().hex[:6],
        time=now.isoformat(timespec="seconds"),
        profile=profile,
        tools=list(tools),
        scope=scope,
        files=files,
        after={safe_write.source_key(e.path): digest(read_text(e.path)) for e in files},
        kind=kind,
        touched=touched,
        folders=list(folders),
    )
    directory = log_dir()
    paths.make_dir(directory)
    data = {
        **entry.summary(),
        "files": [{"path": safe_write.source_key(e.path), "backup": e.backup} for e in files],
        "after": entry.after,
        "touched": touched,
        "folders": entry.folders,
        **({"transaction": transaction} if transaction is not None else {}),
    }
    for stale in directory.glob(".*.mahavishnu-tmp"):  # a killed record's; records run one at a time
        stale.unlink(missing_ok=True)  # (under the transaction lock)
    # unique name: no lock (and no lock file per entry) needed
    safe_write.write_private(directory / f"{entry.id}.json", json.dumps(data) + "\n", lock=False)
    for old in sorted(directory.glob("*.json"))[:-KEEP]:
        old.unlink(missing_ok=True)
    return entry


def record_change(
    label: Label | None,
    files: list[Entry],
    changes: Iterable[Change],
    *,
    transaction: str | None = None,
    folders: Sequence[str] = (),
) -> SwitchRecord | None:
    """Record what a transaction changed under ``label`` (None: the command running, ``command``)."""
    label = label or Label(command())
    tools = label.tools if label.tools is not None else tools_of(e.path for e in files)
    return record(
        label.what,
        tools,
        label.scope,
        files,
        kind=label.kind,
        changes=changes,
        transaction=transaction,
        folders=folders,
    )


def forget(transaction: str) -> None:
    """Remove the entry ``transaction`` recorded (it was rolled back after recording it)."""
    history.forget(transaction, log_dir())


def records(*, changes: bool = False) -> list[SwitchRecord]:
    """Every recorded switch (and rollback of one), newest first (damaged entries skipped); with
    ``changes``, the other changes (and their rollbacks) too."""
    found = []
    directory = log_dir()
    for file in sorted(directory.glob("*.json"), reverse=True) if directory.is_dir() else []:
        try:
            data = json.loads(read_text(file) or "{}")
            files = first_per_file(Entry(Path(f["path"]), f["backup"]) for f in data["files"])
            after = data.get("after") if isinstance(data.get("after"), dict) else {}
            touched = data.get("touched") if isinstance(data.get("touched"), dict) else {}
            folders = data.get("folders") if isinstance(data.get("folders"), list) else []
            kind = data.get("kind", SWITCH)
            if kind != SWITCH and not changes:
                continue
            found.append(
                SwitchRecord(
                    data["id"],
                    data["time"],
                    data["profile"],
                    data["tools"],
                    data["scope"],
                    files,
                    after,
                    kind=kind,
                    touched=touched,
                    folders=[str(folder) for folder in folders],
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return found


def digest(text: str | None) -> str:
    """A file's fingerprint (an absent file has one too)."""
    return hashlib.sha256(b"\0absent" if text is None else text.encode()).hexdigest()


def changed_since(switch: SwitchRecord, path: Path) -> bool:
    """Whether ``path`` changed after ``switch`` wrote it (unknown for switches recorded before)."""
    after = switch.after.get(safe_write.source_key(path))
    return after is not None and after != digest(read_text(path))


def referenced_backups(path: Path) -> set[str]:
    """The ids of ``path``'s backups that a recorded switch, change or rollback took: what ``ai
    rollback`` needs, so the backup ring never prunes them (``safe_write.backup``)."""
    key = safe_write.source_key(path)
    return {
        e.backup for entry in records(changes=True) for e in entry.files if e.backup and str(e.path) == key
    }


def latest(tool: str | None = None) -> SwitchRecord | None:
    """The most recent switch or change (that involved ``tool``, when given)."""
    for entry in records(changes=True):
        if tool is None or tool in entry.tools:
            return entry
    return None


def to_undo(tool: str | None = None) -> SwitchRecord | None:
    """What ``ai rollback`` undoes next, walking back a stack as "undo" does: the most recent switch
    or change (that involved ``tool``, when given) that is not itself a rollback and that no later
    rollback undid. So a second rollback steps back once more instead of undoing the first."""
    undone: set[str] = set()
    for entry in records(changes=True):
        if entry.undoes is not None:
            undone.add(entry.undoes)
            continue
        if entry.id in undone:
            continue
        if tool is None or tool in entry.tools:
            return entry
    return None


def containing(path: Path, backup_id: str) -> SwitchRecord | None:
    """The entry that took backup ``backup_id`` of ``path`` (None: a write it did not record)."""
    key = safe_write.source_key(path)
    for entry in records(changes=True):
        if any(str(e.path) == key and e.backup == backup_id for e in entry.files):
            return entry
    return None


def unrecorded_since(entry: SwitchRecord) -> list[Backup]:
    """The assistants' files (not ``entry``'s) that Mahavishnu wrote after ``entry`` in a write it
    did not record (a ``claude hooks``, ``permissions`` or ``statusline`` edit) and last wrote so: the
    newest backup of each, which holds what the file had before that write. Mahavishnu's own files
    are left out."""
    stamp = entry.id.split("-")[0]
    taken = {(str(e.path), e.backup) for each in records(changes=True) for e in each.files}
    own = tuple(safe_write.source_key(root) + os.sep for root in paths.roots())
    seen = {str(e.path) for e in entry.files}  # ``entry``'s own files are never listed
    found: list[Backup] = []
    for backup in safe_write.list_backups():  # newest first: only each file's last write counts
        key = str(backup.path)
        if backup.id <= stamp or key in seen or key.startswith(own):
            continue
        seen.add(key)
        if (key, backup.id) not in taken:
            found.append(backup)
    return found


def command() -> str:
    """The Mahavishnu command running, as its Click context names it: ``mcp-servers add docs`` (its
    words and single arguments; options and argument lists are left out, they may hold values such
    as ``--env KEY=VALUE``)."""
    context = _click_context()
    if context is None:
        return "a change by Mahavishnu"
    from mahavishnu.masking import mask_text

    text = mask_text(" ".join(_command_words(context)))
    return (text if len(text) <= 80 else text[:79] + "…") or "a change by Mahavishnu"


def _click_context() -> _Context | None:
    """The running command's Click context, if a command is running."""
    for name in ("typer._click.globals", "click.globals"):  # Typer's own copy of Click, or Click
        module = sys.modules.get(name)  # never imported for this: no context without it
        context: _Context | None = module.get_current_context(silent=True) if module is not None else None
        if context is not None:
            return context
    return None


def _command_words(context: _Context) -> list[str]:
    words: list[str] = []
    each = context
    while each.parent is not None:  # every command's name up to the program's (left out)
        words.insert(0, each.info_name or "")
        each = each.parent
    for param in context.command.params:
        value = context.params.get(param.name or "")
        if param.param_type_name == "argument" and param.nargs == 1 and value is not None:
            words.append(str(value))
    return words


def tools_of(files: Iterable[Path]) -> list[str]:
    """The assistants whose files these are (by folder: ``~/.claude``, ``$CODEX_HOME``, a project's
    ``.qwen``…; ``~/.claude.json`` and ``.mcp.json`` are Claude Code's), in the usual order."""
    homes = {
        "claude": paths.claude_config_dir(),
        "codex": paths.codex_home(),
        "qwen": paths.qwen_home(),
        "gemini": paths.gemini_home(),
        "opencode": paths.opencode_config_dir(),
        "pi": paths.home() / ".pi",
    }
    folders = {".claude": "claude", ".codex": "codex", ".qwen": "qwen", ".gemini": "gemini"}
    found: set[str] = set()
    for path in files:
        absolute = Path(safe_write.source_key(path))
        if is_state_file(absolute) or absolute.name == ".mcp.json":
            found.add("claude")
        found |= {tool for tool, folder in homes.items() if folder.absolute() in absolute.parents}
        if absolute.parent.name in folders:
            found.add(folders[absolute.parent.name])
    return [tool for tool in ("claude", "codex", "qwen", "gemini", "opencode", "pi") if tool in found]


# -- Claude Code's state file ------------------------------------------------------------------

_ABSENT: Any = object()


def is_state_file(path: Path) -> bool:
    """Whether ``path`` is Claude Code's own state file (``~/.claude.json``)."""
    return safe_write.source_key(path) == safe_write.source_key(paths.claude_state_file())


def server_entries(data: object) -> dict[tuple[str, ...], Any]:
    """Every MCP server entry of a parsed state file, by the keys leading to it: ``mcpServers``,
    NAME (user scope) and ``projects``, PROJECT, ``mcpServers``, NAME (local scope)."""
    if not isinstance(data, dict):
        return {}
    maps: list[tuple[str, ...]] = [("mcpServers",)]
    projects = data.get("projects")
    if isinstance(projects, dict):
        maps += [("projects", name, "mcpServers") for name, v in projects.items() if isinstance(v, dict)]
    found: dict[tuple[str, ...], Any] = {}
    for keys in maps:
        servers = _value(data, keys)
        if isinstance(servers, dict):
            found.update({(*keys, name): value for name, value in servers.items()})
    return found


def entry_digest(value: Any) -> str:
    """An MCP server entry's fingerprint (``_ABSENT``: there is none)."""
    if value is _ABSENT:
        return digest(None)
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def touched_entries(before: str | None, after: str) -> dict[str, str] | None:
    """The MCP server entries that differ between two texts of the state file, each with the
    fingerprint of what ``after`` holds; None when either is not JSON."""
    try:
        old = server_entries(json.loads(before) if before is not None else {})
        new = server_entries(json.loads(after))
    except ValueError:
        return None
    return {
        json.dumps(list(keys)): entry_digest(new.get(keys, _ABSENT))
        for keys in sorted(old.keys() | new.keys())
        if old.get(keys, _ABSENT) != new.get(keys, _ABSENT)
    }


@dataclass
class Merged:
    """``merge_state``'s result: the new text, and the entries left as they are (changed since)."""

    text: str
    left: list[str] = field(default_factory=list)


def merge_state(
    path: Path, current: str | None, backup: str | None, touched: dict[str, str] | None
) -> Merged:
    """The state file as it is now (``current``) with its MCP servers put back as ``backup`` had
    them (None: there was no file); every other key, and its layout, stays as it is now.

    With ``touched`` (a recorded change: each entry it set or removed, and the fingerprint of what it
    left), only those entries go back, and only where they still hold what the change left (the
    others are named in ``left``); without (``--to``), every MCP server entry is as in ``backup``.
    Raises InvalidConfigFileError when ``current`` or ``backup`` is not a JSON object."""
    from mahavishnu.files.json_document import JsonDocument

    doc = JsonDocument.parse(current or "", source=str(path), comments=False)
    try:
        was = json.loads(backup) if backup is not None else {}
    except ValueError as exc:
        raise InvalidConfigFileError(f"the backup of {path} is not valid JSON: {exc}") from exc
    old, now = server_entries(was), server_entries(doc.data)
    left: list[str] = []
    if touched is None:
        wanted = sorted(old.keys() | now.keys())
    else:
        wanted = []
        for text, after in touched.items():
            keys = tuple(json.loads(text))
            if entry_digest(now.get(keys, _ABSENT)) == after:
                wanted.append(keys)
            elif now.get(keys, _ABSENT) != old.get(keys, _ABSENT):
                left.append(entry_name(keys))
    for keys in wanted:
        value = old.get(keys, _ABSENT)
        if value is _ABSENT:
            if doc.delete(list(keys)):
                _prune(doc, keys, was)
        elif now.get(keys, _ABSENT) != value:
            doc.set(list(keys), value)
    return Merged(doc.dumps(), left)


def entry_name(keys: Sequence[str]) -> str:
    """``MCP server 'docs'`` (user scope) or ``MCP server 'docs' of project /src/api`` (local)."""
    where = f" of project {keys[1]}" if len(keys) == 4 else ""
    return f"MCP server '{keys[-1]}'{where}"


def _prune(doc: Any, keys: Sequence[str], was: object) -> None:
    """Remove the objects on the way to a removed entry that are empty now and that ``was`` did not
    have (the change created them)."""
    for depth in range(len(keys) - 1, 0, -1):
        container = list(keys[:depth])
        if doc.get(container) != {} or _value(was, container) is not _ABSENT:
            return
        doc.delete(container)


def _value(data: object, keys: Sequence[str]) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return _ABSENT
        data = data[key]
    return data


safe_write.pin_backups_with(referenced_backups)
