"""`mahavishnu ai switch-llm --tool gemini` drives the real Gemini CLI: streamGenerateContent reaches the
profile's URL (GOOGLE_GEMINI_BASE_URL in ~/.gemini/.env) with its key and model, in a trusted folder;
in an untrusted one Gemini CLI ignores the file, as the switch's warning says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _profiles import store_key, switch, write_profiles
from gemini_cli import find_gemini, run_gemini, trust
from mock_llm import MockLLM

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_gemini() is None, reason="Gemini CLI not installed: run `bash .ci/install-e2e.sh`"
    ),
]

KEY_ONE = "sk-gemini-one-0123456789"
KEY_TWO = "sk-gemini-two-9876543210"
STREAM = "/v1beta/models/{}:streamGenerateContent"


def _profiles(home: Path, one: MockLLM, two: MockLLM) -> None:
    write_profiles(
        home,
        {
            "lab-one": {"gemini": {"base_url": one.base_url, "model": "model-one"}},
            "lab-two": {"gemini": {"base_url": two.base_url, "model": "model-two"}},
        },
    )
    store_key("lab-one", KEY_ONE)
    store_key("lab-two", KEY_TWO)


def test_switch_then_switch_again_in_a_trusted_folder(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = isolated_home / "work"
    work.mkdir()
    trust(isolated_home, work)
    monkeypatch.chdir(work)
    with MockLLM(reply="one") as one, MockLLM(reply="two") as two:
        _profiles(isolated_home, one, two)
        output = switch("lab-one", "--tool", "gemini", "--inline-secret")
        assert "trusted folder" not in output  # the working folder is trusted

        first = run_gemini(isolated_home, "hi", cwd=work)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == "one"
        [request] = one.requests_to(STREAM.format("model-one"))
        assert request.query["alt"] == ["sse"]
        assert request.headers["x-goog-api-key"] == KEY_ONE
        assert two.requests == []

        switch("lab-two", "--tool", "gemini", "--inline-secret")
        second = run_gemini(isolated_home, "hi again", cwd=work)
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == "two"
        [request] = two.requests_to(STREAM.format("model-two"))
        assert request.api_key == KEY_TWO
        assert KEY_ONE not in json.dumps(request.headers) + json.dumps(request.body)
        assert len(one.requests) == 1


def test_the_key_by_reference_from_gemini_api_key(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = isolated_home / "work"
    work.mkdir()
    trust(isolated_home, work)
    with MockLLM(reply="ref") as mock:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:GEMINI_API_KEY"],
                    "gemini": {"base_url": mock.base_url, "model": "m-ref"},
                }
            },
        )
        monkeypatch.setenv("GEMINI_API_KEY", KEY_ONE)
        switch("lab", "--tool", "gemini")
        assert KEY_ONE not in (isolated_home / ".gemini" / ".env").read_text()
        proc = run_gemini(isolated_home, "hi", cwd=work, extra_env={"GEMINI_API_KEY": KEY_ONE})
        assert proc.returncode == 0, proc.stderr
        [request] = mock.requests_to(STREAM.format("m-ref"))
        assert request.api_key == KEY_ONE


def test_an_untrusted_folder_ignores_the_env_file_as_warned(isolated_home: Path) -> None:
    with MockLLM(reply="one") as one, MockLLM(reply="two") as two:
        _profiles(isolated_home, one, two)
        output = switch("lab-one", "--tool", "gemini", "--inline-secret")
        assert "trusted folder" in output and "trustedFolders.json" in output
        proc = run_gemini(isolated_home, "hi", cwd=isolated_home / "elsewhere")
        assert proc.returncode != 0
        assert "GEMINI_API_KEY" in proc.stderr  # it never saw the key in ~/.gemini/.env
        assert one.requests == []

        proc = run_gemini(
            isolated_home,
            "hi",
            cwd=isolated_home / "elsewhere",
            extra_env={"GEMINI_CLI_TRUST_WORKSPACE": "true"},
        )
        assert proc.returncode == 0, proc.stderr
        assert one.requests_to(STREAM.format("model-one"))
