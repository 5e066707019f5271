"""Help as a person writes it, applied to each Click command once Typer has built it (``main.py``).

Typer (0.29) shows an option's Python type as its placeholder (``--json <bool>``, ``--tag
<list[str]>``), keeps the source's single line breaks in rich mode (so a description breaks
mid-sentence where the docstring did), and reads help as Rich markup (so ``mahavishnu[aws]`` prints
as ``mahavishnu``). Here:

- a flag shows no placeholder; another option shows its ``metavar``, else its choices (``a|b``), a
  path's kind (``PATH``, ``FILE``, ``DIR``), ``N`` for a number of things, ``DATE``, or its name
  (``--tool TOOL``); an argument is named in
  capitals (``QUERY``, ``[PATH]``) and has no type column;
- a paragraph's single line breaks become spaces, except before a list item (``- ``, ``* ``,
  ``1. ``) or an indented line; a paragraph starting with ``\\b`` (Click's "do not rewrap") stays;
- help is escaped as markup, so brackets print as written.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from typer.core import TyperArgument, TyperOption

from mahavishnu.cli.output import escape

#: A line that starts a new line in help even inside a paragraph: a list item or indented text.
_KEEP_BREAK = re.compile(r"\n(?=\s*(?:[-*•]\s|\d+[.)]\s)|\s{2,}\S)")


def prose(text: str | None) -> str | None:
    """``text`` as help: paragraphs joined back into lines, escaped as markup."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    tidy = [p if p.startswith("\b") else _join_lines(p) for p in paragraphs]
    return str(escape("\n\n".join(tidy)))


def _join_lines(paragraph: str) -> str:
    kept = _KEEP_BREAK.sub("\0", paragraph)
    return "\n".join(" ".join(part.split()) for part in kept.replace("\n", " ").split("\0"))


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None  # a flag takes no value: nothing to show
        return self.metavar or _placeholder(self)


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name column names it already

    @property
    def display_name_raw(self) -> str:
        return self.metavar or (self.name or "").upper()

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name if self.nargs == 1 else f"{name}..."


def _placeholder(option: TyperOption) -> str:
    described = option.type_descriptor
    if described.is_choice and option.show_choices:
        return "|".join(str(choice) for choice in described.choices or ())
    if described.is_path:
        return {"file": "FILE", "directory": "DIR"}.get(str(described.path_type).lower(), "PATH")
    longs = [flag for flag in option.opts if flag.startswith("--")]
    name = (longs[0][2:] if longs else option.name or "value").replace("_", "-")
    if name in ("since", "until"):
        return "DATE"
    if option.bare_type() == "int" and name != "port":
        return "N"
    return name.upper()


def humanise(command: Any) -> None:
    """Tidy ``command``'s help and its parameters', and its subcommands' (call it on the root
    before its groups are registered lazily: each of those is tidied when it is built). Once per
    command: escaping twice would show the escapes."""
    if getattr(command, "_humanised", False):
        return
    command._humanised = True
    for attr in ("help", "short_help", "epilog"):
        setattr(command, attr, prose(getattr(command, attr, None)))
    for param in command.params:
        if type(param) is TyperOption:
            param.__class__ = _Option  # same fields; only how the help shows it differs
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
        if getattr(param, "help", None):
            param.help = prose(param.help)
    _tidy_help_option(command)
    for sub in getattr(command, "commands", {}).values():
        humanise(sub)


def _tidy_help_option(command: Any) -> None:
    """``--help`` is made on first use (``get_help_option``), after ``humanise``: tidied then."""
    made = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = made(ctx)
        if type(option) is TyperOption:
            option.__class__ = _Option
        return option

    command.get_help_option = get_help_option
