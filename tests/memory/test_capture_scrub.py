"""Capture scrubs every path it writes, for all four assistants' session files: the conversation
rows (the turns), their ``agent`` memories, the decisions stated in them (``store_many``) and the
★ Insights found in them. Checked on the database file itself, not only on what is read back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _backends import open_store
from testkit.secret_canaries import canaries

from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.insights.cross_project import list_insights
from mahavishnu.memory.loop.capture import capture_hook
from mahavishnu.memory.loop.conversations import conversations
from mahavishnu.memory.loop.session_logs import AGENT_IDS, session_root
from mahavishnu.memory.loop.session_logs import FILE_TOOLS as TOOLS

SAMPLES = Path(__file__).parent / "fixtures" / "sessions"
SAMPLE_PROMPT = "We decided to use httpx for HTTP. Say ok."
SAMPLE_INSIGHT = "We keep retries in one place so backoff is consistent."
CANARIES = {c.name: c for c in canaries()}
URL_PASSWORD = CANARIES["url-password"]
# a decision holding a secret, and the secrets of more formats around it in the same turn
AROUND = [CANARIES[name] for name in ("anthropic-api-key", "aws-secret-access-key", "env-password")]
PROMPT = "\n".join(
    [f"Decision: the app connects with {URL_PASSWORD.text}.", *(c.text for c in AROUND), "Say ok."]
)
GITHUB = CANARIES["github-pat"]
INSIGHT = f"The CI clones with the token {GITHUB.secret} from its secret store."
SECRETS = [URL_PASSWORD, GITHUB, *AROUND]


def session_with_secrets(tool: str, folder: Path) -> Path:
    """The assistant's real sample session, its prompt and its ★ Insight swapped for ones holding
    secrets (the file's own JSON escaping kept)."""
    shutil.copytree(SAMPLES / tool, folder)
    path = next(folder.rglob("*.jsonl"))
    text = path.read_text(encoding="utf-8")
    assert SAMPLE_PROMPT in text and SAMPLE_INSIGHT in text  # the swap below must take place
    for old, new in ((SAMPLE_PROMPT, PROMPT), (SAMPLE_INSIGHT, INSIGHT)):
        text = text.replace(old, json.dumps(new)[1:-1])
    path.write_text(text, encoding="utf-8")
    return path


def files_holding(folder: Path) -> list[str]:
    """The canaries whose secret is in a file of ``folder`` (the database, its WAL)."""
    data = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    return [c.name for c in SECRETS if c.secret.encode() in data]


@pytest.mark.parametrize("tool", TOOLS)
def test_a_captured_session_leaves_no_secret_in_the_store(tool: str, tmp_path: Path) -> None:
    session = session_with_secrets(tool, session_root(tool))  # type: ignore[arg-type]
    database = tmp_path / "db"
    database.mkdir()
    with open_store(lambda: SqliteBackend(database / "memory.db")) as store:
        report = capture_hook(store, tool, {"transcript_path": str(session), "cwd": "/x/proj"})  # type: ignore[arg-type]
        turns = conversations(store, agent_id=AGENT_IDS[tool])  # type: ignore[index]
        decisions = [m.content for m in store.recent({"types": ["decision"], "project": "proj"})]
        insights = [i.memory.content for i in list_insights(store, project="proj")]
        held = files_holding(database)
        assert (report.added, held) == (2, [])
    # what was captured is all there, with the secrets redacted: nothing was dropped to pass
    [user] = [t["content"] for t in turns if t["role"] == "user"]
    assert "[REDACTED:anthropic-key]" in user and "DB_PASSWORD=[REDACTED:password]" in user
    redacted_url = URL_PASSWORD.text.replace(URL_PASSWORD.secret, "[REDACTED:password]")
    assert decisions == [f"Decision: the app connects with {redacted_url}."]
    assert insights == ["- The CI clones with the token [REDACTED:github-token] from its secret store."]
