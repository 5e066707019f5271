"""``mahavishnu config``: the effective settings and where each value comes from."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mahavishnu.cli.output import JSON_OPTION, console, print_json, table

app = typer.Typer(help="Inspect Mahavishnu's own settings.", no_args_is_help=True)


@app.command("show")
def show(as_json: bool = JSON_OPTION) -> None:
    """Print every effective setting with its source (default, user/project file, env); secrets masked."""
    from mahavishnu.cli.output import warn
    from mahavishnu.config import layer_files, load_settings, settings_with_sources
    from mahavishnu.masking import mask_tree

    settings = load_settings()
    for problem, _ in settings.broken_profiles.values():  # (left out of what follows)
        warn(f"{problem}: not shown, and refused until fixed")
    rows = [
        (key, mask_tree(value, key.rsplit(".", 1)[-1]), source)
        for key, value, source in settings_with_sources(settings)
    ]
    if as_json:
        print_json(
            {
                "files": {n: str(p) for n, p in layer_files()},
                "ignored": [str(p) for n, p in layer_files() if _why_ignored(n) is not None],
                "settings": [{"key": k, "value": v, "source": s} for k, v, s in rows],
            }
        )
        return
    for name, path in layer_files():
        console.print(f"{name} file: {path}" + _standing(name, path))
    shown = [(k, json.dumps(v, default=str, ensure_ascii=False), s) for k, v, s in rows]
    table(None, ["setting", "value", "source"], shown)


@app.command("path")
def path() -> None:
    """Print the user settings file's path."""
    from mahavishnu import paths

    console.print(str(paths.user_settings_file()))


def _standing(name: str, path: Path) -> str:
    """What to say after a settings file's path: absent, ignored (an untrusted project file) or nothing."""
    if not path.exists():
        return " (absent)"
    why = _why_ignored(name)
    return f" (ignored: {why}; `mahavishnu config trust` after reading it)" if why else ""


def _why_ignored(name: str) -> str | None:
    """Why the ``name`` layer's file is there but not read (only a project file can be), else None."""
    from mahavishnu.project_trust import project_file

    found = project_file() if name == "project" else None
    if found is None or found.applies:
        return None
    return "changed since trusted" if found.standing == "changed" else "not trusted"


@app.command("trust")
def trust(as_json: bool = JSON_OPTION) -> None:
    """Let this repository's settings file (settings/mahavishnu.yaml) apply, as it is now: it can
    point profiles at other servers, run services and move the memory store, so read it first. Any
    later change to it needs trusting again."""
    from mahavishnu.project_trust import trust as record_trust

    path = _project_settings_file()
    digest = record_trust(path)
    if as_json:
        print_json({"trusted": str(path), "sha256": digest})
    else:
        console.print(f"trusted {path} (sha256 {digest[:12]}…): its settings now apply in this repository")


@app.command("untrust")
def untrust(as_json: bool = JSON_OPTION) -> None:
    """Stop applying this repository's settings file."""
    from mahavishnu.project_trust import untrust as drop_trust

    path = _project_settings_file()
    dropped = drop_trust(path)
    if as_json:
        print_json({"untrusted": str(path), "was_trusted": dropped})
    else:
        console.print(f"{path} is no longer trusted" if dropped else f"{path} was not trusted")


def _project_settings_file() -> Path:
    from mahavishnu import paths
    from mahavishnu.errors import NotFoundError

    path = paths.project_settings_file()
    if path is None:
        raise NotFoundError(
            "not in a repository (no .git here or above)",
            hint="Run it inside the repository whose settings/mahavishnu.yaml you mean.",
        )
    if not path.is_file():
        raise NotFoundError(f"this repository has no settings file ({path})")
    return path
