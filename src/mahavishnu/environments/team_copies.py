"""This machine's copy of the team profiles it used (``team-profiles.json`` beside the settings,
0600, written when a switch uses a team profile): each one's definition as the team store holds it
(references, never a key) and who pushed it. ``mahavishnu secrets get NAME`` (Claude Code's
``apiKeyHelper``, run on every request) reads its references for a name no local profile has, so
the member's own key is found without asking the team store. A local profile of the same name wins
(it is tried first).
"""

from __future__ import annotations

import json
from pathlib import Path

from mahavishnu import paths
from mahavishnu.json_types import JSONObject


def copy_file() -> Path:
    return paths.config_dir() / "team-profiles.json"


def remember(name: str, definition: JSONObject, pushed_by: str) -> None:
    """Keep team profile ``name``'s definition (no key in it) and who pushed it."""
    from mahavishnu.files.safe_write import write_private

    copies = _read()
    copies[name] = {"definition": definition, "pushed_by": pushed_by}
    write_private(copy_file(), json.dumps(copies, indent=2, sort_keys=True) + "\n")


def references(name: str) -> tuple[list[str], set[str]] | None:
    """The references of team profile ``name`` as last used here, and the names it goes by (its
    name and aliases); None: never used here."""
    wanted = name.strip().lower()
    for each, definition in _definitions().items():
        secret = definition.get("secret")
        if each.lower() == wanted and isinstance(secret, list):
            aliases = definition.get("aliases")
            names = {each, *(str(a) for a in aliases)} if isinstance(aliases, list) else {each}
            return [str(r) for r in secret], names
    return None


def _definitions() -> dict[str, JSONObject]:
    found: dict[str, JSONObject] = {}
    for name, copy in _read().items():
        definition = copy.get("definition") if isinstance(copy, dict) else None
        if isinstance(definition, dict):
            found[str(name)] = definition
    return found


def _read() -> dict[str, object]:
    try:
        data = json.loads(copy_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
