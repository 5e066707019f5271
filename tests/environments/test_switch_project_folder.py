"""A project or local switch writes the project's files: in the home folder, which is no project (there
the project file of Claude Code, Qwen Code and Gemini CLI is their user file), it is refused and nothing
is written; in a folder outside any repository it writes that folder's own file and says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from _switch_helpers import set_profile_secrets, write_file
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.errors import InvalidInputError, ProtocolMismatchError

runner = CliRunner()
USER_FILES = {
    "claude": ".claude/settings.json",
    "gemini": ".gemini/settings.json",
    "qwen": ".qwen/settings.json",
}
LABELS = {"claude": "Claude Code", "gemini": "Gemini CLI", "qwen": "Qwen Code"}


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    set_profile_secrets(monkeypatch)


@pytest.mark.parametrize("tool", ["claude", "gemini", "qwen"])
@pytest.mark.parametrize("profile", ["zai", "stock"])
def test_a_project_switch_in_the_home_folder_leaves_the_user_file_alone(
    isolated_home: Path, tool: str, profile: str
) -> None:
    user_file = write_file(isolated_home / USER_FILES[tool], '{"model": "opus"}\n')
    result = runner.invoke(app, ["ai", "switch-llm", profile, "--tool", tool, "--scope", "project"])
    assert result.exit_code == 2, result.output
    assert f"would write {LABELS[tool]}'s user settings file {user_file}" in result.output
    assert "your home folder is no project" in result.output
    assert "cd into the repository), or use --scope user" in result.output
    assert user_file.read_text() == '{"model": "opus"}\n'
    assert list(user_file.parent.iterdir()) == [user_file]  # no .env beside it either


@pytest.mark.parametrize(("tool", "scope"), [("opencode", "project"), ("claude", "local")])
def test_another_project_file_in_the_home_folder_is_refused_too(
    isolated_home: Path, tool: str, scope: str
) -> None:
    with pytest.raises(InvalidInputError, match="your home folder is no project") as refused:
        switch_llm("zai", load_settings(), tool=tool, scope=scope)  # type: ignore[arg-type]
    assert refused.value.hint.endswith("or use --scope user.")
    assert not (isolated_home / "opencode.json").exists()
    assert not (isolated_home / ".claude").exists()


def test_a_home_folder_that_is_a_repository_is_no_project_either(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_home / ".git").mkdir()  # a dotfiles repository
    (isolated_home / "notes").mkdir()
    monkeypatch.chdir(isolated_home / "notes")
    with pytest.raises(InvalidInputError, match="Claude Code's user settings file"):
        switch_llm("zai", load_settings(), tool="claude", scope="project")
    assert not (isolated_home / ".claude").exists()


def test_every_assistant_at_once_in_the_home_folder_writes_nothing(isolated_home: Path) -> None:
    with pytest.raises(ProtocolMismatchError, match="your home folder is no project; codex: "):
        switch_llm("zai", load_settings(), tool="all", scope="project")
    assert not (isolated_home / "opencode.json").exists()
    assert not (isolated_home / ".claude").exists()


def test_a_folder_outside_any_repository_gets_its_own_file_and_is_told_so(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = isolated_home / "scratch"
    folder.mkdir()
    monkeypatch.chdir(folder)
    result = switch_llm("zai", load_settings(), tool="claude", scope="project")
    written = folder / ".claude" / "settings.json"
    assert '"ANTHROPIC_BASE_URL"' in written.read_text()
    note = (
        f"{folder} is in no git repository: {written} is this folder's own, read by Claude Code started here"
    )
    assert note in result.warnings
    [shared] = [w for w in result.warnings if "apiKeyHelper" in w]
    assert "everyone who opens this folder" in shared and "the repository" not in shared


def test_in_a_repository_the_file_is_the_repositorys(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = isolated_home / "work"
    (repo / ".git").mkdir(parents=True)
    monkeypatch.chdir(repo)
    result = switch_llm("zai", load_settings(), tool="claude", scope="project")
    assert (repo / ".claude" / "settings.json").exists()
    assert not [w for w in result.warnings if "no git repository" in w]
    assert any("everyone who opens the repository" in w for w in result.warnings)


def test_local_scope_outside_any_repository_is_told_so_too(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The docs promise "and say so" for --scope local too: it said nothing."""
    folder = isolated_home / "scratch"
    folder.mkdir()
    monkeypatch.chdir(folder)
    result = switch_llm("zai", load_settings(), tool="claude", scope="local")
    written = folder / ".claude" / "settings.local.json"
    assert written.exists()
    assert f"{folder} is in no git repository: {written} is this folder's own" in " ".join(result.warnings)


def test_a_shared_key_helper_says_it_reads_the_default_home_not_mahavishnu_home(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project file's helper names no one's home: under MAHAVISHNU_HOME the key stored there is not
    found by Claude Code started elsewhere (an IDE), which then sends an empty key."""
    repo = isolated_home / "work"
    (repo / ".git").mkdir(parents=True)
    monkeypatch.chdir(repo)
    home = isolated_home / "elsewhere"
    monkeypatch.setenv("MAHAVISHNU_HOME", str(home))
    [shared] = [
        w
        for w in switch_llm("zai", load_settings(), tool="claude", scope="project").warnings
        if "apiKeyHelper" in w
    ]
    assert f"not MAHAVISHNU_HOME={home}: export MAHAVISHNU_HOME where Claude Code starts" in shared
    monkeypatch.delenv("MAHAVISHNU_HOME")
    [shared] = [
        w
        for w in switch_llm("zai", load_settings(), tool="claude", scope="project").warnings
        if "apiKeyHelper" in w
    ]
    assert "MAHAVISHNU_HOME" not in shared
