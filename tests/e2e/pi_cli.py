"""Run the real Pi CLI (``@mariozechner/pi-coding-agent``) offline, configured only by files under a
temp HOME.

The recipe (checked with 0.73.1): ``$HOME/.pi/agent/models.json`` ``providers.NAME {baseUrl, api:
"openai-completions", apiKey, models: [{id}]}`` (``apiKey``: a variable's name, ``!COMMAND``, or the
key) and ``$HOME/.pi/agent/settings.json`` ``defaultProvider`` / ``defaultModel``; ``pi -p PROMPT``
prints the answer. Requests: ``POST /v1/chat/completions``, ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from _cli_env import find_tool, run_cli

__all__ = ["find_pi", "run_pi"]

#: No version check over the network.
OFFLINE = {"PI_SKIP_VERSION_CHECK": "1", "PI_OFFLINE": "1"}


def find_pi() -> Path | None:
    return find_tool("pi")


def run_pi(
    home: Path,
    prompt: str,
    timeout: float = 120,
    extra_env: dict[str, str] | None = None,
    cwd: Path | None = None,
    flags: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """``pi [FLAGS] -p PROMPT`` with HOME=``home`` (in ``cwd``); FileNotFoundError when the CLI is
    not installed."""
    return run_cli("pi", [*flags, "-p", prompt], home, timeout, {**OFFLINE, **(extra_env or {})}, cwd)
