"""Run the real Codex CLI offline, configured only by files under a temp HOME.

The recipe (checked with @openai/codex 0.169.0):

* ``$HOME/.codex/config.toml``: ``model``, ``model_provider`` and ``[model_providers.X]`` with
  ``base_url`` (the mock's URL *with* ``/v1``), ``wire_api = "responses"`` and ``env_key`` (a variable
  from its environment or ``$HOME/.codex/.env``) or ``[model_providers.X.auth] command``;
* ``codex exec --skip-git-repo-check PROMPT`` with stdin /dev/null (else it waits to read more input)
  prints the final answer on stdout; the request is ``POST /v1/responses`` (streaming SSE) with the
  key as ``Authorization: Bearer``. With an auth command it also asks ``GET /v1/models``;
* ``--profile NAME`` (``-p``) layers ``$CODEX_HOME/NAME.config.toml`` over config.toml (names: letters,
  digits, ``-`` and ``_``);
* Codex retries an unreachable provider for minutes and never exits on its own: always a timeout.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from _cli_env import find_tool, run_cli

__all__ = ["find_codex", "run_codex"]


def find_codex() -> Path | None:
    return find_tool("codex")


def run_codex(
    home: Path,
    prompt: str,
    timeout: float = 60,
    extra_env: dict[str, str] | None = None,
    *,
    cwd: Path | None = None,
    options: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """``codex exec [OPTIONS]`` with HOME=``home``; FileNotFoundError when the CLI is not installed."""
    args = ["exec", "--skip-git-repo-check", "--color", "never", *options, prompt]
    return run_cli("codex", args, home, timeout, extra_env, cwd)
