"""``team add NAME --dsn DSN`` with every form of DSN libpq reads (issue 48.6): a URI, key=value
pairs, a Unix socket directory without a port, a service file, several hosts. Each makes the member
and prints a join string that connects; a DSN that is not PostgreSQL's is refused in one line that
names ``--dsn``, with nothing done. Against the real PostgreSQL 18 of the session (its socket is in
the folder ``start_embedded_postgres`` made)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytest.importorskip("psycopg")

import psycopg
from psycopg.conninfo import conninfo_to_dict
from testkit.embedded_pg import PgServer
from testkit.team_pg import OWNER_PASSWORD, TeamCluster
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.postgres import dsn_host, dsn_location
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.team.members import JOIN_PREFIX, JoinString, members

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _socket_dir(pg_server: PgServer) -> Path:
    if pg_server.control is None:
        pytest.skip("the server named by MAHAVISHNU_TEST_PG_DSN: its socket directory is unknown")
    return pg_server.control.data.parent


def _forms(
    team: TeamCluster, pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    where = conninfo_to_dict(team.owner_dsn)
    host, port, db, user = where["host"], where["port"], team.database, team.owner
    service = tmp_path / "pg_service.conf"
    service.write_text(
        f"[mvteam]\nhost={host}\nport={port}\ndbname={db}\nuser={user}\npassword={OWNER_PASSWORD}\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    return {
        "uri": f"postgresql://{user}:{OWNER_PASSWORD}@{host}:{port}/{db}",
        "uri without a port": f"postgresql://{user}:{OWNER_PASSWORD}@{host}/{db}?port={port}",
        "key=value": f"host={host} port={port} dbname={db} user={user} password={OWNER_PASSWORD}",
        "socket directory": f"postgresql://{user}@/{db}?host={_socket_dir(pg_server)}&port={port}",
        "service file": "service=mvteam",
        "several hosts": (
            f"host={host},{host} port={_closed_port()},{port} dbname={db} user={user} "
            f"password={OWNER_PASSWORD}"
        ),
    }


FORMS = ["uri", "uri without a port", "key=value", "socket directory", "service file", "several hosts"]


@pytest.mark.parametrize("form", FORMS)
def test_team_add_works_with_every_dsn_form_and_its_join_string_connects(
    form: str, team: TeamCluster, pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team.init()
    dsn = _forms(team, pg_server, tmp_path, monkeypatch)[form]
    name = team.member_name("alice")
    team.member_roles.append(name)
    added = runner.invoke(app, ["team", "add", name, "--dsn", dsn])
    assert added.exit_code == 0, added.output
    assert "Traceback" not in added.output
    line = next(x for x in added.stdout.splitlines() if x.startswith(JOIN_PREFIX))
    ticket = JoinString.decode(line)
    with psycopg.connect(ticket.dsn(), connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (name,)
    assert [m.name for m in members(team.owner_dsn)] == [name]
    if form == "socket directory":
        assert "works only on this machine" in added.output


@pytest.mark.parametrize(
    ("dsn", "said"),
    [
        ("mysql://root@db.example/team", "--dsn is not a PostgreSQL address: it starts with mysql://"),
        ("host=db port=5432 nonsense", "--dsn is not a PostgreSQL connection string Mahavishnu can read"),
        ("postgresql://o@h/db?bogus_option=1", "--dsn is not a PostgreSQL connection string"),
    ],
)
def test_a_dsn_libpq_cannot_use_is_one_line_naming_dsn_and_nothing_is_done(
    team: TeamCluster, dsn: str, said: str
) -> None:
    team.init()
    for command in (["team", "add", team.member_name("bob"), "--dsn", dsn], ["team", "init", "--dsn", dsn]):
        refused = runner.invoke(app, command)
        assert refused.exit_code != 0
        assert said in refused.output
        assert "Traceback" not in refused.output and 'missing "="' not in refused.output
    assert members(team.owner_dsn) == []


def test_a_socket_dsn_is_shown_as_libpq_reads_it_back() -> None:
    dsn = "postgresql://alice@/team?host=/var/run/postgresql"
    assert dsn_location(dsn) == "postgresql://alice@/team?host=/var/run/postgresql"
    assert dsn_host(dsn) == "/var/run/postgresql/.s.PGSQL.5432"
    assert conninfo_to_dict(dsn_location(dsn))["host"] == "/var/run/postgresql"
    with_port = "host=/tmp/pg port=5433 dbname=team user=alice"
    assert dsn_location(with_port) == "postgresql://alice@/team?host=/tmp/pg&port=5433"
    assert dsn_host(with_port) == "/tmp/pg/.s.PGSQL.5433"
    assert (
        dsn_location("postgresql://alice@db.example:5432/team") == "postgresql://alice@db.example:5432/team"
    )


@pytest.mark.parametrize("command", [["add", "alice"], ["remove", "alice"], ["members"]])
def test_an_owners_command_with_an_unreachable_dsn_names_dsn_not_memory_dsn_nor_the_outbox(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """A review: `team add alice --dsn postgresql://owner@db.example/team` was told to check
    memory.dsn, and that memories stored meanwhile wait in the outbox, where nothing was queued."""
    monkeypatch.setenv("MAHAVISHNU_PG_CONNECT_TIMEOUT", "1")
    dsn = f"postgresql://owner:pw@127.0.0.1:{_closed_port()}/team"
    result = runner.invoke(app, ["team", *command, "--dsn", dsn])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    said = " ".join(result.output.split())
    assert "the DSN --dsn gives is right" in said and "outbox" not in said and "memory.dsn" not in said
