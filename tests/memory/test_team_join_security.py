"""Join strings and the server's logins (issue 47.5): a server that lets anyone log in as a member
without a password is said so, loudly, by ``team init``, ``team status`` and ``doctor``; a join
string is signed (an edit is refused), verifies a server on a network (``sslmode=verify-full``,
``--insecure`` said loudly), and a bad host name is one line. Against the real PostgreSQL 18."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("psycopg")

from testkit.team_pg import TeamCluster
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.postgres import dsn_location
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.outbox import Outbox
from mahavishnu.memory.team import members

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


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


# -- a store set up by an older release: its owner is told to run `team init` again ---------------
def test_status_and_doctor_say_when_team_init_ran_with_an_older_release(
    team: TeamCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store whose setup predates this release's (here: the recorded version taken out, as on a
    store set up before it was recorded) is named in ``team status`` (member and owner) and
    ``doctor`` with the fix; the owner's ``team init`` puts the setup back and the warning goes."""
    import psycopg

    from mahavishnu.memory.team.schema import META_SETUP, SETUP

    assert runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn]).exit_code == 0
    alice = team.add("alice").dsn()
    current = runner.invoke(app, ["team", "status", "--dsn", alice, "--json"])
    assert json.loads(current.stdout)["setup"] == {"recorded": SETUP, "current": SETUP}
    assert "older Mahavishnu" not in runner.invoke(app, ["team", "status", "--dsn", alice]).output
    with psycopg.connect(team.owner_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM meta WHERE key = %s", (META_SETUP,))
    said = " ".join(runner.invoke(app, ["team", "status", "--dsn", alice]).output.split())
    assert f"older Mahavishnu (setup 1, this release sets up {SETUP})" in said
    assert "mahavishnu team init --dsn OWNER_DSN" in said
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", alice)
    found = [f for f in json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)["findings"]]
    setup = [f for f in found if f["check"] == "team setup"]
    assert setup and setup[0]["status"] == "warn" and "team init" in setup[0]["hint"]
    assert runner.invoke(app, ["team", "init", "--dsn", team.owner_dsn]).exit_code == 0
    again = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)["findings"]
    assert not [f for f in again if f["check"] == "team setup"]


def test_status_through_a_dsn_whose_search_path_misses_the_tables_is_one_line(team: TeamCluster) -> None:
    """A DSN whose options set search_path to another schema: the store's tables are not found, which
    was psycopg's UndefinedTable traceback; it is one line saying so and what to fix."""
    from psycopg.conninfo import make_conninfo

    team.init()
    elsewhere = make_conninfo(team.owner_dsn, options="-csearch_path=evil")
    status = runner.invoke(app, ["team", "status", "--dsn", elsewhere])
    said = " ".join(status.output.split())
    assert status.exit_code == 1 and isinstance(status.exception, SystemExit), (status.exception, said)
    assert "in schema public, which is not on this connection's search_path (evil)" in said
    assert "Remove search_path from the DSN's options" in said
    listed = runner.invoke(app, ["team", "members", "--dsn", elsewhere])  # (was: not a team store)
    assert listed.exit_code == 1 and "search_path (evil)" in " ".join(listed.output.split())


def test_a_join_string_naming_an_unreachable_server_says_to_check_its_host_and_port() -> None:
    """The server a join string names does not answer: the hint spoke of memory.dsn and the outbox,
    neither of which a join has; it says to check the string's host and port and that the server is
    reachable from here, and that nothing was changed."""
    import socket

    from mahavishnu import paths
    from mahavishnu.memory.team.members import JoinString

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    joined = runner.invoke(app, ["team", "join", JoinString("127.0.0.1", port, "db", "alice", "pw").encode()])
    said = " ".join(joined.output.split())
    assert joined.exit_code == 1 and isinstance(joined.exception, SystemExit), (joined.exception, said)
    assert f"Check the host and port in the join string (127.0.0.1:{port})" in said, said
    assert "nothing was changed" in said and "memory.dsn" not in said and "outbox" not in said
    assert not paths.user_settings_file().exists()
