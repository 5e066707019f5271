"""Secrets never enter memory: every write path scrubs, and what is read back is scrubbed too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _backends import open_store
from fake_backend import FakeBackend

from mahavishnu.config import IngestSettings
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import Filters, MemoryDraft, utcnow
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.core.workflows import store_workflow_execution, workflow_executions
from mahavishnu.memory.ingest.pipeline import ingest_repository
from mahavishnu.memory.loop.conversations import conversations, import_transcript, store_conversation

GITHUB = "ghp_" + "Zq3" * 12
ANTHROPIC = "sk-ant-api03-" + "Wm7x" * 23 + "bAA"
DB_PASSWORD = "Xk9fQ2mL8vR4tY"


def files_hold(directory: Path, secret: str) -> bool:
    """The secret's bytes anywhere in the directory's files (database, WAL, journal)."""
    return any(secret.encode() in p.read_bytes() for p in directory.rglob("*") if p.is_file())


def sqlite_store(directory: Path) -> MemoryStore:
    return open_store(lambda: SqliteBackend(directory / "memory.db"))


def test_a_secret_typed_into_a_stored_turn_is_not_in_the_database_file(tmp_path: Path) -> None:
    directory = tmp_path / "db"
    directory.mkdir()
    with sqlite_store(directory) as store:
        typed = f"deploy with {ANTHROPIC} and DB_PASSWORD={DB_PASSWORD}"
        store_conversation(store, "codex", "s1", "user", typed, project="p")
        store.store(f"the CI token is {GITHUB}", "note", metadata={"api_key": DB_PASSWORD})
        [turn] = conversations(store, session_id="s1")
        hits = store.search("deploy with", mode="text")
    assert not files_hold(directory, ANTHROPIC) and not files_hold(directory, DB_PASSWORD)
    assert not files_hold(directory, GITHUB)
    assert turn["content"] == "deploy with [REDACTED:anthropic-key] and DB_PASSWORD=[REDACTED:password]"
    assert hits[0].memory.content == turn["content"]
    assert files_hold(directory, "[REDACTED:anthropic-key]")  # the file is readable: the check can fail


def test_a_secret_pasted_as_a_tag_or_a_project_is_not_in_the_database_file(tmp_path: Path) -> None:
    directory = tmp_path / "db"
    directory.mkdir()
    with sqlite_store(directory) as store:
        stored = store.store("deploy notes", "note", tags=[f"token={GITHUB}", "ci"], project=ANTHROPIC)
        shown = store.get(stored.id)
    assert not files_hold(directory, GITHUB) and not files_hold(directory, ANTHROPIC)
    assert shown is not None and shown.tags == ("token=[REDACTED:github-token]", "ci")
    assert shown.project == "[REDACTED:anthropic-key]"


def test_the_secret_is_scrubbed_before_it_is_embedded(store: MemoryStore) -> None:
    seen: list[str] = []
    embedder = store.embedder
    original = embedder.embed_batch

    def spy(texts: list[str], kind: str) -> np.ndarray:  # type: ignore[type-arg]
        seen.extend(texts)
        return original(texts, kind)  # type: ignore[arg-type]

    embedder.embed_batch = spy  # type: ignore[method-assign,assignment]
    memory = store.store(f"token {GITHUB}")
    assert seen == ["token [REDACTED:github-token]"] and memory.content == seen[0]
    # the same secret stored twice is one memory: dedup runs on the scrubbed text
    assert store.store(f"token {GITHUB}").id == memory.id


def test_update_scrubs_content_and_metadata(store: MemoryStore) -> None:
    memory = store.store("nothing secret")
    updated = store.update(memory.id, content=f"now {GITHUB}", metadata={"note": f"pw {ANTHROPIC}"})
    assert updated.content == "now [REDACTED:github-token]"
    assert updated.metadata == {"note": "pw [REDACTED:anthropic-key]"}


def test_stored_rows_from_before_scrubbing_are_scrubbed_when_read(store: MemoryStore) -> None:
    legacy = MemoryDraft(f"old note with {GITHUB}", "note", project="p")
    vector = store.embedder.embed_many([legacy.content], kind="document")
    [row] = store.backend.insert([legacy], vector, model=store.embedder.identity, now=utcnow())
    assert GITHUB in store.backend.get([row.id])[row.id].content  # really stored with the secret
    for memory in (
        store.get(row.id),
        store.recent({"project": "p"})[0],
        store.search("old note", filters={"project": "p"})[0].memory,
    ):
        assert memory.content == "old note with [REDACTED:github-token]"


def test_import_scrubs_memories_and_activity_and_embeds_them_again(tmp_path: Path) -> None:
    export = tmp_path / "old.jsonl"
    with open_store(lambda: FakeBackend()) as old:  # a store filled before scrubbing existed
        drafts = [MemoryDraft(f"key {ANTHROPIC}", "note"), MemoryDraft("plain", "note")]
        vectors = old.embedder.embed_many([d.content for d in drafts], kind="document")
        stored = old.backend.insert(drafts, vectors, model=old.embedder.identity, now=utcnow())
        old.backend.add_records(
            "agent_conversations",
            [
                {
                    "agent_id": "claude",
                    "session_id": "s",
                    "role": "user",
                    "content": f"key {ANTHROPIC}",
                    "metadata": {},
                    "memory_id": stored[0].id,
                    "external_id": None,
                    "created_at": "2026-01-01T00:00:00.000000Z",
                }
            ],
        )
        old.export(export)
    assert ANTHROPIC in export.read_text()

    with open_store(lambda: FakeBackend()) as store:
        store.import_(export)
        memories = {m.content: m for m in store.backend.iter_all()}
        [turn] = conversations(store)
    assert set(memories) == {"key [REDACTED:anthropic-key]", "plain"}
    scrubbed = memories["key [REDACTED:anthropic-key]"]
    expected = FakeEmbedder().embed_many([scrubbed.content], kind="document")[0]
    assert np.allclose(scrubbed.embedding, expected)  # type: ignore[arg-type]
    assert turn["content"] == "key [REDACTED:anthropic-key]"


def test_transcript_import_scrubs_every_turn(tmp_path: Path) -> None:
    path = tmp_path / "11111111-2222-3333-4444-555555555555.jsonl"
    lines = [
        {
            "type": "user",
            "uuid": "u1",
            "sessionId": "s",
            "timestamp": "2026-01-01T00:00:00Z",
            "message": {"role": "user", "content": f"my token is {GITHUB}"},
        },
        {
            "type": "assistant",
            "uuid": "a1",
            "sessionId": "s",
            "timestamp": "2026-01-01T00:00:01Z",
            "message": {
                "id": "m1",
                "role": "assistant",
                "content": [{"type": "text", "text": f"Saved. ★ Insight: never paste {ANTHROPIC}"}],
            },
        },
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    directory = tmp_path / "db"
    directory.mkdir()
    with sqlite_store(directory) as store:
        assert import_transcript(store, path).added == 2
    assert not files_hold(directory, GITHUB) and not files_hold(directory, ANTHROPIC)


def test_ingested_chunks_are_scrubbed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "settings.py").write_text(f'DEBUG = True\nDB_PASSWORD = "{DB_PASSWORD}"\nGH = "{GITHUB}"\n')
    directory = tmp_path / "db"
    directory.mkdir()
    with sqlite_store(directory) as store:
        report = ingest_repository(store, repo, repo_id="r", settings=IngestSettings())
        stored = store.backend.recent(Filters(repo_id="r"), 10, 0)  # as stored, not as read
    [chunk] = [m for m in stored if not m.metadata.get("outline")]
    assert report.chunks_created == 2  # the chunk and the file's outline
    assert 'DB_PASSWORD = "[REDACTED:password]"' in chunk.content
    assert 'GH = "[REDACTED:github-token]"' in chunk.content
    assert not files_hold(directory, DB_PASSWORD) and not files_hold(directory, GITHUB)


def test_workflow_rows_are_scrubbed(store: MemoryStore) -> None:
    run = store_workflow_execution(store, "deploy", "shell", error=f"auth failed for {GITHUB}")
    [row] = workflow_executions(store)
    assert GITHUB not in json.dumps(row) and GITHUB not in run.memory.content


def test_search_never_returns_a_secret_it_was_asked_about(store: MemoryStore) -> None:
    store.store(f"rotate {GITHUB} every month", "decision", project="p")
    hits = store.search(f"rotate {GITHUB} every month", filters={"project": "p"})
    assert hits and all(GITHUB not in h.memory.content for h in hits)


# A gateway key and a token of no known format: only their values give them away.
GATEWAY_KEY = "gw7Lq2ZpRt9XvK4mNc"
MCP_TOKEN = "Hq2_vZ8tLmR4kWx-9JpN3sYc7DfG1bQe6TnA0uVi5Ko"


def test_a_secret_held_in_a_secret_named_variable_is_redacted_whatever_its_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_GATEWAY_TOKEN", GATEWAY_KEY)
    monkeypatch.setenv("PROJECT_CODENAME", "bluefalcon42")  # not named as a secret: a word to keep
    directory = tmp_path / "db"
    directory.mkdir()
    with sqlite_store(directory) as store:
        store.store(f"the gateway answers with key {GATEWAY_KEY} for bluefalcon42", "note")
        store_conversation(store, "claude", "s1", "user", f"curl -H 'X-Key: {GATEWAY_KEY}' gw", project="p")
        hits = store.search("gateway key", mode="text")
    assert not files_hold(directory, GATEWAY_KEY)
    assert hits[0].memory.content == "the gateway answers with key [REDACTED:known-secret] for bluefalcon42"


def test_a_secret_in_the_secrets_file_is_redacted_and_a_new_one_is_seen_at_once(tmp_path: Path) -> None:
    from mahavishnu.environments.secrets import store_secret

    directory = tmp_path / "db"
    directory.mkdir()
    with sqlite_store(directory) as store:
        store.store(f"before: {MCP_TOKEN}", "note")  # not held yet, and of no known format
        store_secret("mahavishnu-mcp-token", MCP_TOKEN, "file")
        store.store(f"the MCP server token is {MCP_TOKEN}", "note")
        [held] = store.search("MCP server token", mode="text")
    assert held.memory.content == "the MCP server token is [REDACTED:known-secret]"


def test_short_or_path_like_values_of_secret_named_variables_are_not_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mahavishnu.redaction.scrub import scrub

    monkeypatch.setenv("SHORT_TOKEN", "abc123")
    monkeypatch.setenv("SERVICE_PASSWORD_FILE_TOKEN", "/run/secrets/service-password")
    monkeypatch.setenv("EMPTY_API_KEY", "")
    text = "abc123 lives in /run/secrets/service-password"
    assert scrub(text) == text
