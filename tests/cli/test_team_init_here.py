"""``team init --dsn`` and the owner's own machine (issue 48.7): init says when this machine's
memory commands still use their own store, and ``--use-here`` points them at the team store
(memory.dsn without its password, which goes to the secret store), after which ``memory store``
lands in the team store. Against the real PostgreSQL 18 + pgvector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("psycopg")

import psycopg
from testkit.team_pg import OWNER_PASSWORD, TeamCluster
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


def test_init_says_this_machine_still_uses_its_own_store(team: TeamCluster) -> None:
    done = runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn])
    assert done.exit_code == 0, done.output
    assert "this machine's memory commands still use its own store" in done.output
    assert "--use-here" in done.output
    assert (
        json.loads(runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn, "--json"]).stdout)[
            "used_here"
        ]
        is False
    )


def test_init_use_here_points_the_owners_memory_at_the_team_store(
    team: TeamCluster, isolated_home: Path
) -> None:
    done = runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn, "--use-here"])
    assert done.exit_code == 0, done.output
    assert "now use the team store" in done.output and "still use its own store" not in done.output
    settings = "\n".join(p.read_text() for p in isolated_home.rglob("*.yaml"))
    assert "dbname=" in settings and OWNER_PASSWORD not in settings  # the password is a secret
    stored = runner.invoke(app, ["memory", "store", "the owner decided: blue green", "--type", "decision"])
    assert stored.exit_code == 0, stored.output
    with psycopg.connect(team.owner_dsn) as conn:
        assert conn.execute("SELECT content, owner_role FROM memories").fetchall() == [
            ("the owner decided: blue green", team.owner)
        ]
    again = runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn])
    assert "still use its own store" not in again.output


def test_init_use_here_keeps_a_password_given_in_the_variable_or_on_a_second_run(
    team: TeamCluster, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a review: with the password in MAHAVISHNU_PG_PASSWORD nothing was kept, and later
    commands failed without the variable; a second `--use-here` with the password in the DSN did
    not keep it either, memory.dsn being set already."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(team.owner_dsn)
    bare = make_conninfo("", **{k: v for k, v in params.items() if k != "password"})
    monkeypatch.setenv("MAHAVISHNU_PG_PASSWORD", str(params["password"]))
    done = runner.invoke(app, ["team", "init", "--dsn", bare, "--use-here"])
    assert done.exit_code == 0 and "its password kept in the" in done.output, done.output
    monkeypatch.delenv("MAHAVISHNU_PG_PASSWORD")
    stored = runner.invoke(app, ["memory", "store", "kept without the variable", "--type", "decision"])
    assert stored.exit_code == 0, stored.output
    again = runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn, "--use-here"])
    assert again.exit_code == 0 and "its password kept in the" in again.output, again.output
