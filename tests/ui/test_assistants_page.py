"""The Assistants and Health pages over HTTP (no browser) list every registered assistant: Pi and
OpenCode like the first four, with their config files, the profile a switch wrote, and their health."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from mahavishnu.config import load_settings
from mahavishnu.environments.assistants.opencode import config_path as opencode_config
from mahavishnu.environments.assistants.pi import models_file, settings_file
from mahavishnu.environments.assistants.registry import REGISTRY
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.ui.app import create_app
from mahavishnu.ui.memories import Library

TOKEN = "t0ken-for-tests"
KEY = "sk-dashboard-0123456789"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    for tool in ("pi", "opencode"):
        switch_llm("deepseek", load_settings(), tool=tool, scope="user")
    with TestClient(create_app(Library(MemoryStore.open), TOKEN), base_url="http://127.0.0.1:8690") as c:
        assert c.get(f"/login?token={TOKEN}", follow_redirects=False).status_code == 303
        yield c


def _rows(page: str, attribute: str, value: str) -> list[str]:
    return re.findall(rf'<tr {attribute}="{re.escape(value)}"[^>]*>(.*?)</tr>', page, re.S)


def test_the_assistants_page_shows_each_registered_assistant_with_its_file_and_profile(
    client: TestClient,
) -> None:
    page = client.get("/assistants").text
    for info in REGISTRY:
        rows = _rows(page, "data-tool", info.name)
        assert rows and all(info.label in row for row in rows), info.name
        assert f'<option value="{info.name}">' in page  # the switch form offers it
    for tool, path in (("pi", settings_file()), ("opencode", opencode_config("user"))):
        current = _rows(page, "data-tool", tool)[0]
        assert str(path) in current and '<td class="profile">deepseek</td>' in current, tool
    # doctor's findings: both files parse (Pi's settings.json strictly, OpenCode's as JSONC)
    for check in ("config:pi:user", "config:opencode:user"):
        assert _rows(page, "data-check", check), check
        assert re.search(rf'data-check="{check}" data-status="ok"', page), check
    assert models_file().is_file() and KEY not in page


def test_the_health_page_has_a_component_per_registered_assistant(client: TestClient) -> None:
    page = client.get("/health?probe=0").text
    for info in REGISTRY:
        assert _rows(page, "data-component", f"assistant:{info.name}"), info.name
    for tool in ("pi", "opencode"):
        row = _rows(page, "data-component", f"assistant:{tool}")[0]
        assert "uses deepseek (not probed)" in row, row


def test_a_switch_without_its_key_is_previewed_but_offers_no_apply(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preview warned "no API key" and still offered Apply, whose switch was then refused
    (an error page leading to Memory)."""
    monkeypatch.delenv("QWEN_API_KEY", raising=False)
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    page = client.get("/assistants/switch?profile=qwen&tool=codex&scope=user").text
    assert 'id="blocked"' in page and "mahavishnu secrets set qwen" in page
    assert 'id="apply"' not in page

    page = client.get("/assistants/switch?profile=deepseek&tool=codex&scope=user").text  # (its key is set)
    assert 'id="apply"' in page and 'id="blocked"' not in page


def test_a_file_the_assistant_does_not_read_here_is_marked_so(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gemini CLI (its folder trust on by default) in a folder it does not trust reads no .env of a
    switch: the row says so and why, and is not the one that wins here."""
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    switch_llm("gemini", load_settings(), tool="gemini", scope="user")
    page = client.get("/assistants").text
    rows = re.findall(r'<tr data-tool="gemini" data-scope="[^"]*"[^>]*>(.*?)</tr>', page, re.S)
    assert rows and all("not read here" in row and "does not trust" in row for row in rows), rows
    assert not any("wins here" in row for row in rows), rows
