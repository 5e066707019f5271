"""What a project's own manifest says it is: a suggestion for ``memory describe``.

A project's ``pyproject.toml`` (``[project]`` or ``[tool.poetry]``), ``package.json`` or
``Cargo.toml`` (``[package]``) usually holds a one-line description written by its authors
("A payments ledger service"): what the project *is*, the kind of description that helps a
question naming the project by what it is find its notes (docs/benchmarks.md#project-descriptions).
It is only suggested, never stored unasked: describing a project embeds its memories again, and a
description that only lists a stack cost the prompt hook answers.
"""

from __future__ import annotations

import json
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: A manifest larger than this is not read (a description sits near its top; a huge file is not one).
MAX_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Described:
    """The manifest that describes a project (its file name) and what it says, as written."""

    file: str
    text: str


@dataclass(frozen=True, slots=True)
class Suggested:
    """What ``memory describe`` suggests for a project: the manifest it read and the description
    as it would be stored (``store.about_text``: one line, scrubbed, cut)."""

    manifest: Path
    description: str

    def as_json(self) -> dict[str, str]:
        """As ``memory describe --json`` and the MCP tool ``describe_project`` show it."""
        return {"file": str(self.manifest), "description": self.description}

    def command(self, project: str) -> str:
        """The command that describes ``project`` so (``memory describe``, ``doctor``)."""
        return shlex.join(["mahavishnu", "memory", "describe", project, self.description])


def suggestion(project: str, here: Path | None = None) -> Suggested | None:
    """What the manifest of the folder a session named ``project`` (or of ``here``'s checkout, when
    it would take that name: ``projects.place_of``) says it is, cleaned as a description is; None
    when neither is that project, or its manifests say nothing."""
    from mahavishnu.memory.core.projects import place_of
    from mahavishnu.memory.core.store import about_text

    place = place_of(project, here)
    found = manifest_description(place) if place is not None else None
    text = about_text(found.text) if found is not None else ""
    return Suggested(place / found.file, text) if place is not None and found is not None and text else None


def manifest_description(folder: Path) -> Described | None:
    """The description of the first of ``folder``'s manifests that has one, None when none does
    (or the folder, or a manifest, cannot be read: a suggestion never fails a command)."""
    readers = (("pyproject.toml", _pyproject), ("package.json", _package_json), ("Cargo.toml", _cargo))
    for name, read in readers:
        try:
            path = folder / name
            if not path.is_file():
                continue
            with path.open("rb") as file:  # no more than the cap, whatever size it claims (/proc: 0)
                data = file.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                continue
            text = read(data.decode("utf-8"))
        except (OSError, ValueError, RecursionError):  # (decoding, TOML and JSON errors; nesting too deep)
            continue
        if text:
            return Described(name, text)
    return None


def _pyproject(text: str) -> str | None:
    data = tomllib.loads(text)
    return _text(_table(data, "project").get("description")) or _text(
        _table(_table(data, "tool"), "poetry").get("description")
    )


def _package_json(text: str) -> str | None:
    data = json.loads(text)
    return _text(data.get("description")) if isinstance(data, dict) else None


def _cargo(text: str) -> str | None:
    return _text(_table(tomllib.loads(text), "package").get("description"))


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
