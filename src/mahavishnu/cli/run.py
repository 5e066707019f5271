"""``mahavishnu run PROFILE -- ARGS``: one assistant session on a provider, no file changed."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, cast

import typer

from mahavishnu.environments.assistants.registry import listed

if TYPE_CHECKING:
    from mahavishnu.config import Settings
    from mahavishnu.environments.profiles import Protocol
    from mahavishnu.usage.runs import Run

RUN_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}
#: How long ``run`` waits for the provider's answer before it calls it unreachable: a refused
#: connection fails in milliseconds, a healthy provider answers within ~1-2 s.
CHECK_SECONDS = 5.0


def run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Profile name or alias, e.g. qwen, zai, ollama."),
    tool: str | None = typer.Option(
        None,
        "--tool",
        "-t",
        help=f"Assistant to start: {listed()} (default: "
        "environments.default_tool when the profile serves it, else the first assistant it serves).",
    ),
    show: bool = typer.Option(
        False,
        "--show",
        help="Print the command line, the environment set (key masked) and the variables removed (unset) "
        "instead of starting it.",
    ),
    no_check: bool = typer.Option(
        False,
        "--no-check",
        help=f"Start it without first probing the provider (one request, at most {CHECK_SECONDS:g} s).",
    ),
) -> None:
    """Start an assistant with the provider set only in its own process (environment and flags):
    two terminals can use two providers at once, and no config file changes. Claude Code gets only the
    profile's key: a shell's or settings.json's ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN or
    CLAUDE_CODE_OAUTH_TOKEN is kept out of it. The provider is probed first, as `ai test` does: an
    assistant retries an unreachable one for minutes without a word. Arguments after `--` go to the
    assistant."""
    from mahavishnu.cli.output import console, print_json, warn
    from mahavishnu.config import load_settings
    from mahavishnu.environments.launch import exec_launch, plan, require_installed
    from mahavishnu.errors import MahavishnuError
    from mahavishnu.usage import runs

    settings = load_settings()
    launch = plan(name, settings, tool=tool, args=list(ctx.args))
    for message in launch.warnings:
        warn(message)
    if show:
        print_json({"argv": launch.argv, "env": launch.shown_env(), "unset": list(launch.unset)})
        return
    require_installed(launch)  # before the probe: no request to a provider for nothing to start
    if not no_check and (spare := _check_provider(name, launch.tool, settings)) is not None:
        name = spare
        launch = plan(name, settings, tool=launch.tool, args=list(ctx.args))
        for message in launch.warnings:
            warn(message)
    console.file.flush()
    recorded = _record_run(name, launch.tool, settings)
    try:
        exec_launch(launch)
    except MahavishnuError:  # nothing started: the run recorded never happened
        if recorded is not None:
            with contextlib.suppress(OSError, MahavishnuError):  # the exec's error is the one to say
                runs.forget(recorded)
        raise


def _record_run(name: str, tool: str, settings: Settings) -> Run | None:
    """Record the run (``usage/runs``: the history of runs). ``mahavishnu usage`` needs it only for
    logs of runs from before each profile's run provider had its own name (``run_names``), so a run
    that cannot be recorded starts all the same, and nothing is said of it."""
    from mahavishnu.environments.profiles import resolve
    from mahavishnu.environments.switcher import PROTOCOL
    from mahavishnu.errors import MahavishnuError
    from mahavishnu.usage import runs

    profile = resolve(name, settings)
    endpoint = getattr(profile.settings, PROTOCOL[tool], None)
    try:
        return runs.record(tool, profile.name, str(endpoint.model) if endpoint is not None else "")
    except (OSError, MahavishnuError):
        return None


def _check_provider(name: str, tool: str, settings: Settings) -> str | None:
    """Probe the provider ``tool`` will use. When it fails and ``fallback.chains.TOOL`` lists the
    profile, the name of the chain's first other profile that answers, to start on instead (as
    ``watch`` would switch to it). Else refuse to start on one that does not answer or refuses the
    key (the assistant would retry it silently), and warn on any other failure (a provider may
    answer the assistant's requests yet not the probe's)."""
    from mahavishnu.cli.output import escape, warn
    from mahavishnu.environments.profiles import resolve
    from mahavishnu.environments.switcher import LABELS, PROTOCOL
    from mahavishnu.errors import ProviderUnavailableError
    from mahavishnu.services.probe import probe

    protocol = cast("Protocol", PROTOCOL[tool])
    result = probe(  # a fixed wait: no setting to raise
        resolve(name, settings), protocol, settings, timeout=CHECK_SECONDS, tool=tool, timeout_setting=None
    )
    if result.ok or result.status == "no-key":  # a missing key: the plan has said so already
        return None
    refused = result.http_status in (401, 403)
    stopped = result.status in ("unreachable", "timeout") or refused
    said = f"no answer within {CHECK_SECONDS:g} s" if result.status == "timeout" else result.detail
    what = "refused the key" if refused else "is unreachable"
    failed = f"{result.profile}'s provider at {result.url} " + (
        f"{what} ({said})" if stopped else f"answered the probe with {result.detail}"
    )
    # (the detail is the provider's text: its brackets are no markup, "[/x]" raised a traceback)
    if (spare := _spare(result.profile, tool, protocol, settings)) is not None:
        then = f"starting {LABELS[tool]} on {spare}, the next profile of fallback.chains.{tool} that answers"
        warn(escape(f"{failed}: {then}"))
        return spare
    if stopped:
        raise ProviderUnavailableError(
            f"{failed}: {LABELS[tool]} was not started",
            hint=f"{result.hint} Or start it anyway with `--no-check`.",
        )
    warn(escape(f"{failed}: starting anyway"))
    return None


def _spare(failed: str, tool: str, protocol: Protocol, settings: Settings) -> str | None:
    """The first other profile of ``fallback.chains.TOOL`` serving ``protocol`` that answers a probe,
    when the chain lists ``failed``; None otherwise (a run on a profile out of the chain is the
    user's choice, kept)."""
    from mahavishnu.environments.profiles import all_profiles
    from mahavishnu.services.fallback import chain
    from mahavishnu.services.probe import probe

    profiles = all_profiles(settings)
    names = chain(tool, settings, profiles)
    if failed not in names:
        return None
    for name in names:
        if name == failed or protocol not in profiles[name].protocols:
            continue
        answer = probe(
            profiles[name], protocol, settings, timeout=CHECK_SECONDS, tool=tool, timeout_setting=None
        )
        if answer.ok:
            return name
    return None
