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
from typing import TYPE_CHECKING

from mahavishnu import paths
from mahavishnu.json_types import JSONObject

if TYPE_CHECKING:
    from mahavishnu.environments.secrets import SecretRef


def copy_file() -> Path:
    return paths.config_dir() / "team-profiles.json"


def remember(name: str, definition: JSONObject, pushed_by: str) -> None:
    """Keep team profile ``name``'s definition (no key in it) and who pushed it."""
    from mahavishnu.files.safe_write import write_private

    copies = _read()
    copies[name] = {"definition": definition, "pushed_by": pushed_by}
    write_private(copy_file(), json.dumps(copies, indent=2, sort_keys=True) + "\n")


def references(name: str) -> list[str] | None:
    """The references of team profile ``name`` as last used here (None: never used here), those
    naming the member's own key for it only (``shared_profiles.check_references``, which a copy
    written before it did not pass: ``env:GITHUB_TOKEN`` in one is not read)."""
    wanted = name.strip().lower()
    for each, definition in _definitions().items():
        secret = definition.get("secret")
        if each.lower() == wanted and isinstance(secret, list):
            aliases = definition.get("aliases")
            own = {each, *(str(a) for a in aliases)} if isinstance(aliases, list) else {each}
            return [str(r) for r in secret if _its_own(str(r), own)]
    return None


def _its_own(text: str, own: set[str]) -> bool:
    from mahavishnu.environments.secrets import SecretRef
    from mahavishnu.errors import InvalidInputError

    try:
        return own_reference(SecretRef.parse(text), own)
    except InvalidInputError:
        return False


def own_reference(ref: SecretRef, own: set[str]) -> bool:
    """Whether ``ref`` is where a member keeps their own key for the profile named ``own`` (its
    name and aliases): ``file:NAME``, ``keyring:mahavishnu/NAME``, ``env:NAME_API_KEY``. Light (no
    catalogue): the key helper's path reads it (``shared_profiles.check_references`` adds the
    catalogue's variable of a built-in provider's profile)."""
    from mahavishnu.environments.secrets import KEYRING_SERVICE, alias_variable

    if ref.kind == "file" or (ref.kind == "keyring" and ref.service == KEYRING_SERVICE):
        return ref.name in own
    return ref.kind == "env" and ref.name in {alias_variable(n) for n in own}


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
