"""The provider entry `run` gives Qwen Code (the shipped system settings, filled from the environment,
so that no entry of the user's with the same model id wins) and the AI SDK package OpenCode speaks a
profile's endpoint with, in `run` and in `switch-llm` alike (``@ai-sdk/openai`` for the Responses API).
The real CLIs: tests/e2e/test_run_qwen_own_entry_e2e.py and test_opencode_responses_e2e.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from _switch_helpers import write_profiles

from mahavishnu.config import load_settings
from mahavishnu.environments.assistants.opencode import load
from mahavishnu.environments.launch import QWEN_RUN_SETTINGS, QWEN_SETTINGS_VAR, plan, run_provider
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.errors import InvalidInputError

KEY = "sk-wire-0123456789abcdef"
URL = "http://127.0.0.1:9/v1"


@pytest.fixture
def lab(tools_on_path: None, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The assistants on PATH (empty scripts), no system settings of Qwen Code's (``tests/conftest``),
    and ``LAB_KEY``."""
    monkeypatch.setenv("LAB_KEY", KEY)
    return isolated_home


def _profile(home: Path, wire_api: str | None) -> None:
    wire = f", wire_api: {wire_api}" if wire_api else ""
    body = f"  lab:\n    secret: ['env:LAB_KEY']\n    openai: {{base_url: '{URL}', model: lab-model{wire}}}\n"
    write_profiles(home, body)


def _shipped() -> dict[str, Any]:
    """The shipped file (Qwen Code strips its ``//`` comments)."""
    text = "\n".join(line for line in QWEN_RUN_SETTINGS.read_text().splitlines() if not line.startswith("//"))
    shipped: dict[str, Any] = json.loads(text)
    return shipped


def _shipped_entry() -> dict[str, str]:
    """The run's modelProviders entry of the shipped file."""
    [entry] = _shipped()["modelProviders"]["openai"]
    return dict(entry)


@pytest.mark.parametrize(
    ("wire_api", "auth_type", "wire"),
    [
        ("responses", "openai-responses", "responses"),
        ("chat", "openai", "chat-completions"),
        (None, "openai", "chat-completions"),
    ],
)
def test_run_qwen_defines_its_own_entry_in_the_system_settings_filled_from_the_environment(
    lab: Path, wire_api: str | None, auth_type: str, wire: str
) -> None:
    """A user's ``modelProviders`` entry with the same model id outranks ``--model``,
    ``--openai-base-url`` and ``OPENAI_BASE_URL`` in Qwen Code 0.24.4: the run's entry is in the
    system settings (which replace the user's ``openai`` list), with the model and its ``baseUrl``
    (which pick the run's entry over one of the user's in another list), its key in
    ``OPENAI_API_KEY``. No ``--model``: Qwen Code reads ``model.baseUrl`` only for the settings' model."""
    _profile(lab, wire_api)
    launch = plan("lab", load_settings(), tool="qwen", args=["-p", "hi"])
    assert launch.argv[1:] == ["--auth-type", auth_type, "-p", "hi"]
    assert launch.env[QWEN_SETTINGS_VAR] == str(QWEN_RUN_SETTINGS) and QWEN_RUN_SETTINGS.is_file()

    def fill(value: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: launch.env[m.group(1)], value)

    assert {name: fill(value) for name, value in _shipped()["model"].items()} == {
        "name": "lab-model",
        "baseUrl": URL,
    }
    filled = {name: fill(value) for name, value in _shipped_entry().items()}
    assert filled == {
        "id": "lab-model",
        "name": "mahavishnu run",
        "baseUrl": URL,
        "envKey": "OPENAI_API_KEY",
        "wireApi": wire,
    }
    assert launch.env["OPENAI_API_KEY"] == KEY and launch.env["OPENAI_BASE_URL"] == URL
    assert [k for k, v in launch.env.items() if v == KEY] == ["OPENAI_API_KEY"]
    assert KEY not in json.dumps(launch.argv) + json.dumps(launch.shown_env())
    assert KEY not in QWEN_RUN_SETTINGS.read_text()


def test_run_qwen_does_not_set_aside_system_settings_of_an_administrator(
    lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _profile(lab, "chat")
    system = tmp_path / "system-settings.json"
    system.write_text('{"tools": {"sandbox": true}}\n')
    monkeypatch.setenv(QWEN_SETTINGS_VAR, str(system))
    with pytest.raises(InvalidInputError, match=r"system settings .* are in use") as refused:
        plan("lab", load_settings(), tool="qwen", args=[])
    assert "switch-llm lab --tool qwen" in str(refused.value.hint)
    monkeypatch.setenv(QWEN_SETTINGS_VAR, str(QWEN_RUN_SETTINGS))  # a run started inside a run's session
    assert plan("lab", load_settings(), tool="qwen", args=[]).env[QWEN_SETTINGS_VAR] == str(QWEN_RUN_SETTINGS)


@pytest.mark.parametrize(
    ("wire_api", "package"),
    [
        ("responses", "@ai-sdk/openai"),
        ("chat", "@ai-sdk/openai-compatible"),
        (None, "@ai-sdk/openai-compatible"),
    ],
)
def test_opencode_speaks_the_wire_api_the_profile_declares_in_run_and_switch(
    lab: Path, wire_api: str | None, package: str
) -> None:
    """``@ai-sdk/openai-compatible`` speaks Chat Completions only: a Responses-only endpoint got
    requests it cannot answer. ``@ai-sdk/openai``'s models speak the Responses API."""
    _profile(lab, wire_api)
    launch = plan("lab", load_settings(), tool="opencode", args=["run", "hi"])
    provider = json.loads(launch.env["OPENCODE_CONFIG_CONTENT"])["provider"][run_provider("lab")]
    assert provider["npm"] == package and provider["options"]["baseURL"] == URL
    switch_llm("lab", load_settings(), tool="opencode")
    config = lab / ".config" / "opencode" / "opencode.json"
    entry = load(config.read_text(), config).data["provider"]["mahavishnu"]
    assert entry["npm"] == package and entry["options"] == {"baseURL": URL, "apiKey": "{env:LAB_KEY}"}
