"""Export/import carry the activity rows: conversations, groups, shares, workflow runs, metrics, runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _activity import INSIGHT, activity, as_imported, fill_activity, rows
from _backends import Factory, open_store
from fake_backend import FakeBackend

from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core import sharing, transfer
from mahavishnu.memory.core.backends.records import CONVERSATIONS, GROUP_MEMBERS, GROUPS, SHARES, WORKFLOWS
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.insights import cross_project
from mahavishnu.memory.loop.conversations import store_conversation


def source_file(path: Path) -> dict[str, list[str]]:
    """A file exported from a fake store full of activity; that store's snapshot."""
    with open_store(lambda: FakeBackend()) as source:
        source.store("a plain note", "note", project="alpha")
        fill_activity(source)
        source.export(path)
        return activity(source)


def test_every_activity_row_travels_and_a_second_import_adds_nothing(
    backend_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "m.jsonl"
    with open_store(backend_factory) as source:
        fill_activity(source)
        before = activity(source)
        memories = list(source.backend.iter_all())
        exported = source.export(path)

    assert exported.memories == len(memories)
    assert exported.records == {
        GROUPS: 1,
        GROUP_MEMBERS: 2,
        SHARES: 4,  # origin alpha, group team -> beta and gamma, direct delta
        CONVERSATIONS: 2,
        WORKFLOWS: 1,
        transfer.METRICS: 1,
        transfer.INGESTIONS: 1,
    }
    head, *lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(head)["version"] == transfer.VERSION == 3
    tables = [json.loads(line).get("record") for line in lines]
    assert tables == [None] * len(memories) + [t for t, n in exported.records.items() for _ in range(n)]

    with open_store(lambda: FakeBackend()) as target:
        counts = target.import_(path)
        assert list(target.backend.iter_all()) == as_imported(memories) != memories
        assert activity(target) == before
        assert [r["name"] for r in rows(target, GROUPS)] == ["team"]
        again = target.import_(path)
        assert activity(target) == before

    assert {t: (c.imported, c.skipped) for t, c in counts.records.items()} == {
        t: (n, 0) for t, n in exported.records.items()
    }
    assert {t: (c.imported, c.skipped) for t, c in again.records.items()} == {
        t: (0, n) for t, n in exported.records.items()
    }


def test_import_into_a_store_that_has_some_of_it_remaps_references(
    backend_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "m.jsonl"
    expected = source_file(path)

    with open_store(backend_factory) as target:
        mine = target.store("already here: takes the ids the file uses", "note")
        target.store("and another one", "note")
        [insight] = cross_project.store_insights(target, [INSIGHT], project="zeta")  # also in the file
        sharing.create_group(target, "team", ["beta"])  # the file's group, one member of it
        store_conversation(target, "codex", "s9", "user", "a turn of this store")
        mine_before = activity(target)

        counts = target.import_(path)

        assert counts.renumbered > 0 and counts.skipped == 1  # the insight memory was already here
        after = activity(target)
        for table in transfer.RECORD_ORDER:  # every row, pointing at the same memories
            if table not in (GROUPS, GROUP_MEMBERS):  # a taken unique key keeps the stored row
                assert set(expected[table]) | set(mine_before[table]) <= set(after[table]), table
        shares = rows(target, SHARES)
        assert {r["memory_id"] for r in shares} == {insight.id}  # the file's insight maps to this one
        assert {r["project"] for r in shares} == {"zeta", "alpha", "beta", "gamma", "delta"}
        assert counts.records[GROUPS].skipped == 1 and counts.records[GROUP_MEMBERS].imported == 1
        assert sharing.get_group(target, "team").projects == ("beta", "gamma")
        assert target.get(mine.id).content.startswith("already here")
        workflow = rows(target, WORKFLOWS)[0]
        assert target.get(workflow["memory_id"]).content.startswith("Workflow release (prefect) failed")

        target.import_(path)
        assert activity(target) == after


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        (CONVERSATIONS, {"role": "system"}, r"agent_conversations\.role needs one of user, assistant"),
        (CONVERSATIONS, {"record": "chat_logs"}, "unknown record table 'chat_logs'"),
        (CONVERSATIONS, {"record": ["x"]}, r"unknown record table \['x'\]"),
        (WORKFLOWS, {"memory_id": 999}, r"workflow_executions\.memory_id 999 is not a memory of this file"),
        (SHARES, {"memory_id": None}, r"insight_shares\.memory_id needs a memory id"),
        (GROUP_MEMBERS, {"group_name": "nobody"}, "project group 'nobody' is not in the file before"),
        (transfer.METRICS, {"recorded_at": "yesterday"}, r"performance_metrics\.recorded_at not a date"),
        (transfer.INGESTIONS, {"files_seen": -1}, r"rag_ingestions\.files_seen needs a count"),
        (GROUPS, {"colour": "red"}, "project_groups has no column 'colour'"),
    ],
)
def test_a_bad_record_line_is_named_and_nothing_is_imported(
    backend_factory: Factory, tmp_path: Path, table: str, change: dict[str, object], message: str
) -> None:
    path = tmp_path / "m.jsonl"
    source_file(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    number = max(i for i, line in enumerate(lines) if json.loads(line).get("record") == table)
    lines[number] = json.dumps({**json.loads(lines[number]), **change})
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with open_store(backend_factory) as target:
        with pytest.raises(InvalidInputError, match=rf"m\.jsonl:{number + 1}: .*{message}"):
            target.import_(path)
        assert target.stats()["count"] == 0
        assert all(not found for found in activity(target).values())


def test_a_file_that_is_not_json_line_by_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    source_file(path)
    with path.open("a", encoding="utf-8") as out:
        out.write('{"record": "insight_shares", \n')

    with open_store(lambda: FakeBackend()) as target:
        with pytest.raises(InvalidInputError, match=r"m\.jsonl:\d+: not a JSON line"):
            target.import_(path)
        assert target.stats()["count"] == 0


def test_a_version_1_file_without_records_still_imports(backend_factory: Factory, tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    with open_store(lambda: FakeBackend()) as source:
        ids = [source.store(f"memory {i}", "note").id for i in range(3)]
        source.export(path)
    head, *lines = path.read_text(encoding="utf-8").splitlines()
    old_head = {**json.loads(head), "version": 1}
    path.write_text("\n".join([json.dumps(old_head), *lines]) + "\n", encoding="utf-8")

    with open_store(backend_factory) as target:
        counts = target.import_(path)
        assert (counts.imported, counts.skipped) == (3, 0)
        assert all(c.imported == c.skipped == 0 for c in counts.records.values())
        assert [target.get(i).content for i in ids] == ["memory 0", "memory 1", "memory 2"]

    path.write_text(json.dumps({**old_head, "version": 4}) + "\n", encoding="utf-8")
    with open_store(lambda: FakeBackend()) as target, pytest.raises(InvalidInputError, match="version 4"):
        target.import_(path)


def test_equal_rows_count_as_many_as_the_file_has(backend_factory: Factory, tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    with open_store(lambda: FakeBackend()) as source:
        source.store("one memory", "note")
        for _ in range(2):
            source.backend.add_metrics("c", "t", {"x": 1}, "2026-01-01T00:00:00Z")
        source.export(path)

    with open_store(backend_factory) as target:
        target.backend.add_metrics("c", "t", {"x": 1}, "2026-01-01T00:00:00.000000Z")  # one of them
        counts = target.import_(path)
        assert (counts.records[transfer.METRICS].imported, counts.records[transfer.METRICS].skipped) == (1, 1)
        assert len(target.performance_metrics()) == 2
        target.import_(path)
        assert len(target.performance_metrics()) == 2


def test_a_store_without_activity_exports_no_record_lines(store: MemoryStore, tmp_path: Path) -> None:
    store.store("just a memory", "note")

    counts = store.export(tmp_path / "m.jsonl")

    assert counts.memories == 1 and set(counts.records.values()) == {0}
    assert len((tmp_path / "m.jsonl").read_text(encoding="utf-8").splitlines()) == 2
