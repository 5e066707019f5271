"""`mahavishnu ai switch-llm --tool pi` drives the real Pi CLI: after the switch a plain `pi -p`
(no flags) sends the profile's model to its URL with its key, which Pi gets by reference only."""

from __future__ import annotations

from pathlib import Path

import pytest
from _profiles import mahavishnu_env, store_key, switch, write_profiles
from mock_llm import MockLLM
from pi_cli import find_pi, run_pi

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_pi() is None, reason="Pi CLI not installed: run `bash .ci/install-e2e.sh`"),
]

KEY_ONE = "sk-pi-one-0123456789"
KEY_TWO = "sk-pi-two-9876543210"


def test_keyring_key_by_command_then_env_key(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
        agent = isolated_home / ".pi" / "agent"
        agent.mkdir(parents=True)
        (agent / "settings.json").write_text('{\n  "theme": "dark"\n}\n')
        store_key("lab-one", KEY_ONE)  # in the keyring: Pi runs `mahavishnu secrets get lab-one`

        switch("lab-one", "--tool", "pi")
        first = run_pi(isolated_home, "say hi", extra_env=mahavishnu_env())
        assert first.returncode == 0, first.stderr
        assert "one" in first.stdout
        requests = one.requests_to("/v1/chat/completions")
        assert requests, one.requests
        assert {r.api_key for r in requests} == {KEY_ONE}
        assert {r.body["model"] for r in requests} == {"model-one"}
        for name in ("settings.json", "models.json"):
            assert KEY_ONE not in (agent / name).read_text()
        assert '"theme": "dark"' in (agent / "settings.json").read_text()

        monkeypatch.setenv("LAB_TWO_KEY", KEY_TWO)
        switch("lab-two", "--tool", "pi")
        second = run_pi(isolated_home, "say hi", extra_env={"LAB_TWO_KEY": KEY_TWO})
        assert second.returncode == 0, second.stderr
        requests = two.requests_to("/v1/chat/completions")
        assert requests, two.requests
        assert {r.api_key for r in requests} == {KEY_TWO}
        assert {r.body["model"] for r in requests} == {"model-two"}
        assert KEY_TWO not in (agent / "models.json").read_text()
