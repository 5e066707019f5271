"""A provider switch and then a stock one give each file back as it was: Claude Code rewriting its
settings.json in its own key order does not turn a switch's settings into the user's own, Qwen Code
and Gemini CLI get no login type their file never had, comments stay where they were; and Qwen
Code's and Gemini CLI's settings are refused where the real CLIs refuse them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from _switch_helpers import write_file

from mahavishnu.config import load_settings
from mahavishnu.environments import own_settings
from mahavishnu.environments.switcher import assistant, current, switch_llm
from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files.safe_write import list_backups

CLAUDE_USER = {
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    "permissions": {"allow": ["Bash(npm run test:*)"]},
    "env": {"DISABLE_TELEMETRY": "1"},
    "includeCoAuthoredBy": False,
}


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-own0123456789abcdef")
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-own0123456789abcdef")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-profile-0123456789abcdef")


def _switch(name: str, tool: str, scope: str = "user") -> list[str]:
    return switch_llm(name, load_settings(), tool=tool, scope=scope).warnings  # type: ignore[arg-type]


def _rewrite_in_another_order(path: Path, *, inside: bool = True) -> None:
    """What Claude Code does to settings.json when it runs: the same values, top-level keys moved
    (``inside``: the keys inside ``env`` too, as a hand edit might)."""
    data = json.loads(path.read_text())
    data = dict(reversed(list(data.items())))
    if inside:
        data["env"] = dict(reversed(list(data["env"].items())))
    path.write_text(json.dumps(data, indent=2) + "\n")


# -- the fingerprint is of values, not layout ---------------------------------------------------


def test_a_reordered_file_is_still_the_switchs_and_stock_goes_to_the_login(isolated_home: Path) -> None:
    settings = write_file(isolated_home / ".claude" / "settings.json", json.dumps(CLAUDE_USER, indent=2))
    _switch("qwen", "claude")
    _rewrite_in_another_order(settings)
    assert not any("own provider settings" in w for w in _switch("zai", "claude"))
    warnings = _switch("claude", "claude")
    assert not any("own provider settings" in w or "did not write" in w for w in warnings)
    assert json.loads(settings.read_text()) == CLAUDE_USER
    assert current(load_settings(), "claude") == []


def test_stock_right_after_the_rewrite_says_nothing_of_settings_it_did_not_write(isolated_home: Path) -> None:
    settings = write_file(isolated_home / ".claude" / "settings.json", json.dumps(CLAUDE_USER, indent=2))
    _switch("qwen", "claude")
    _rewrite_in_another_order(settings)
    assert not any("did not write" in w for w in _switch("claude", "claude"))


def test_the_fingerprint_ignores_key_order_inside_objects_too(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    stock = '{"keep": 1}'
    one = '{"keep": 1, "p": {"a": 1, "b": {"x": 1, "y": 2}}, "q": 2}'
    other = '{"q": 2, "keep": 1, "p": {"b": {"y": 2, "x": 1}, "a": 1}}'
    assert own_settings.owned_digest(one, stock, path) == own_settings.owned_digest(other, stock, path)
    assert own_settings.owned_digest(one, stock, path) != own_settings.owned_digest(
        one.replace('"y": 2', '"y": 3'), stock, path
    )


def test_a_fingerprint_the_previous_version_recorded_is_recognised(isolated_home: Path) -> None:
    """Recorded before the fingerprints were canonical (the pairs in the file's order), then the file
    rewritten by Claude Code: still Mahavishnu's settings."""
    settings = write_file(isolated_home / ".claude" / "settings.json", json.dumps(CLAUDE_USER, indent=2))
    _switch("qwen", "claude")
    text = settings.read_text()
    stock = assistant("claude").plan_stock("user").edits[0].transform(text)
    old_digest = hashlib.sha256(
        json.dumps(own_settings._taken_out(text, stock, settings)).encode()
    ).hexdigest()
    record_file = own_settings.kept_file(settings)
    record = json.loads(record_file.read_text())
    record["written"] = [old_digest]
    record_file.write_text(json.dumps(record))
    _rewrite_in_another_order(settings, inside=False)
    assert not any("own provider settings" in w for w in _switch("zai", "claude"))
    assert not any("own provider settings" in w for w in _switch("claude", "claude"))
    assert json.loads(settings.read_text()) == CLAUDE_USER


# -- stock adds no login type the file never had ------------------------------------------------


def test_qwen_stock_adds_no_auth_type(isolated_home: Path) -> None:
    original = '{\n  "ui": {"theme": "GitHub"}\n}\n'
    settings = write_file(isolated_home / ".qwen" / "settings.json", original)
    _switch("zai", "qwen")
    _switch("stock", "qwen")
    assert settings.read_text() == original


def test_qwen_project_stock_leaves_no_auth_type_over_the_users_own(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_home / "proj").mkdir()
    monkeypatch.chdir(isolated_home / "proj")
    _switch("zai", "qwen", scope="project")
    _switch("stock", "qwen", scope="project")
    project = isolated_home / "proj" / ".qwen" / "settings.json"
    assert not project.exists()  # no auth type left over, nor the {} the switch's file came to


def test_gemini_stock_adds_no_auth_type(isolated_home: Path) -> None:
    original = '{\n  "ui": {"theme": "Dracula"}\n}\n'
    settings = write_file(isolated_home / ".gemini" / "settings.json", original)
    _switch("gemini", "gemini")
    _switch("gemini-cli", "gemini")
    assert settings.read_text() == original


GEMINI_OWN_LOGIN = (
    '{\n  "security": {"auth": {"selectedType": "gemini-api-key"}},\n'
    '  "model": {"name": "gemini-2.5-flash"},\n  "ui": {"theme": "GitHub"}\n}\n'
)


def test_gemini_stock_leaves_the_users_own_api_key_login(isolated_home: Path) -> None:
    """The user's own API-key auth type, model and key, on Google's endpoint, are Gemini CLI's own
    login: a stock switch left them only after a trip through a profile, and the next one (or one on
    files no switch wrote) deleted them, the model picked with them."""
    settings = write_file(isolated_home / ".gemini" / "settings.json", GEMINI_OWN_LOGIN)
    dotenv = write_file(isolated_home / ".gemini" / ".env", "GEMINI_API_KEY=AIzaMyOwnKey1234567890\n")
    for trip in range(3):
        if trip == 1:
            _switch("gemini", "gemini")
            assert "gemini-2.5-flash" not in settings.read_text()
        warnings = _switch("gemini-cli", "gemini")
        assert not any("did not write" in w and "removed" in w for w in warnings), warnings
        assert settings.read_text() == GEMINI_OWN_LOGIN
        assert dotenv.read_text() == "GEMINI_API_KEY=AIzaMyOwnKey1234567890\n"


def test_gemini_stock_removes_a_hand_written_provider_on_another_endpoint(isolated_home: Path) -> None:
    """A base URL of the user's own (another provider, a proxy) is a provider, not Gemini CLI's login:
    a stock switch removes it with the key and model, as for any assistant, and says so."""
    settings = write_file(isolated_home / ".gemini" / "settings.json", GEMINI_OWN_LOGIN)
    dotenv = write_file(
        isolated_home / ".gemini" / ".env",
        "GOOGLE_GEMINI_BASE_URL=https://proxy.example/v1\nGEMINI_API_KEY=AIzaMyOwnKey1234567890\n",
    )
    warnings = _switch("gemini-cli", "gemini")
    assert any("did not write" in w and "removed" in w for w in warnings), warnings
    assert not dotenv.exists() or "proxy.example" not in dotenv.read_text()  # (emptied: removed)
    assert "gemini-2.5-flash" not in settings.read_text()


def test_a_login_type_the_file_had_comes_back(isolated_home: Path) -> None:
    original = (
        '{\n  // mine\n  "security": {"auth": {"selectedType": "qwen-oauth"}},\n'
        '  "model": {"name": "coder-model"}\n}\n'
    )
    settings = write_file(isolated_home / ".qwen" / "settings.json", original)
    _switch("zai", "qwen")
    assert any("are back" in w for w in _switch("qwen-code", "qwen"))
    assert settings.read_text() == original


def test_qwen_settings_rewritten_since_get_the_users_keys_back_where_they_were(isolated_home: Path) -> None:
    """Qwen Code rewrites its settings when it runs (``"$version": 4`` added last): the login type
    and model stock put back went to the end of the file, over several lines."""
    original = (
        '{\n  // mine\n  "general": {"vimMode": true},\n'
        '  "security": {"auth": {"selectedType": "qwen-oauth"}},\n'
        '  "model": {"name": "coder-model"},\n  "ui": {"theme": "GitHub"}\n}\n'
    )
    settings = write_file(isolated_home / ".qwen" / "settings.json", original)
    _switch("zai", "qwen")
    settings.write_text(settings.read_text().removesuffix("\n}\n") + ',\n  "$version": 4\n}\n')
    assert any("are back" in w for w in _switch("qwen-code", "qwen"))
    assert settings.read_text() == original.removesuffix("\n}\n") + ',\n  "$version": 4\n}\n'


# -- comments stay ------------------------------------------------------------------------------

GEMINI_COMMENTED = """{
  "model": { // my preferred model
    "name": "gemini-2.5-pro"
  },
  "ui": {"theme": "Dracula"}
}
"""


def test_a_comment_in_an_object_the_switch_changed_survives_the_round_trip(isolated_home: Path) -> None:
    settings = write_file(isolated_home / ".gemini" / "settings.json", GEMINI_COMMENTED)
    _switch("gemini", "gemini")
    _switch("gemini-cli", "gemini")
    assert settings.read_text() == GEMINI_COMMENTED


def test_the_comment_stays_when_the_file_was_edited_meanwhile(isolated_home: Path) -> None:
    settings = write_file(isolated_home / ".gemini" / "settings.json", GEMINI_COMMENTED)
    _switch("gemini", "gemini")
    settings.write_text(settings.read_text().replace("Dracula", "GitHub"))
    assert any("are back" in w for w in _switch("gemini-cli", "gemini"))
    assert settings.read_text() == GEMINI_COMMENTED.replace("Dracula", "GitHub")


# -- what the real CLIs refuse (checked with Qwen Code and Gemini CLI themselves) ---------------


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ('{\n  "ui": {"theme": "GitHub",}\n}\n', "line 2, column 27", "trailing comma"),
        ('{\n  "a": [1, 2,\n  ]\n}\n', "line 2, column 13", "trailing comma"),
        ("{\n  'ui': {}\n}\n", "line 2, column 3", "single-quoted"),
        ("{\n  ui: {}\n}\n", "line 2, column 3", "unquoted key"),
        ('{\n  "n": 0x10\n}\n', "line 2, column 8", "number"),
        ('{\n  "n": NaN\n}\n', "line 2, column 8", "NaN"),
    ],
)
@pytest.mark.parametrize("tool", ["qwen", "gemini"])
def test_json5_the_cli_refuses_is_refused_with_its_line(
    isolated_home: Path, tool: str, text: str, where: str, what: str
) -> None:
    settings = write_file(isolated_home / f".{tool}" / "settings.json", text)
    with pytest.raises(InvalidConfigFileError, match=f"{where}: .*{what}") as info:
        _switch("zai" if tool == "qwen" else "gemini", tool)
    assert str(settings) in info.value.message
    assert settings.read_text() == text  # nothing written
    assert list_backups() == []
    with pytest.raises(InvalidConfigFileError, match=where):  # what `mahavishnu doctor` runs
        assistant(tool).validate_text(text)


def test_comments_pass_and_a_bom_as_each_cli_takes_it() -> None:
    commented = '// top\n{\n  "url": "http://a//b /* not a comment */", /* c */ "n": 1 // end\n}\n'
    for tool in ("qwen", "gemini"):
        assistant(tool).validate_text(commented)
    assistant("qwen").validate_text("\ufeff" + commented)  # Qwen Code strips a BOM
    with pytest.raises(InvalidConfigFileError, match="byte order mark"):
        assistant("gemini").validate_text("\ufeff" + commented)  # Gemini CLI's JSON.parse refuses it
