"""The memory loop for Pi: one extension file of ours, ``~/.pi/agent/extensions/mahavishnu-memory.js``.

Pi (0.73) has no command hooks; it runs extensions, JS/TS modules it discovers in
``<agent dir>/extensions/`` (``*.ts`` and ``*.js``, loaded by jiti) whose handlers it awaits on its
events. Ours (``pi_extension/mahavishnu-memory.js``, the command of this Mahavishnu filled in)
runs the same two commands as the other assistants' hooks, with the same hook JSON on stdin:

* recall, ``memory context --tool pi``: ``SessionStart`` at ``session_start`` (and after a
  compaction), ``UserPromptSubmit`` at ``before_agent_start``, whose handler may return a custom
  message that Pi keeps in the session and sends to the model with the prompt;
* capture, ``memory import --tool pi -``: ``Stop`` at ``agent_end``, with the session file as
  ``transcript_path`` (Pi awaits the pending ones at ``session_shutdown``, so ``pi -p`` waits).

It also registers the tools ``search_memory`` and ``store_memory`` (Pi has no MCP client).

The file is all ours: its first line holds the SHA-256 of the rest, so ``status`` tells one the
user edited (left as it is by install, "customised") from one an earlier Mahavishnu wrote
(replaced by install, "outdated"). Nothing else of the user's is touched: no settings key is
needed (Pi loads the folder by itself). Remove deletes the file, and the folders install created
when nothing else is in them, so the user's tree is as it was.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Literal

from mahavishnu.environments.assistants.base import FileEdit, hook_process_command
from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files.safe_write import missing_parents, read_text

FILE_NAME = "mahavishnu-memory.js"
#: The events the extension runs our hooks on (as ``memory hooks status`` names them).
EVENTS: tuple[tuple[str, Literal["recall", "capture"]], ...] = (
    ("before_agent_start", "recall"),
    ("agent_end", "capture"),
)
_HEADER = re.compile(r"// mahavishnu-memory-extension sha256:([0-9a-f]{64})\n")


def extension_path() -> Path:
    from mahavishnu.environments.assistants import pi

    return pi.agent_dir() / "extensions" / FILE_NAME


def extension_text(timeout_s: float) -> str:
    """The extension as install writes it: the template with this Mahavishnu's command (as a JSON
    argument list) and the hooks' timeout filled in, under its hash line."""
    template = resources.files("mahavishnu.environments").joinpath("pi_extension", FILE_NAME)
    command = shlex.split(hook_process_command())
    body = (
        template.read_text(encoding="utf-8")
        .replace("__MAHAVISHNU_COMMAND__", json.dumps(command))
        .replace("__HOOK_TIMEOUT_MS__", str(int(timeout_s * 1000)))
    )
    return f"// mahavishnu-memory-extension sha256:{_sha(body)}\n{body}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_ours(text: str | None) -> bool:
    return text is not None and _HEADER.match(text) is not None


def edited(text: str) -> bool:
    """Whether an extension file of ours was changed since Mahavishnu wrote it."""
    found = _HEADER.match(text)
    return found is None or found.group(1) != _sha(text[found.end() :])


def install_edit(timeout_s: float) -> FileEdit:
    """Write the extension, or leave it: a copy the user edited stays as it is; a file of that name
    that is not ours is refused (never overwritten)."""
    path = extension_path()

    def transform(text: str | None) -> str:
        if text is None or (is_ours(text) and not edited(text)):
            return extension_text(timeout_s)
        if is_ours(text):
            return text  # customised: left as it is
        raise InvalidConfigFileError(
            f"{path} is not Mahavishnu's extension: refusing to overwrite it",
            hint="Rename or move that file, then run `mahavishnu memory hooks install --tool pi` again.",
        )

    return FileEdit(path, transform, _validate)


def _validate(text: str) -> None:
    if not is_ours(text):
        raise InvalidConfigFileError("refusing to write a Pi extension that is not Mahavishnu's")


def removable() -> bool:
    """Whether remove has a file to delete: ours, as written or edited."""
    return is_ours(read_text(extension_path()))


def missing_folders() -> list[Path]:
    """The folders above the extension that do not exist yet (install creates them), deepest first."""
    return missing_parents(extension_path())


def state(timeout_s: float) -> tuple[bool, str, bool]:
    """(installed, customised, outdated) of the extension file."""
    text = read_text(extension_path())
    if not is_ours(text):
        return False, "", False
    assert text is not None
    if edited(text):
        return True, "edited by hand", False
    return True, "", text != extension_text(timeout_s)
