"""The memory loop's hooks in OpenCode: one plugin file of ours, install, remove, status.

OpenCode 1.18 has no command hooks; it loads every ``*.js``/``*.ts`` file in the ``plugin/`` and
``plugins/`` folders of its config folders (``~/.config/opencode/plugins/`` is the global one) as a
plugin, a module whose export returns hook functions (checked against 1.18.33 with the loopback
mock). Ours, ``mahavishnu-memory.js`` (its source is ``opencode_plugin/`` beside this module), runs
the same hook commands as the other assistants' hooks, with the same JSON on stdin:

* recall, ``memory context --tool opencode``, on ``chat.message`` (a prompt; the first one a process
  sees of a session also asks for the session's start), its text added to that prompt's message as
  OpenCode sends it (``experimental.chat.messages.transform``: a synthetic part, never stored, never
  in the system prompt);
* capture, ``memory import --tool opencode -``, on the ``session.idle`` event (a turn ended).

The user's ``opencode.json`` is not touched: the file is found by its folder. Its first line holds
the SHA-256 of the rest, so ``status`` tells a file changed by hand (``customised``: install leaves
it as it is) from one an earlier Mahavishnu wrote (``outdated``: install rewrites it). Remove deletes
it (backed up, in a transaction). A file without that first line is the user's own plugin: install
refuses to overwrite it, and remove leaves it; so does install for a plugin of the user's of the same
name in the other folder or as ``.ts``, in a project's ``.opencode`` folder here, or named in a config
file's ``plugin`` list (OpenCode loads one plugin per name: a file's without its suffix).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from importlib import resources
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from mahavishnu import paths
from mahavishnu.environments.assistants import opencode
from mahavishnu.environments.assistants.base import FileEdit, hook_process_command
from mahavishnu.errors import InvalidConfigFileError, MahavishnuError
from mahavishnu.files.json_document import json_data
from mahavishnu.files.safe_write import Change, missing_parents, read_text

#: The plugin's file name in OpenCode's global ``plugins`` folder.
PLUGIN_NAME = "mahavishnu-memory.js"
#: The first line of the file, then ``sha256:<hex>`` of everything after that line.
HEADER = "// mahavishnu memory plugin "
#: How long the plugin lets a hook command run before it goes on without it (as the other hooks).
TIMEOUT_S = 30
#: (event, role) of the two hooks, as ``memory hooks status`` shows them.
EVENTS = (("chat.message", "recall"), ("session.idle", "capture"))
_PLACEHOLDER = "__MAHAVISHNU_CONFIG__"


def plugin_path() -> Path:
    return paths.opencode_config_dir() / "plugins" / PLUGIN_NAME


def namesakes() -> list[str]:
    """Where OpenCode started here would find another plugin of our plugin's name (a file's name
    without its suffix, an npm package's without its version): a file in the plugin folders of its
    config folder, of each ``.opencode`` folder from the repository's root down to here or of
    ``~/.opencode``, or a ``plugin`` entry of a config file it reads. OpenCode loads only one plugin
    of a name (a project's wins over ours), so one of them would not run."""
    stem = PLUGIN_NAME.removesuffix(".js")
    folders = [paths.opencode_config_dir(), *(f / ".opencode" for f in paths.repository_folders())]
    found: list[str] = []
    for folder in dict.fromkeys(f.resolve() for f in [*folders, paths.home() / ".opencode"]):
        candidates = [folder / sub / f"{stem}.{x}" for sub in ("plugin", "plugins") for x in ("js", "ts")]
        ours = plugin_path().resolve()
        found += [str(path) for path in candidates if path.resolve() != ours and path.exists()]
    for _, config in opencode.read_configs():
        try:
            entries = json_data(read_text(config) or "", source=str(config)).get("plugin")
        except MahavishnuError:
            continue  # (``ai current`` and ``doctor`` say what is wrong with it)
        for entry in entries if isinstance(entries, list) else []:
            spec = entry[0] if isinstance(entry, list) and entry else entry  # [spec, options]
            if isinstance(spec, str) and _plugin_name(spec) == stem:
                found.append(f'{config} (its "plugin" entry {json.dumps(spec)})')
    return found


def _plugin_name(spec: str) -> str:
    """The name OpenCode knows a plugin entry by: a ``file:`` URL's file name without its suffix, an
    npm package without its ``@version``."""
    if spec.startswith("file:"):
        return PurePosixPath(unquote(urlsplit(spec).path)).stem
    at = spec.rfind("@")
    return spec[:at] if at > 0 else spec


def missing_folders() -> list[Path]:
    """The folders above the plugin that do not exist yet (install creates them; remove takes them
    out again once empty), deepest first."""
    return missing_parents(plugin_path())


def commands() -> dict[str, list[str]]:
    """The argv of each hook command (``hook_process_command``'s, split: the plugin runs no shell)."""
    return {
        "recall": shlex.split(hook_process_command("memory", "context", "--tool", "opencode")),
        "capture": shlex.split(hook_process_command("memory", "import", "--tool", "opencode", "-")),
    }


def render() -> str:
    """The plugin file as install writes it, for this Mahavishnu."""
    source = resources.files("mahavishnu.environments") / "opencode_plugin" / PLUGIN_NAME
    config = {**commands(), "timeoutMs": TIMEOUT_S * 1000}
    body = source.read_text(encoding="utf-8").replace(_PLACEHOLDER, json.dumps(config, indent=2))
    return f"{HEADER}sha256:{_digest(body)}\n{body}"


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def is_ours(text: str | None) -> bool:
    """Whether ``text`` is a plugin file Mahavishnu wrote (edited since or not)."""
    return text is not None and text.startswith(HEADER)


def state(text: str | None) -> str:
    """``missing`` (or a file of the user's that has our name), ``installed`` (as install writes it
    now), ``outdated`` (as an earlier install wrote it) or ``customised`` (changed since)."""
    if text is None or not is_ours(text):
        return "missing"
    first, _, body = text.partition("\n")
    if first.removeprefix(HEADER) != f"sha256:{_digest(body)}":
        return "customised"
    return "installed" if text == render() else "outdated"


def install_edit() -> FileEdit:
    """Write the plugin (a file changed by hand stays as it is); a plugin of the user's of that
    name, in its place or beside it, is refused (never overwritten, never hidden)."""
    path = plugin_path()

    def transform(text: str | None) -> str:
        if text is not None and not is_ours(text):
            raise InvalidConfigFileError(
                f"{path} is not Mahavishnu's plugin: refusing to overwrite it",
                hint=_RENAME_HINT,
            )
        clashes = namesakes()
        if clashes:
            raise InvalidConfigFileError(
                f"{clashes[0]} has the name of Mahavishnu's plugin: OpenCode would load only one of them",
                hint='Rename or move that plugin (or take its entry out of that file\'s "plugin" list), '
                "then run `mahavishnu memory hooks install --tool opencode` again.",
            )
        return text if text is not None and state(text) == "customised" else render()

    return FileEdit(path, transform, _validate)


_RENAME_HINT = "Rename or move that file, then run `mahavishnu memory hooks install --tool opencode` again."


def _validate(text: str) -> None:
    if not is_ours(text):
        raise InvalidConfigFileError("refusing to write an OpenCode plugin that is not Mahavishnu's")


def removable() -> bool:
    """Whether remove has a file to delete: ours, as written or edited (never a plugin of the user's)."""
    return is_ours(read_text(plugin_path()))


def removal_plan() -> list[Change]:
    """What remove would do (``--dry-run``): the file deleted, when there is one of ours."""
    text = read_text(plugin_path())
    return [Change(plugin_path(), text, "")] if text is not None and is_ours(text) else []


def hook_states() -> list[tuple[str, str, str, bool, str, bool]]:
    """(event, role, command, installed, customised, outdated) of each hook, from the file."""
    found = state(read_text(plugin_path()))
    argv = commands()
    changed = "edited by hand" if found == "customised" else ""
    return [
        (event, role, shlex.join(argv[role]), found != "missing", changed, found == "outdated")
        for event, role in EVENTS
    ]
