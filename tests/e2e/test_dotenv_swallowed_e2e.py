"""A line of the user's own ``~/.codex/.env`` whose quote Codex's reader (the dotenvy crate) takes for
open reads on into the key a switch writes below it: the real Codex then says the variable is missing.
The switch refuses, naming that line, and writes nothing; a line whose quote closes (``NOTE='it's``)
leaves the key to Codex (see tests/environments/test_env_file_swallowed.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _profiles import write_profiles
from codex_cli import find_codex, run_codex
from mock_llm import MockLLM
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.environments import env_file

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_codex() is None, reason="Codex CLI not installed: run `bash .ci/install-e2e.sh`"),
]
KEY = "sk-lab-0123456789"


def _lab(home: Path, mock: MockLLM, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Profile ``lab`` at the mock, its key in LAB_KEY; Codex's .env (its folder made)."""
    write_profiles(
        home,
        {
            "lab": {
                "secret": ["env:LAB_KEY"],
                "openai": {"base_url": f"{mock.base_url}/v1", "model": "lab-model", "wire_api": "responses"},
            }
        },
    )
    monkeypatch.setenv("LAB_KEY", KEY)
    (home / ".codex").mkdir()
    return home / ".codex" / ".env"


def _switch() -> tuple[int, str]:
    """``switch-llm lab --tool codex --inline-secret``: its exit code and output, unwrapped."""
    result = CliRunner().invoke(app, ["ai", "switch-llm", "lab", "--tool", "codex", "--inline-secret"])
    return result.exit_code, " ".join(result.output.split())


def test_codex_reads_the_key_below_a_user_line_whose_quote_closes(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockLLM(reply="ok") as mock:
        _lab(isolated_home, mock, monkeypatch).write_text("NOTE='it's\nCERT=\"a\nb\"\n")
        code, output = _switch()
        assert code == 0, output
        done = run_codex(isolated_home, "hi")  # (LAB_KEY only in its .env)
        assert done.returncode == 0, done.stderr
        assert {r.api_key for r in mock.requests_to("/v1/responses")} == {KEY}


def test_a_user_line_that_hides_the_key_from_codex_is_refused(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = "FOO=1\nNOTE=it's\n"
    with MockLLM(reply="ok") as mock:
        dotenv = _lab(isolated_home, mock, monkeypatch)
        assert _switch()[0] == 0  # (config.toml at the mock)
        dotenv.write_text(own)

        code, output = _switch()

        assert code != 0 and f"refusing to write {dotenv}" in output and "on its line 2 " in output
        assert dotenv.read_text() == own
        # what the switch wrote before it checked: Codex did not get the key
        dotenv.write_text(env_file.update(own, {"LAB_KEY": KEY}, note="profile 'lab'", reader="dotenvy"))
        done = run_codex(isolated_home, "hi", timeout=30)
        assert "Missing environment variable: `LAB_KEY`" in done.stderr
        assert mock.requests_to("/v1/responses") == []
