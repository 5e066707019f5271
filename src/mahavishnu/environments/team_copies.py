"""This machine's copy of the team profiles it used (``team-profiles.json`` beside the settings,
0600, written when a switch uses a team profile): each one's key references and who pushed it,
never a key. ``mahavishnu secrets get NAME`` (Claude Code's ``apiKeyHelper``, run on every request)
reads it for a name no local profile has, so the member's own key is found without asking the team
store. A local profile of the same name wins (``secrets.lookup`` tries it first).
"""

from __future__ import annotations

import json
from pathlib import Path

from mahavishnu import paths


def copy_file() -> Path:
    return paths.config_dir() / "team-profiles.json"


def remember(name: str, references: list[str], pushed_by: str) -> None:
    """Keep team profile ``name``'s references (and who pushed it)."""
    from mahavishnu.files.safe_write import write_private

    copies = _read()
    copies[name] = {"secret": [*references], "pushed_by": pushed_by}
    write_private(copy_file(), json.dumps(copies, indent=2, sort_keys=True) + "\n")


def references(name: str) -> list[str] | None:
    """The references of team profile ``name`` as last used here (None: never used here)."""
    wanted = name.strip().lower()
    for each, copy in _read().items():
        if each.lower() == wanted and isinstance(copy, dict) and isinstance(copy.get("secret"), list):
            return [str(r) for r in copy["secret"]]
    return None


def _read() -> dict[str, object]:
    try:
        data = json.loads(copy_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
