"""`mahavishnu ai switch-llm --tool codex` drives the real Codex CLI: its Responses request reaches the
profile's URL with the profile's key and model; after a switch, the next one carries the new key and
never the old one. Keys come by reference (an auth command or env_key) or from ~/.codex/.env."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _profiles import mahavishnu_env, store_key, switch, write_profiles
from codex_cli import find_codex, run_codex
from mock_llm import MockLLM

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_codex() is None, reason="Codex CLI not installed: run `bash .ci/install-e2e.sh`"),
]

KEY_ONE = "sk-codex-one-0123456789"
KEY_TWO = "sk-codex-two-9876543210"


def _profiles(
    home: Path, one: MockLLM, two: MockLLM, secrets: tuple[list[str], list[str]] = ([], [])
) -> None:
    write_profiles(
        home,
        {
            "lab-one": {
                "secret": secrets[0],
                "openai": {"base_url": f"{one.base_url}/v1", "model": "model-one", "wire_api": "responses"},
            },
            "lab-two": {
                "secret": secrets[1],
                "openai": {"base_url": f"{two.base_url}/v1", "model": "model-two", "wire_api": "responses"},
            },
        },
    )


def _everything(request: object) -> str:
    return json.dumps(request.headers) + json.dumps(request.body)  # type: ignore[attr-defined]


def test_keyring_keys_reach_codex_through_the_auth_command_then_switch(isolated_home: Path) -> None:
    with MockLLM(reply="one") as one, MockLLM(reply="two") as two:
        _profiles(isolated_home, one, two)
        store_key("lab-one", KEY_ONE)
        store_key("lab-two", KEY_TWO)

        switch("lab-one", "--tool", "codex")
        first = run_codex(isolated_home, "hi", extra_env=mahavishnu_env())
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == "one"
        [request] = one.requests_to("/v1/responses")
        assert request.headers["authorization"] == f"Bearer {KEY_ONE}"
        assert request.body["model"] == "model-one"
        assert request.body["stream"] is True
        assert two.requests == []

        switch("lab-two", "--tool", "codex")
        second = run_codex(isolated_home, "hi again", extra_env=mahavishnu_env())
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == "two"
        [request] = two.requests_to("/v1/responses")
        assert request.api_key == KEY_TWO
        assert request.body["model"] == "model-two"
        assert all(KEY_ONE not in _everything(r) for r in two.requests)
        assert len(one.requests_to("/v1/responses")) == 1
        config = (isolated_home / ".codex" / "config.toml").read_text()
        assert KEY_ONE not in config and KEY_TWO not in config


def test_env_key_by_reference_and_an_inline_key_in_codex_env_file(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockLLM(reply="one") as one, MockLLM(reply="two") as two:
        _profiles(isolated_home, one, two, (["env:LAB_ONE_KEY"], ["env:LAB_TWO_KEY"]))
        monkeypatch.setenv("LAB_ONE_KEY", KEY_ONE)
        switch("lab-one", "--tool", "codex")
        # Codex reads the variable from its own environment: the key is in no file
        first = run_codex(isolated_home, "hi", extra_env={"LAB_ONE_KEY": KEY_ONE})
        assert first.returncode == 0, first.stderr
        [request] = one.requests_to("/v1/responses")
        assert request.api_key == KEY_ONE
        assert not (isolated_home / ".codex" / ".env").exists()

        monkeypatch.setenv("LAB_TWO_KEY", KEY_TWO)
        switch("lab-two", "--tool", "codex", "--inline-secret")
        # nothing in its environment: the key comes from ~/.codex/.env
        second = run_codex(isolated_home, "hi again")
        assert second.returncode == 0, second.stderr
        [request] = two.requests_to("/v1/responses")
        assert request.api_key == KEY_TWO and request.body["model"] == "model-two"
        assert KEY_ONE not in _everything(request)
        assert len(one.requests_to("/v1/responses")) == 1


def test_a_codex_profile_file_is_used_with_codex_profile_and_only_then(isolated_home: Path) -> None:
    with MockLLM(reply="one") as one, MockLLM(reply="two") as two:
        _profiles(isolated_home, one, two)
        store_key("lab-one", KEY_ONE)
        store_key("lab-two", KEY_TWO)
        switch("lab-one", "--tool", "codex")
        out = switch("lab-two", "--tool", "codex", "--codex-profile", "lab")
        profile_file = isolated_home / ".codex" / "lab.config.toml"
        assert f"{profile_file}: now uses lab-two" in out and "codex --profile lab" in out

        chosen = run_codex(isolated_home, "hi", extra_env=mahavishnu_env(), options=("--profile", "lab"))
        assert chosen.returncode == 0, chosen.stderr
        assert chosen.stdout.strip() == "two"
        [request] = two.requests_to("/v1/responses")
        assert request.api_key == KEY_TWO and request.body["model"] == "model-two"
        assert one.requests_to("/v1/responses") == []

        default = run_codex(isolated_home, "hi", extra_env=mahavishnu_env())  # config.toml: still lab-one
        assert default.returncode == 0, default.stderr
        [request] = one.requests_to("/v1/responses")
        assert request.api_key == KEY_ONE and request.body["model"] == "model-one"
        text = profile_file.read_text()
        assert KEY_TWO not in text and "[profiles" not in text and "\nprofile =" not in text
