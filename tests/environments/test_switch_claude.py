from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema
import pytest
from _switch_helpers import write_config

from mahavishnu.config import load_settings
from mahavishnu.doctor import SHIPPED_SCHEMAS as SCHEMAS
from mahavishnu.environments.assistants.claude import OWNED_ENV
from mahavishnu.environments.profiles import all_profiles
from mahavishnu.environments.switcher import current, switch_llm
from mahavishnu.errors import (
    InvalidConfigFileError,
    InvalidInputError,
    ProtocolMismatchError,
    SecretNotFoundError,
    UnknownProfileError,
)
from mahavishnu.files.json_document import JsonDocument

USER_FILE = """{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "model": "opus",
  "env": {
    "FOO": "bar",
    "ANTHROPIC_AUTH_TOKEN": "sk-old-token-abcdefghijk"
  },
  "permissions": {
    "allow": ["Bash(npm run test:*)", "Read(~/.zshrc)"],
    "deny": ["Read(./.env)"]
  },
  "hooks": {
    "PostToolUse": [
      {"matcher": "Write|Edit", "hooks": [{"type": "command", "command": "ruff format", "timeout": 30}]}
    ]
  },
  "enabledPlugins": {"formatter@acme": true},
  "statusLine": {"type": "command", "command": "~/.claude/statusline.sh"},
  "someFutureKey": {"nested": [1, 2, {"x": null}]}
}
"""

SCHEMA = json.loads((SCHEMAS / "claude-code-settings.json").read_text())
ANTHROPIC_PROFILES = sorted(n for n, p in all_profiles(load_settings()).items() if "anthropic" in p.protocols)


@pytest.fixture
def settings_file(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_config(isolated_home / ".claude" / "settings.json", USER_FILE, monkeypatch)


def _without_owned(text: str) -> str:
    doc = JsonDocument.parse(text, comments=False)
    for key in OWNED_ENV:
        doc.delete(["env", key])
    doc.delete(["apiKeyHelper"])
    return doc.dumps()


def test_every_profile_round_trips_and_keeps_everything_else_byte_identical(settings_file):
    baseline = _without_owned(USER_FILE)
    for name in [*ANTHROPIC_PROFILES, *reversed(ANTHROPIC_PROFILES)]:
        switch_llm(name, load_settings())
        text = settings_file.read_text()
        data = json.loads(text)
        jsonschema.validate(data, SCHEMA)
        endpoint = all_profiles(load_settings())[name].settings.anthropic
        assert data["env"]["ANTHROPIC_BASE_URL"] == endpoint.base_url
        assert data["env"]["ANTHROPIC_MODEL"] == endpoint.model
        assert _without_owned(text) == baseline, name


def test_switching_twice_gives_the_same_bytes(settings_file):
    switch_llm("qwen", load_settings())
    first = settings_file.read_text()
    switch_llm("zai", load_settings())
    switch_llm("qwen", load_settings())
    assert settings_file.read_text() == first


def test_no_key_leaks_from_one_provider_to_the_next(settings_file):
    switch_llm("zai", load_settings(), inline_secret=True)
    env = json.loads(settings_file.read_text())["env"]
    assert env["API_TIMEOUT_MS"] == "3000000" and env["ANTHROPIC_AUTH_TOKEN"] == "sk-zai-secret-0123456789"
    switch_llm("qwen", load_settings())
    data = json.loads(settings_file.read_text())
    assert "API_TIMEOUT_MS" not in data["env"]
    assert data["env"]["ANTHROPIC_AUTH_TOKEN"] == ""  # a token would override the helper: "" blanks any
    assert "zai" not in settings_file.read_text()
    assert data["apiKeyHelper"].endswith("secrets get qwen")


def test_helper_reference_never_writes_the_key(settings_file):
    switch_llm("deepseek", load_settings())
    assert "sk-deepseek-secret" not in settings_file.read_text()


def test_inline_secret_makes_the_file_private_and_warns(settings_file):
    result = switch_llm("kimi", load_settings(), inline_secret=True)
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    assert "apiKeyHelper" not in json.loads(settings_file.read_text())
    assert any("mode 600" in w for w in result.warnings)


def test_dry_run_shows_a_masked_diff_and_writes_nothing(settings_file):
    result = switch_llm("zai", load_settings(), dry_run=True, inline_secret=True)
    assert settings_file.read_text() == USER_FILE
    diff = result.files[0].diff
    assert '+    "ANTHROPIC_BASE_URL": "https://api.z.ai/api/anthropic"' in diff
    assert "sk-zai-secret-0123456789" not in diff
    assert "sk-old-token-abcdefghijk" not in diff  # the old token is masked too? it is the user's
    assert safe_backups_count() == 0


def safe_backups_count() -> int:
    from mahavishnu.files.safe_write import list_backups

    return len(list_backups())


def test_scopes_write_their_own_files(settings_file, isolated_home, monkeypatch):
    repo = isolated_home / "repo"
    (repo / ".git").mkdir(parents=True)
    monkeypatch.chdir(repo)
    switch_llm("qwen", load_settings(), scope="project")
    switch_llm("zai", load_settings(), scope="local")
    assert json.loads((repo / ".claude/settings.json").read_text())["env"]["ANTHROPIC_MODEL"] == "qwen3.7-max"
    local = json.loads((repo / ".claude/settings.local.json").read_text())
    assert local["env"]["ANTHROPIC_BASE_URL"] == "https://api.z.ai/api/anthropic"
    assert settings_file.read_text() == USER_FILE
    assert [(c.scope, c.profile) for c in current(load_settings())][:2] == [
        ("local", "zai"),
        ("project", "qwen"),
    ]


def test_an_inline_key_never_goes_where_git_commits_it(settings_file, isolated_home, monkeypatch):
    """A real repository: the project file (committed, shared) is refused; the local file gets
    into .git/info/exclude, so `git add -A` leaves it out."""
    repo = isolated_home / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.chdir(repo)

    with pytest.raises(InvalidInputError, match="shared with the project's team") as refused:
        switch_llm("zai", load_settings(), scope="project", inline_secret=True)
    assert "--scope local" in refused.value.hint and not (repo / ".claude").exists()

    result = switch_llm("zai", load_settings(), scope="local", inline_secret=True)
    assert any("added to .git/info/exclude" in w for w in result.warnings)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    staged = subprocess.run(
        ["git", "-C", str(repo), "diff", "--cached", "--name-only"], capture_output=True, text=True
    )
    assert (
        staged.stdout == "" and "ANTHROPIC_AUTH_TOKEN" in (repo / ".claude/settings.local.json").read_text()
    )
    again = switch_llm("kimi", load_settings(), scope="local", inline_secret=True)
    assert not any("exclude" in w for w in again.warnings)  # already ignored: added once
    assert (repo / ".git/info/exclude").read_text().count("settings.local.json") == 1


def test_claude_config_dir_is_honoured(isolated_home, monkeypatch, settings_file):
    custom = isolated_home / "custom-claude"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(custom))
    switch_llm("qwen", load_settings())
    assert (custom / "settings.json").exists()
    assert settings_file.read_text() == USER_FILE


def test_bad_inputs_leave_the_file_unchanged(settings_file, monkeypatch):
    with pytest.raises(UnknownProfileError):
        switch_llm("nope", load_settings())
    with pytest.raises(ProtocolMismatchError):
        switch_llm("codex", load_settings())
    monkeypatch.delenv("DEEPSEEK_API_KEY")
    with pytest.raises(SecretNotFoundError):
        switch_llm("deepseek", load_settings())
    assert settings_file.read_text() == USER_FILE


def test_invalid_json_is_refused_with_its_line(settings_file):
    broken = USER_FILE.replace('"model": "opus",', '"model": "opus"')
    settings_file.write_text(broken)
    with pytest.raises(InvalidConfigFileError, match="line 4"):
        switch_llm("qwen", load_settings())
    assert settings_file.read_text() == broken


def test_fifty_concurrent_writers_keep_the_file_valid_and_lose_no_update(settings_file):
    """25 switches and 25 writers of a key of their own (a permission rule each), all at once: every
    read parses, and every writer's own rule is in the final file (a lost update would show)."""
    profiles = ["qwen", "zai", "deepseek", "kimi", "anthropic"]
    stop = threading.Event()
    bad_reads: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            text = settings_file.read_text()
            try:
                json.loads(text)
            except ValueError:
                bad_reads.append(text)

    watcher = threading.Thread(target=reader)
    watcher.start()
    env = dict(os.environ)
    commands = [
        ["ai", "switch-llm", profiles[i % len(profiles)]]
        if i % 2
        else ["claude", "permissions", "allow", "add", f"Bash(writer-{i}:*)"]
        for i in range(50)
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mahavishnu", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for command in commands
    ]
    errors = [p.stderr.read().decode() for p in procs if p.wait(timeout=240) != 0]  # type: ignore[union-attr]
    stop.set()
    watcher.join()
    assert errors == []
    assert bad_reads == []
    data = json.loads(settings_file.read_text())
    assert data["apiKeyHelper"].rsplit(" ", 1)[-1] in profiles
    allowed = data["permissions"]["allow"]
    assert sorted(r for r in allowed if r.startswith("Bash(writer-")) == sorted(
        f"Bash(writer-{i}:*)" for i in range(0, 50, 2)
    )
    rest = json.loads(_without_owned(settings_file.read_text()))
    rest["permissions"]["allow"] = [r for r in allowed if not r.startswith("Bash(writer-")]
    assert rest == json.loads(_without_owned(USER_FILE))


def test_a_key_written_into_the_base_url_is_shown_and_recorded_masked(isolated_home: Path) -> None:
    """``ai current``, ``health`` (whose report goes to the store's metrics), the dashboard and MCP
    all read ``CurrentProvider``: a key in the URL's password or query reaches none of them."""
    from mahavishnu.health import _assistants

    key = "sk-ant-api03-" + "A" * 93 + "-AAAAAAAA"
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    url = f"https://user:{key}@proxy.example/v1?api_key={key}"
    path.write_text(json.dumps({"env": {"ANTHROPIC_BASE_URL": url}}))

    (entry,) = [c for c in current(load_settings()) if c.tool == "claude" and c.scope == "user"]
    assert key not in (entry.base_url or "") and "[REDACTED:" in (entry.base_url or "")
    assert entry.base_url and entry.base_url.startswith("https://user:")
    report = _assistants(load_settings(), probe_providers=False)
    assert "proxy.example" in repr(report) and key not in repr(report)


def test_a_switch_runs_each_transform_once_per_text(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A switch asks an edit's transform about the file's text several times (the plan, the user's
    own settings, the write): on a settings file of tens of MB each run parses the whole file."""
    from mahavishnu.environments.assistants import claude
    from mahavishnu.environments.assistants.base import FileEdit

    calls: list[str | None] = []
    edit = FileEdit(Path("x"), lambda text: calls.append(text) or (text or "") + "!", lambda _: None)
    assert [edit.transform("a"), edit.transform("a"), edit.transform("b"), edit.transform("b")] == [
        "a!"
    ] * 2 + ["b!"] * 2
    assert calls == ["a", "b"]

    parsed: list[str] = []
    load = claude.load
    monkeypatch.setattr(claude, "load", lambda text, source: parsed.append(text or "") or load(text, source))
    own = '{\n  "model": "opus",\n  "env": {"ANTHROPIC_BASE_URL": "https://mine.example"}\n}\n'
    write_config(isolated_home / ".claude" / "settings.json", own, monkeypatch)
    switch_llm("deepseek", load_settings(), tool="claude")
    assert len(parsed) == 3  # the switch and the stock form of the user's text, the stock form of the result
