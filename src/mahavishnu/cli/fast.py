"""Paths that skip Typer entirely because something calls them often and waits.

Claude Code runs ``mahavishnu secrets get NAME`` as its ``apiKeyHelper`` whenever it needs a key,
and ``mahavishnu ai switch-llm NAME`` is typed to change provider: Typer (with the pydantic-based
parameter handling it builds for every command) costs more than either command's work. Each fast
path takes only plainly spelled command lines and leaves anything else (``--help``, a typo, an
unusual spelling) to Typer, so messages and usage errors stay Typer's own. The commands' bodies
live here and the Typer commands call them, so both paths run the same code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mahavishnu.environments.switcher import SwitchResult
    from mahavishnu.services.sessions import SessionAdvice


def secrets_get(name_or_ref: str) -> int:
    """``mahavishnu secrets get``: from the settings snapshot when it holds (no pydantic, no YAML),
    else through the validated settings, which then refresh the snapshot."""
    from mahavishnu.environments.secrets import lookup_cached

    def run() -> None:
        value = lookup_cached(name_or_ref)
        if value is None:
            from mahavishnu.config import load_settings
            from mahavishnu.environments.secrets import lookup

            value = lookup(name_or_ref, load_settings())
        sys.stdout.write(value + "\n")

    return _run(run)


# -- ai switch-llm -------------------------------------------------------------------------------

#: ``ai switch-llm``'s options as its Typer command declares them (tests/cli keeps the two in
#: sync): spelling -> (parameter, takes a value).
SWITCH_LLM_OPTIONS: dict[str, tuple[str, bool]] = {
    "--tool": ("tool", True),
    "-t": ("tool", True),
    "--scope": ("scope", True),
    "-s": ("scope", True),
    "--dry-run": ("dry_run", False),
    "--inline-secret": ("inline_secret", False),
    "--codex-profile": ("codex_profile", True),
    "--json": ("as_json", False),
}
#: Its parameters' defaults (tests/cli checks them against the Typer command's).
SWITCH_LLM_DEFAULTS: dict[str, Any] = {
    "tool": None,
    "scope": "user",
    "dry_run": False,
    "inline_secret": False,
    "codex_profile": None,
    "as_json": False,
}


def parse_switch_llm(args: list[str]) -> dict[str, Any] | None:
    """The parameters of ``ai switch-llm ARGS`` when every argument is plainly spelled: one name,
    known options (``--opt value``, ``--opt=value``, ``-t value``). None for anything else."""
    values = dict(SWITCH_LLM_DEFAULTS)
    names: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.startswith("-"):
            names.append(arg)
            continue
        option, equals, attached = arg.partition("=")
        spec = SWITCH_LLM_OPTIONS.get(option)
        if spec is None:
            return None
        parameter, takes_value = spec
        if equals and not (takes_value and option.startswith("--")):
            return None  # ``--flag=x`` is an error, ``-t=x`` means "=x": Typer says so
        if not takes_value:
            values[parameter] = True
            continue
        if not equals:
            if index >= len(args):
                return None
            attached = args[index]
            index += 1
        if not attached or attached.startswith("-"):
            return None
        values[parameter] = attached
    if len(names) != 1 or not names[0]:
        return None
    return {"name": names[0], **values}


def switch_llm(args: list[str]) -> int | None:
    """``mahavishnu ai switch-llm ARGS`` without Typer; None when Typer must handle ``args``."""
    values = parse_switch_llm(args)
    if values is None:
        return None
    return _run(lambda: run_switch_llm(**values))


def run_switch_llm(
    name: str,
    *,
    tool: str | None,
    scope: str,
    dry_run: bool,
    inline_secret: bool,
    codex_profile: str | None,
    as_json: bool,
) -> None:
    """The body of ``mahavishnu ai switch-llm`` (both paths)."""
    from dataclasses import asdict

    from mahavishnu.cli.output import console, escape, print_json, warn
    from mahavishnu.config import load_settings
    from mahavishnu.environments.scopes import parse_scope
    from mahavishnu.environments.switcher import switch_llm as do_switch

    settings = load_settings()
    result = do_switch(
        name,
        settings,
        tool=tool,
        scope=parse_scope(scope),
        dry_run=dry_run,
        inline_secret=inline_secret,
        codex_profile=codex_profile,
    )
    advice = session_advice(result)
    if as_json:
        print_json({**asdict(result), "sessions": [asdict(a) for a in advice]})
        return
    for note in result.notes:
        console.print(note, markup=False)
    for message in result.warnings:
        warn(escape(message))
    for skipped in result.skipped:
        console.print(f"{skipped.tool}: skipped, {skipped.reason}", markup=False)
    for file in result.files:
        if dry_run:
            console.print(file.diff or f"{file.path}: no change\n", markup=False, end="")
        elif file.changed:
            console.print(f"{file.path}: now uses [bold]{result.profile}[/bold]")
        else:
            console.print(f"{file.path}: already uses [bold]{result.profile}[/bold]")
    for each in advice:
        console.print(each.message, markup=False, style="yellow" if each.needs_restart else None)


def session_advice(result: SwitchResult) -> list[SessionAdvice]:
    """Which running assistant sessions keep the old provider (found read-only; never signalled)."""
    from mahavishnu.services.sessions import advise

    try:
        return advise(result)
    except OSError:  # /proc unreadable: the switch itself succeeded
        return []


# -- errors and exit codes, as the Typer app reports them -----------------------------------------


def _run(body: Callable[[], None]) -> int:
    """Run a command body; a MahavishnuError becomes one line + hint on stderr and its exit code
    (as cli/main.py's root group does), Ctrl-C and a closed pipe end it as Click would."""
    from mahavishnu.errors import MahavishnuError

    try:
        body()
    except MahavishnuError as exc:
        sys.stderr.write(f"error: {exc.message}\n" + (f"hint: {exc.hint}\n" if exc.hint else ""))
        return exc.exit_code
    except (KeyboardInterrupt, EOFError):
        sys.stderr.write("\nAborted!\n")
        return 1
    except BrokenPipeError:  # e.g. piped into `head`: quietly, like Click
        _silence_broken_pipe()
        return 1
    return 0


def _silence_broken_pipe() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
