"""The memory loop with the real Pi CLI against the loopback mock, through the extension that
`mahavishnu memory hooks install --tool pi` writes (the real embedded store and local embedder):
a decision stored before is in the model's request for a prompt about it, the turn is captured,
and the extension's search_memory tool answers a tool call of the model's."""

from __future__ import annotations

from pathlib import Path

import pytest
from _memory_loop import KEY, PROJECT, captured, project_folder, run_mahavishnu, sent
from _profiles import mahavishnu_env, switch, write_profiles
from mock_llm import MockLLM
from pi_cli import find_pi, run_pi
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.environments import memory_hooks_pi

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_pi() is None, reason="Pi CLI not installed: run `bash .ci/install-e2e.sh`"),
]

DECISION = "We decided that every money amount is stored as integer cents, never floats."
PROMPT = (
    "Pi decision: the ledger exports are written as CSV with a header row. How do we store money amounts?"
)


def test_pi_recalls_a_stored_decision_and_captures_the_turn(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = project_folder(isolated_home)
    with MockLLM(reply="Integer cents.") as mock:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:LAB_KEY"],
                    "openai": {"base_url": f"{mock.base_url}/v1", "model": "m-pi", "wire_api": "chat"},
                }
            },
        )
        monkeypatch.setenv("LAB_KEY", KEY)
        switch("lab", "--tool", "pi")
        installed = CliRunner().invoke(app, ["memory", "hooks", "install", "--tool", "pi"])
        assert installed.exit_code == 0, installed.output
        stored = run_mahavishnu("memory", "store", DECISION, "--type", "decision", "--project", PROJECT)
        assert stored.returncode == 0, stored.stderr

        env = {**mahavishnu_env(), "LAB_KEY": KEY}
        proc = run_pi(isolated_home, PROMPT, extra_env=env, cwd=cwd, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Integer cents." in proc.stdout
        body = sent(mock.requests_to("/v1/chat/completions"))
        assert DECISION in body, body[-3000:]
        assert body.count(DECISION) == 1  # the session start's recall, not again for the prompt
        assert '"name": "search_memory"' in body and '"name": "store_memory"' in body  # Pi's tools

        # the turn is captured: the decision stated in the prompt is a memory of Pi's now
        pi_decision = "Pi decision: the ledger exports are written as CSV with a header row."
        assert (pi_decision, "pi") in captured("decision", (pi_decision, "pi"))

        # the same session goes on (`pi -c`): the memory is in its history, not sent again; the
        # new turn is captured from where the last capture stopped
        mock.clear()
        later = "Pi decision: every release is tagged vMAJOR.MINOR.PATCH. Which money format again?"
        proc = run_pi(isolated_home, later, extra_env=env, cwd=cwd, timeout=180, flags=("-c",))
        assert proc.returncode == 0, proc.stderr[-3000:]
        body = sent(mock.requests_to("/v1/chat/completions"))
        assert body.count(DECISION) == 1 and PROMPT in body  # (the session's first prompt is there too)
        second = "Pi decision: every release is tagged vMAJOR.MINOR.PATCH."
        assert (second, "pi") in captured("decision", (second, "pi"))
        assert [c for c, _ in captured("decision")].count(pi_decision) == 1  # not imported twice


def test_a_crashing_mahavishnu_never_stops_pi(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The extension's command fails with exit 2 (what other assistants read as "block") and a
    traceback: Pi answers all the same, and says nothing of it."""
    ran = isolated_home / "ran.txt"
    crash = f"sh -c 'echo \"$2\" >> {ran}; echo Traceback boom >&2; exit 2' mahavishnu"
    monkeypatch.setattr(memory_hooks_pi, "hook_process_command", lambda: crash)
    with MockLLM(reply="Still here.") as mock:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:LAB_KEY"],
                    "openai": {"base_url": f"{mock.base_url}/v1", "model": "m-pi", "wire_api": "chat"},
                }
            },
        )
        monkeypatch.setenv("LAB_KEY", KEY)
        switch("lab", "--tool", "pi")
        installed = CliRunner().invoke(app, ["memory", "hooks", "install", "--tool", "pi"])
        assert installed.exit_code == 0, installed.output
        assert '["sh", "-c", ' in memory_hooks_pi.extension_path().read_text()
        proc = run_pi(isolated_home, "hello", extra_env={**mahavishnu_env(), "LAB_KEY": KEY}, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip() == "Still here."
        assert "boom" not in proc.stdout + proc.stderr
        assert ran.read_text().split() == ["context", "context", "import"]  # every hook ran, and failed
