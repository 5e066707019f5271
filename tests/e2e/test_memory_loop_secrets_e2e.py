"""A secret typed in a session never reaches the store nor a later request (issue 16's proof, item 4).

With the real Codex and Claude Code CLIs against the loopback mock and the hooks that
`mahavishnu memory hooks install --tool all` writes: a Codex prompt holds an Anthropic key, an AWS
key id and secret (as ``~/.aws/credentials`` holds them), a postgres URL with a password and a
``.env`` line, and the mock's reply a GitHub token inside a ★ Insight. After the capture hook ran,
no file of the store and no output of `mahavishnu memory list|conversations|search --json` holds
any of them; a later Claude Code session in the project sends none of them to the mock, while the
decisions and the insight of that Codex session (the secrets in them redacted) do arrive: the test
cannot pass by capturing nothing.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest
from _memory_loop import PROJECT, captured, project_folder, run_mahavishnu, turn_the_loop_on
from claude_cli import find_claude, parse_result, run_claude
from codex_cli import find_codex, run_codex
from mock_llm import MockLLM, RecordedRequest

from mahavishnu import paths

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        None in (find_claude(), find_codex()),
        reason="the assistant CLIs are not installed: run `bash .ci/install-e2e.sh`",
    ),
]

ALNUM = string.ascii_letters + string.digits


def _secrets(seed: int = 4) -> dict[str, str]:
    """Fresh secrets in the formats providers issue (made from a seed: never real keys, and no
    literal key in this file for a scanner to trip on)."""
    rng = random.Random(seed)

    def pick(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    return {
        "anthropic": "sk-ant-api03-" + pick(ALNUM + "-_", 93) + "AA",
        "aws_key_id": "AKIA" + pick(string.ascii_uppercase + "234567", 16),
        "aws_secret": pick(ALNUM + "/+", 40),
        "db_password": pick(ALNUM, 20),
        "env_api_key": pick("0123456789abcdef", 40),
        "github": "ghp_" + pick(ALNUM, 36),  # in the mock's reply
    }


SECRETS = _secrets()
VAULT = "We decided to keep every credential of this project in Vault and rotate them monthly."
DATABASE = (
    f"Decision: the staging database is postgres://shop:{SECRETS['db_password']}@db.internal:5432/shop."
)
PROMPT = f"""{VAULT}
Here is what I have today, please check it:
ANTHROPIC_API_KEY is {SECRETS["anthropic"]}
~/.aws/credentials:
[default]
aws_access_key_id = {SECRETS["aws_key_id"]}
aws_secret_access_key = {SECRETS["aws_secret"]}
{DATABASE}
.env:
API_KEY={SECRETS["env_api_key"]}
DEBUG=true
"""
RULE = "─" * 37
INSIGHT = "CI pushes with the deploy token {} from the CI secret store, never from code."
REPLY = f"Checked.\n\n`★ Insight {RULE}`\n{INSIGHT.format(SECRETS['github'])}\n`{RULE}{'─' * 12}`\n"
# what must arrive instead of what was typed: the secret-bearing memories, redacted
DATABASE_REDACTED = DATABASE.replace(SECRETS["db_password"], "[REDACTED:password]")
INSIGHT_REDACTED = INSIGHT.format("[REDACTED:github-token]")


def leaked(text: str) -> list[str]:
    """The names of the secrets found in ``text``."""
    return [name for name, secret in SECRETS.items() if secret in text]


def leaked_into_files(folder: Path) -> dict[str, list[str]]:
    """Secrets by file, over every file under ``folder`` (memory.db, its -wal, the recall records…)."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    found = {str(p): leaked(p.read_bytes().decode("utf-8", "replace")) for p in files}
    return {path: names for path, names in found.items() if names}


def leaked_into_requests(requests: list[RecordedRequest]) -> list[tuple[str, list[str]]]:
    """(path, secret names) of every request whose body, raw or decoded, or headers hold a secret."""
    return [
        (r.path, names)
        for r in requests
        if (
            names := leaked(
                r.raw_body.decode("utf-8", "replace")
                + json.dumps(r.body, ensure_ascii=False)
                + json.dumps(r.headers)
            )
        )
    ]


def test_secrets_typed_in_a_session_reach_neither_the_store_nor_a_later_session(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = project_folder(isolated_home)
    with MockLLM(reply=REPLY) as mock:
        env = turn_the_loop_on(isolated_home, mock, monkeypatch)

        # Codex: the secrets go to its LLM (the user sent them there); its Stop hook captures the session.
        codex = run_codex(isolated_home, PROMPT, extra_env=env, cwd=cwd, timeout=180)
        assert codex.returncode == 0, codex.stderr[-3000:]
        assert "hook: Stop Completed" in codex.stderr, codex.stderr[-3000:]
        typed = mock.requests_to("/v1/responses")
        assert set(leaked(" ".join(r.raw_body.decode() for r in typed))) == set(SECRETS) - {"github"}

        # The store holds the session (imported by the detached capture), with every secret redacted.
        assert (INSIGHT_REDACTED, "codex") in captured("insight", (INSIGHT_REDACTED, "codex"))
        wanted = ((VAULT, "codex"), (DATABASE_REDACTED, "codex"))
        assert set(wanted) <= set(captured("decision", *wanted))
        store_dir = paths.data_dir()
        store_bytes = b"".join(p.read_bytes() for p in store_dir.glob("memory.db*"))
        assert VAULT.encode() in store_bytes  # the file is searchable: the next check can fail
        assert leaked_into_files(store_dir) == {}
        listed = run_mahavishnu("memory", "list", "--project", PROJECT, "--limit", "50", "--json")
        turns = run_mahavishnu("memory", "conversations", "--agent", "codex", "--json")
        assert listed.returncode == 0 and turns.returncode == 0, listed.stderr + turns.stderr
        assert VAULT in listed.stdout and "[REDACTED:anthropic-key]" in turns.stdout
        searches = [
            run_mahavishnu("memory", "search", query, "--project", PROJECT, "--json")
            for query in ("database password AWS credentials API key", "deploy token", SECRETS["aws_secret"])
        ]
        assert all(s.returncode == 0 for s in searches), [s.stderr for s in searches]
        assert "[REDACTED:" in searches[0].stdout
        assert leaked("".join(p.stdout + p.stderr for p in [listed, turns, *searches])) == []

        # Claude Code, later, same project, asks about those credentials: the memories arrive, no secret.
        mock.clear()
        mock.reply = "Use Vault."  # nothing secret in this session but what memory could bring
        claude = run_claude(
            isolated_home,
            "Which database, API key and AWS credentials does this project use?",
            extra_env=env,
            cwd=cwd,
            timeout=180,
        )
        assert claude.returncode == 0 and not parse_result(claude)["is_error"], claude.stderr[-3000:]
        requests = mock.requests
        to_claude = " ".join(json.dumps(r.body, ensure_ascii=False) for r in mock.requests_to("/v1/messages"))
        assert VAULT in to_claude and DATABASE_REDACTED in to_claude and INSIGHT_REDACTED in to_claude
        assert leaked_into_requests(requests) == []
        assert leaked(claude.stdout + claude.stderr) == []
        assert leaked_into_files(store_dir) == {}  # Claude's own session was captured too
