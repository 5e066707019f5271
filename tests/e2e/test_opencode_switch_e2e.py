"""`mahavishnu ai switch-llm --tool opencode` drives the real OpenCode CLI: after the switch a plain
`opencode run` (no flags) sends the profile's model to its URL with its key, by reference only."""

from __future__ import annotations

from pathlib import Path

import pytest
from _cli_env import base_env, run_tool
from _profiles import store_key, switch, write_profiles
from mock_llm import MockLLM
from opencode_cli import OFFLINE, find_opencode, run_opencode

from mahavishnu.config import load_settings
from mahavishnu.environments.assistants.opencode import key_file
from mahavishnu.environments.launch import plan

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_opencode() is None, reason="OpenCode CLI not installed: run `bash .ci/install-e2e.sh`"
    ),
]

KEY_ONE = "sk-opencode-one-0123456789"
KEY_TWO = "sk-opencode-two-9876543210"


def _config(home: Path) -> Path:
    return home / ".config" / "opencode" / "opencode.json"


def test_keyring_key_through_our_file_then_env_key(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockLLM(reply="one") as one, MockLLM(reply="two") as two:
        write_profiles(
            isolated_home,
            {
                "lab-one": {
                    "openai": {"base_url": f"{one.base_url}/v1", "model": "model-one", "wire_api": "chat"}
                },
                "lab-two": {
                    "secret": ["env:LAB_TWO_KEY"],
                    "openai": {"base_url": f"{two.base_url}/v1", "model": "model-two", "wire_api": "chat"},
                },
            },
        )
        config = _config(isolated_home)
        config.parent.mkdir(parents=True)
        config.write_text(
            '{\n  // mine\n  "$schema": "https://opencode.ai/config.json",\n  "share": "disabled"\n}\n'
        )
        store_key("lab-one", KEY_ONE)  # in the keyring: OpenCode reads it from our file, {file:…}

        switch("lab-one", "--tool", "opencode")
        first = run_opencode(isolated_home, "say hi")
        assert first.returncode == 0, first.stderr
        assert "one" in first.stdout
        requests = one.requests_to("/v1/chat/completions")
        assert requests, one.requests
        assert {r.api_key for r in requests} == {KEY_ONE}
        assert {r.body["model"] for r in requests} == {"model-one"}
        assert KEY_ONE not in config.read_text() and "// mine" in config.read_text()
        assert key_file().read_text().strip() == KEY_ONE

        monkeypatch.setenv("LAB_TWO_KEY", KEY_TWO)
        switch("lab-two", "--tool", "opencode")
        second = run_opencode(isolated_home, "say hi", extra_env={"LAB_TWO_KEY": KEY_TWO})
        assert second.returncode == 0, second.stderr
        requests = two.requests_to("/v1/chat/completions")
        assert requests, two.requests
        assert {r.api_key for r in requests} == {KEY_TWO}
        assert {r.body["model"] for r in requests} == {"model-two"}
        assert KEY_TWO not in config.read_text()


def test_run_starts_one_session_on_the_profile_and_writes_no_file(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockLLM(reply="run") as mock:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:LAB_KEY"],
                    "openai": {"base_url": f"{mock.base_url}/v1", "model": "model-run", "wire_api": "chat"},
                }
            },
        )
        monkeypatch.setenv("LAB_KEY", KEY_ONE)
        launch = plan("lab", load_settings(), tool="opencode", args=["run", "say hi"])
        env = base_env(isolated_home, {**OFFLINE, **launch.env})
        opencode = find_opencode()
        assert opencode is not None and Path(launch.argv[0]).name == "opencode"  # (bare or resolved on PATH)
        proc = run_tool([str(opencode), *launch.argv[1:]], env, isolated_home / "work", 120)
        assert proc.returncode == 0, proc.stderr
        requests = mock.requests_to("/v1/chat/completions")
        assert requests, mock.requests
        assert {r.api_key for r in requests} == {KEY_ONE}
        assert {r.body["model"] for r in requests} == {"model-run"}
        assert not _config(isolated_home).exists()
