"""`mahavishnu ai switch-llm --tool qwen` drives the real Qwen Code CLI: Chat Completions (or Responses)
requests reach the profile's URL with its key and model; after a switch, the next request carries the
new key and never the old one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _profiles import store_key, switch, write_profiles
from mock_llm import MockLLM
from qwen_cli import find_qwen, run_qwen

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_qwen() is None, reason="Qwen Code CLI not installed: run `bash .ci/install-e2e.sh`"
    ),
]

KEY_ONE = "sk-qwen-one-0123456789"
KEY_TWO = "sk-qwen-two-9876543210"


def _everything(request: object) -> str:
    return json.dumps(request.headers) + json.dumps(request.body)  # type: ignore[attr-defined]


def test_inline_keys_chat_then_responses(isolated_home: Path) -> None:
    with MockLLM(reply="one") as one, MockLLM(reply="two") as two:
        write_profiles(
            isolated_home,
            {
                "lab-one": {
                    "openai": {"base_url": f"{one.base_url}/v1", "model": "model-one", "wire_api": "chat"}
                },
                "lab-two": {
                    "openai": {
                        "base_url": f"{two.base_url}/v1",
                        "model": "model-two",
                        "wire_api": "responses",
                    }
                },
            },
        )
        store_key("lab-one", KEY_ONE)  # in the keyring: Qwen Code can only get it from its .env
        store_key("lab-two", KEY_TWO)

        switch("lab-one", "--tool", "qwen", "--inline-secret")
        first = run_qwen(isolated_home, "hi")
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == "one"
        requests = one.requests_to("/v1/chat/completions")
        assert requests, one.requests
        assert {r.headers["authorization"] for r in requests} == {f"Bearer {KEY_ONE}"}
        assert {r.body["model"] for r in requests} == {"model-one"}
        assert two.requests == []

        switch("lab-two", "--tool", "qwen", "--inline-secret")
        second = run_qwen(isolated_home, "hi again")
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == "two"
        requests = two.requests_to("/v1/responses")
        assert requests, two.requests
        assert {r.api_key for r in requests} == {KEY_TWO}
        assert {r.body["model"] for r in requests} == {"model-two"}
        assert all(KEY_ONE not in _everything(r) for r in two.requests)
        assert KEY_ONE not in (isolated_home / ".qwen" / ".env").read_text()
        assert KEY_TWO not in (isolated_home / ".qwen" / "settings.json").read_text()


def test_env_key_by_reference(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with MockLLM(reply="ref") as mock:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:LAB_KEY"],
                    "openai": {"base_url": f"{mock.base_url}/v1", "model": "model-ref", "wire_api": "chat"},
                }
            },
        )
        monkeypatch.setenv("LAB_KEY", KEY_ONE)
        settings = isolated_home / ".qwen" / "settings.json"
        settings.parent.mkdir()
        settings.write_text('{\n  // mine\n  "general": {"vimMode": true}\n}\n')
        switch("lab", "--tool", "qwen")
        proc = run_qwen(isolated_home, "hi", extra_env={"LAB_KEY": KEY_ONE})
        assert proc.returncode == 0, proc.stderr
        assert {r.api_key for r in mock.requests_to("/v1/chat/completions")} == {KEY_ONE}
        assert "// mine" in settings.read_text()


def test_project_scope_from_a_subfolder_is_read_by_qwen_started_there(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockLLM(reply="project") as mock:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:LAB_KEY"],
                    "openai": {"base_url": f"{mock.base_url}/v1", "model": "model-sub", "wire_api": "chat"},
                }
            },
        )
        monkeypatch.setenv("LAB_KEY", KEY_ONE)
        repo = isolated_home / "repo"
        (repo / ".git").mkdir(parents=True)
        (repo / "pkg").mkdir()
        monkeypatch.chdir(repo / "pkg")
        out = switch("lab", "--tool", "qwen", "--scope", "project")
        written = repo / "pkg" / ".qwen" / "settings.json"
        assert f"{written}: now uses lab" in out and "only when started in" in out
        assert not (repo / ".qwen").exists()  # the git root's file would not be read from pkg/

        proc = run_qwen(isolated_home, "hi", extra_env={"LAB_KEY": KEY_ONE}, cwd=repo / "pkg")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "project"
        requests = mock.requests_to("/v1/chat/completions")
        assert {r.api_key for r in requests} == {KEY_ONE}
        assert {r.body["model"] for r in requests} == {"model-sub"}
