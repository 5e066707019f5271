"""Run the real Qwen Code CLI offline, configured only by files under a temp HOME.

The recipe (checked with @qwen-code/qwen-code 0.24.4, which runs on Node 20 although it asks for 22):

* ``$HOME/.qwen/settings.json`` (JSONC): ``modelProviders.openai[] {id, name, baseUrl, envKey}``
  (``baseUrl`` with ``/v1``; ``"wireApi": "responses"`` for the Responses API),
  ``security.auth.selectedType = "openai"`` and ``model.name`` = the entry's ``id``;
* the key from the variable ``envKey`` names: its environment, or ``$HOME/.qwen/.env`` (read in
  every folder, trusted or not);
* ``qwen -p PROMPT`` prints the answer on stdout. Requests: ``POST /v1/chat/completions`` (or
  ``/v1/responses``), streaming, ``Authorization: Bearer <key>``; one prompt makes two requests.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from _cli_env import find_tool, run_cli

__all__ = ["find_qwen", "run_qwen"]


def find_qwen() -> Path | None:
    return find_tool("qwen")


def run_qwen(
    home: Path,
    prompt: str,
    timeout: float = 90,
    extra_env: dict[str, str] | None = None,
    *,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``qwen -p PROMPT`` with HOME=``home``; FileNotFoundError when the CLI is not installed."""
    return run_cli("qwen", ["-p", prompt], home, timeout, extra_env, cwd)
