"""Activity rows of every kind in a store, and a snapshot of them that does not depend on ids."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from mahavishnu.memory.core import sharing
from mahavishnu.memory.core.models import Memory
from mahavishnu.memory.core.provenance import provenance_of
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.core.transfer import INGESTIONS, METRICS, RECORD_ORDER
from mahavishnu.memory.core.workflows import store_workflow_execution
from mahavishnu.memory.insights import cross_project
from mahavishnu.memory.loop.conversations import store_conversation

INSIGHT = "Filtering inside the ANN scan keeps k results; filtering after it can return fewer."
BLOCK = f"Done.\n\n`★ Insight ──────────────────────────`\n{INSIGHT}\n`─────────────────────────`\n"


def fill_activity(store: MemoryStore) -> None:
    """Conversations (one with an insight), a group the insight is shared with, a workflow run,
    a metric and an ingestion run."""
    store_conversation(store, "claude", "s1", "user", "How to filter ANN results?", {"n": 1}, project="alpha")
    stored = store_conversation(store, "claude", "s1", "assistant", BLOCK, {"tool": "cli"}, project="alpha")
    sharing.create_group(store, "team", ["beta", "gamma"], description="the team")
    cross_project.share_insight(store, stored.insight_ids[0], group="team")
    cross_project.share_insight(store, stored.insight_ids[0], projects=["delta"])
    store_workflow_execution(
        store, "release", "prefect", ["api", "web"], "failed", {"step": 2, "ratio": 0.5}, 1.25, "boom"
    )
    store.store_performance_metrics("provider:qwen", "probe", {"latency_ms": 12.5, "ok": True})
    store.backend.add_ingestion(
        {
            "repo_id": "api",
            "repo_path": "/w/api",
            "status": "completed",
            "files_seen": 3,
            "files_indexed": 2,
            "metadata": {"host": "h"},
            "started_at": "2026-01-02T03:04:05.123456Z",
            "finished_at": "2026-01-02T03:04:06.000001Z",
            "duration_seconds": 0.877,
        }
    )


def as_imported(memories: Iterable[Memory]) -> list[Memory]:
    """``memories`` as an import of their export stores them: exactly, but for the user's own
    words (the user's turn ``fill_activity`` stores), which a file cannot vouch for: ``kept``."""
    said = {"provenance": "kept"}
    return [
        replace(m, metadata={**m.metadata, **said})
        if provenance_of(m.memory_type, m.metadata) == "user"
        else m
        for m in memories
    ]


def rows(store: MemoryStore, table: str) -> list[dict[str, Any]]:
    backend = store.backend
    if table == METRICS:
        return backend.metrics(None, None, None, 100_000)
    if table == INGESTIONS:
        return backend.ingestions(None, 100_000)
    return backend.records(table, {}, limit=100_000)


def activity(store: MemoryStore) -> dict[str, list[str]]:
    """Every activity row without its id, ``memory_id`` replaced by what the memory is (so equal
    snapshots mean the references point at the same memories), sorted."""
    out: dict[str, list[str]] = {}
    for table in RECORD_ORDER:
        found = []
        for row in rows(store, table):
            row = {k: v for k, v in row.items() if k != "id"}
            if row.get("memory_id") is not None:
                memory = store.get(row["memory_id"])
                row["memory_id"] = [memory.memory_type, memory.content]
            found.append(json.dumps(row, sort_keys=True))
        out[table] = sorted(found)
    return out
