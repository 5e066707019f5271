"""Which project a session belongs to: the name its memories are filed and recalled under.

A project is identified by where it lives: a git checkout by its root, any other folder by its own
path. Its name (``--project shop``) is a label given once and kept in ``projects.json`` (checkouts
and plain folders, each path -> name), unique across both, so two folders that merely share a
folder name never share memories:

* a git worktree (``git worktree add ../wt/feature-x``) is the same project as the checkout it was
  added from, so it takes that checkout's name;
* two places with the same folder name (``~/src/acme/api`` a checkout, ``~/tmp/api`` a plain
  folder, ``~/src/personal/api``) are different projects: the first one seen keeps the plain name,
  the next is named with its parent folder (``personal-api``), numbered if even that is taken;
* a checkout whose recorded root is gone (it was moved) hands its name on to the next checkout of
  that name; a plain folder never inherits a name;
* a folder that does not exist here (deleted, or a session logged on another machine) is the
  project of a recorded checkout it lies in, else a place of its own like any plain folder.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mahavishnu import paths


@dataclass
class _Registry:
    """``projects.json``: the names given, by checkout root and by plain folder."""

    roots: dict[str, str] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=dict)

    def name_of(self, place: Path) -> str | None:
        return self.roots.get(str(place)) or self.folders.get(str(place))

    def checkout_holding(self, place: Path) -> str | None:
        """The name of the recorded checkout that ``place`` lies in, if any."""
        for directory in (place, *place.parents):
            name = self.roots.get(str(directory))
            if name is not None:
                return name
        return None


def project_for(cwd: str | None, *, register: bool = True) -> str | None:
    """The project of a session in ``cwd`` (above); None without a folder, or for a "folder"
    longer than any path (``paths.MAX_PATH_CHARS``) or holding a NUL. ``register`` False: the name
    it has or would take, recorded nowhere (recall only reads: a hook's made-up ``cwd`` would
    otherwise take a name for good)."""
    if not cwd or len(cwd) > paths.MAX_PATH_CHARS or "\0" in cwd:
        return None
    start = Path(cwd)
    root = checkout_root(start)
    if root is not None:
        return _name_for(root, checkout=True, register=register)
    place = _place(start)
    if not place.name:  # the file system's root
        return None
    if not _is_dir(place):
        known = _read().checkout_holding(place)
        if known is not None:
            return known
    return _name_for(place, checkout=False, register=register)


def place_of(project: str, here: Path | None = None) -> Path | None:
    """Where ``project`` lives: the checkout root or folder given that name (names are unique
    across both); else ``here``'s checkout root (or ``here``) when no session named it yet and it
    would take that name (``memory store --project`` run inside it, before any hook session);
    None for a name neither gives (``--project`` alone, another machine's). Names nothing."""
    registry = _read()
    for place, name in (*registry.roots.items(), *registry.folders.items()):
        if name == project:
            return Path(place)
    if here is None:
        return None
    here_place = checkout_root(here) or _place(here)
    unnamed = registry.name_of(here_place) is None
    return here_place if here_place.name == project and unnamed and _is_dir(here_place) else None


def checkout_here(here: Path | None) -> tuple[Path, str] | None:
    """The git checkout ``here`` lies in and the project name its sessions are filed under (the
    name the registry gave it, else its folder's), None outside one; names nothing."""
    root = checkout_root(here) if here is not None else None
    if root is None:
        return None
    return root, _read().name_of(root) or root.name


def current_folder() -> Path | None:
    """The process's working folder, None when it is gone (deleted under the process)."""
    try:
        return Path.cwd()
    except OSError:
        return None


def _place(start: Path) -> Path:
    """``start`` as one spelling: absolute, links resolved where it exists, dots folded."""
    try:
        return start.resolve() if start.is_absolute() else Path(os.path.abspath(start)).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.normpath(os.path.abspath(start)))


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


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
    except (OSError, RuntimeError, ValueError):  # an unreadable parent, a link loop: no checkout known
        return None
    return None


def _main_checkout(directory: Path, marker: Path) -> Path:
    """A ``.git`` file points at the git directory of a worktree (which names the repository's
    common ``.git`` in its ``commondir``) or of a submodule (a project of its own). A marker that
    cannot be followed (unreadable, a link loop, a NUL in its path) leaves ``directory`` its own."""
    try:
        text = _head(marker)
        if not text.startswith("gitdir:"):
            return directory
        gitdir = (directory / text.removeprefix("gitdir:").strip()).resolve()
        common = gitdir / "commondir"
        if not common.is_file():
            return directory
        common_dir = (gitdir / _head(common)).resolve()
    except (OSError, RuntimeError, ValueError):
        return directory
    return common_dir.parent if common_dir.name == ".git" else directory  # a bare repository's: its own


def _head(path: Path) -> str:
    """The first line's worth of a small git file (at most ``_GIT_FILE_BYTES``), stripped: a
    1 GB file named ``.git`` is not read whole."""
    with path.open("rb") as file:
        return file.read(_GIT_FILE_BYTES).decode("utf-8", errors="replace").strip()


#: What ``_head`` reads of a ``.git`` file or a ``commondir`` (a path: a few hundred bytes).
_GIT_FILE_BYTES = 4096


def _registry_file() -> Path:
    return paths.data_dir() / "projects.json"


def _read() -> _Registry:
    try:
        data = json.loads(_registry_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _Registry()
    if not isinstance(data, dict):
        return _Registry()
    return _Registry(_names(data.get("roots")), _names(data.get("folders")))


def _names(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _name_for(place: Path, *, checkout: bool, register: bool = True) -> str:
    registry = _read()
    name = registry.name_of(place)
    if name is not None:
        return name
    if not register:
        return _free_name(place, registry, inherit=checkout)
    import filelock

    registry_file = _registry_file()
    paths.make_dir(registry_file.parent)
    with filelock.FileLock(f"{registry_file}.lock", timeout=10, mode=0o600):
        registry = _read()  # again, under the lock: another session may have named it meanwhile
        name = registry.name_of(place) or _free_name(place, registry, inherit=checkout)
        (registry.roots if checkout else registry.folders)[str(place)] = name
        _write(registry_file, registry)
    return name


def _free_name(place: Path, registry: _Registry, *, inherit: bool) -> str:
    """The folder's name, unless another place holds it: then parent-name (numbered if even that is
    taken). A checkout (``inherit``) takes the name of a checkout that is gone (it was moved)."""
    holders = {name: (Path(other), True) for other, name in registry.roots.items()}
    holders.update({name: (Path(other), False) for other, name in registry.folders.items()})
    for candidate in (place.name, f"{place.parent.name}-{place.name}"):
        holder = holders.get(candidate)
        if holder is None:
            return candidate
        holder_path, holder_is_checkout = holder
        if inherit and holder_is_checkout and not _is_dir(holder_path):
            del registry.roots[str(holder_path)]
            return candidate
    number = 2
    while f"{place.parent.name}-{place.name}-{number}" in holders:
        number += 1
    return f"{place.parent.name}-{place.name}-{number}"


def _write(registry_file: Path, registry: _Registry) -> None:
    fd, tmp = tempfile.mkstemp(prefix=registry_file.name + ".", suffix=".tmp", dir=registry_file.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"roots": registry.roots, "folders": registry.folders}, out, indent=1, sort_keys=True)
    os.replace(tmp, registry_file)
