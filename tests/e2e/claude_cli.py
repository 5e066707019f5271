"""Run the real Claude Code CLI offline, configured only by files under a temp HOME.

The recipe (checked with @anthropic-ai/claude-code 2.1.197):

* settings come from ``$HOME/.claude/settings.json`` alone: ``env.ANTHROPIC_BASE_URL``
  (the mock's root URL, no ``/v1``), ``env.ANTHROPIC_MODEL`` and ``apiKeyHelper`` or
  ``env.ANTHROPIC_AUTH_TOKEN``; ``--setting-sources user`` keeps project/local
  settings of the working directory out;
* the environment is built from scratch (no ANTHROPIC_* or CLAUDE_* leaks in from
  the outer shell: an outer ``ANTHROPIC_API_KEY`` would be sent as ``x-api-key``);
* ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1``: the only connections are to the
  base URL (``HEAD /`` then ``POST /v1/messages?beta=true``);
* ``CLAUDE_CODE_MAX_RETRIES=0``: an unreachable or failing mock fails the run in
  under a second instead of retrying for minutes;
* stdin is /dev/null and the run has a timeout. No ``~/.claude.json`` onboarding
  state is needed for ``-p``; Claude creates and rewrites that file itself.

``claude -p PROMPT --output-format json`` prints one JSON object whose ``result`` is
the assistant's text and whose ``is_error`` is false on success.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from _cli_env import base_env, find_tool, run_tool

__all__ = ["build_env", "find_claude", "parse_result", "run_claude", "write_settings"]

#: On top of the bare environment (whose PATH lets an apiKeyHelper command, e.g. a venv's python,
#: resolve): only the base URL is contacted, and a failing mock fails the run at once.
CLAUDE_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_MAX_RETRIES": "0",
    "API_TIMEOUT_MS": "30000",
}


def find_claude() -> Path | None:
    """The CLI installed by .ci/install-e2e.sh, else ``claude`` on PATH, else None."""
    return find_tool("claude")


def build_env(home: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """A from-scratch environment that points Claude at ``home`` and nowhere else."""
    return base_env(home, extra_env, tool_env=CLAUDE_ENV)


def run_claude(
    home: Path,
    prompt: str,
    timeout: float = 90,
    extra_env: dict[str, str] | None = None,
    *,
    cwd: Path | None = None,
    setting_sources: str | None = "user",
    extra_args: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``claude -p PROMPT --output-format json`` with HOME=``home``.

    Raises FileNotFoundError when the CLI is not installed and
    subprocess.TimeoutExpired when it does not exit within ``timeout`` seconds.
    """
    claude = find_claude()
    if claude is None:
        raise FileNotFoundError("claude CLI not found: run .ci/install-e2e.sh")
    args = [str(claude), "-p", prompt, "--output-format", "json"]
    if setting_sources:
        args += ["--setting-sources", setting_sources]
    args += extra_args or []
    return run_tool(args, build_env(home, extra_env), cwd if cwd is not None else home, timeout)


def parse_result(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON object ``--output-format json`` printed, with a readable error if none."""
    try:
        result = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"claude printed no JSON (exit {proc.returncode})\nstdout: {proc.stdout[-2000:]}\n"
            f"stderr: {proc.stderr[-2000:]}"
        ) from exc
    if not isinstance(result, dict):
        raise AssertionError(f"claude printed {type(result).__name__}, not an object: {proc.stdout[-2000:]}")
    return result


def write_settings(home: Path, settings: dict[str, Any]) -> Path:
    """Write ``$HOME/.claude/settings.json`` by hand (tests of Mahavishnu write it themselves)."""
    path = home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")
    return path
