"""Run the real Gemini CLI offline, configured only by files under a temp HOME.

The recipe (checked with @google/gemini-cli 0.61.0):

* ``$HOME/.gemini/settings.json``: ``security.auth.selectedType = "gemini-api-key"`` and
  ``model.name``; ``$HOME/.gemini/.env``: ``GOOGLE_GEMINI_BASE_URL`` (the mock's root URL: no
  ``/v1beta``; https or loopback only) and ``GEMINI_API_KEY`` (or that variable in its environment);
* the ``.env`` is read only in a trusted folder: ``trust(home, folder)`` writes
  ``~/.gemini/trustedFolders.json`` as Gemini CLI's own trust dialog does;
* ``gemini -p PROMPT`` prints the answer on stdout. Request: ``POST
  /v1beta/models/<model>:streamGenerateContent?alt=sse`` with the key as ``x-goog-api-key``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from _cli_env import find_tool, run_cli

__all__ = ["find_gemini", "run_gemini", "trust"]


def find_gemini() -> Path | None:
    return find_tool("gemini")


def trust(home: Path, folder: Path) -> None:
    """Mark ``folder`` trusted the way Gemini CLI records it (``TRUST_FOLDER``)."""
    path = home / ".gemini" / "trustedFolders.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    rules = json.loads(path.read_text()) if path.exists() else {}
    rules[str(folder.resolve())] = "TRUST_FOLDER"
    path.write_text(json.dumps(rules, indent=2))


def run_gemini(
    home: Path,
    prompt: str,
    timeout: float = 90,
    extra_env: dict[str, str] | None = None,
    *,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``gemini -p PROMPT`` with HOME=``home``; FileNotFoundError when the CLI is not installed."""
    return run_cli("gemini", ["-p", prompt], home, timeout, extra_env, cwd)
