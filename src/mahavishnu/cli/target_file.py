"""The file a command writes at a path the user names (``db backup``, ``memory export``)."""

from __future__ import annotations

from pathlib import Path

from mahavishnu.errors import InvalidInputError

FORCE_HELP = "Replace the file if it exists."


def refuse_to_replace(path: Path, force: bool) -> None:
    """An existing file is replaced only with ``--force``: a mistyped name must not cost a file."""
    if path.is_dir():
        raise InvalidInputError(
            f"{path} is a folder", hint=f"Name a file to write inside it, e.g. {path / path.name}."
        )
    if path.exists() and not force:
        raise InvalidInputError(
            f"{path} already exists", hint="Pass --force to replace it, or name another file."
        )
