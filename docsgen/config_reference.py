"""The configuration reference: every setting of ``mahavishnu.config.Settings``, its type, default
and what the code says of it: its ``Field(description=...)``, the comment above it or beside it."""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the comments written above it (``#`` / ``#:`` lines) and at the end of its lines."""
    source = textwrap.dedent(inspect.getsource(model))
    lines = source.splitlines()
    found: dict[str, str] = {}
    tree = ast.parse(source).body[0]
    assert isinstance(tree, ast.ClassDef)
    for node in tree.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        row = node.lineno - 2
        while row >= 0 and lines[row].strip().startswith("#"):
            above.insert(0, lines[row].strip().lstrip("#:").strip())
            row -= 1
        beside = []
        for text in lines[node.lineno - 1 : (node.end_lineno or node.lineno)]:
            if "  # " in text:
                beside.append(text.split("  # ", 1)[1].strip())
        found[node.target.id] = " ".join([*above, *beside])
    return found


def _type_name(annotation: Any) -> str:
    text = repr(annotation) if not isinstance(annotation, type) else annotation.__name__
    for noise in ("typing.", "pathlib.", "mahavishnu.config.", "<class '", "'>"):
        text = text.replace(noise, "")
    return text.replace("NoneType", "None")


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "unset"
    return f"`{json.dumps(value, default=str)}`"


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The settings model a field holds, and the key a mapping of them takes (``NAME``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return args[1], ".NAME"
    for arg in args:  # Endpoint | None
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg, ""
    return None, ""


def rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, what it does) for every leaf setting under ``model``."""
    comments = _comments(model)
    found: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested, suffix = _model_of(field.annotation)
        if nested is not None:
            found += rows(nested, f"{key}{suffix}.")
            continue
        what = " ".join(x for x in (field.description or "", comments.get(name, "")) if x)
        found.append((key, _type_name(field.annotation), _default(field), what))
    return found


def _cell(text: str) -> str:
    """``text`` for a table cell: a ``|`` escaped outside code spans only. Inside one the table already
    keeps it, and an escape there would show as a backslash (``Path \\| None``)."""
    pieces = text.split("`")
    return "`".join(piece if i % 2 else piece.replace("|", "\\|") for i, piece in enumerate(pieces))


def markdown() -> str:
    from mahavishnu.config import Settings

    comments = _comments(Settings)
    parts = []
    for name, field in Settings.model_fields.items():
        nested, suffix = _model_of(field.annotation)
        assert nested is not None, name
        parts += [f"## `{name}` {{ #{name.replace('_', '-')} }}", ""]
        doc = inspect.cleandoc(nested.__dict__.get("__doc__") or "")
        intro = " ".join(x for x in (comments.get(name, ""), doc.split("\n\n")[0]) if x)
        if intro and nested.__module__ == "mahavishnu.config":
            parts += [" ".join(intro.split()), ""]
        parts += ["| Setting | Type | Default | What it does |", "| --- | --- | --- | --- |"]
        for key, kind, default, what in rows(nested, f"{name}{suffix}."):
            parts.append(f"| `{key}` | `{kind}` | {default} | {_cell(what)} |")
        parts.append("")
    return "\n".join(parts)
