"""``mahavishnu ai``: provider profiles and the assistants that use them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from mahavishnu.cli.output import JSON_OPTION, console, print_json, table, warn

if TYPE_CHECKING:
    from mahavishnu.config import Settings

app = typer.Typer(help="Switch AI assistants between LLM provider profiles.", no_args_is_help=True)

ToolOption = typer.Option("claude", "--tool", "-t", help="Assistant to configure: claude.")
ScopeOption = typer.Option("user", "--scope", "-s", help="Which settings file: user, project or local.")


@app.command("list-llms")
def list_llms(as_json: bool = JSON_OPTION) -> None:
    """List the provider profiles: built-in catalogue plus your own."""
    from mahavishnu.environments.profiles import all_profiles

    rows: list[dict[str, Any]] = [
        {
            "name": p.name,
            "label": p.label,
            "aliases": p.aliases,
            "protocols": p.protocols,
            "secret": p.settings.secret,
            "builtin": p.builtin,
        }
        for p in all_profiles(_settings()).values()
    ]
    if as_json:
        print_json(rows)
        return
    table(
        None,
        ["name", "provider", "aliases", "protocols", "key from"],
        [
            (
                r["name"],
                r["label"],
                ", ".join(r["aliases"]),
                ", ".join(r["protocols"]),
                ", ".join(r["secret"]) or "-",
            )
            for r in rows
        ],
    )


@app.command("show")
def show(name: str = typer.Argument(..., help="Profile name or alias."), as_json: bool = JSON_OPTION) -> None:
    """Show one profile's endpoints and where its key comes from."""
    from mahavishnu.environments.profiles import resolve
    from mahavishnu.environments.secrets import profile_chain

    settings = _settings()
    profile = resolve(name, settings)
    data = {
        "name": profile.name,
        "builtin": profile.builtin,
        **profile.settings.model_dump(exclude_none=True),
        "secret_chain": [str(ref) for ref in profile_chain(profile)] if profile.needs_secret else [],
    }
    if as_json:
        print_json(data)
        return
    console.print(
        f"[bold]{profile.name}[/bold] — {profile.label}" + (" (built-in)" if profile.builtin else "")
    )
    if profile.aliases:
        console.print(f"  aliases: {', '.join(profile.aliases)}")
    for protocol in profile.protocols:
        endpoint = getattr(profile.settings, protocol)
        console.print(f"  {protocol}: {endpoint.base_url}  model {endpoint.model}")
    chain = data["secret_chain"]
    console.print(f"  key: {' → '.join(chain) if chain else 'none needed'}")
    if profile.settings.docs:
        console.print(f"  docs: {profile.settings.docs}")


@app.command("current")
def current(
    tool: str | None = typer.Option(None, "--tool", "-t", help="Only this assistant."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show which provider each assistant points at, read from its real config files."""
    from mahavishnu.environments.switcher import current as read_current

    entries = read_current(_settings(), tool)
    if as_json:
        print_json([asdict(e) for e in entries])
        return
    if not entries:
        console.print(
            "No assistant is configured by a provider profile yet: try `mahavishnu ai switch-llm NAME`."
        )
        return
    table(
        None,
        ["tool", "scope", "profile", "base url", "model", "key"],
        [(e.tool, e.scope, e.profile or "?", e.base_url, e.model, e.key_source) for e in entries],
    )


@app.command("switch-llm")
def switch_llm(
    name: str = typer.Argument(..., help="Profile name or alias, e.g. qwen, claude, zai."),
    tool: str = ToolOption,
    scope: str = ScopeOption,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the diff (secrets masked) and write nothing."
    ),
    inline_secret: bool = typer.Option(
        False, "--inline-secret", help="Write the key itself into the file (chmod 600) instead of a helper."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Point an assistant at a provider profile, editing only the keys the profile owns."""
    from mahavishnu.environments.switcher import switch_llm as do_switch

    result = do_switch(
        name,
        _settings(),
        tool=tool,
        scope=_scope(scope),
        dry_run=dry_run,
        inline_secret=inline_secret,
    )
    if as_json:
        print_json(asdict(result))
        return
    for message in result.warnings:
        warn(message)
    for file in result.files:
        if dry_run:
            console.print(file.diff or f"{file.path}: no change", markup=False, end="")
        elif file.changed:
            console.print(f"{file.path}: now uses [bold]{result.profile}[/bold]")
        else:
            console.print(f"{file.path}: already uses [bold]{result.profile}[/bold]")


@app.command("backups")
def backups(
    path: Path | None = typer.Option(None, "--file", help="Only the backups of this config file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List the backups taken before each write, newest first."""
    from mahavishnu.environments.safe_write import list_backups

    found = list_backups(path)
    if as_json:
        print_json([{"id": b.id, "path": str(b.path), "size": b.size} for b in found])
        return
    table(None, ["id", "file", "bytes"], [(b.id, b.path, b.size) for b in found])


@app.command("rollback")
def rollback(
    to: str | None = typer.Option(None, "--to", help="Backup id (default: the newest)."),
    tool: str = ToolOption,
    scope: str = ScopeOption,
) -> None:
    """Restore an assistant's config file from a backup (the current content is backed up first)."""
    from mahavishnu.environments.safe_write import restore
    from mahavishnu.environments.switcher import assistant

    settings = _settings()
    target = assistant(tool)
    path = target.settings_path(_scope(scope))
    change = restore(path, to, validate=target.validate_text, backups=settings.environments.backups_keep)
    console.print(f"{path}: restored" + ("" if change.changed else " (it already matched)"))


def _settings() -> Settings:
    from mahavishnu.config import load_settings

    return load_settings()


def _scope(value: str) -> Literal["user", "project", "local"]:
    from mahavishnu.errors import InvalidInputError

    if value not in ("user", "project", "local"):
        raise InvalidInputError(f"unknown scope '{value}'", hint="Use user, project or local.")
    return value  # type: ignore[return-value]
