"""``mahavishnu team …`` from an empty database to two members sharing a decision, each on a machine
of their own (a home each), against the real PostgreSQL 18 + pgvector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("psycopg")

import keyring
import keyring.core
import psycopg
from keyrings.alt.file import PlaintextKeyring
from testkit.team_pg import TeamCluster
from typer.testing import CliRunner, Result

from mahavishnu.cli.main import app
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.team.members import JOIN_PREFIX, JoinString

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


def mahavishnu(*args: str) -> Result:
    return runner.invoke(app, list(args))


def ok(*args: str) -> Any:
    result = mahavishnu(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout) if "--json" in args else result.stdout


def machine(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    """Everything Mahavishnu keeps (settings, secrets, keyring) under ``home``, as on another machine."""
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MAHAVISHNU_HOME", str(home / ".mahavishnu"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    keyring.core.set_keyring(PlaintextKeyring())
    return home


def join_string(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(JOIN_PREFIX))


def everything_under(home: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())


def test_five_commands_from_an_empty_database_to_a_shared_decision(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner_dsn = team.owner_dsn
    init = ok("team", "init", "--dsn", owner_dsn, "--json")
    alice_join = join_string(ok("team", "add", team.member_name("alice"), "--dsn", owner_dsn))
    bob_join = join_string(ok("team", "add", team.member_name("bob"), "--dsn", owner_dsn))
    assert init["embedder"] == "fake/hashing-v1" and set(init["warnings"]) == set()

    alice_home = machine(monkeypatch, tmp_path / "alice")
    joined = mahavishnu("team", "join", alice_join)
    assert joined.exit_code == 0, joined.output
    mode = (alice_home / ".mahavishnu" / "mahavishnu.yaml").stat().st_mode & 0o777
    assert mode == 0o600  # written private: `doctor` right after a clean join finds nothing to fix
    temporary = JoinString.decode(alice_join).password
    assert temporary not in joined.output
    decision = ok("memory", "store", "deploy with blue green rollout", "--type", "decision", "--json")
    private = ok("memory", "store", "my private deploy musings", "--type", "note", "--json")
    shared = ok("team", "share", str(decision["id"]), "--json")
    assert shared["changed"] == [decision["id"]]

    machine(monkeypatch, tmp_path / "bob")
    ok("team", "join", bob_join)
    found = [hit["memory"]["content"] for hit in ok("memory", "search", "deploy rollout", "--json")]
    assert "deploy with blue green rollout" in found and "my private deploy musings" not in found
    status = ok("team", "status", "--json")
    assert status["role"] == team.member_name("bob") and status["memories"]["shared_with_me"] == 1
    assert all(status["row_level_security"].values())
    denied = mahavishnu("team", "unshare", str(decision["id"]), str(private["id"]), "--json")
    assert json.loads(denied.stdout)["changed"] == []

    # Alice's password: in her secret store only, never in her settings; the join string's is dead.
    settings = (alice_home / ".mahavishnu" / "mahavishnu.yaml").read_text()
    assert "password" not in settings and JoinString.decode(alice_join).user in settings
    machine(monkeypatch, alice_home)
    stored = keyring.get_password("mahavishnu", "pg-password")
    assert stored and stored not in everything_under(alice_home / ".mahavishnu")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(JoinString.decode(alice_join).dsn()).close()
    again = mahavishnu("team", "join", alice_join)
    assert again.exit_code != 0 and temporary not in again.output
    assert "this join string no longer works" in again.output and "team add" in again.output


def test_a_member_with_another_embedder_is_refused_with_the_fix_and_the_string_stays_valid(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("team", "init", "--dsn", team.owner_dsn)
    ticket = join_string(ok("team", "add", team.member_name("carol"), "--dsn", team.owner_dsn))
    home = machine(monkeypatch, tmp_path / "carol")
    monkeypatch.setattr(store_module, "default_embedder", lambda s: FakeEmbedder(dimension=32, model="small"))

    refused = mahavishnu("team", "join", ticket)

    assert refused.exit_code != 0
    assert "fake/hashing-v1 (64-dim)" in refused.output and "fake/small (32-dim)" in refused.output
    assert (
        "--use-team-embedder" in refused.output and JoinString.decode(ticket).password not in refused.output
    )
    assert not (home / ".mahavishnu" / "mahavishnu.yaml").exists()
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    ok("team", "join", ticket)


def test_removing_a_member_keeps_their_shared_memories_attributed(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("team", "init", "--dsn", team.owner_dsn)
    dave = team.member_name("dave")
    ticket = join_string(ok("team", "add", dave, "--dsn", team.owner_dsn))
    machine(monkeypatch, tmp_path / "dave")
    ok("team", "join", ticket)
    kept = ok("memory", "store", "the cache key includes the locale", "--type", "decision", "--json")
    ok("team", "share", str(kept["id"]))

    removed = ok("team", "remove", dave, "--dsn", team.owner_dsn, "--json")
    listed = ok("team", "members", "--dsn", team.owner_dsn, "--json")

    assert removed == {"removed": dave, "shared_memories_kept": 1, "sessions_left": 0}
    [row] = listed  # what dave wrote stays counted: the owner sees it
    assert {k: row[k] for k in ("name", "current", "shared", "rows")} == {
        "name": dave,
        "current": False,
        "shared": 1,
        "rows": 1,
    }
    assert row["bytes"] > 0
    shown = ok("team", "members", "--dsn", team.owner_dsn)
    assert "1 row, " in shown and "removed" in shown
    assert mahavishnu("memory", "search", "cache key", "--json").exit_code != 0  # no login any more


def test_a_string_that_is_not_a_join_string_is_refused_without_echoing_it() -> None:
    result = mahavishnu("team", "join", "postgresql://x:hunter2-secret@h/db")
    assert result.exit_code == 2 and "hunter2-secret" not in result.output
    damaged = mahavishnu("team", "join", JOIN_PREFIX + "eyJoIjoi")
    assert damaged.exit_code == 2 and "damaged" in damaged.output


def test_memory_share_team_unshare_share_by_default_and_authors_where_members_work(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("team", "init", "--dsn", team.owner_dsn)
    alice, bob = team.member_name("alice"), team.member_name("bob")
    alice_join = join_string(ok("team", "add", alice, "--dsn", team.owner_dsn))
    bob_join = join_string(ok("team", "add", bob, "--dsn", team.owner_dsn))

    alice_home = machine(monkeypatch, tmp_path / "alice")
    ok("team", "join", alice_join)
    decision = ok("memory", "store", "release trains leave every tuesday", "--type", "decision", "--json")
    shared = ok("memory", "share", str(decision["id"]), "--team", "--json")
    assert shared == {"visibility": "team", "changed": [decision["id"]], "not_yours_or_missing": []}
    assert "private" in ok("memory", "unshare", str(decision["id"]))
    assert "shared with the team" in ok("memory", "share", str(decision["id"]), "--team")
    settings = alice_home / ".mahavishnu" / "mahavishnu.yaml"
    settings.write_text(settings.read_text() + "team:\n  share_by_default: true\n")
    by_default = ok("memory", "store", "release notes go in the changelog", "--type", "decision", "--json")
    private_note = ok("memory", "store", "release musings of alice", "--type", "note", "--json")

    machine(monkeypatch, tmp_path / "bob")
    ok("team", "join", bob_join)
    hits = ok("memory", "search", "release", "--json")
    assert {h["memory"]["id"]: h["memory"]["author"] for h in hits} == {
        decision["id"]: alice,
        by_default["id"]: alice,
    }
    assert all(h["memory"]["visibility"] == "team" for h in hits)
    listed = ok("memory", "list", "--json")
    assert {m["id"] for m in listed} == {decision["id"], by_default["id"]}
    assert alice in ok("memory", "list") and alice in ok("memory", "search", "release")
    refused = mahavishnu("memory", "unshare", str(decision["id"]))
    assert refused.exit_code != 0 and "not yours" in refused.output
    assert mahavishnu("memory", "share", str(private_note["id"]), "--team").exit_code != 0


def test_everywhere_insights_and_conversations_name_authors_and_a_turn_is_shared_explicitly(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.insights.cross_project import store_insight
    from mahavishnu.memory.loop.conversations import store_conversation

    ok("team", "init", "--dsn", team.owner_dsn)
    alice, bob = team.member_name("alice"), team.member_name("bob")
    alice_join = join_string(ok("team", "add", alice, "--dsn", team.owner_dsn))
    bob_join = join_string(ok("team", "add", bob, "--dsn", team.owner_dsn))

    alice_home = machine(monkeypatch, tmp_path / "alice")
    ok("team", "join", alice_join)
    with MemoryStore.open() as store:
        insight = store_insight(store, "flaky canaries mean the health check is too eager", project="api")
        said = store_conversation(
            store, "claude", "s-1", "user", "why did the canary flap at noon", project="api"
        )
        store_conversation(store, "claude", "s-1", "user", "my own canary worries stay mine", project="api")
    [turn_id] = said.conversation_ids
    ok("memory", "share", str(insight.id), "--team")
    mine = ok("memory", "conversations", "--json")
    assert {t["author"] for t in mine} == {alice} and {t["visibility"] for t in mine} == {"private"}
    assert "author" in ok("memory", "conversations")
    refused = mahavishnu("memory", "share", str(turn_id), "--turn", "--group", "g")
    assert refused.exit_code != 0 and "--turn" in refused.output

    machine(monkeypatch, tmp_path / "bob")
    ok("team", "join", bob_join)
    assert ok("memory", "conversations", "--json") == []
    everywhere = ok("memory", "search", "flaky canaries health check", "--everywhere", "--json")
    assert [(h["source"], h["memory"]["author"]) for h in everywhere["hits"]] == [("insight", alice)]
    assert alice in ok("memory", "search", "flaky canaries health check", "--everywhere")
    insights = ok("memory", "insights", "--json")
    assert [(i["id"], i["author"], i["visibility"]) for i in insights] == [(insight.id, alice, "team")]
    assert alice in ok("memory", "insights")
    stolen = mahavishnu("memory", "share", str(turn_id), "--turn")
    assert stolen.exit_code != 0 and "not yours" in stolen.output

    machine(monkeypatch, alice_home)
    shared = ok("memory", "share", str(turn_id), "--turn", "--json")
    assert shared == {"visibility": "team", "turn": True, "changed": [turn_id], "not_yours_or_missing": []}
    assert "(shared)" in ok("memory", "conversations")

    machine(monkeypatch, tmp_path / "bob")
    turns = ok("memory", "conversations", "--json")
    assert [(t["id"], t["content"], t["author"]) for t in turns] == [
        (turn_id, "why did the canary flap at noon", alice)
    ]
    hits = ok("memory", "search", "why did the canary flap at noon", "--everywhere", "--json")["hits"]
    assert "why did the canary flap at noon" in {h["content"] for h in hits}
    assert {h["memory"]["author"] for h in hits} == {alice}
    assert "mine" not in json.dumps(hits)

    machine(monkeypatch, alice_home)
    assert "private" in ok("memory", "unshare", str(turn_id), "--turn")
    machine(monkeypatch, tmp_path / "bob")
    assert ok("memory", "conversations", "--json") == []


def test_team_add_takes_several_names_and_prints_each_ones_string_once_labelled(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("team", "init", "--dsn", team.owner_dsn)
    erin, finn, gus = (team.member_name(n) for n in ("erin", "finn", "gus"))
    team.member_roles.extend([erin, finn, gus])
    refused = mahavishnu("team", "add", erin, "Not-A-Name", "--dsn", team.owner_dsn)
    assert refused.exit_code != 0 and "Not-A-Name" in refused.output
    assert ok("team", "members", "--dsn", team.owner_dsn, "--json") == []  # nobody added

    said = ok("team", "add", erin, finn, erin, "--dsn", team.owner_dsn)
    lines = said.splitlines()
    strings = {
        lines[i - 1].split(" is a member")[0]: line
        for i, line in enumerate(lines)
        if line.startswith(JOIN_PREFIX)
    }
    assert set(strings) == {erin, finn} and len([ln for ln in lines if ln.startswith(JOIN_PREFIX)]) == 2
    assert {
        JoinString.decode(s).user for name, s in strings.items() if JoinString.decode(s).user == name
    } == {
        erin,
        finn,
    }
    several = ok("team", "add", erin, gus, "--dsn", team.owner_dsn, "--json")
    assert [m["member"] for m in several] == [erin, gus]
    assert [JoinString.decode(m["join"]).user for m in several] == [erin, gus]
    one = ok("team", "add", finn, "--dsn", team.owner_dsn, "--json")  # one name: the one object, as before
    assert set(one) == {"member", "join"} and one["member"] == finn

    machine(monkeypatch, tmp_path / "gus")
    ok("team", "join", several[1]["join"])  # the latest string of each works
    with pytest.raises(psycopg.OperationalError):  # and erin's earlier one no longer does
        psycopg.connect(JoinString.decode(strings[erin]).dsn()).close()


def test_memory_store_team_stores_and_shares_in_one_step_audited_and_nothing_off_a_team_store(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine(monkeypatch, tmp_path / "solo")  # an embedded store: no team
    refused = mahavishnu("memory", "store", "a decision for nobody", "--type", "decision", "--team")
    assert refused.exit_code != 0 and "not a team store" in refused.output
    assert ok("memory", "list", "--json") == []  # nothing stored
    offline = machine(monkeypatch, tmp_path / "train") / ".mahavishnu" / "mahavishnu.yaml"
    offline.parent.mkdir(parents=True)
    offline.write_text("memory:\n  dsn: postgresql://alice@127.0.0.1:1/team\n")  # nothing listens there
    unreachable = mahavishnu("memory", "store", "a decision on a train", "--type", "decision", "--team")
    assert (
        unreachable.exit_code == 1
        and "nothing was stored (--team needs the team store)" in unreachable.output
    )
    status = mahavishnu("team", "status", "--json")
    assert json.loads(status.stdout)["outbox"]["waiting"] == 0  # not queued either: it would stay private

    ok("team", "init", "--dsn", team.owner_dsn)
    alice, bob = team.member_name("alice"), team.member_name("bob")
    alice_join = join_string(ok("team", "add", alice, "--dsn", team.owner_dsn))
    bob_join = join_string(ok("team", "add", bob, "--dsn", team.owner_dsn))
    machine(monkeypatch, tmp_path / "alice")
    ok("team", "join", alice_join)
    shared = ok(
        "memory",
        "store",
        "deploys go blue green",
        "--type",
        "decision",
        "--project",
        "api",
        "--team",
        "--json",
    )
    assert shared["visibility"] == "team" and shared["already_stored"] is False
    again = ok("memory", "store", "deploys go blue green", "--type", "decision", "--project", "api", "--team")
    assert f"already stored as #{shared['id']}" in again and "shared with the team" in again
    private = ok(
        "memory", "store", "alice keeps this one", "--type", "decision", "--project", "api", "--json"
    )
    audit = ok("team", "audit", "--json")
    assert [(a["action"], a["memory_id"], a["actor"]) for a in audit] == [("share", shared["id"], alice)]

    machine(monkeypatch, tmp_path / "bob")
    ok("team", "join", bob_join)
    hits = ok("memory", "search", "deploys blue green alice keeps", "--json")
    assert [(h["memory"]["id"], h["memory"]["author"]) for h in hits] == [(shared["id"], alice)]
    assert private["id"] not in {h["memory"]["id"] for h in hits}


def test_team_join_hooks_installs_the_memory_hooks_and_without_it_says_how(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("team", "init", "--dsn", team.owner_dsn)
    hana, ivan = team.member_name("hana"), team.member_name("ivan")
    hana_join = join_string(ok("team", "add", hana, "--dsn", team.owner_dsn))
    ivan_join = join_string(ok("team", "add", ivan, "--dsn", team.owner_dsn))

    home = machine(monkeypatch, tmp_path / "hana")
    wrong = mahavishnu("team", "join", hana_join, "--hooks", "clode")
    assert wrong.exit_code != 0 and "clode" in wrong.output
    assert not (home / ".mahavishnu" / "mahavishnu.yaml").exists()  # refused before joining
    joined = ok("team", "join", hana_join, "--hooks", "claude", "--json")
    assert joined["role"] == hana and joined["hooks_written"] == [str(home / ".claude" / "settings.json")]
    [claude] = ok("memory", "hooks", "status", "--tool", "claude", "--json")
    assert claude["state"] == "installed"

    machine(monkeypatch, tmp_path / "ivan")
    said = ok("team", "join", ivan_join)
    assert "next: `mahavishnu memory hooks install --tool claude`" in said
    assert ok("memory", "hooks", "status", "--tool", "claude", "--json")[0]["state"] == "not installed"

    broken = machine(monkeypatch, tmp_path / "jo") / ".claude" / "settings.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    failed = mahavishnu(
        "team", "join", join_string(ok("team", "add", hana, "--dsn", team.owner_dsn)), "--hooks", "claude"
    )
    assert failed.exit_code not in (0, 2) and "Traceback" not in failed.output
    assert "joined as" in failed.output and "memory hooks install --tool claude" in failed.output
    assert broken.read_text() == "{not json"
    assert ok("team", "status", "--json")["role"] == hana  # joined: the store answers as hana


def test_a_member_configuring_no_embedder_joins_a_team_on_another_local_model_and_follows_its_reembed(
    pg_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The team's store runs onnx-int8, this machine configures nothing (its default is onnx-q8):
    the join writes no embedder, the member searches with the store's model, and after the owner's
    ``memory reembed`` with the model it moved to, on the next command."""
    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.core.backends.postgres import PostgresBackend
    from mahavishnu.memory.core.embedders import get_embedder
    from mahavishnu.memory.core.embedders.local import LocalEmbedder
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.team import sharing

    cluster = TeamCluster(pg_server.dsn, embedder="local/all-MiniLM-L6-v2-int8", dimension=384)
    try:
        cluster.init()
        fact = "Ledger storage is PostgreSQL 15, not DynamoDB."
        owner = MemoryStore(PostgresBackend(cluster.owner_dsn), MemorySettings(), LocalEmbedder("onnx-int8"))
        with owner:
            sharing.set_visibility(owner.backend, [owner.store(fact, "decision").id], "team")  # type: ignore[arg-type]
        ticket = cluster.add("erin").encode()
        home = machine(monkeypatch, tmp_path / "erin")
        monkeypatch.setattr(store_module, "default_embedder", get_embedder)  # the real models

        ok("team", "join", ticket)
        assert "embedder" not in (home / ".mahavishnu" / "mahavishnu.yaml").read_text()
        hits = ok("memory", "search", fact, "--mode", "vector", "--json")
        assert hits[0]["memory"]["content"] == fact and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)

        with MemoryStore(
            PostgresBackend(cluster.owner_dsn), MemorySettings(), LocalEmbedder("onnx-int8")
        ) as moved:
            moved.reembed(LocalEmbedder("onnx-q8"))
        hits = ok("memory", "search", fact, "--mode", "vector", "--json")  # the member's next command
        assert hits[0]["memory"]["content"] == fact and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
        assert ok("memory", "stats", "--json")["embedder"] == "local/all-MiniLM-L6-v2-int8-q8"
    finally:
        cluster.drop()


def test_a_removal_that_could_not_end_the_members_sessions_says_so(
    team: TeamCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session that had set the group's role keeps reading shared memories until it ends; when
    the owner could not end it, `team remove` says how (it went to the log alone)."""
    from mahavishnu.memory.team import members

    ok("team", "init", "--dsn", team.owner_dsn)
    erin = team.member_name("erin")
    ok("team", "add", erin, "--dsn", team.owner_dsn)
    monkeypatch.setattr(members, "end_sessions", lambda dsn, name: 2)
    done = mahavishnu("team", "remove", erin, "--dsn", team.owner_dsn)
    assert done.exit_code == 0, done.output
    assert f"{erin} removed" in done.output
    assert "may still have sessions open" in done.output and "pg_terminate_backend" in done.output


def test_sharing_says_what_it_did_in_words(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("team", "init", "--dsn", team.owner_dsn)
    ticket = join_string(ok("team", "add", team.member_name("erin"), "--dsn", team.owner_dsn))
    machine(monkeypatch, tmp_path / "erin")
    ok("team", "join", ticket)
    kept = ok("memory", "store", "the api retries twice", "--type", "decision", "--project", "api", "--json")
    assert "1 of your memories in api is now shared with the team" in ok("team", "share", "--project", "api")
    assert "1 memory now private" in ok("team", "unshare", str(kept["id"]))
    ok("memory", "store", "the api caches for a minute", "--type", "decision", "--project", "api")
    assert "2 of your memories in api are now shared with the team" in ok("team", "share", "--project", "api")
