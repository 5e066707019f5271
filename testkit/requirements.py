"""What an install of this distribution brings (its requirements and theirs, as installed here), which
distributions a file's imports need, and a way to run code as if only those were installed: so a test
can say "the plain install (or an extra) has everything this code imports"."""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mahavishnu.distribution import DISTRIBUTION


def installed_with(extras: Iterable[str] = ()) -> set[str]:
    """The distributions ``pip install 'mahavishnu-cp[EXTRAS]'`` installs (canonical names), followed
    through the requirements of those installed here (an unmet platform marker is skipped)."""
    wanted = [(DISTRIBUTION, frozenset(extras))]
    found: set[str] = set()
    while wanted:
        name, chosen = wanted.pop()
        if canonicalize_name(name) in found and not chosen:
            continue
        found.add(canonicalize_name(name))
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            markers = [{"extra": e} for e in (chosen or {""})]
            if requirement.marker is None or any(requirement.marker.evaluate(m) for m in markers):
                wanted.append((requirement.name, frozenset(requirement.extras)))
    return found


def imported_distributions(files: Iterable[Path]) -> dict[str, set[str]]:
    """For each top-level module the files import (outside the standard library and this package),
    the distributions that provide it (canonical names; empty: none installed provides it)."""
    provided = metadata.packages_distributions()
    modules: set[str] = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    outside = modules - set(sys.stdlib_module_names) - {"mahavishnu", "__future__"}
    return {m: {canonicalize_name(d) for d in provided.get(m, [])} for m in sorted(outside)}


class _OnlyInstalledWith(importlib.abc.MetaPathFinder):
    """Refuses a top-level import that only distributions outside ``allowed`` provide, as if they were
    not installed (the standard library, this package and modules no distribution claims pass)."""

    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.provided = metadata.packages_distributions()

    def find_spec(
        self, name: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if path is not None or name in sys.stdlib_module_names or name == "mahavishnu":
            return None  # a submodule (its package was let in), or ours
        dists = {canonicalize_name(d) for d in self.provided.get(name, [])}
        if dists and not dists & self.allowed:
            raise ModuleNotFoundError(f"No module named {name!r} (not part of this install)", name=name)
        return None


def only_installed_with(extras: Iterable[str] = ()) -> None:
    """From now on this process imports only what ``pip install 'mahavishnu-cp[EXTRAS]'`` installs."""
    sys.meta_path.insert(0, _OnlyInstalledWith(installed_with(extras)))
