"""Recall keeps an unshared ★ Insight in the project it came from.

An insight is stored with no project (one row for everyone) and its origin recorded as a share
(``cross_project.py``); a prompt's recall also takes in the memories of no project, and used to take
in every project's insights with them (QA: a repository's insights were injected into another
project's prompts). Run on SQLite and PostgreSQL, where the scope is SQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _backends import Factory, open_store

from mahavishnu.config import RecallSettings
from mahavishnu.memory.core.sharing import create_group
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.insights.cross_project import share_insight, store_insights
from mahavishnu.memory.loop.recall import build_context

SETTINGS = RecallSettings(min_relevance=0.3)
LEDGER = "The ledger service retries webhooks with jittered exponential backoff"
PROMPT = "how does the ledger service retry webhooks?"

pytestmark = pytest.mark.parametrize("backend_factory", ["fake", "sqlite", "postgres"], indirect=True)


@pytest.fixture
def store(backend_factory: Factory) -> Iterator[MemoryStore]:
    with open_store(backend_factory) as opened:
        yield opened


def ask(store: MemoryStore, project: str, session: str = "s1") -> str:
    payload: dict[str, Any] = {
        "hook_event_name": "UserPromptSubmit",
        "session_id": f"{project}-{session}",
        "cwd": f"/w/{project}",
        "prompt": PROMPT,
    }
    answer = build_context(store, payload, "claude", SETTINGS)
    return "" if answer is None else str(answer["hookSpecificOutput"]["additionalContext"])


def test_an_unshared_insight_reaches_only_the_prompts_of_its_own_project(store: MemoryStore) -> None:
    [insight] = store_insights(store, [LEDGER], project="repo", source="claude")
    assert insight.project is None  # stored for everyone; its origin is a share
    assert f"#{insight.id} insight" in ask(store, "repo")
    assert "ledger" not in ask(store, "other")
    assert not store.search(PROMPT, filters={"project": "other"})  # as `memory search --project`


def test_a_shared_insight_reaches_the_projects_it_was_shared_with(store: MemoryStore) -> None:
    [insight] = store_insights(store, [LEDGER], project="repo")
    share_insight(store, insight.id, projects=["other"])
    assert f"#{insight.id} insight" in ask(store, "other")
    assert "ledger" not in ask(store, "third")
    create_group(store, "backend", ["third"])
    share_insight(store, insight.id, group="backend")
    assert f"#{insight.id} insight" in ask(store, "third")


@pytest.mark.usefixtures("lenient_judge")
def test_an_insight_of_no_project_and_notes_of_no_project_still_hold_everywhere(
    store: MemoryStore,
) -> None:
    [insight] = store_insights(store, [LEDGER])  # stored without a project: no origin
    note = store.store("The ledger service webhooks retry from one queue worker", "note")
    text = ask(store, "other")
    assert f"#{insight.id} insight" in text and f"#{note.id} note" in text


def test_an_insight_seen_again_in_another_project_reaches_both(store: MemoryStore) -> None:
    [first] = store_insights(store, [LEDGER], project="repo")
    [again] = store_insights(store, [LEDGER], project="other")
    assert again.id == first.id
    assert f"#{first.id} insight" in ask(store, "repo")
    assert f"#{first.id} insight" in ask(store, "other")
    assert "ledger" not in ask(store, "third")
