"""A secret in any stored field of a memory or a conversation turn (content, tags, project, metadata
keys and values, source, agent, session…) never reaches the database files, ``memory search`` or
``memory export`` (issue 33, item 6: a Hugging Face token in a ``--project`` label was stored)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _backends import open_store
from typer.testing import CliRunner

from mahavishnu.cli import memory as memory_cli
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.core.workflows import store_workflow_execution
from mahavishnu.memory.loop.conversations import store_conversation

HF = "hf_" + "QwErTyUiOpAsDfGhJkLzXcVbNmQwErTyUi"  # glued to a label by "-": caught since issue 33
LABEL = f"ml-{HF}"


def files_hold(directory: Path, secret: str) -> bool:
    return any(secret.encode() in p.read_bytes() for p in directory.rglob("*") if p.is_file())


def _sqlite(directory: Path) -> MemoryStore:
    directory.mkdir(exist_ok=True)
    return open_store(lambda: SqliteBackend(directory / "memory.db"))


# Each stored field of a memory, holding the secret.
FIELDS: dict[str, dict[str, Any]] = {
    "content": {"content": f"deploy notes {LABEL}"},
    "tag": {"tags": [LABEL, "ci"]},
    "project": {"project": LABEL},
    "repo_id": {"repo_id": LABEL},
    "agent_id": {"agent_id": LABEL},
    "session_id": {"session_id": LABEL},
    "workflow_id": {"workflow_id": LABEL},
    "source_system": {"source_system": LABEL},
    "metadata-value": {"metadata": {"model": LABEL}},
    "metadata-key": {"metadata": {LABEL: "yes"}},
    "metadata-nested": {"metadata": {"runs": [{"args": ["--project", LABEL]}]}},
}


@pytest.mark.parametrize("where", FIELDS, ids=list(FIELDS))
def test_a_secret_in_any_field_of_a_memory_reaches_neither_the_files_nor_search_nor_export(
    tmp_path: Path, where: str
) -> None:
    directory = tmp_path / "db"
    exported = tmp_path / "export.jsonl"
    with _sqlite(directory) as store:
        draft: dict[str, Any] = {"content": "deploy notes for the model", **FIELDS[where]}
        stored = store.store_many([draft])[0]
        hits = store.search("deploy notes", mode="text")
        store.export(exported)
    assert not files_hold(directory, HF)
    assert hits and all(HF not in json.dumps(h.to_dict()) for h in hits)
    assert stored.id in {h.memory.id for h in hits}  # the check can fail: it is the memory searched
    assert HF not in exported.read_text() and "[REDACTED:huggingface-token]" in exported.read_text()


@pytest.mark.parametrize("where", ["content", "agent_id", "session_id", "project", "metadata-key"])
def test_a_secret_in_any_field_of_a_conversation_turn_is_not_stored(tmp_path: Path, where: str) -> None:
    turn: dict[str, Any] = {"agent_id": "codex", "session_id": "s1", "content": "we ran the deploy"}
    turn |= {
        "content": {"content": f"we ran the deploy for {LABEL}"},
        "agent_id": {"agent_id": LABEL},
        "session_id": {"session_id": LABEL},
        "project": {"project": LABEL},
        "metadata-key": {"metadata": {LABEL: 1}},
    }[where]
    directory = tmp_path / "db"
    exported = tmp_path / "export.jsonl"
    with _sqlite(directory) as store:
        store_conversation(
            store,
            turn["agent_id"],
            turn["session_id"],
            "user",
            turn["content"],
            turn.get("metadata"),
            project=turn.get("project"),
        )
        store.export(exported)
    assert not files_hold(directory, HF)
    assert HF not in exported.read_text() and "[REDACTED:huggingface-token]" in exported.read_text()


def test_a_secret_in_a_workflow_row_is_not_stored(tmp_path: Path) -> None:
    directory = tmp_path / "db"
    with _sqlite(directory) as store:
        store_workflow_execution(store, LABEL, "shell", repos=[LABEL], result={LABEL: "ok"})
    assert not files_hold(directory, HF)


def test_memory_store_with_a_token_in_project_leaves_it_out_of_search_and_export(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact command QA ran: `memory store … --project ml-hf_…`, then search and export."""
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(memory_cli.app, list(args))
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    ok("store", "train with the new tokenizer", "--project", LABEL, "--tag", LABEL, "--meta", f"run={LABEL}")
    found = ok("search", "tokenizer", "--mode", "text", "--json")
    exported = isolated_home / "out.jsonl"
    ok("export", str(exported))
    assert "tokenizer" in found and HF not in found
    assert HF not in exported.read_text() and "[REDACTED:huggingface-token]" in exported.read_text()
    assert not files_hold(isolated_home, HF)
