"""`mahavishnu ai switch-llm PROFILE --tool qwen` when the user's own Qwen Code settings already hold
a ``modelProviders`` entry of the profile's model id (their own provider of the same model), with the
real Qwen Code (0.24.4). It takes the first entry of the model's id at ``model.baseUrl`` (which its
``/model`` picker writes), preferring the selected auth type's wire API: a switch that appended its
entry and left ``model.baseUrl`` as it was sent the prompts to the user's URL with the user's key.
Now the profile's mock gets them with the profile's key, the user's entry is left as it was, and the
stock switch gives the user's file back byte for byte. A project's ``modelProviders.openai`` replaces
the user's list (Qwen Code merges arrays by replacing): the switch says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _profiles import switch, write_profiles
from mock_llm import MockLLM
from qwen_cli import find_qwen, run_qwen

from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import current

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_qwen() is None, reason="Qwen Code CLI not installed: run `bash .ci/install-e2e.sh`"
    ),
]

KEY = "sk-profile-lab-0123456789"
THEIRS = "sk-users-own-provider-987654"
PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}
KEYS = {"LAB_KEY": KEY, "THEIR_KEY": THEIRS}


def _users_file(url: str, wire_api: str | None, *, selected: bool) -> str:
    """The user's settings as Qwen Code's `/model` leaves them (model.name and model.baseUrl of their
    entry, auth type openai) when ``selected``, with comments and a key Mahavishnu does not know."""
    entry = {"id": "lab-model", "name": "mine", "baseUrl": url, "envKey": "THEIR_KEY"}
    entry |= {"wireApi": wire_api} if wire_api else {}
    model = {"name": "lab-model", "baseUrl": url}
    chosen = f'  "model": {json.dumps(model)},\n  "security": {{"auth": {{"selectedType": "openai"}}}},\n'
    return (
        "{\n"
        "  // my own gateway\n"
        '  "$version": 4,\n'
        '  "modelProviders": {\n'
        '    "openai": [\n'
        "      // the same model through my gateway: keep it\n"
        f"      {json.dumps(entry)}, // mine\n"
        '      {"id": "other-model", "envKey": "THEIR_KEY", "x-note": "unknown key"}\n'
        "    ]\n"
        "  },\n"
        f"{chosen if selected else ''}"
        '  "general": {"vimMode": true} /* the rest */\n'
        "}\n"
    )


def _lab(home: Path, url: str, wire: str) -> None:
    write_profiles(
        home,
        {
            "lab": {
                "secret": ["env:LAB_KEY"],
                "openai": {"base_url": url, "model": "lab-model", "wire_api": wire},
            }
        },
    )


@pytest.mark.parametrize("theirs", [None, "chat-completions", "responses"])
@pytest.mark.parametrize("wire", ["chat", "responses"])
def test_the_switch_wins_over_the_users_entry_of_the_same_model(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, wire: str, theirs: str | None
) -> None:
    monkeypatch.setenv("LAB_KEY", KEY)
    with MockLLM(reply="pong") as mock, MockLLM(reply="theirs") as other:
        _lab(isolated_home, f"{mock.base_url}/v1", wire)
        settings = isolated_home / ".qwen" / "settings.json"
        settings.parent.mkdir()
        settings.write_text(_users_file(f"{other.base_url}/v1", theirs, selected=True))
        before = settings.read_bytes()

        switch("lab", "--tool", "qwen")
        assert (
            f'{{"id": "lab-model", "name": "mine", "baseUrl": "{other.base_url}/v1"' in settings.read_text()
        )
        proc = run_qwen(isolated_home, "hi", extra_env=KEYS)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "pong"
        assert other.requests == []
        posts = [r for r in mock.requests if r.method == "POST"]
        assert posts and {r.path for r in posts} == {PATHS[wire]}
        assert {r.api_key for r in mock.requests} == {KEY}
        assert {r.body["model"] for r in posts} == {"lab-model"}
        [entry] = current(load_settings(), "qwen")
        assert (entry.profile, entry.base_url) == ("lab", f"{mock.base_url}/v1")

        switch("qwen-code", "--tool", "qwen")
        assert settings.read_bytes() == before


@pytest.mark.parametrize("wire", ["chat", "responses"])
def test_an_entry_of_the_users_at_the_same_url_gives_way_too(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, wire: str
) -> None:
    """Same model and base URL, another key: the order of the entries tells them apart, and for a
    Responses profile the auth type (under ``openai`` Qwen Code took the user's chat entry)."""
    monkeypatch.setenv("LAB_KEY", KEY)
    with MockLLM(reply="pong") as mock:
        url = f"{mock.base_url}/v1"
        _lab(isolated_home, url, wire)
        settings = isolated_home / ".qwen" / "settings.json"
        settings.parent.mkdir()
        settings.write_text(_users_file(url, None, selected=False))
        before = settings.read_bytes()

        switch("lab", "--tool", "qwen")
        proc = run_qwen(isolated_home, "hi", extra_env=KEYS)
        assert proc.returncode == 0, proc.stderr
        assert {r.api_key for r in mock.requests} == {KEY}
        posts = {r.path for r in mock.requests if r.method == "POST"}
        assert posts == {"/v1/responses" if wire == "responses" else "/v1/chat/completions"}

        switch("qwen-code", "--tool", "qwen")
        assert settings.read_bytes() == before


def test_a_project_list_of_providers_outranks_a_user_switch_and_the_switch_says_so(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_KEY", KEY)
    with MockLLM(reply="pong") as mock, MockLLM(reply="theirs") as other:
        _lab(isolated_home, f"{mock.base_url}/v1", "chat")
        work = isolated_home / "work"
        project = work / ".qwen" / "settings.json"
        project.parent.mkdir(parents=True)
        theirs = {"id": "lab-model", "baseUrl": f"{other.base_url}/v1", "envKey": "THEIR_KEY"}
        project.write_text(json.dumps({"modelProviders": {"openai": [theirs]}}))
        monkeypatch.chdir(work)

        out = switch("lab", "--tool", "qwen")
        assert f"reads {project} over" in out and "--scope project` switches that file too" in out
        assert out.count(str(project)) == 1  # one line, not the outranking note as well
        proc = run_qwen(isolated_home, "hi", extra_env=KEYS, cwd=work)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "theirs" and mock.requests == []
        top, _user = current(load_settings(), "qwen")
        assert (top.scope, top.profile, top.base_url) == ("project", None, f"{other.base_url}/v1")

        switch("lab", "--tool", "qwen", "--scope", "project")
        other.clear()
        proc = run_qwen(isolated_home, "hi", extra_env=KEYS, cwd=work)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "pong" and other.requests == []
        assert {r.api_key for r in mock.requests} == {KEY}
