"""Older versus newer (``supersede.py``, issue 35), with the real local model on every backend: a
newer decision supersedes the older one on its subject (ranked first, the older marked and kept),
one decision stored twice in other words is recalled once, a complementary fact on the same topic
is left alone, and nothing is linked across projects or authors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from _backends import Factory

from mahavishnu.cli.fast.search import print_hits
from mahavishnu.config import MemorySettings, RecallSettings
from mahavishnu.memory.core import supersede
from mahavishnu.memory.core.embedders.local import LocalEmbedder
from mahavishnu.memory.core.models import Memory, utcnow
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop.recall import build_context

OLDER = "Decision: background jobs go through RabbitMQ (Celery broker), queue name `ledger-jobs`."
NEWER = "Switched the job queue from RabbitMQ to Redis streams; the Celery broker config is removed."
QUEUE = "which queue do background jobs use?"
TWICE = (
    "All timestamps are stored in UTC; convert to local time only in the UI.",
    "Store every timestamp as UTC in the database, the conversion to local time happens in the frontend.",
)
UTC = "what timezone are timestamps stored in?"
SAID_TWICE = (
    "Customer-facing dates are shown in the customer's timezone.",
    "Show dates to customers in their own timezone, not the server's.",
)
DATES = "which timezone do we show dates in?"
ANDROID = "Push notifications go through Firebase Cloud Messaging on Android."
IOS = "On iOS, push notifications go through APNs directly (not FCM)."


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture
def store(backend_factory: Factory, embedder: LocalEmbedder) -> Iterator[MemoryStore]:
    with MemoryStore(backend_factory(), MemorySettings(), embedder) as opened:
        yield opened


def recalled(store: MemoryStore, prompt: str, cwd: str = "/w/ledger", session: str = "s1") -> list[int]:
    payload = {"hook_event_name": "UserPromptSubmit", "session_id": session, "cwd": cwd, "prompt": prompt}
    answer = build_context(store, payload, "claude", RecallSettings())
    text = answer["hookSpecificOutput"]["additionalContext"] if answer else ""
    return [int(i) for i in re.findall(r"\[#(\d+) ", text)]


def started(store: MemoryStore, cwd: str = "/w/ledger") -> list[int]:
    payload: dict[str, Any] = {"hook_event_name": "SessionStart", "session_id": "s0", "cwd": cwd}
    answer = build_context(store, payload, "claude", RecallSettings())
    text = answer["hookSpecificOutput"]["additionalContext"] if answer else ""
    return [int(i) for i in re.findall(r"\[#(\d+) ", text)]


def test_a_newer_decision_is_ranked_first_and_the_older_marked_and_kept(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    older = store.store(OLDER, "decision", project="ledger")
    newer = store.store(NEWER, "decision", project="ledger")

    hits = store.search(QUEUE, filters={"project": "ledger"})

    assert [h.memory.id for h in hits][:2] == [newer.id, older.id]
    assert store.get(older.id).metadata[supersede.SUPERSEDED_BY] == newer.id  # kept, marked
    assert store.get(newer.id).metadata[supersede.SUPERSEDES] == [older.id]
    print_hits([h.to_dict() for h in hits], as_json=False)
    assert f"superseded by #{newer.id}" in capsys.readouterr().out
    assert recalled(store, QUEUE) == [newer.id]  # the prompt hook: the newer, not the older
    assert started(store) == [newer.id]


def test_the_newer_decision_comes_first_even_when_only_the_older_is_found(store: MemoryStore) -> None:
    older = store.store(OLDER, "decision", project="ledger")
    newer = store.store(NEWER, "decision", project="ledger")

    hits = store.search("RabbitMQ ledger-jobs queue name", mode="text", filters={"project": "ledger"})

    assert [h.memory.id for h in hits][:2] == [newer.id, older.id]


def test_a_duplicate_is_recalled_once_and_searched_once(store: MemoryStore) -> None:
    first = store.store(TWICE[0], "decision", project="ledger")
    second = store.store(TWICE[1], "decision", project="ledger")

    assert store.get(first.id).metadata[supersede.DUPLICATE_OF] == second.id
    assert recalled(store, UTC) == [second.id]
    assert [h.memory.id for h in store.search(UTC, filters={"project": "ledger"})] == [second.id]
    assert started(store) == [second.id]


def test_a_decision_stated_twice_too_far_apart_to_be_marked_is_recalled_once(store: MemoryStore) -> None:
    """The same decision in other words at a cosine under ``SAME`` (~0.73 with the local model) is
    not marked on store, but the prompt hook and the session-start block add it once (``once``):
    the better-ranked one at a prompt, the newer one at session start; search still finds both."""
    first = store.store(SAID_TWICE[0], "decision", project="ledger")
    second = store.store(SAID_TWICE[1], "decision", project="ledger")
    assert supersede.marked(store.get(first.id)) is None

    got = recalled(store, DATES)
    assert len(set(got) & {first.id, second.id}) == 1
    assert started(store) == [second.id]
    assert {h.memory.id for h in store.search(DATES, filters={"project": "ledger"})} == {first.id, second.id}


def decision(memory_id: int, content: str, project: str = "ledger") -> Memory:
    moment = utcnow()
    return Memory(memory_id, content, "decision", "", "", 0, moment, moment, project=project)


def test_once_leaves_out_a_decision_alike_in_meaning_and_words_in_its_scope_only() -> None:
    """``once``: a later decision of the same project close in meaning (``ALIKE``) and in words
    (``ALIKE_WORDS``) is left out; one with other numbers or naming other things is kept, as are
    one of another project, a note, and one close in meaning sharing few words."""
    unit = np.ones(4, dtype=np.float32)
    kept = decision(1, SAID_TWICE[0])
    sessions = decision(1, "Admin sessions expire after 30 minutes of inactivity.")
    cases = {
        "twice": (kept, decision(2, SAID_TWICE[1]), False),
        "numbers": (sessions, decision(3, "Admin sessions expire after 60 minutes of inactivity."), True),
        "names": (decision(1, ANDROID), decision(4, IOS), True),
        "project": (kept, decision(5, SAID_TWICE[1], project="shop"), True),
        "few words": (kept, decision(6, "Render every timestamp for the user's locale settings."), True),
    }
    for name, (first, other, expected) in cases.items():
        vectors = {first.id: unit, other.id: unit}
        assert (other in supersede.once([first, other], vectors)) is expected, name
    note = Memory(7, kept.content, "note", "", "", 0, kept.created_at, kept.created_at, project="ledger")
    assert supersede.once([kept, note], {kept.id: unit, note.id: unit}) == [kept, note]
    far = {kept.id: unit, 2: np.array([1, -1, 1, -1], dtype=np.float32)}
    assert len(supersede.once([kept, cases["twice"][1]], far)) == 2  # alike in words, not in meaning


def test_names_tell_apart_two_alike_sentences_about_different_things() -> None:
    assert supersede.changed_names(ANDROID, IOS)
    assert supersede.names("On iOS, push goes through APNs in us-east-1.") == {"iOS", "APNs", "us-east-1"}
    assert not supersede.changed_names(*TWICE)  # UTC in both
    assert supersede.shared_words(*SAID_TWICE) >= supersede.ALIKE_WORDS


def test_a_complementary_fact_on_the_same_topic_is_untouched(store: MemoryStore) -> None:
    android = store.store(ANDROID, "decision", project="mobile")
    ios = store.store(IOS, "decision", project="mobile")

    assert supersede.marked(store.get(android.id)) is None
    assert supersede.marked(store.get(ios.id)) is None
    assert sorted(started(store, cwd="/w/mobile")) == [android.id, ios.id]


def test_a_duplicate_in_another_project_is_not_merged(store: MemoryStore) -> None:
    ledger = store.store(TWICE[0], "decision", project="ledger")
    billing = store.store(TWICE[1], "decision", project="billing")

    assert supersede.marked(store.get(ledger.id)) is None
    assert recalled(store, UTC) == [ledger.id]
    assert recalled(store, UTC, cwd="/w/billing", session="s2") == [billing.id]


def memory(memory_id: int, content: str) -> Memory:
    moment = utcnow()
    return Memory(memory_id, content, "decision", "", "", 0, moment, moment, project="ledger")


def test_another_authors_memory_is_never_linked() -> None:
    """On a team store each member's memories stay theirs: a near-duplicate by another is not linked."""
    older, newer = memory(1, TWICE[0]), memory(2, TWICE[1])

    assert supersede.find_link(newer, [(older, 0.95)], lambda _: False) is None
    assert supersede.find_link(newer, [(older, 0.95)], lambda _: True) == supersede.Link(1, 2, "duplicate")


@pytest.mark.parametrize(
    ("newer", "older", "cosine", "expected"),
    [
        ("Use pnpm instead of npm from now on.", "Use npm for the frontend.", 0.73, "supersedes"),
        ("Workers: c7g.xlarge.", "Workers: c6i.xlarge.", 0.85, "supersedes"),  # a changed value
        ("Screenshots: PNG, max width 1200px.", "Screenshots are PNG, at most 1200 px.", 0.86, "duplicate"),
        ("Use pnpm instead of npm from now on.", "Use npm for the frontend.", 0.3, None),  # another subject
        ("The iOS app uses APNs.", "The Android app uses FCM.", 0.7, None),
    ],
)
def test_how_a_newer_memory_relates_to_an_older_one(
    newer: str, older: str, cosine: float, expected: str | None
) -> None:
    assert supersede.relation(newer, older, cosine) == expected


def test_on_a_team_store_another_members_shared_duplicate_is_not_merged(
    pg_server: Any, embedder: LocalEmbedder
) -> None:
    pytest.importorskip("psycopg")
    from testkit.team_pg import TeamCluster

    from mahavishnu.memory.core.backends.postgres import PostgresBackend
    from mahavishnu.memory.team import sharing

    cluster = TeamCluster(pg_server.dsn, embedder=embedder.identity, dimension=embedder.dimension)
    try:
        cluster.init()
        alice, bob = cluster.add("alice").dsn(), cluster.add("bob").dsn()
        with MemoryStore(PostgresBackend(alice), MemorySettings(), embedder) as store:
            hers = store.store(TWICE[0], "decision", project="ledger")
            sharing.set_visibility(store.backend, [hers.id], "team")  # type: ignore[arg-type]
        with MemoryStore(PostgresBackend(bob), MemorySettings(), embedder) as store:
            his = store.store(TWICE[1], "decision", project="ledger")
            assert supersede.DUPLICATES not in store.get(his.id).metadata
            assert supersede.marked(store.get(hers.id)) is None
            found = store.search(UTC, filters={"project": "ledger"})
            assert {h.memory.id for h in found} == {hers.id, his.id}
    finally:
        cluster.drop()


def test_memory_search_and_list_say_which_memory_supersedes_an_older_one(
    monkeypatch: pytest.MonkeyPatch, embedder: LocalEmbedder
) -> None:
    from typer.testing import CliRunner

    from mahavishnu.cli import memory as memory_cli
    from mahavishnu.memory.core import store as store_module

    monkeypatch.setattr(store_module, "default_embedder", lambda settings: embedder)
    runner = CliRunner()
    for text in (OLDER, NEWER):
        assert (
            runner.invoke(
                memory_cli.app, ["store", text, "--type", "decision", "--project", "ledger"]
            ).exit_code
            == 0
        )

    listed = runner.invoke(memory_cli.app, ["list", "--project", "ledger"]).output
    searched = runner.invoke(memory_cli.app, ["search", QUEUE, "--project", "ledger"]).output

    assert "[superseded by #2]" in " ".join(listed.split()) and "[supersedes #1]" in " ".join(listed.split())
    assert "[superseded by #2]" in " ".join(searched.split())
    assert searched.index("Switched") < searched.index("Decision: background")  # the newer first
