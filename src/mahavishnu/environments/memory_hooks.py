"""The memory loop's hooks in each assistant's own hook configuration: install, remove, status.

Two hooks per assistant, both a ``mahavishnu`` command that reads the hook's JSON on stdin:

* recall, ``memory context --tool T``, at session start and before every prompt;
* capture, ``memory import --tool T -``, after every turn (the session file is imported again;
  only new turns are added).

Where they go (each checked against the pinned CLI with the loopback mock):

=========  ================================  ====================================  ===========
assistant  file                              events (recall / capture)             timeout in
=========  ================================  ====================================  ===========
Claude     ``~/.claude/settings.json``       SessionStart, UserPromptSubmit / Stop  seconds
Codex      ``$CODEX_HOME/hooks.json``        SessionStart, UserPromptSubmit / Stop  seconds
Qwen Code  ``~/.qwen/settings.json``         SessionStart, UserPromptSubmit / Stop  seconds
Gemini     ``~/.gemini/settings.json``       SessionStart, BeforeAgent / AfterAgent milliseconds
Pi         ``~/.pi/agent/extensions/…js``    before_agent_start / agent_end         (the file)
OpenCode   ``~/.config/opencode/plugins/``   chat.message / session.idle           (the file)
=========  ================================  ====================================  ===========

Pi runs no command hooks: an extension file of ours runs the same commands (``memory_hooks_pi``);
OpenCode neither: a plugin file of ours runs them (``memory_hooks_opencode``).

Codex 0.169 runs a hook from ``hooks.json`` only once it is trusted: ``config.toml`` must hold
``[hooks.state."<hooks.json path>:<event>:<group>:<handler>"] trusted_hash = "sha256:…"``, the
hash of the hook's normalised identity (``codex_trust_hash``); an untrusted hook is skipped
silently. Install writes both files, remove takes both out, status checks the hash still matches.

Each of our handlers sits in a matcher group of its own, appended to the event's list; a
handler is ours when its command runs ``memory context --tool`` or ``memory import --tool``.
One with exactly the command we would write is installed already, whatever else the user changed
in it (a longer timeout, a matcher ...): install leaves it as it is and says it is customised.
Everything else in the files (the user's hooks, comments, unknown keys) is left as it is. All
files of one run are written as one transaction (``transaction.run``: locked, atomic, backed up).
A file install created (``memory-hooks.json`` under the data dir remembers which) is deleted again
by remove once nothing but our hooks was in it; so is an event's list (or ``hooks``) install created,
while one the file had before install, even empty (``"Stop": []``), stays (the record names those).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mahavishnu import paths
from mahavishnu.environments import memory_hooks_opencode as opencode_plugin
from mahavishnu.environments import memory_hooks_pi
from mahavishnu.environments.assistants.base import FileEdit, hook_process_command
from mahavishnu.errors import InvalidConfigFileError, InvalidInputError, wrong_type
from mahavishnu.files import safe_write, transaction
from mahavishnu.files.json_document import JsonDocument
from mahavishnu.files.json_values import as_array, as_object, member
from mahavishnu.files.safe_write import Change, read_text
from mahavishnu.json_types import JSONArray, JSONMapping, JSONObject, JSONReadable, JSONValue

if TYPE_CHECKING:
    from tomlkit import TOMLDocument
    from tomlkit.items import Item

Tool = Literal["claude", "codex", "qwen", "gemini", "pi", "opencode"]
TOOLS: tuple[Tool, ...] = ("claude", "codex", "qwen", "gemini", "pi", "opencode")
Role = Literal["recall", "capture"]
TIMEOUT_S = 30
_OURS = re.compile(r"\bmemory (?:context|import) --tool (?:claude|codex|qwen|gemini|pi|opencode)\b")
_EVENTS: dict[Tool, tuple[tuple[str, Role], ...]] = {
    "claude": (("SessionStart", "recall"), ("UserPromptSubmit", "recall"), ("Stop", "capture")),
    "codex": (("SessionStart", "recall"), ("UserPromptSubmit", "recall"), ("Stop", "capture")),
    "qwen": (("SessionStart", "recall"), ("UserPromptSubmit", "recall"), ("Stop", "capture")),
    "gemini": (("SessionStart", "recall"), ("BeforeAgent", "recall"), ("AfterAgent", "capture")),
    "opencode": (),  # a plugin of ours: memory_hooks_opencode
}


@dataclass(frozen=True)
class HookState:
    """One of our hooks as a file holds it: present, and (Codex) trusted."""

    event: str
    role: Role
    command: str
    installed: bool
    trusted: bool = True  # only Codex can hold a hook it will not run
    customised: str = ""  # what the user changed in it, e.g. "timeout 45" ("" when as installed)
    outdated: bool = False  # ours, with the command an earlier Mahavishnu wrote (install updates it)


@dataclass(frozen=True)
class ToolHooks:
    """What ``status`` found for one assistant."""

    tool: Tool
    path: Path
    hooks: list[HookState]
    error: str | None = None
    #: the assistant's own setting that turns every hook off, and where (``switched_off``)
    switched_off: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(h.installed and h.trusted and not h.outdated for h in self.hooks)

    @property
    def state(self) -> str:
        if self.error is not None:
            return "error"
        if self.ok and self.switched_off:
            return "disabled"
        if self.ok:
            return "installed"
        if all(h.installed and h.trusted for h in self.hooks):
            return "outdated"
        if not any(h.installed for h in self.hooks):
            return "not installed"
        return "incomplete" if all(h.trusted for h in self.hooks) else "untrusted"

    def to_dict(self) -> JSONObject:
        return {
            "tool": self.tool,
            "path": str(self.path),
            "state": self.state,
            "error": self.error,
            "switched_off": self.switched_off,
            "hooks": [
                {
                    "event": h.event,
                    "role": h.role,
                    "installed": h.installed,
                    "trusted": h.trusted,
                    "customised": h.customised,
                    "outdated": h.outdated,
                }
                for h in self.hooks
            ],
        }


def check_tools(tool: str) -> list[Tool]:
    """``all``, one assistant's name or a comma-separated list, as the list of assistants it means."""
    if tool.strip().lower() == "all":
        return list(TOOLS)
    names = [part.strip().lower() for part in tool.split(",") if part.strip()]
    hint = f"Use one of: {', '.join(TOOLS)}, a comma-separated list of them, or all."
    for name in names:
        if name not in TOOLS:
            raise InvalidInputError(f"unknown assistant {name!r}", hint=hint)
    if not names:
        raise InvalidInputError("no assistant given", hint=hint)
    return list(dict.fromkeys(names))  # type: ignore[arg-type]  # checked above


def _given_tools(function: str, tools: Sequence[Tool]) -> Sequence[Tool]:
    """The assistants a caller of the public API named: a list of names (a name alone, a comma-separated
    list or ``all``, as ``check_tools`` reads them, too: "claude" is not the list "c", "l" ...)."""
    if isinstance(tools, str):
        return check_tools(tools)
    if not isinstance(tools, Sequence) or not all(isinstance(tool, str) for tool in tools):
        raise wrong_type(function, "a list of assistants", tools, hint=f"e.g. {list(TOOLS[:2])}.")
    if unknown := [tool for tool in tools if tool not in TOOLS]:  # (a KeyError)
        raise InvalidInputError(f"unknown assistant {unknown[0]!r}", hint=f"Use some of: {', '.join(TOOLS)}.")
    return tools


def hook_command(tool: Tool, role: Role) -> str:
    """The command line of one of our hooks (this Mahavishnu's interpreter and package, by absolute
    path, started without ``site``: ``hook_process_command``)."""
    if role == "recall":
        return hook_process_command("memory", "context", "--tool", tool)
    return hook_process_command("memory", "import", "--tool", tool, "-")


def is_ours(command: object) -> bool:
    return isinstance(command, str) and _OURS.search(command) is not None


# -- plans --------------------------------------------------------------------------------------
def install(tools: Sequence[Tool], *, dry_run: bool = False) -> list[Change]:
    """Write our hooks into every assistant's file(s) as one transaction (idempotent). A hook of
    ours the user customised stays as it is (``customised`` lists them)."""
    tools = _given_tools("install_memory_hooks", tools)
    edits = [edit for tool in tools for edit in _edits(tool, install=True)]
    if dry_run:
        return [safe_write.plan(edit.path, edit.transform) for edit in edits]
    folders = [str(f.absolute()) for f in memory_hooks_pi.missing_folders()] if "pi" in tools else []
    folders += [str(f.absolute()) for f in opencode_plugin.missing_folders()] if "opencode" in tools else []
    changes = transaction.apply_all(edits)
    created = [str(c.path.absolute()) for c in changes if c.before is None and c.changed]
    found = _found_keys(tools, changes)
    if created or found:
        _update_record(lambda record: record.note_install(set(created) | set(folders), found))
    return changes


def remove(tools: Sequence[Tool], *, dry_run: bool = False) -> list[Change]:
    """Take our hooks (and Codex's trust entries for them) out, leaving every other hook; a file
    install created and that holds nothing else now is deleted."""
    tools = _given_tools("remove_memory_hooks", tools)
    edits = [edit for tool in tools for edit in _edits(tool, install=False)]
    if dry_run:
        planned = [safe_write.plan(edit.path, edit.transform) for edit in edits]
        if "pi" in tools and memory_hooks_pi.removable():
            path = memory_hooks_pi.extension_path()
            planned.append(Change(path, read_text(path), ""))
        return planned + (opencode_plugin.removal_plan() if "opencode" in tools else [])
    created = _read_record().created
    steps: list[FileEdit | transaction.Delete] = []
    if "opencode" in tools and opencode_plugin.removable():  # ours, edited or not; never the user's
        steps.append(transaction.Delete(opencode_plugin.plugin_path()))
    for edit in edits:
        steps.append(edit)
        if str(edit.path.absolute()) in created and _empty(edit.transform(read_text(edit.path)), edit.path):
            steps.append(transaction.Delete(edit.path))
    if "pi" in tools and memory_hooks_pi.removable():  # the extension is all ours: it goes
        steps.append(transaction.Delete(memory_hooks_pi.extension_path()))
    outcome = transaction.run(steps)
    gone = {str(removal.path.absolute()) for removal in outcome.removals}
    if "pi" in tools or "opencode" in tools:  # the folders install made for them, once empty
        gone |= safe_write.remove_empty_folders({f for f in created if Path(f).is_dir()})
    if gone:
        _update_record(lambda record: record.created.difference_update(gone))
    extension = memory_hooks_pi.extension_path()  # (deleted with no edit before it: say so)
    plugin = opencode_plugin.plugin_path() if "opencode" in tools else None
    ours = (extension, plugin)
    deleted = [Change(r.path, r.before, "") for r in outcome.removals if r.changed and r.path in ours]
    return [*outcome.changes, *deleted]


def customised(tools: Sequence[Tool]) -> list[tuple[Tool, HookState]]:
    """Our hooks that are installed but that the user changed (left as they are by install); of
    Pi's and OpenCode's, which share one file each, the first."""
    found = [(tool, hook) for tool in tools for hook in _status(tool).hooks if hook.customised]
    one_file = ("pi", "opencode")
    first = [next(pair for pair in found if pair[0] == tool) for tool in one_file if tool in dict(found)]
    return [pair for pair in found if pair[0] not in one_file] + first


install_memory_hooks = install  # the names the package exports
remove_memory_hooks = remove


# -- what install created and found ---------------------------------------------------------------
#: A key of a hooks file: ``("hooks",)`` or ``("hooks", EVENT)``.
Keys = tuple[str, ...]


@dataclass
class _Record:
    """``memory-hooks.json``: the files and folders install created (remove deletes them once
    nothing else is in them) and, per hooks file, the keys install filled that the file had before
    it, empty or not (``kept``: remove leaves them, even empty; one install created goes once empty)."""

    created: set[str]
    kept: dict[str, set[Keys]]

    def note_install(self, created: set[str], found: dict[str, dict[Keys, bool]]) -> None:
        """Add what an install created, and whether each key it filled was there before it."""
        self.created |= created
        for path, keys in found.items():
            kept = self.kept.setdefault(path, set())
            kept |= {key for key, there in keys.items() if there}
            kept -= {key for key, there in keys.items() if not there}

    def dumps(self) -> str:
        kept = {path: sorted(list(key) for key in keys) for path, keys in sorted(self.kept.items()) if keys}
        return json.dumps({"version": 1, "created": sorted(self.created), "kept": kept}, indent=2) + "\n"


def _created_path() -> Path:
    return paths.data_dir() / "memory-hooks.json"


def _read_record() -> _Record:
    return _record_in(read_text(_created_path()))


def _record_in(text: str | None) -> _Record:
    """The record (empty when it is missing or damaged: a damaged record only means a file we
    created stays behind, or an empty event of the user's goes)."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    files, kept = data.get("created"), data.get("kept")
    return _Record(
        {f for f in files if isinstance(f, str)} if isinstance(files, list) else set(),
        {path: _keys(keys) for path, keys in kept.items()} if isinstance(kept, dict) else {},
    )


def _keys(found: object) -> set[Keys]:
    if not isinstance(found, list):
        return set()
    return {tuple(k) for k in found if isinstance(k, list) and all(isinstance(part, str) for part in k)}


def _update_record(change: Callable[[_Record], None]) -> None:
    def transform(text: str | None) -> str:
        record = _record_in(text)
        change(record)
        return record.dumps()

    safe_write.apply(_created_path(), transform, validate=lambda text: None, mode=0o600, backups=2)


def _found_keys(tools: Sequence[Tool], changes: Sequence[Change]) -> dict[str, dict[Keys, bool]]:
    """For each hooks file install changed, ``_filled``'s keys."""
    hooks_tools = [tool for tool in tools if tool not in ("pi", "opencode")]
    files = {str(_settings_file(tool)[0].absolute()): tool for tool in hooks_tools}
    found = {}
    for change in changes:
        tool = files.get(str(change.path.absolute()))
        if tool is not None and change.changed:
            found[str(change.path.absolute())] = _filled(tool, change)
    return found


def _filled(tool: Tool, change: Change) -> dict[Keys, bool]:
    """Each key install changed in a hooks file (``hooks``, and each event it wrote into): True when
    the file had it before holding nothing of ours (the user's, even empty), False when install
    created it; one that held ours already (an update) is left out: it is as the first install found."""
    path, load, _ = _settings_file(tool)
    document = load(change.before, path)
    before, after = _hooks_object(document, path), _hooks_object(load(change.after, path), path)
    found: dict[Keys, bool] = {}
    if not any(_find_ours(groups) for groups in before.values()):
        found[("hooks",)] = document.get(["hooks"]) is not None
    for event in (e for e in after if after[e] != before.get(e)):
        if event not in before:
            found[("hooks", event)] = False
        elif not _find_ours(before[event]):
            found[("hooks", event)] = True
    return found


def _empty(text: str, path: Path) -> bool:
    """Nothing left in the file: no key, no comment (``{}`` in JSON)."""
    bare = "".join(text.split())
    return bare == "" or (path.suffix == ".json" and bare == "{}")


def _edits(tool: Tool, *, install: bool) -> list[FileEdit]:
    if tool == "pi":  # an extension file: written whole by install, deleted by remove
        return [memory_hooks_pi.install_edit(TIMEOUT_S)] if install else []
    if tool == "opencode":  # removed by a deletion (``remove``)
        return [opencode_plugin.install_edit()] if install else []
    path, load, validate = _settings_file(tool)
    wanted = _wanted(tool) if install else []
    kept = _read_record().kept.get(str(path.absolute()), set())
    edits = []
    if tool == "codex":  # trust first: it reads the hooks.json positions before they change
        from mahavishnu.environments.assistants import codex

        config = codex.config_path()
        if install or read_text(config) is not None:
            trust = FileEdit(
                config, lambda text: _edit_codex_trust(text, path, wanted, load, config), codex.validate
            )
            edits.append(trust)
    if install or read_text(path) is not None:  # removing from a file that is not there: nothing to do
        edits.append(FileEdit(path, lambda text: _edit_hooks(text, path, load, wanted, kept), validate))
    return edits


@dataclass(frozen=True)
class _Hook:
    """One of our hooks as install writes it: its event, its command line and its whole handler."""

    event: str
    command: str
    handler: JSONObject


def _wanted(tool: Tool) -> list[_Hook]:
    """Each of our hooks for ``tool``."""
    timeout = TIMEOUT_S * 1000 if tool == "gemini" else TIMEOUT_S
    out = []
    for event, role in _EVENTS[tool]:
        command = hook_command(tool, role)
        handler: JSONObject = {"type": "command", "command": command, "timeout": timeout}
        if tool == "gemini":
            handler["name"] = f"mahavishnu-memory-{role}"
        out.append(_Hook(event, command, handler))
    return out


Loader = Callable[[str | None, Path], JsonDocument]


def _edit_hooks(
    text: str | None, path: Path, load: Loader, wanted: Sequence[_Hook], kept: Collection[Keys] = ()
) -> str:
    """The file with our handlers removed from every event, except the first one with the command
    ``wanted`` has for its event (installed already: kept as the user may have customised it), then
    the rest of ``wanted`` appended, one group each; every other byte stays (the text comes back
    unchanged when nothing changes). An event (or ``hooks``) this empties goes, unless ``kept`` names
    it: the file had it before install filled it."""
    document = load(text, path)
    before = _hooks_object(document, path)
    after = _with_wanted(before, wanted)
    changed = [event for event in after if after[event] != before.get(event)]
    if not changed:
        return text or ""
    for event in changed:
        if not after[event] and ("hooks", event) not in kept:
            document.delete(["hooks", event])
        elif not _edited_in_place(document, event, before.get(event), after[event]):
            document.set(["hooks", event], after[event])
    if not document.get(["hooks"]) and ("hooks",) not in kept:
        document.delete(["hooks"])
    return document.dumps()


def _edited_in_place(document: JsonDocument, event: str, before: JSONValue, after: JSONValue) -> bool:
    """The event's array edited element by element where ``after`` is ``before`` less whole groups
    (ours) plus groups at its end (ours): the user's groups, and the comments and layout around
    them, stay byte for byte (the array written whole lost them). False where that is not the
    change (a group of the user's holding one of our handlers), or the document cannot: the caller
    then writes the array whole."""
    from mahavishnu.files.json_arrays import SettingsDocument

    if not isinstance(document, SettingsDocument) or not isinstance(before, list) or not before:
        return False
    if not isinstance(after, list):
        return False
    kept: JSONArray = []
    removed: JSONArray = []
    position = 0
    for group in before:
        if position < len(after) and group == after[position]:
            kept.append(group)
            position += 1
        else:
            removed.append(group)
    if any(group in kept for group in removed) or any(group in after for group in removed):
        return False
    keys = ["hooks", event]
    document.remove_elements(keys, lambda group: group in removed)
    for group in after[position:]:
        document.append_element(keys, group)
    return document.get(keys) == after


def _hooks_object(document: JsonDocument, path: Path) -> JSONObject:
    """A copy of the file's ``hooks`` (event -> groups); refused when it is not an object."""
    hooks = document.get(["hooks"])
    if hooks is not None and not isinstance(hooks, dict):
        raise InvalidConfigFileError(f"{path}: 'hooks' is not an object", hint="Fix the file, then retry.")
    return dict(hooks or {})


def _with_wanted(before: JSONObject, wanted: Sequence[_Hook]) -> JSONObject:
    """``before`` without our handlers (but the one kept per event), then ours appended where missing."""
    keep = {hook.event: hook.command for hook in wanted}
    after = {e: _without_ours(g, keep.get(e)) if isinstance(g, list) else g for e, g in before.items()}
    for hook in wanted:
        groups = as_array(after.get(hook.event))
        if not _find(groups, hook.command):
            after[hook.event] = [*groups, {"hooks": [hook.handler]}]
    return after


def _without_ours(groups: JSONArray, keep: str | None = None) -> JSONArray:
    """The groups with our handlers taken out, but for the first whose command is ``keep``; a group
    left with no handler goes too."""
    found = _find(groups, keep) if keep is not None else []
    spared = found[0][3] if found else None
    return [kept for group in groups for kept in _group_without_ours(group, spared)]


def _group_without_ours(group: JSONValue, spared: JSONObject | None) -> JSONArray:
    """``[group]`` as it is, or with fewer handlers; ``[]`` when none of its handlers is left."""
    handlers = group.get("hooks") if isinstance(group, dict) else None
    if not isinstance(group, dict) or not isinstance(handlers, list):
        return [group]
    kept = [h for h in handlers if h is spared or not (isinstance(h, dict) and is_ours(h.get("command")))]
    if len(kept) == len(handlers):
        return [group]
    return [{**group, "hooks": kept}] if kept else []


_Found = tuple[int, int, JSONObject, JSONObject]


def _find(groups: JSONValue, command: str) -> list[_Found]:
    """(group index, handler index, group, handler) of each handler in ``groups`` that runs exactly
    ``command``."""
    return _matching(groups, lambda found: found == command)


def _find_ours(groups: JSONValue) -> list[_Found]:
    """``_find`` for any handler of ours, whatever its command line (an earlier Mahavishnu's)."""
    return _matching(groups, is_ours)


def _matching(groups: JSONValue, wanted: Callable[[JSONValue], bool]) -> list[_Found]:
    return [
        (g, h, group, handler)
        for g, group in enumerate(as_array(groups))
        if isinstance(group, dict)
        for h, handler in enumerate(as_array(group.get("hooks")))
        if isinstance(handler, dict) and wanted(handler.get("command"))
    ]


def _changes(handler: JSONObject, group: JSONObject, wanted: JSONObject) -> str:
    """What differs between an installed handler (in its group) and the one install writes."""

    def shown(value: JSONValue) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    out = []
    for key in [*wanted, *(k for k in handler if k not in wanted)]:
        if handler.get(key) != wanted.get(key):
            out.append(f"{key} {shown(handler[key])}" if key in handler else f"no {key}")
    out += [f"{key} {shown(value)}" for key, value in group.items() if key != "hooks"]
    return ", ".join(out)


# -- Codex hook trust ---------------------------------------------------------------------------
def codex_event_label(event: str) -> str:
    """``SessionStart`` -> ``session_start``, the label Codex keys its hook state by."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event).lower()


def codex_trust_hash(event: str, handler: JSONMapping, matcher: JSONReadable = None) -> str:
    """The ``trusted_hash`` Codex 0.169 computes for a command hook: SHA-256 of the compact,
    key-sorted JSON of its normalised identity (event label, matcher unless the event ignores it,
    the one handler with ``timeout`` filled in (600 s; SessionEnd 1 s, at most 3) and ``async``)."""
    given = handler.get("timeout")
    seconds = int(given) if isinstance(given, int | float) and not isinstance(given, bool) else None
    if event == "SessionEnd":
        timeout = min(3, max(1, seconds or 1))
    else:
        timeout = max(1, seconds if seconds is not None else 600)
    normal: dict[str, JSONReadable] = {
        "type": "command",
        "command": handler["command"],
        "timeout": timeout,
        "async": bool(handler.get("async", False)),
    }
    if isinstance(handler.get("statusMessage"), str):
        normal["statusMessage"] = handler["statusMessage"]
    identity: dict[str, JSONReadable] = {"event_name": codex_event_label(event), "hooks": [normal]}
    if matcher is not None and event not in ("UserPromptSubmit", "Stop"):
        identity["matcher"] = matcher
    encoded = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _codex_ours(hooks_text: str | None, path: Path, load: Loader) -> dict[str, str]:
    """Trust key -> hash of each of our handlers in a hooks.json text, at its position."""
    return _codex_handlers(hooks_text, path, load)[0]


def _codex_handlers(
    hooks_text: str | None, path: Path, load: Loader
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Our handlers (trust key -> hash) and, per event, the trust keys of everyone else's, in order."""
    data = load(hooks_text, path).data if hooks_text is not None else {}
    ours: dict[str, str] = {}
    others: dict[str, list[str]] = {}
    for event, g, h, group, handler in _handler_positions(data):
        key = f"{path.absolute()}:{codex_event_label(event)}:{g}:{h}"
        if isinstance(handler, dict) and is_ours(handler.get("command")):
            ours[key] = codex_trust_hash(event, handler, member(group, "matcher"))
        else:
            others.setdefault(event, []).append(key)
    return ours, others


def _handler_positions(data: JSONObject) -> Iterator[tuple[str, int, int, JSONValue, JSONValue]]:
    """(event, group index, handler index, group, handler) of every handler in a hooks file."""
    for event, groups in as_object(data.get("hooks")).items():
        for g, group in enumerate(as_array(groups)):
            for h, handler in enumerate(as_array(member(group, "hooks"))):
                yield event, g, h, group, handler


def _edit_codex_trust(
    text: str | None,
    hooks_path: Path,
    wanted: Sequence[_Hook],
    load: Loader,
    config_path: Path,
) -> str:
    """config.toml with the trust entries of our old handlers gone and our new ones trusted; the
    new positions come from running the hooks.json edit on what that file holds now. The user's
    own trust entries follow their handlers when taking ours out moves them up (a trust key names
    a position; the hash does not change). A trust entry of ours left at a position our handler
    is no longer at (the user moved or took hooks out by hand) goes too: one for this hooks.json
    whose hash is that of one of our handlers for its event."""
    import tomlkit

    from mahavishnu.environments.assistants import codex

    current = read_text(hooks_path)
    old, old_others = _codex_handlers(current, hooks_path, load)
    new, new_others = _codex_handlers(
        _edit_hooks(current, hooks_path, load, wanted) or None, hooks_path, load
    )
    moves = _moved_keys(old_others, new_others)
    document = codex.parse(text, config_path)  # a clear error naming the line, not a traceback
    hooks = document.get("hooks")
    state = hooks.get("state") if hooks is not None else None
    moved = _moved_entries(state, moves)
    stale = _stale_trust(state, hooks_path, old, new)
    if not moved and not stale and _trusted_hashes(state, {*old, *new}) == new:
        return text or ""  # already as wanted: keep every byte
    if state is not None:
        _drop_keys(state, {*old, *new, *moves, *moved, *stale})
    entries = {**moved, **{key: {"trusted_hash": digest} for key, digest in new.items()}}
    if entries:
        _add_trust(document, entries)
    else:
        _drop_empty_state(document)
    bom, rest = codex.split_bom(text or "")  # Codex's reader skips a BOM: it stays
    return bom + codex.keep_markers(rest, safe_write.keep_final_newlines(text, tomlkit.dumps(document)))


def _moved_keys(old_others: dict[str, list[str]], new_others: dict[str, list[str]]) -> dict[str, str]:
    """Old trust key -> new one of each handler not ours that taking ours out moves up."""
    return {
        before: after
        for event, keys in old_others.items()
        for before, after in zip(keys, new_others.get(event, []), strict=False)
        if before != after
    }


def _moved_entries(
    state: Mapping[str, Item] | None, moves: dict[str, str]
) -> dict[str, Mapping[str, object]]:
    """New trust key -> the entry (plain data) of each user's handler that moves."""
    if state is None:
        return {}
    return {moves[k]: state[k].unwrap() for k in moves if k in state}


def _drop_keys(state: MutableMapping[str, object], doomed: set[str]) -> None:
    for key in [k for k in state if k in doomed]:
        del state[key]


def _trusted_hashes(state: Mapping[str, Mapping[str, object]] | None, keys: set[str]) -> dict[str, object]:
    """Trust key -> the hash config.toml holds for it, of those of ``keys`` it has one for."""
    if state is None:
        return {}
    held = {k: (state.get(k) or {}).get("trusted_hash") for k in keys}
    return {k: v for k, v in held.items() if v is not None}


def _add_trust(document: TOMLDocument, entries: Mapping[str, Mapping[str, object]]) -> None:
    """``entries`` as tables under ``[hooks.state]``, creating those tables when missing."""
    import tomlkit

    hooks = document.get("hooks")
    if hooks is None:
        hooks = tomlkit.table(is_super_table=True)
        document["hooks"] = hooks
    state = hooks.get("state")
    if state is None:
        state = tomlkit.table(is_super_table=True)
        hooks["state"] = state
    for key, values in entries.items():
        entry = tomlkit.table()
        entry.update(values)
        entry.add(tomlkit.nl())  # a blank line before the user's next table, as between ours
        state[key] = entry


def _drop_empty_state(document: TOMLDocument) -> None:
    """No trust entry left: an empty ``[hooks.state]`` goes, and ``[hooks]`` when that empties it;
    not a table whose header the user wrote (``[hooks]``, with a comment perhaps), as install
    adds neither header."""
    hooks = document.get("hooks")
    state = hooks.get("state") if hooks is not None else None
    if hooks is not None and state is not None and not state and _headless(state):
        del hooks["state"]
        if not hooks and _headless(hooks):
            del document["hooks"]


def _headless(table: object) -> bool:
    """A table with no ``[header]`` of its own in the file (one holding only tables below it)."""
    from tomlkit.items import Table

    return isinstance(table, Table) and table.is_super_table()


def _stale_trust(
    state: Mapping[str, object] | None, hooks_path: Path, old: dict[str, str], new: dict[str, str]
) -> set[str]:
    """Trust keys of this hooks.json that hold the hash of one of our handlers (as installed, or as
    the file has it now) for their event, at a position where none of ours will be."""
    if state is None:
        return set()
    prefix = f"{hooks_path.absolute()}:"

    def event_of(key: str) -> str:
        return key[len(prefix) :].split(":")[0]

    ours = {
        (codex_event_label(hook.event), codex_trust_hash(hook.event, hook.handler))
        for hook in _wanted("codex")
    }
    ours |= {(event_of(key), digest) for key, digest in old.items()}
    stale = set()
    for key, value in state.items():
        digest = value.get("trusted_hash") if isinstance(value, dict) else None
        if key.startswith(prefix) and key not in new and (event_of(key), str(digest)) in ours:
            stale.add(key)
    return stale


# -- status -------------------------------------------------------------------------------------
def hooks_status(tool: str) -> list[ToolHooks]:
    """Whether each assistant (``tool`` or ``all``) has our hooks installed, and trusted (Codex), and
    whether a setting of its own runs none of them (``switched_off``)."""
    if not isinstance(tool, str):
        raise wrong_type("hooks_status", "an assistant's name (or all)", tool)
    found = [_status(name) for name in check_tools(tool)]
    return [replace(t, switched_off=switched_off(t.tool)) if t.ok else t for t in found]


def switched_off(tool: Tool) -> str | None:
    """The assistant's own setting that runs no hook at all, and the file that sets it (the last
    one read that sets it: user, then project, then local), as ``disableAllHooks in PATH``; None
    when its hooks run. Claude Code and Qwen Code read ``disableAllHooks``, Gemini CLI
    ``hooksConfig.enabled``, Codex its ``hooks`` feature (``codex_hooks`` before it). OpenCode has no
    such setting, but loads one plugin of a name: a project's of ours, started here, runs instead."""
    import tomllib

    if tool == "opencode":
        clashes = opencode_plugin.namesakes()
        return f"OpenCode loads {clashes[0]} instead (one plugin of a name)" if clashes else None
    if tool == "codex":
        from mahavishnu.environments.assistants.codex import config_path

        path = config_path()
        try:
            features = tomllib.loads(read_text(path) or "").get("features")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None  # (a file Codex cannot read is another finding's)
        if isinstance(features, dict):
            for key in ("hooks", "codex_hooks"):
                if features.get(key) is False:
                    return f"features.{key} false in {path}"
        return None
    said = None
    for path, data in _settings_layers(tool):
        if tool == "gemini":
            enabled = as_object(data.get("hooksConfig")).get("enabled")
            if isinstance(enabled, bool):
                said = None if enabled else f"hooksConfig.enabled false in {path}"
        elif isinstance(flag := data.get("disableAllHooks"), bool):
            said = f"disableAllHooks in {path}" if flag else None
    return said


def _settings_layers(tool: Tool) -> list[tuple[Path, JSONObject]]:
    """The settings files ``tool`` merges in order (user first), as read; none for an assistant
    whose hooks no settings file turns off, and a file that cannot be read is passed over."""
    from mahavishnu.environments.assistants import claude, gemini, qwen

    files = {
        "claude": [claude.Claude().settings_path(scope) for scope in ("user", "project", "local")],
        "qwen": [qwen.config_path("user"), qwen.config_path("project")],
        "gemini": [gemini.config_path("user"), gemini.config_path("project")],
    }.get(tool, [])
    layers = []
    for path in dict.fromkeys(files):  # (in the home folder a project file is the user's)
        try:
            text = read_text(path)
            if text is not None:
                layers.append((path, as_object(_load_jsonc(text, path).data)))
        except Exception:  # (a file the assistant cannot read either: another finding's)
            continue
    return layers


def _status(tool: Tool) -> ToolHooks:
    if tool == "pi":
        return _pi_status()
    if tool == "opencode":
        where = opencode_plugin.plugin_path()
        try:
            hooks = opencode_plugin.hook_states()
        except Exception as error:  # an unreadable file is reported, as for the others
            return ToolHooks(tool, where, [], error=str(error).splitlines()[0])
        states = [
            HookState(event, role, command, installed, customised=changed, outdated=outdated)  # type: ignore[arg-type]
            for event, role, command, installed, changed, outdated in hooks
        ]
        return ToolHooks(tool, where, states)
    path, load, _ = _settings_file(tool)
    try:
        data = load(read_text(path), path).data
        trusted = _codex_trusted(path, load) if tool == "codex" else None
    except Exception as error:  # an unreadable file is reported, not raised: status covers every tool
        return ToolHooks(tool, path, [], error=str(error).splitlines()[0])
    events = as_object(data.get("hooks"))
    states = []
    for (event, role), hook in zip(_EVENTS[tool], _wanted(tool), strict=True):
        found = _find(events.get(event), hook.command)
        older = [] if found else _find_ours(events.get(event))  # (an earlier version's command)
        installed = bool(found or older)
        keys = {f"{path.absolute()}:{codex_event_label(event)}:{g}:{h}" for g, h, _, _ in found or older}
        ok = installed and (trusted is None or bool(keys & trusted))
        changes = _changes(found[0][3], found[0][2], hook.handler) if found else ""
        states.append(
            HookState(event, role, hook.command, installed, ok or not installed, changes, bool(older))
        )
    return ToolHooks(tool, path, states)


def _pi_status() -> ToolHooks:
    """Pi's two hooks live in one extension file: both as that file is."""
    path = memory_hooks_pi.extension_path()
    try:
        installed, changes, outdated = memory_hooks_pi.state(TIMEOUT_S)
    except Exception as error:  # (an unreadable file) reported, as for the others
        return ToolHooks("pi", path, [], error=str(error).splitlines()[0])
    command = str(path)
    return ToolHooks(
        "pi",
        path,
        [HookState(e, r, command, installed, True, changes, outdated) for e, r in memory_hooks_pi.EVENTS],
    )


def _codex_trusted(hooks_path: Path, load: Loader) -> set[str]:
    """The keys of our hooks whose trust entry in config.toml matches their current hash."""
    import tomllib

    from mahavishnu.environments.assistants import codex

    ours = _codex_ours(read_text(hooks_path), hooks_path, load)
    path = codex.config_path()
    try:
        config = tomllib.loads((read_text(path) or "").removeprefix(codex.BOM))
    except tomllib.TOMLDecodeError as error:
        raise InvalidConfigFileError(f"invalid TOML in {path}: {error}") from error
    state = config.get("hooks", {}).get("state", {})
    return {key for key, digest in ours.items() if state.get(key, {}).get("trusted_hash") == digest}


# -- files --------------------------------------------------------------------------------------
def _settings_file(tool: Tool) -> tuple[Path, Loader, Callable[[str], None]]:
    """The file holding ``tool``'s hooks, how to parse it, and how to validate a new version."""
    if tool == "claude":  # (strict JSON, loaded to edit its arrays in place as Codex's hooks.json)
        from mahavishnu.environments.assistants import claude

        return claude.config_dir() / "settings.json", _load_strict, claude.validate
    if tool == "codex":
        from mahavishnu.environments.assistants.codex import codex_home

        return codex_home() / "hooks.json", _load_strict, _validate_strict
    if tool == "qwen":
        from mahavishnu.environments.assistants import qwen

        return qwen.config_path("user"), _load_jsonc, qwen.validate
    from mahavishnu.environments.assistants import gemini

    return gemini.config_path("user"), _load_jsonc, gemini.validate


def _load_strict(text: str | None, source: Path) -> JsonDocument:
    from mahavishnu.files.json_arrays import SettingsDocument  # (edits arrays in place)

    return SettingsDocument.parse(text or "", source=str(source), comments=False)


def _load_jsonc(text: str | None, source: Path) -> JsonDocument:
    from mahavishnu.files.json_arrays import SettingsDocument

    return SettingsDocument.parse(text or "", source=str(source), comments=True)


def _validate_strict(text: str) -> None:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidConfigFileError(f"refusing to write invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidConfigFileError("refusing to write a hooks file that is not a JSON object")
