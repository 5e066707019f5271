"""A team member's change to another member's memory (issue 47.8): row-level security keeps the
row as it is, and Mahavishnu says so rather than report a change that did not happen, in the CLI,
the MCP tools and the dashboard; a removed member's store is refused, never queued. Against the
real PostgreSQL 18 + pgvector, the member connecting as their own role."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

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
    with open_store(alice) as store, pytest.raises(NotYoursError, match="only its author can edit it"):
        store.update(owners, content="alice rewrote the owner's decision")
    with open_store(team.owner_dsn) as store:
        kept = store.get(owners)
    assert kept.content == "the owner decided: deploy on tuesdays" and "quarantined" not in kept.tags


def test_the_mcp_delete_tool_refuses_another_members_memory(
    team: TeamCluster, shared: tuple[int, int, str], backing: object
) -> None:
    from mcp_calls import run

    owners, mine, _ = shared
    dry, real, own = run(
        backing,  # type: ignore[arg-type]
        [
            ("delete_memory", {"memory_id": owners, "dry_run": True}),
            ("delete_memory", {"memory_id": owners}),
            ("delete_memory", {"memory_id": mine}),
        ],
    )
    for result in (dry, real):
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
    assert "queued:" not in stored.output and "Nothing was stored nor queued" in stored.output
    with Outbox() as box:
        assert box.waiting(dsn_location(shared[2])).count == 0


# -- issue 47.4: no member can stall everyone -----------------------------------------------------
LOCKS = ("ACCESS EXCLUSIVE", "EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE")


@pytest.mark.parametrize("table", ["memories", "agent_conversations", "insight_shares", "team_profiles"])
def test_a_member_with_psql_cannot_lock_a_team_table(team: TeamCluster, table: str) -> None:
    import psycopg

    team.init()
    alice = team.add("alice").dsn()
    with psycopg.connect(alice) as conn:
        for mode in LOCKS:
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"LOCK TABLE {table} IN {mode} MODE")  # type: ignore[arg-type]


def test_a_lock_held_by_someone_else_stops_a_members_search_and_store_with_one_line(
    team: TeamCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner (who may lock: they own the tables) holds the strongest lock; a member's search and
    store give up after the lock timeout, with the reason, instead of hanging."""
    import threading

    import psycopg

    from mahavishnu.errors import StoreError

    monkeypatch.setenv("MAHAVISHNU_PG_CONNECT_TIMEOUT", "1")  # a hook's budget: 1 s for a lock
    team.init()
    alice = team.add("alice").dsn()
    with open_store(alice) as store:
        store.store("alice decided: retries back off", "decision")
        outcomes: list[BaseException | None] = []

        def attempt(action: object) -> None:
            try:
                action()  # type: ignore[operator]
                outcomes.append(None)
            except BaseException as exc:
                outcomes.append(exc)

        with psycopg.connect(team.owner_dsn) as owner, owner.transaction():
            owner.execute("LOCK TABLE memories IN ACCESS EXCLUSIVE MODE")
            for action in (
                lambda: store.search("retries", limit=5),
                lambda: store.store("alice decided: jitter the retries", "decision"),
            ):
                worker = threading.Thread(target=attempt, args=(action,), daemon=True)
                worker.start()
                worker.join(60)  # a hang guard only: the lock timeout ends it long before
                assert not worker.is_alive(), "the member's call hung behind the lock"
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert isinstance(outcome, StoreError), outcome
        assert "for a lock another session holds on the store, and gave up" in outcome.message
    with Outbox() as box:  # the server answered: nothing queued
        assert box.waiting(dsn_location(alice)).count == 0


# -- issue 47.5: a server that trusts logins is said so, loudly -----------------------------------
def test_init_status_and_doctor_say_when_the_server_trusts_local_logins(
    team: TeamCluster, pg_server: object, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The session's server trusts its Unix socket (``initdb --auth-local=trust``) and asks a
    password over TCP: a used join string works again through the socket, and all three say so."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    control = getattr(pg_server, "control", None)
    if control is None:
        pytest.skip("the server named by MAHAVISHNU_TEST_PG_DSN: its socket is unknown")
    socket_dir = str(control.data.parent)
    init = runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn, "--json"])
    assert init.exit_code == 0, init.output
    trusted = json.loads(init.stdout)["trusted_logins"]
    assert trusted and all(socket_dir in path for path in trusted)  # the socket; TCP asks a password
    loud = runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn])
    assert "PRIVACY DOES NOT HOLD" in loud.output and "scram-sha-256" in loud.output
    ticket = team.add("alice")
    used = make_conninfo(ticket.dsn(), host=socket_dir, password="wrong")  # any password, or none
    with psycopg.connect(used) as conn:  # what the warning is about
        assert conn.execute("SELECT current_user").fetchone() == (ticket.user,)
    status = runner.invoke(app, ["team", "status", "--dsn", team.owner_dsn])
    assert "PRIVACY DOES NOT HOLD" in status.output
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", team.owner_dsn)
    doctor = runner.invoke(app, ["doctor", "--json"])
    found = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "team logins"]
    assert found and found[0]["status"] == "error" and "pg_hba.conf" in found[0]["hint"]
    assert "password file" not in capfd.readouterr().err  # the probe makes libpq print nothing


def test_a_join_string_or_dsn_with_a_host_label_over_63_characters_is_one_line(team: TeamCluster) -> None:
    from mahavishnu.memory.team.members import JoinString

    long_host = "a" * 64 + ".example.com"
    joined = runner.invoke(app, ["team", "join", JoinString(long_host, "5432", "db", "alice", "pw").encode()])
    assert joined.exit_code != 0 and "Traceback" not in joined.output
    assert "is not a host name (each dot-separated part holds 1 to 63 characters)" in joined.output
    team.init()
    added = runner.invoke(
        app, ["team", "add", team.member_name("bob"), "--dsn", team.owner_dsn, "--host", long_host]
    )
    assert added.exit_code != 0 and "--host:" in added.output and "Traceback" not in added.output
    assert members.members(team.owner_dsn) == []


# -- issue 47.5: join strings are signed and verify a server on a network -------------------------
def test_a_join_string_for_a_network_host_verifies_the_server_and_an_edit_is_refused() -> None:
    import base64

    from mahavishnu.errors import InvalidInputError
    from mahavishnu.memory.team.members import JOIN_PREFIX, JoinString

    remote = JoinString("db.example.com", "5432", "team", "alice", "one-time-pw")
    assert remote.ssl == "verify-full" and "sslmode=verify-full" in remote.dsn()
    assert JoinString.decode(remote.encode()) == JoinString(*[*vars_of(remote)[:5], "verify-full"])
    for local in ("127.0.0.1", "localhost", "/var/run/postgresql", "::1"):
        assert JoinString(local, "5432", "team", "alice", "pw").ssl == "prefer"
    body = remote.encode()[len(JOIN_PREFIX) :]
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for field, value in (("h", "evil.example.net"), ("s", "disable"), ("u", "bob"), ("p", "6543")):
        edited = {**data, field: value}
        text = JOIN_PREFIX + base64.urlsafe_b64encode(json.dumps(edited).encode()).decode()
        with pytest.raises(InvalidInputError, match="was changed after the owner made it"):
            JoinString.decode(text)
    unsigned = {k: v for k, v in data.items() if k != "m"}
    with pytest.raises(InvalidInputError, match="damaged"):
        JoinString.decode(JOIN_PREFIX + base64.urlsafe_b64encode(json.dumps(unsigned).encode()).decode())


def vars_of(ticket: object) -> list[str]:
    return [getattr(ticket, f) for f in ("host", "port", "database", "user", "password")]


def test_team_add_for_a_network_host_makes_a_verifying_string_and_insecure_says_so_loudly(
    team: TeamCluster,
) -> None:
    from mahavishnu.memory.team.members import JOIN_PREFIX, JoinString

    team.init()
    names = [team.member_name("carol"), team.member_name("dave")]
    team.member_roles.extend(names)
    safe = runner.invoke(app, ["team", "add", names[0], "--dsn", team.owner_dsn, "--host", "db.example.com"])
    assert safe.exit_code == 0, safe.output
    line = next(x for x in safe.stdout.splitlines() if x.startswith(JOIN_PREFIX))
    assert JoinString.decode(line).ssl == "verify-full" and "INSECURE" not in safe.output
    risky = runner.invoke(
        app, ["team", "add", names[1], "--dsn", team.owner_dsn, "--host", "db.example.com", "--insecure"]
    )
    assert risky.exit_code == 0, risky.output
    assert "INSECURE: this join string does not verify the server" in risky.output
    line = next(x for x in risky.stdout.splitlines() if x.startswith(JOIN_PREFIX))
    assert JoinString.decode(line).ssl == "prefer"


def test_joining_with_a_verifying_string_refuses_a_server_without_tls_in_one_line(team: TeamCluster) -> None:
    """The session's server has no TLS: a verify-full string is refused, nothing changed, and the
    line says what to do; the string stays usable."""
    from mahavishnu.memory.team.members import JoinString

    team.init()
    plain = team.add("erin")
    verifying = JoinString(plain.host, plain.port, plain.database, plain.user, plain.password, "verify-full")
    joined = runner.invoke(app, ["team", "join", verifying.encode()])
    assert joined.exit_code != 0 and "Traceback" not in joined.output
    assert "does not support SSL" in joined.output and "--insecure" in joined.output
    with Outbox() as box:
        assert box.waiting(dsn_location(verifying.dsn())).count == 0


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


def test_the_recall_hook_gives_up_on_a_held_lock_within_its_budget_and_says_so(
    team: TeamCluster, isolated_home: Path
) -> None:
    """A real hook process (its own interpreter, the configured embedder) behind a lock the owner
    holds: it ends with one line naming the lock, exit 1 (never 2: that would block the prompt)."""
    import os
    import subprocess
    import sys

    import psycopg

    from mahavishnu.memory.core.embedders import get_embedder
    from mahavishnu.memory.team import schema

    local = get_embedder(MemorySettings())  # the hook's configured embedder (not this test's fake)
    schema.init(team.owner_dsn, embedder=local.identity, dimension=local.dimension)
    alice = team.add("alice").dsn()
    env = {
        **os.environ,
        "MAHAVISHNU_MEMORY__DSN": alice,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), ""]),
    }
    payload = json.dumps(
        {"hook_event_name": "UserPromptSubmit", "cwd": "/w/p", "session_id": "s", "prompt": "retry policy?"}
    )
    with psycopg.connect(team.owner_dsn) as owner, owner.transaction():
        owner.execute("LOCK TABLE memories IN ACCESS EXCLUSIVE MODE")
        done = subprocess.run(
            [sys.executable, "-m", "mahavishnu", "memory", "context", "--tool", "claude"],
            input=payload,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,  # a hang guard only
        )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "waited 1 s for a lock another session holds on the store" in done.stderr
    assert "Traceback" not in done.stderr


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
