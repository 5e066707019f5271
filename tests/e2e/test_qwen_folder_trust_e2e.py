"""Qwen Code's folder trust (off unless the user's settings turn it on), against the real CLI: in a
folder it does not trust it reads no project ``.qwen/settings.json``, so a project switch there is
not what it uses; ``ai switch-llm --scope project`` warns so, and ``ai current`` shows the file as
not read here, until ``~/.qwen/trustedFolders.json`` trusts the folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _profiles import switch, write_profiles
from mock_llm import MockLLM
from qwen_cli import find_qwen, run_qwen
from typer.testing import CliRunner

from mahavishnu.cli.main import app

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_qwen() is None, reason="Qwen Code CLI not installed: run `bash .ci/install-e2e.sh`"
    ),
]

KEY = "sk-qwen-trust-0123456789"


def _current() -> list[dict[str, object]]:
    result = CliRunner().invoke(app, ["ai", "current", "--tool", "qwen", "--json"])
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def test_an_untrusted_folder_reads_no_project_switch_and_current_says_so(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockLLM(reply="user") as user, MockLLM(reply="project") as project:
        write_profiles(
            isolated_home,
            {
                name: {
                    "secret": ["env:LAB_KEY"],
                    "openai": {
                        "base_url": f"{mock.base_url}/v1",
                        "model": f"model-{name}",
                        "wire_api": "chat",
                    },
                }
                for name, mock in (("user", user), ("project", project))
            },
        )
        monkeypatch.setenv("LAB_KEY", KEY)
        switch("user", "--tool", "qwen")
        settings = isolated_home / ".qwen" / "settings.json"
        data = json.loads(settings.read_text())
        data["security"]["folderTrust"] = {"enabled": True}
        settings.write_text(json.dumps(data, indent=2))
        repo = isolated_home / "repo"
        repo.mkdir()
        monkeypatch.chdir(repo)

        said = switch("project", "--tool", "qwen", "--scope", "project")
        assert "only in a folder it trusts" in said and "/trust" in said, said
        rows = {row["scope"]: row for row in _current()}
        assert rows["project"]["profile"] == "project" and "not trusted" in str(rows["project"]["unread"])
        assert rows["user"]["unread"] is None
        shown = " ".join(CliRunner().invoke(app, ["ai", "current", "--tool", "qwen"]).output.split())
        assert "(not read here)" in shown and "run /trust in Qwen Code there" in shown, shown

        untrusted = run_qwen(isolated_home, "hi", extra_env={"LAB_KEY": KEY}, cwd=repo)
        assert untrusted.stdout.strip() == "user", untrusted.stderr
        assert project.requests == []

        rules = isolated_home / ".qwen" / "trustedFolders.json"
        rules.write_text(json.dumps({str(repo): "TRUST_FOLDER"}))
        assert all(row["unread"] is None for row in _current())
        trusted = run_qwen(isolated_home, "hi", extra_env={"LAB_KEY": KEY}, cwd=repo)
        assert trusted.stdout.strip() == "project", trusted.stderr
        assert {r.body["model"] for r in project.requests_to("/v1/chat/completions")} == {"model-project"}
