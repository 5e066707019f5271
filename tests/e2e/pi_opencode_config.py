"""Pi and OpenCode pointed at the loopback mock by their own files under a temp HOME (checked with
Pi 0.73.1 and OpenCode 1.18.33): Pi's ``~/.pi/agent/models.json`` (a built-in provider's ``baseUrl``
moved, or a custom provider with ``api`` and ``apiKey`` naming an environment variable) and
``settings.json``; OpenCode's ``~/.config/opencode/opencode.json`` (a built-in provider's
``options.baseURL`` moved, or a custom ``@ai-sdk/openai-compatible`` one; ``apiKey`` as
``{env:VAR}``). The key is in ``MOCK_KEY``. ``pi -p PROMPT`` and ``opencode run PROMPT`` print the
answer; OpenCode also asks its ``small_model`` for the session's title, a request it does not
record."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["OFFLINE", "opencode_config", "pi_config"]

#: Pi and OpenCode stay on loopback: no update check, no model list fetched.
OFFLINE = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "PI_OFFLINE": "1",
    "PI_SKIP_VERSION_CHECK": "1",
}


def pi_config(home: Path, base_url: str) -> None:
    """Pi's built-in ``anthropic`` and ``openai`` pointed at the mock, and a custom ``lab``."""
    agent = home / ".pi" / "agent"
    agent.mkdir(parents=True, exist_ok=True)
    providers = {
        "anthropic": {"baseUrl": base_url, "apiKey": "MOCK_KEY"},
        "openai": {"baseUrl": f"{base_url}/v1", "apiKey": "MOCK_KEY"},
        "lab": {
            "baseUrl": f"{base_url}/v1",
            "api": "openai-completions",
            "apiKey": "MOCK_KEY",
            "models": [{"id": "qwen3-coder-plus"}],
        },
    }
    (agent / "models.json").write_text(json.dumps({"providers": providers}), encoding="utf-8")
    settings = {"defaultProvider": "anthropic", "defaultModel": "claude-sonnet-4-5"}
    (agent / "settings.json").write_text(json.dumps(settings), encoding="utf-8")


def opencode_config(home: Path, base_url: str, model: str, small_model: str | None = None) -> None:
    """OpenCode's built-in ``anthropic`` pointed at the mock, a custom ``lab``, ``model`` in use
    (and for titles ``small_model``, default ``model``)."""
    folder = home / ".config" / "opencode"
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            "anthropic": {"options": {"baseURL": f"{base_url}/v1", "apiKey": "{env:MOCK_KEY}"}},
            "lab": {
                "npm": "@ai-sdk/openai-compatible",
                "options": {"baseURL": f"{base_url}/v1", "apiKey": "{env:MOCK_KEY}"},
                "models": {"gpt-5": {}},
            },
        },
        "model": model,
        "small_model": small_model or model,
        "autoupdate": False,
        "share": "disabled",
    }
    (folder / "opencode.json").write_text(json.dumps(config), encoding="utf-8")
