"""The recall log: what the recall hook added to which session, for the dashboard's "why did my
assistant see this?" (ids, assistant, session digest, time, tokens; never a memory's text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mahavishnu.config import MemorySettings, RecallSettings
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop import recall_log
from mahavishnu.memory.loop.recall import build_context, estimated_tokens


def test_each_recall_is_logged_with_ids_and_tokens_never_the_text(tmp_path: Path) -> None:
    store = MemoryStore(SqliteBackend(tmp_path / "m.db"), MemorySettings(), FakeEmbedder())
    kept = store.store("We use httpx for every HTTP client call", "decision", project="api")
    payload = {"hook_event_name": "UserPromptSubmit", "session_id": "secret-session-id", "cwd": "/w/api"}
    answer = build_context(
        store, {**payload, "prompt": "which HTTP client call do we use?"}, "codex", RecallSettings()
    )
    assert answer is not None

    (entry,) = recall_log.read()
    assert (entry.tool, entry.event, entry.ids) == ("codex", "UserPromptSubmit", (kept.id,))
    assert entry.tokens == estimated_tokens(answer["hookSpecificOutput"]["additionalContext"])
    assert entry.session is not None and len(entry.session) == 32
    raw = (recall_log.log_dir() / recall_log.LOG_NAME).read_text()
    assert "httpx" not in raw and "secret-session-id" not in raw
    assert (recall_log.log_dir() / recall_log.LOG_NAME).stat().st_mode & 0o777 == 0o600


def test_the_log_is_rotated_and_a_damaged_line_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recall_log, "MAX_BYTES", 400)
    for i in range(1, 10):
        recall_log.append("claude", "SessionStart", "api", None, [i], 10)
    with (recall_log.log_dir() / recall_log.LOG_NAME).open("a") as log:
        log.write("{not json\n")
    entries = recall_log.read()
    assert [e.ids[0] for e in entries] == list(range(9, 0, -1))[: len(entries)]
    assert len(entries) >= 4 and (recall_log.log_dir() / recall_log.OLD_NAME).exists()


def test_a_recalls_token_bound_is_the_one_a_requests_count_has() -> None:
    """Both logs refuse a token count past the same bound, defined once: the two copies could part."""
    from mahavishnu.usage import records

    assert records.MAX_TOKENS is recall_log.MAX_TOKENS
    recall_log.append("claude", "SessionStart", "api", None, [1], recall_log.MAX_TOKENS + 1)
    assert recall_log.read() == []  # a damaged line
    with pytest.raises(records.BadLine, match="outside"):
        records.count(recall_log.MAX_TOKENS + 1)
