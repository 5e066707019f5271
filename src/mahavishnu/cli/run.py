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
        help="Assistant to start: claude, codex, qwen, gemini or opencode (default: "
        "environments.default_tool when the profile serves it, else the first assistant it serves).",
    ),
    show: bool = typer.Option(
        False,
        "--show",
        help="Print the command line, the environment set (key masked) and the variables removed (unset) "
        "instead of starting it.",
    ),
) -> None:
    """Start an assistant with the provider set only in its own process (environment and flags):
    two terminals can use two providers at once, and no config file changes. Claude Code gets only the
    profile's key: a shell's or settings.json's ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN or
    CLAUDE_CODE_OAUTH_TOKEN is kept out of it. Arguments after `--` go to the assistant."""
    from mahavishnu.cli.output import console, print_json, warn
    from mahavishnu.config import load_settings
    from mahavishnu.environments.launch import exec_launch, plan

    launch = plan(name, load_settings(), tool=tool, args=list(ctx.args))
    for message in launch.warnings:
        warn(message)
    if show:
        print_json({"argv": launch.argv, "env": launch.shown_env(), "unset": list(launch.unset)})
        return
    console.file.flush()
    exec_launch(launch)
