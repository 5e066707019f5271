"""`mahavishnu ai switch-llm` drives the real Claude Code CLI: the request reaches the profile's URL
with the profile's key (via apiKeyHelper -> `mahavishnu secrets get`) and model; after a switch to a
second profile, the next request carries the second key and never the first."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from claude_cli import find_claude, parse_result, run_claude
from mock_llm import MockLLM
from typer.testing import CliRunner

from mahavishnu.cli.main import app

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_claude() is None, reason="Claude Code CLI not installed: run `bash .ci/install-e2e.sh`"
    ),
]

KEY_ONE = "sk-profile-one-0123456789"
KEY_TWO = "sk-profile-two-9876543210"
runner = CliRunner()


def _profiles(home: Path, url_one: str, url_two: str) -> None:
    settings = home / ".mahavishnu" / "mahavishnu.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(
        f"""
profiles:
  lab-one:
    label: Lab one
    anthropic: {{base_url: "{url_one}", model: model-one, haiku_model: model-one-small}}
  lab-two:
    label: Lab two
    anthropic: {{base_url: "{url_two}", model: model-two}}
"""
    )


def _mahavishnu_env() -> dict[str, str]:
    """What the apiKeyHelper subprocess needs to find this test's Mahavishnu home and keyring."""
    names = ("MAHAVISHNU_HOME", "PYTHON_KEYRING_BACKEND", "XDG_DATA_HOME")
    return {name: os.environ[name] for name in names}


def _switch(name: str) -> None:
    result = runner.invoke(app, ["ai", "switch-llm", name])
    assert result.exit_code == 0, result.output


def test_switch_llm_reaches_the_profile_with_its_key_then_the_next(isolated_home: Path) -> None:
    with MockLLM(reply="one") as one, MockLLM(reply="two") as two:
        _profiles(isolated_home, one.base_url, two.base_url)
        for name, key in (("lab-one", KEY_ONE), ("lab-two", KEY_TWO)):
            assert runner.invoke(app, ["secrets", "set", name], input=key + "\n").exit_code == 0

        _switch("lab-one")
        first = run_claude(isolated_home, "hi", extra_env=_mahavishnu_env())
        assert first.returncode == 0, first.stderr
        assert parse_result(first)["result"].strip().startswith("one")
        [request] = one.requests_to("/v1/messages")
        assert request.headers["x-api-key"] == KEY_ONE
        assert request.body["model"] == "model-one"
        assert two.requests_to("/v1/messages") == []

        _switch("lab-two")
        second = run_claude(isolated_home, "hi again", extra_env=_mahavishnu_env())
        assert second.returncode == 0, second.stderr
        [request] = two.requests_to("/v1/messages")
        assert request.api_key == KEY_TWO
        assert request.body["model"] == "model-two"
        assert KEY_ONE not in json.dumps(request.headers) + json.dumps(request.body)
        assert len(one.requests_to("/v1/messages")) == 1  # nothing more went to the first profile
        settings_text = (isolated_home / ".claude" / "settings.json").read_text()
        assert KEY_ONE not in settings_text and KEY_TWO not in settings_text
