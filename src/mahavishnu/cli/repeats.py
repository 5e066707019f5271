"""A value option given twice where a command takes one value: refused as a usage error.

Click keeps the last of ``--tool pi --tool opencode`` and drops the first without a word, so
``memory hooks install`` installed OpenCode's hook alone and said it was done, and ``ai switch-llm``
switched one assistant of the two. An option that takes several (``multiple``, ``usage --tool``)
is left as it is; a flag given twice means what it means once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def refuse_repeats(command: Any) -> None:
    """Make ``command`` and every subcommand built under it refuse a one-value option given twice
    (call it as ``help_text.humanise`` is called: on the root, and on each group as it is built)."""
    if getattr(command, "_refuses_repeats", False):
        return
    command._refuses_repeats = True
    parse = command.parse_args

    def parse_args(ctx: Any, args: list[str]) -> list[str]:
        given = repeated(command, args)
        if given is not None:
            from typer import BadParameter

            raise BadParameter(
                "given more than once, and this command takes one value: give it once (where `--help` "
                "says so, several go in one, comma-separated)",
                ctx,
                param_hint=f"'{given}'",
            )
        rest: list[str] = parse(ctx, args)
        return rest

    command.parse_args = parse_args
    for sub in getattr(command, "commands", {}).values():
        refuse_repeats(sub)


def repeated(command: Any, args: Sequence[str]) -> str | None:
    """The first option of ``command`` that takes one value and is given twice in ``args`` (as
    typed: ``--tool``, ``-t``), or None. A value is skipped with its option (``--name --tool`` gives
    ``--name`` the value ``--tool``); nothing after ``--`` is an option."""
    valued = {
        spelling: param
        for param in command.params
        if param.param_type_name == "option" and not param.is_flag and not param.count
        for spelling in (*param.opts, *param.secondary_opts)
    }
    seen: set[str] = set()
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            break
        long = arg.startswith("--")
        name = arg.partition("=")[0] if long else arg[:2]
        param = valued.get(name)
        if param is None:
            continue
        if (long and "=" not in arg) or (not long and len(arg) == 2):
            next(rest, None)  # its value, the next argument
        if param.multiple:
            continue
        if param.name in seen:
            return name
        seen.add(param.name or name)
    return None
