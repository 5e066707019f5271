"""Run the real OpenCode CLI offline, configured only by files under a temp HOME.

The recipe (checked with opencode-ai 1.18.33, a native binary in a per-platform npm package):

* ``$HOME/.config/opencode/opencode.json(c)``: ``provider.NAME {npm: "@ai-sdk/openai-compatible",
  options: {baseURL, apiKey}, models: {MODEL: {...}}}`` and ``model: "NAME/MODEL"``; ``apiKey`` may be
  ``{env:VAR}`` or ``{file:PATH}`` (substituted into the config text when it is read);
* ``opencode run PROMPT`` prints the answer on stdout. Requests: ``POST /v1/chat/completions``,
  streaming, ``Authorization: Bearer <key>``; sessions in ``~/.local/share/opencode/opencode.db``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from _cli_env import find_tool, run_cli

__all__ = ["find_opencode", "run_opencode"]

#: No update check, no model list from models.dev, no telemetry: the run stays on loopback.
OFFLINE = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
}


def find_opencode() -> Path | None:
    return find_tool("opencode")


def run_opencode(
    home: Path,
    prompt: str,
    timeout: float = 120,
    extra_env: dict[str, str] | None = None,
    *,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``opencode run PROMPT`` with HOME=``home``; FileNotFoundError when the CLI is not installed."""
    return run_cli("opencode", ["run", prompt], home, timeout, {**OFFLINE, **(extra_env or {})}, cwd)
