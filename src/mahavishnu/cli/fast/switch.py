"""``mahavishnu ai switch-llm`` without Typer, and what it shares with the Typer command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mahavishnu.cli.params import Values
    from mahavishnu.config import Settings
    from mahavishnu.environments.switcher import SwitchResult
    from mahavishnu.errors import UnknownProfileError
    from mahavishnu.services.sessions import SessionAdvice

from mahavishnu.cli.fast.common import _run

# -- ai switch-llm -------------------------------------------------------------------------------


def parse_switch_llm(args: list[str]) -> Values | None:
    """The parameters of ``ai switch-llm ARGS`` (cli/params.py) when every argument is plainly
    spelled and there is one name; None for anything else."""
    from mahavishnu.cli.params import SWITCH_LLM, parse_plain

    parsed = parse_plain(SWITCH_LLM, args)
    if parsed is None or len(parsed[0]) != 1 or parsed[0][0] in ("", "-"):  # Typer judges those
        return None
    return {"name": parsed[0][0], **parsed[1]}


def switch_llm(args: list[str]) -> int | None:
    """``mahavishnu ai switch-llm ARGS`` without Typer; None when Typer must handle ``args``."""
    values = parse_switch_llm(args)
    if values is None:
        return None
    warn_if_project_ignored()
    status = 0

    def body() -> None:
        nonlocal status
        status = run_switch_llm(**values)

    return _run(body) or status


def warn_if_project_ignored() -> None:
    """Say so when the repository's settings file is there but not trusted (so not read)."""
    from mahavishnu.project_trust import ignored_notice

    notice = ignored_notice()
    if notice is not None:
        from mahavishnu.cli.output import escape, warn

        warn(escape(notice))


def run_switch_llm(
    name: str,
    *,
    tool: str | None,
    scope: str,
    dry_run: bool,
    inline_secret: bool,
    codex_profile: str | None,
    as_json: bool,
) -> int:
    """The body of ``mahavishnu ai switch-llm`` (both paths); its exit status: 0, or
    ``PARTIAL_EXIT`` when an installed assistant was skipped (it keeps its previous provider)."""
    from dataclasses import asdict

    from mahavishnu.cli.output import console, escape, print_json, warn
    from mahavishnu.config import load_settings
    from mahavishnu.environments.scopes import parse_scope
    from mahavishnu.environments.switcher import switch_llm as do_switch
    from mahavishnu.errors import UnknownProfileError

    settings = load_settings()
    options: dict[str, Any] = {
        "tool": tool,
        "scope": parse_scope(scope),
        "dry_run": dry_run,
        "inline_secret": inline_secret,
        "codex_profile": codex_profile,
    }
    try:
        result = do_switch(name, settings, **options)
    except UnknownProfileError as unknown:
        settings = team_settings(name, settings, unknown, remember=not dry_run)
        result = do_switch(name, settings, **options)
    advice = session_advice(result)
    status = PARTIAL_EXIT if result.partial else 0
    if as_json:
        print_json({**asdict(result), "sessions": [asdict(a) for a in advice], "exit_code": status})
        return status
    for note in result.notes:
        console.print(note, markup=False)
    for message in result.warnings:
        warn(escape(message))
    for skipped in result.skipped:
        state = "" if skipped.installed else " (not installed)"
        console.print(f"{skipped.tool}: skipped{state}, {skipped.reason}", markup=False)
        if skipped.fix:
            console.print(f"  fix: {skipped.fix}", markup=False)
    for file in result.files:
        if dry_run:
            console.print(file.diff or f"{file.path}: no change\n", markup=False, end="")
        elif file.own:  # not the login the profile names: the set-up the user had
            console.print(f"{file.path}: now uses [bold]your own provider settings[/bold] again")
        elif file.changed:
            console.print(f"{file.path}: now uses [bold]{result.profile}[/bold]")
        else:
            console.print(f"{file.path}: already uses [bold]{result.profile}[/bold]")
    for each in advice:
        console.print(each.message, markup=False, style="yellow" if each.needs_restart else None)
    if result.summary:
        console.print(result.summary, markup=False, style="yellow" if result.partial else None)
    return status


def team_settings(name: str, settings: Settings, unknown: UnknownProfileError, *, remember: bool) -> Settings:
    """No local profile is ``name``: the team store's of that name (memory on a team store), said
    so with who pushed it and where it sends the member's key; else ``unknown`` stands. Nothing of
    the team's is imported, nor asked, without a team store: a local switch costs what it did.
    ``remember``: keep its references on this machine for ``secrets get NAME`` (``team_copies``)."""
    if settings.memory.backend != "postgres":
        raise unknown
    from mahavishnu.cli.output import err_console
    from mahavishnu.environments import team_copies
    from mahavishnu.errors import MahavishnuError, UnknownProfileError
    from mahavishnu.memory.team import profiles

    try:
        found = profiles.find(settings, name)
    except MahavishnuError as exc:  # the team store is down: the local answer stands, said so
        raise UnknownProfileError(f"{unknown.message} (team profiles not checked: {exc.message})") from None
    if found is None:
        raise unknown
    team = profiles.with_team_profile(settings, found)
    profile = found.profile()
    urls = ", ".join(str(getattr(profile.settings, p).base_url) for p in profile.protocols)
    err_console.print(
        f"using team profile '{found.name}' (pushed by {found.pushed_by}; your key goes to {urls})",
        markup=False,
    )
    if remember:
        team_copies.remember(
            found.name, profile.settings.model_dump(mode="json", exclude_none=True), found.pushed_by
        )
    return team


#: ``ai switch-llm``'s exit status when it wrote some assistants' files but skipped an installed one.
PARTIAL_EXIT = 3


def session_advice(result: SwitchResult) -> list[SessionAdvice]:
    """Which running assistant sessions keep the old provider (found read-only; never signalled)."""
    from mahavishnu.services.sessions import advise

    try:
        return advise(result)
    except OSError:  # /proc unreadable: the switch itself succeeded
        return []
