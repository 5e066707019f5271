"""``mahavishnu config``: the effective settings and where each value comes from."""

from __future__ import annotations

import json

import typer

from mahavishnu.cli.output import JSON_OPTION, console, print_json, table

app = typer.Typer(help="Inspect Mahavishnu's own settings.", no_args_is_help=True)


@app.command("show")
def show(as_json: bool = JSON_OPTION) -> None:
    """Print every effective setting with its source (default, user/project file, env); secrets masked."""
    from mahavishnu.config import layer_files, settings_with_sources
    from mahavishnu.masking import mask_tree

    rows = [
        (key, mask_tree(value, key.rsplit(".", 1)[-1]), source)
        for key, value, source in settings_with_sources()
    ]
    if as_json:
        print_json(
            {
                "files": {n: str(p) for n, p in layer_files()},
                "settings": [{"key": k, "value": v, "source": s} for k, v, s in rows],
            }
        )
        return
    for name, path in layer_files():
        console.print(f"{name} file: {path}" + ("" if path.exists() else " (absent)"))
    shown = [(k, json.dumps(v, default=str, ensure_ascii=False), s) for k, v, s in rows]
    table(None, ["setting", "value", "source"], shown)


@app.command("path")
def path() -> None:
    """Print the user settings file's path."""
    from mahavishnu import paths

    console.print(str(paths.user_settings_file()))
