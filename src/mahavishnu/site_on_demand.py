"""Site-packages for a process started without ``site`` (``python -S``), loaded when first needed.

The memory hooks run on every prompt and after every turn (``environments/memory_hooks.py``), each a
fresh interpreter whose work, when the memory daemon answers, needs only the standard library and
this package. Python's ``site`` step reads every ``.pth`` file of site-packages at each start, and
some import modules of their own (setuptools' ``distutils-precedence.pth``; on this project's
machines one imports ``certifi``, 20 of a hook's 44 ms of CPU). So a hook runs
``python -S -P -m mahavishnu`` with this package's folder as ``PYTHONPATH``, and ``install``
adds a last-resort finder: the first import that nothing on the path finds (a third-party module,
when the hook falls back to the work in-process) runs ``site.main()`` and is looked up again, so
every module a normal start can import is still found, ``.pth`` files and user site included.
Names of the standard library (which it probes for, such as ``_winapi``) never trigger it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType

#: Top-level names the standard library probes for and never finds on Linux or macOS (``copy``
#: looks for Jython's ``org.python.core``): not a reason to load site-packages.
_PROBES = frozenset({"org"})


class SiteOnDemand:
    """A ``sys.meta_path`` finder, last in line: loads ``site`` once, then asks the path again."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None, /
    ) -> ModuleSpec | None:
        top = name.partition(".")[0]
        if site_loaded() or top in sys.stdlib_module_names or top in _PROBES:
            return None
        load_site()
        return PathFinder.find_spec(name, None if path is None else list(path), target)


_FINDER = SiteOnDemand()
_loaded = False
_hook_path = ""  # the PYTHONPATH the hook's command set, which ``install`` drops from the environment


def site_loaded() -> bool:
    return _loaded


def load_site() -> None:
    """Run ``site.main()`` once in a process started with ``-S`` (site-packages, ``.pth`` files)."""
    global _loaded
    if _loaded or not sys.flags.no_site:
        return
    _loaded = True
    import site

    site.main()


def install() -> None:
    """In a process started with ``-S``: add the finder; put the ``PYTHONPATH`` the hook's command
    set after the standard library (installed from a wheel, this package's folder is
    site-packages, which must not shadow the standard library: a normal start puts it last; this
    package is imported already); and drop the variable, so that a process this one starts (the
    daemon, a detached import) starts as usual."""
    global _hook_path
    if not sys.flags.no_site or _FINDER in sys.meta_path:
        return
    sys.meta_path.append(_FINDER)
    _hook_path = os.environ.pop("PYTHONPATH", "")
    for entry in _hook_path.split(os.pathsep):
        if entry and entry in sys.path:
            sys.path.remove(entry)
            sys.path.append(entry)


def started_as_hook(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run ``python -m mahavishnu *args`` as this process was
    started: a hook's ``-S -P`` with its ``PYTHONPATH`` (where the package may be the only place
    this interpreter finds it: a checkout moved since ``memory hooks install``, whose new hooks
    name it), else as usual."""
    if not _hook_path:
        return [sys.executable, "-m", "mahavishnu", *args], dict(os.environ)
    return [sys.executable, "-S", "-P", "-m", "mahavishnu", *args], {**os.environ, "PYTHONPATH": _hook_path}
