"""Which project a session belongs to: the name its memories are filed and recalled under.

A project is a git checkout, named after its root folder: the name users see and type
(``--project shop``), the same on every machine of a team sharing a store. Two cases make the bare
folder name wrong, and both are handled here:

* a git worktree (``git worktree add ../wt/feature-x``) is the same project as the checkout it was
  added from, so it takes that checkout's name;
* two different checkouts with the same folder name (``~/src/acme/api``, ``~/src/personal/api``)
  are different projects: the first one seen keeps the plain name, the next is named with its
  parent folder (``personal-api``), so one client's decisions never reach another's sessions.

The names given are kept in ``projects.json`` (root -> name). A checkout whose recorded root is gone
(it was moved) hands its name on to the next checkout of that name.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from mahavishnu import paths


def project_for(cwd: str | None) -> str | None:
    """The project of a session in ``cwd``: its checkout's name (above) when ``cwd`` is a folder in
    a git checkout here, else the basename of ``cwd`` (a session logged on another machine)."""
    if not cwd:
        return None
    start = Path(cwd)
    root = checkout_root(start)
    if root is None:
        return start.name or None
    return _name_for(root)


def checkout_root(start: Path) -> Path | None:
    """The root of the git checkout holding ``start`` (a worktree's: the checkout it belongs to)."""
    try:
        if not start.is_dir():
            return None
        here = start.resolve()
        for directory in (here, *here.parents):
            marker = directory / ".git"
            if marker.is_dir():
                return directory
            if marker.is_file():
                return _main_checkout(directory, marker)
    except OSError:  # an unreadable parent: no checkout known
        return None
    return None


def _main_checkout(directory: Path, marker: Path) -> Path:
    """A ``.git`` file points at the git directory of a worktree (which names the repository's
    common ``.git`` in its ``commondir``) or of a submodule (a project of its own)."""
    text = marker.read_text(encoding="utf-8", errors="replace").strip()
    if not text.startswith("gitdir:"):
        return directory
    gitdir = (directory / text.removeprefix("gitdir:").strip()).resolve()
    common = gitdir / "commondir"
    if not common.is_file():
        return directory
    common_dir = (gitdir / common.read_text(encoding="utf-8").strip()).resolve()
    return common_dir.parent if common_dir.name == ".git" else directory  # a bare repository's: its own


def _registry_file() -> Path:
    return paths.data_dir() / "projects.json"


def _read() -> dict[str, str]:
    try:
        data = json.loads(_registry_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    roots = data.get("roots") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in roots.items()} if isinstance(roots, dict) else {}


def _name_for(root: Path) -> str:
    known = _read()
    name = known.get(str(root))
    if name is not None:
        return name
    import filelock

    registry = _registry_file()
    paths.make_dir(registry.parent)
    with filelock.FileLock(f"{registry}.lock", timeout=10):
        known = _read()  # again, under the lock: another session may have named it meanwhile
        name = known.get(str(root)) or _free_name(root, known)
        known[str(root)] = name
        _write(registry, known)
    return name


def _free_name(root: Path, known: dict[str, str]) -> str:
    """The folder's name, unless a checkout that still exists holds it: then parent-name (numbered
    if even that is taken). A holder that is gone gives its name up."""
    holders = {name: Path(other) for other, name in known.items()}
    for candidate in (root.name, f"{root.parent.name}-{root.name}"):
        holder = holders.get(candidate)
        if holder is None or not holder.is_dir():
            if holder is not None:
                del known[str(holder)]
            return candidate
    number = 2
    while f"{root.parent.name}-{root.name}-{number}" in holders:
        number += 1
    return f"{root.parent.name}-{root.name}-{number}"


def _write(registry: Path, known: dict[str, str]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=registry.name + ".", suffix=".tmp", dir=registry.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"roots": known}, out, indent=1, sort_keys=True)
    os.replace(tmp, registry)
