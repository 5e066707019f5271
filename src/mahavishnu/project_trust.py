"""Trust in a repository's own settings file (``settings/mahavishnu.yaml``).

A repository's settings could point a built-in profile at a server of its own (the user's key would
go there with the next `ai test`), declare a service whose command `service start` runs, or move the
memory store. So, as ``direnv allow`` and ``mise trust`` do, a project file is read only once the
user has trusted it, and only as it was then: any change to it needs trusting again. Trust is kept
per file as the SHA-256 of its bytes, in ``trusted-projects.json`` beside the user settings file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mahavishnu import paths

Standing = Literal["trusted", "untrusted", "changed"]


@dataclass(frozen=True)
class ProjectFile:
    """A repository's settings file and whether its settings apply."""

    path: Path
    standing: Standing

    @property
    def applies(self) -> bool:
        return self.standing == "trusted"

    def notice(self) -> str:
        """Why the file is ignored and what to do (only for a file that is)."""
        why = (
            "it changed since you trusted it"
            if self.standing == "changed"
            else "this repository's settings are not trusted yet"
        )
        return (
            f"ignoring {self.path}: {why} (a repository's settings can point profiles at other "
            "servers, run services and move the memory store); read it, then run `mahavishnu config trust`"
        )


def ignored_notice() -> str | None:
    """The notice for a repository settings file that is there and ignored, else None."""
    found = project_file()
    return found.notice() if found is not None and not found.applies else None


def project_file(start: Path | None = None) -> ProjectFile | None:
    """The settings file of the repository around ``start`` (the working directory), if it has one."""
    path = paths.project_settings_file(start)
    if path is None:
        return None
    digest = _digest(path)
    if digest is None:
        return None
    trusted = _trusted().get(_key(path))
    if trusted is None:
        return ProjectFile(path, "untrusted")
    return ProjectFile(path, "trusted" if trusted == digest else "changed")


def trust(path: Path) -> str:
    """Trust ``path`` as it is now; returns its digest."""
    digest = _digest(path)
    if digest is None:
        raise FileNotFoundError(path)
    _save(_trusted() | {_key(path): digest})
    return digest


def untrust(path: Path) -> bool:
    """Stop trusting ``path``; False when it was not trusted."""
    trusted = _trusted()
    if trusted.pop(_key(path), None) is None:
        return False
    _save(trusted)
    return True


def _save(trusted: dict[str, str]) -> None:
    from mahavishnu.files.safe_write import write_private

    paths.make_dir(paths.trust_file().parent)
    write_private(paths.trust_file(), json.dumps(trusted, indent=2, sort_keys=True) + "\n")


def _key(path: Path) -> str:
    return str(path.resolve())


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError:
        return ""  # unreadable: never equal to a recorded digest; reading it for settings says why


def _trusted() -> dict[str, str]:
    try:
        data = json.loads(paths.trust_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or damaged: nothing is trusted, and the next `config trust` rewrites it
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str)}
