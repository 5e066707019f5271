"""A project-scope switch writes a key helper that runs `mahavishnu` by name (the file is shared):
the switch warns that it depends on PATH and says how to make it resolve for everyone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import switch_llm


@pytest.fixture
def repo(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = isolated_home / "work" / "api"
    (repo / ".git").mkdir(parents=True)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    from mahavishnu.environments.secrets import store_secret

    store_secret("zai", "sk-zai-0123456789abcdef", "file")
    return repo


def _warning(warnings: list[str]) -> str:
    found = [w for w in warnings if "apiKeyHelper" in w]
    assert len(found) == 1, warnings
    return " ".join(found[0].split())


def test_a_project_helper_warns_that_it_runs_mahavishnu_from_path(repo: Path) -> None:
    result = switch_llm("zai", load_settings(), tool="claude", scope="project")
    said = _warning(result.warnings)
    assert str(repo / ".claude" / "settings.json") in said
    assert "`mahavishnu secrets get zai` runs `mahavishnu` from PATH" in said
    assert "exits 127 and Claude Code sends an empty key" in said
    assert "installs Mahavishnu on the PATH of whatever starts Claude Code" in said
    assert "`mahavishnu secrets set zai`" in said
    assert "`mahavishnu ai switch-llm zai --scope local`" in said


def test_it_says_when_path_has_no_mahavishnu_here_either(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo))
    result = switch_llm("zai", load_settings(), tool="claude", scope="project", dry_run=True)
    assert "here too: PATH has no `mahavishnu` now" in _warning(result.warnings)


@pytest.mark.parametrize("scope", ["user", "local"])
def test_a_helper_by_absolute_path_needs_no_warning(repo: Path, scope: str) -> None:
    result = switch_llm("zai", load_settings(), tool="claude", scope=scope)  # type: ignore[arg-type]
    assert not [w for w in result.warnings if "apiKeyHelper" in w]
