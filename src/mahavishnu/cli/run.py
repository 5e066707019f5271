"""``mahavishnu run PROFILE -- ARGS``: one assistant session on a provider, no file changed."""

from __future__ import annotations

import typer

RUN_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}


def run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Profile name or alias, e.g. qwen, zai, ollama."),
    tool: str | None = typer.Option(
        None,
        "--tool",
        "-t",
        help="Assistant to start: claude, codex, qwen or gemini (default: environments.default_tool when "
        "the profile serves it, else the first assistant it serves).",
    ),
    show: bool = typer.Option(
        False, "--show", help="Print the command line and environment (key masked) instead of starting it."
    ),
) -> None:
    """Start an assistant with the provider set only in its own process (environment and flags):
    two terminals can use two providers at once, and no config file changes. Arguments after `--`
    go to the assistant."""
    from mahavishnu.cli.output import console, print_json, warn
    from mahavishnu.config import load_settings
    from mahavishnu.environments.launch import exec_launch, plan

    launch = plan(name, load_settings(), tool=tool, args=list(ctx.args))
    for message in launch.warnings:
        warn(message)
    if show:
        print_json({"argv": launch.argv, "env": launch.shown_env()})
        return
    console.file.flush()
    exec_launch(launch)
