"""Folder trust as Qwen Code and Gemini CLI decide it, and what ``ai current`` (and the dashboard)
says of a file the assistant started here does not read. Qwen Code's rules are checked against the
real CLI in ``tests/e2e/test_qwen_folder_trust_e2e.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _switch_helpers import set_profile_secrets, write_file
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.assistants import qwen
from mahavishnu.environments.switcher import current, switch_llm
from mahavishnu.ui.assistants import build

runner = CliRunner()


@pytest.fixture
def rules(isolated_home: Path) -> Path:
    return isolated_home / ".qwen" / "trustedFolders.json"


@pytest.mark.parametrize(
    ("written", "folder", "trusted"),
    [
        ({}, "work/api", False),  # no rule: not trusted
        ({"work": "TRUST_FOLDER"}, "work/api", True),
        ({"work/api": "TRUST_PARENT"}, "work/web", True),  # its rule's parent
        ({"work": "TRUST_FOLDER", "work/api": "DO_NOT_TRUST"}, "work/api/src", False),  # the deepest
        ({"work": "DO_NOT_TRUST", "work/api": "TRUST_FOLDER"}, "work/api", True),
        ({"work/api": "TRUST_PARENT", "work": "DO_NOT_TRUST"}, "work/api", False),  # a tie: not
        ({"work": "TRUST_FOLDER"}, "workshop", False),  # a name that only starts alike
        ({"work": "TRUST_EVERYTHING"}, "work/api", False),  # a level Qwen Code does not know
    ],
)
def test_qwen_trusts_as_its_deepest_rule_says(
    isolated_home: Path, rules: Path, written: dict[str, str], folder: str, trusted: bool
) -> None:
    write_file(rules, json.dumps({str(isolated_home / path): level for path, level in written.items()}))
    place = isolated_home / folder
    place.mkdir(parents=True)
    assert qwen.is_trusted(place) is trusted


def test_qwen_reads_its_rules_with_comments_and_trusts_nothing_when_they_cannot_be_read(
    isolated_home: Path, rules: Path
) -> None:
    write_file(rules, f'{{\n  // my work\n  "{isolated_home}": "TRUST_FOLDER"\n}}\n')
    assert qwen.is_trusted(isolated_home / "repo")
    rules.write_text("{ not json")
    assert not qwen.is_trusted(isolated_home / "repo")
    rules.write_text('["a list"]')
    assert not qwen.is_trusted(isolated_home / "repo")


def _qwen_project_switch(isolated_home: Path, monkeypatch: pytest.MonkeyPatch, trust: object) -> list[str]:
    """A Qwen Code user whose settings set ``security.folderTrust.enabled`` to ``trust`` switches
    ``repo/`` to the ``openai`` profile: the switch's warnings."""
    write_file(
        isolated_home / ".qwen" / "settings.json",
        json.dumps({"security": {"folderTrust": {"enabled": trust}}}),
    )
    set_profile_secrets(monkeypatch)
    (isolated_home / "repo").mkdir()
    monkeypatch.chdir(isolated_home / "repo")
    return switch_llm("openai", load_settings(), tool="qwen", scope="project").warnings


def test_a_qwen_project_switch_in_an_untrusted_folder_is_said_not_read(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, rules: Path
) -> None:
    warnings = _qwen_project_switch(isolated_home, monkeypatch, True)
    assert any("only in a folder it trusts" in w and str(rules) in w for w in warnings), warnings
    [entry] = current(load_settings(), "qwen")
    assert entry.scope == "project" and entry.profile == "openai" and not entry.applies
    assert entry.unread and "run /trust" in entry.unread

    shown = runner.invoke(app, ["ai", "current", "--tool", "qwen"])
    assert "(not read here)" in " ".join(shown.output.split())
    listed = json.loads(runner.invoke(app, ["ai", "current", "--json"]).stdout)
    assert [row["unread"] for row in listed if row["tool"] == "qwen"] == [entry.unread]
    [row] = [a for a in build(load_settings()).assistants if a.tool == "qwen"]
    assert row.winner is None  # the dashboard marks no file as the one a session here uses

    write_file(rules, json.dumps({str(isolated_home / "repo"): "TRUST_FOLDER"}))
    [entry] = current(load_settings(), "qwen")
    assert entry.applies and entry.unread is None


@pytest.mark.parametrize("trust", [False, "yes", None])
def test_qwen_reads_every_project_file_unless_folder_trust_is_on(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, trust: object
) -> None:
    warnings = _qwen_project_switch(isolated_home, monkeypatch, trust)
    assert not any("trusts" in w for w in warnings), warnings
    [entry] = current(load_settings(), "qwen")
    assert entry.applies


def test_gemini_in_an_untrusted_folder_reads_no_env_of_ours_and_current_says_so(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_profile_secrets(monkeypatch)
    switch_llm("gemini", load_settings(), tool="gemini")  # Gemini CLI's folder trust: on by default
    [entry] = current(load_settings(), "gemini")
    assert entry.profile == "gemini" and not entry.applies
    assert entry.unread and "GEMINI_CLI_TRUST_WORKSPACE=true" in entry.unread
    page = runner.invoke(app, ["ai", "current", "--tool", "gemini"])
    assert "(not read here)" in " ".join(page.output.split()) and "does not trust" in page.output

    monkeypatch.setenv("GEMINI_CLI_TRUST_WORKSPACE", "true")
    assert current(load_settings(), "gemini")[0].applies
    monkeypatch.delenv("GEMINI_CLI_TRUST_WORKSPACE")
    write_file(
        isolated_home / ".gemini" / "trustedFolders.json", json.dumps({str(isolated_home): "TRUST_FOLDER"})
    )
    assert current(load_settings(), "gemini")[0].applies
