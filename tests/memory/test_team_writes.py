"""A team member's change to another member's memory (issue 47.8): row-level security keeps the
row as it is, and Mahavishnu says so rather than report a change that did not happen, in the CLI,
the MCP tools and the dashboard; a removed member's store is refused, never queued. Against the
real PostgreSQL 18 + pgvector, the member connecting as their own role."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

pytest.importorskip("psycopg")

from starlette.testclient import TestClient
from testkit.team_pg import TeamCluster
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.errors import NotYoursError
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.postgres import PostgresBackend, dsn_location
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.outbox import Outbox
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.team import members, sharing

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)
runner = CliRunner()


def open_store(dsn: str) -> MemoryStore:
    return MemoryStore(PostgresBackend(dsn), SETTINGS, FakeEmbedder())


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


@pytest.fixture
def shared(team: TeamCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, int, str]]:
    """(the owner's shared memory, alice's own memory, alice's DSN); this machine is alice's."""
    team.init()
    alice = team.add("alice").dsn()
    with open_store(team.owner_dsn) as store:
        owners = store.store("the owner decided: deploy on tuesdays", "decision", project="api")
        sharing.set_visibility(store.backend, [owners.id], "team")  # type: ignore[arg-type]
    with open_store(alice) as store:
        mine = store.store("alice noted: the canary runs first", "note", project="api")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", alice)
    yield owners.id, mine.id, alice


def still_there(team: TeamCluster, memory_id: int) -> bool:
    with open_store(team.owner_dsn) as store:
        return memory_id in store.get_many([memory_id])


def test_memory_delete_of_another_members_memory_says_so_and_reports_only_what_was_deleted(
    team: TeamCluster, shared: tuple[int, int, str]
) -> None:
    owners, mine, _ = shared
    refused = runner.invoke(app, ["memory", "delete", str(owners)])
    assert refused.exit_code != 0
    assert f"#{owners} is not yours (it belongs to {team.owner}): only its author can delete it" in (
        refused.output
    )
    assert "deleted 0" not in refused.output
    both = runner.invoke(app, ["memory", "delete", str(owners), str(mine), "--json"])
    assert both.exit_code != 0
    assert json.loads(both.stdout) == {"deleted": [mine], "missing": [], "not_yours": [owners]}
    assert still_there(team, owners)
    with open_store(shared[2]) as store:
        assert store.get_many([mine]) == {}


def test_editing_or_quarantining_another_members_memory_is_refused(
    team: TeamCluster, shared: tuple[int, int, str]
) -> None:
    owners, _, alice = shared
    quarantined = runner.invoke(app, ["memory", "quarantine", str(owners)])
    assert quarantined.exit_code != 0
    assert f"#{owners} is not yours (it belongs to {team.owner}): only its author can quarantine it" in (
        quarantined.output
    )
    trusted = runner.invoke(app, ["memory", "trust", str(owners)])  # in the words of the command
    assert trusted.exit_code != 0 and "only its author can trust it" in trusted.output, trusted.output
    with open_store(alice) as store, pytest.raises(NotYoursError, match="only its author can edit it"):
        store.update(owners, content="alice rewrote the owner's decision")
    with open_store(team.owner_dsn) as store:
        kept = store.get(owners)
    assert kept.content == "the owner decided: deploy on tuesdays" and "quarantined" not in kept.tags


def test_the_mcp_delete_and_update_tools_refuse_another_members_memory(
    team: TeamCluster, shared: tuple[int, int, str], backing: object
) -> None:
    from mcp_calls import run

    owners, mine, _ = shared
    edit, dry, real, own = run(
        backing,  # type: ignore[arg-type]
        [
            ("update_memory", {"memory_id": owners, "content": "alice rewrote it", "tags": []}),
            ("delete_memory", {"memory_id": owners, "dry_run": True}),
            ("delete_memory", {"memory_id": owners}),
            ("delete_memory", {"memory_id": mine}),
        ],
    )
    for result in (edit, dry, real):
        assert result.is_error
        assert "is not yours" in result.content[0].text  # type: ignore[union-attr]
    assert not own.is_error
    assert still_there(team, owners)


def test_the_dashboard_refuses_to_delete_or_edit_another_members_memory(
    team: TeamCluster, shared: tuple[int, int, str]
) -> None:
    from mahavishnu.ui.app import create_app
    from mahavishnu.ui.memories import Library

    owners, _, _ = shared
    token = "dashboard-token-for-this-test"
    base = "http://127.0.0.1:8690"
    same = {"origin": base, "sec-fetch-site": "same-origin"}
    with TestClient(create_app(Library(MemoryStore.open), token), base_url=base) as client:
        assert client.get(f"/login?token={token}", follow_redirects=False).status_code == 303
        page = client.get(f"/memory/{owners}").text
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found is not None
        csrf = found.group(1)
        deleted = client.post(f"/memory/{owners}/delete", data={"csrf": csrf}, headers=same)
        edited = client.post(
            f"/memory/{owners}/edit",
            data={
                "csrf": csrf,
                "content": "changed by alice",
                "type": "decision",
                "tags": "",
                "project": "api",
            },
            headers=same,
        )
    for answer in (deleted, edited):
        assert answer.status_code == 403
        assert "is not yours" in answer.text
    with open_store(team.owner_dsn) as store:
        assert store.get(owners).content == "the owner decided: deploy on tuesdays"


def test_a_removed_members_store_is_refused_and_nothing_is_queued(
    team: TeamCluster, shared: tuple[int, int, str]
) -> None:
    members.remove(team.owner_dsn, team.member_name("alice"))
    stored = runner.invoke(app, ["memory", "store", "alice's note after leaving", "--type", "note"])
    assert stored.exit_code != 0
    assert "you are no longer a member of this team" in stored.output
    assert "queued:" not in stored.output and "nothing is stored in, queued for or read from" in stored.output
    with Outbox() as box:
        assert box.waiting(dsn_location(shared[2])).count == 0


def test_sharing_another_members_memory_is_refused_naming_its_author_with_json_too(
    team: TeamCluster, shared: tuple[int, int, str]
) -> None:
    owners, mine, _ = shared
    for command in (["team", "share", str(owners)], ["memory", "share", str(owners), "--team"]):
        refused = runner.invoke(app, command)
        assert refused.exit_code != 0, command
        assert f"#{owners} is not yours (it belongs to {team.owner}): only its author can share it" in (
            refused.output
        )
    both = runner.invoke(app, ["team", "share", str(owners), str(mine), "--json"])
    assert both.exit_code != 0
    assert json.loads(both.stdout)["changed"] == [mine]
    missing = runner.invoke(app, ["team", "unshare", "999999"])
    assert missing.exit_code != 0 and "#999999 is not yours, or there is no such memory" in missing.output


def test_the_dashboards_forget_selects_and_removes_only_the_members_own_memories(
    team: TeamCluster, shared: tuple[int, int, str]
) -> None:
    """A bulk forget by project: the owner's shared memory in it is neither listed nor deleted, nor
    written to the member's undo file (undoing would import it as the member's own)."""
    from mahavishnu.ui.memories import Query, forget, selection

    owners, mine, alice = shared
    with open_store(alice) as store:
        chosen = selection(store, Query.from_params({"project": "api"}))
        assert [m.id for m in chosen.memories] == [mine]
        deleted, _ = forget(store, [owners, mine])
    assert deleted == 1
    assert still_there(team, owners)


def test_memory_questions_on_a_team_store_asks_only_for_the_members_own(
    team: TeamCluster, shared: tuple[int, int, str]
) -> None:
    """Another member's shared note is theirs to change: it is never sent to this member's
    provider (nor counted), and this member's own gets its question."""
    from mahavishnu.cli.memory_group import open_store as open_cli_store
    from mahavishnu.services.question_writer import unasked

    owners, mine, _ = shared
    with open_cli_store() as store:
        assert store.get(owners).content.startswith("the owner decided")  # (alice sees it)
        assert unasked(store) == [mine]


def test_memory_store_team_stores_and_shares_the_written_question(
    shared: tuple[int, int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``memory store --team`` asks the question writer as ``memory store`` does (the writer's own
    requests are tested against a mock provider in tests/services/test_question_writer.py)."""
    from mahavishnu.services import question_writer

    asked: list[tuple[str, str, str | None]] = []

    def written(content: str, memory_type: str, project: str | None, settings: object) -> object:
        asked.append((content, memory_type, project))
        return question_writer.Written(("when do we deploy the api?",), answered=True)

    monkeypatch.setattr(question_writer, "question_for", written)
    monkeypatch.setenv("MAHAVISHNU_MEMORY__QUESTION_WRITER", "lab")
    stored = runner.invoke(app, ["memory", "store", "Deploys go out on Tuesdays", "-p", "api", "--team"])
    assert stored.exit_code == 0, stored.output
    assert "shared with the team" in stored.stdout
    assert "the question it answers (lab): when do we deploy the api?" in stored.stdout
    assert asked == [("Deploys go out on Tuesdays", "note", "api")]
    listed = json.loads(runner.invoke(app, ["memory", "list", "--json"]).stdout)
    [memory] = [m for m in listed if m["content"] == "Deploys go out on Tuesdays"]
    assert memory["metadata"]["questions"] == ["when do we deploy the api?"]
    assert memory["visibility"] == "team"
