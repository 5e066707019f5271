"""Team profiles on the real PostgreSQL 18 (issue 37): a member pushes a provider profile to the
team store (``ai profile push NAME --team``), another member sees it in ``ai list-llms`` marked
team and switches to it with their own key; no key ever reaches the database, and a member with
plain psycopg cannot change or remove another's profile."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

pytest.importorskip("psycopg")

import keyring.core
import psycopg
from keyrings.alt.file import PlaintextKeyring
from psycopg.conninfo import make_conninfo
from testkit.embedded_pg import PgServer
from testkit.team_pg import TeamCluster
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.environments.profiles import profile_from
from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.team import profiles
from mahavishnu.redaction.held import forget_held_values

runner = CliRunner()
ALICE_KEY = "sk-alice-0123456789abcdef0123"
BOB_KEY = "sk-bobby-9876543210fedcba9876"
ACME = """\
profiles:
  acme:
    label: Acme gateway
    aliases: [acme-gw]
    secret: ["file:acme", "keepass:/home/alice/keys.kdbx#acme"]
    anthropic:
      base_url: https://llm.acme.test/anthropic
      model: acme-large
"""


@pytest.fixture
def team(team: TeamCluster) -> TeamCluster:
    """The shared fixture's team store (tests/conftest.py), initialised."""
    team.init()
    return team


def member(monkeypatch: pytest.MonkeyPatch, home: Path, dsn: str | None, settings: str = "") -> Path:
    """This test's process becomes the machine at ``home``, its memory on the team store ``dsn``."""
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MAHAVISHNU_HOME", str(home / ".mahavishnu"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    if dsn is None:
        monkeypatch.delenv("MAHAVISHNU_MEMORY__DSN", raising=False)
    else:
        monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", dsn)
    monkeypatch.chdir(home)
    (home / ".mahavishnu").mkdir(exist_ok=True)
    (home / ".mahavishnu" / "mahavishnu.yaml").write_text(settings)
    keyring.core.set_keyring(PlaintextKeyring())
    forget_held_values()
    return home


def cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def rows_as_admin(pg_server: PgServer, team: TeamCluster, query: str) -> list[tuple[object, ...]]:
    """What the database really holds (a superuser: no row-level security)."""
    with psycopg.connect(make_conninfo(pg_server.dsn, dbname=team.database)) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


def test_a_pushed_profile_reaches_another_member_who_switches_with_their_own_key(
    team: TeamCluster, pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    member(monkeypatch, tmp_path / "alice", alice, ACME)
    assert cli("secrets", "set", "acme", "--store", "file", stdin=ALICE_KEY + "\n")[0] == 0
    code, out, err = cli("ai", "profile", "push", "acme", "--team")
    assert code == 0, out + err
    assert "team profile 'acme' pushed" in out and "no key went" in out
    assert "left out keepass:/home/alice/keys.kdbx#acme" in err  # a file on alice's machine only

    home = member(monkeypatch, tmp_path / "bob", bob)
    code, out, err = cli("ai", "list-llms", "--json")
    assert code == 0, err
    listed = {row["name"]: row for row in json.loads(out)}
    assert listed["acme"]["team"]["pushed_by"] == team.member_name("alice")
    assert listed["acme"]["secret"] == ["file:acme"] and listed["anthropic"]["team"] is None
    code, out, _ = cli("ai", "list-llms")
    assert f"team ({team.member_name('alice')})" in out.replace("\n", "")

    code, out, err = cli("ai", "show", "acme", "--json")
    assert code == 0 and "https://llm.acme.test/anthropic" in err, err
    assert json.loads(out)["secret_chain"][0] == "file:acme"

    assert cli("secrets", "set", "acme", "--store", "file", stdin=BOB_KEY + "\n")[0] == 0
    code, out, err = cli("ai", "switch-llm", "acme", "--tool", "claude")
    assert code == 0, out + err
    assert "using team profile 'acme'" in err and "https://llm.acme.test/anthropic" in err
    claude = json.loads((home / ".claude" / "settings.json").read_text())
    assert claude["env"]["ANTHROPIC_BASE_URL"] == "https://llm.acme.test/anthropic"
    assert claude["apiKeyHelper"].endswith("secrets get acme")
    code, out, _ = cli("ai", "current", "--tool", "claude", "--json")
    assert code == 0 and [e["profile"] for e in json.loads(out)] == ["acme"]
    copy = home / ".mahavishnu" / "team-profiles.json"  # what `secrets get acme` reads: no key
    assert copy.stat().st_mode & 0o777 == 0o600 and BOB_KEY not in copy.read_text()
    # what Claude Code runs for every request: bob's own key, from bob's own store, no team store asked
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", "postgresql://nobody@127.0.0.1:1/none")
    code, out, _ = cli("secrets", "get", "acme")
    assert (code, out) == (0, BOB_KEY + "\n")

    stored = rows_as_admin(pg_server, team, "SELECT name, definition::text, pushed_by FROM team_profiles")
    assert [(name, by) for name, _, by in stored] == [("acme", team.member_name("alice"))]
    text = str(stored[0][1])
    assert ALICE_KEY not in text and BOB_KEY not in text and "keepass" not in text
    assert json.loads(text)["secret"] == ["file:acme"]


@pytest.mark.parametrize(
    "profile",
    [
        'secret: ["sk-ant-api03-AbCdEf0123456789AbCdEf0123456789"]',
        "openai: {base_url: 'https://llm.acme.test/v1?key=AIzaSyA0123456789abcdefghijklmnopqrstu', model: m}",
        "openai: {base_url: 'https://acme:hunter2-secret-pw@llm.acme.test/v1', model: m}",
    ],
    ids=["secret-entry", "key-in-url-query", "url-password"],
)
def test_a_profile_carrying_a_literal_key_is_refused_in_one_line(
    team: TeamCluster, pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str
) -> None:
    settings = (
        "profiles:\n  leaky:\n    anthropic: {base_url: 'https://llm.acme.test', model: m}\n    "
        + profile
        + "\n"
    )
    member(monkeypatch, tmp_path / "alice", team.add("alice").dsn(), settings)
    code, out, err = cli("ai", "profile", "push", "leaky", "--team")

    assert code != 0 and "Traceback" not in out + err
    assert "holds a literal key" in err and "mahavishnu secrets set leaky" in err and "env:" in err
    for secret in ("AbCdEf0123456789", "AIzaSyA0123456789", "hunter2"):
        assert secret not in out + err
    assert rows_as_admin(pg_server, team, "SELECT count(*) FROM team_profiles") == [(0,)]


def test_a_name_the_team_store_cannot_hold_is_refused_in_one_line(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused where it is read, before the team store: a profile's name rule is one everywhere."""
    settings = "profiles:\n  'our lab':\n    anthropic: {base_url: 'http://lab.test', model: m}\n"
    member(monkeypatch, tmp_path / "alice", team.add("alice").dsn(), settings)
    code, out, err = cli("ai", "profile", "push", "our lab", "--team")
    assert code != 0 and "'our lab' cannot name a profile" in err and "Traceback" not in out + err


def test_a_member_cannot_change_or_remove_another_members_profile(
    team: TeamCluster, pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    member(monkeypatch, tmp_path / "alice", alice, ACME)
    assert cli("ai", "profile", "push", "acme", "--team")[0] == 0
    before = rows_as_admin(pg_server, team, "SELECT * FROM team_profiles")

    with psycopg.connect(bob, autocommit=True) as conn:  # bob with psql: reads it, changes nothing
        assert conn.execute("SELECT name FROM team_profiles").fetchall() == [("acme",)]
        changed = conn.execute(
            "UPDATE team_profiles SET definition = '{\"openai\": {}}', pushed_by = current_user"
        ).rowcount
        removed = conn.execute("SELECT team_delete_profile('acme')").fetchone()
        assert (changed, removed) == (0, (0,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # no DELETE right: no LOCK TABLE
            conn.execute("DELETE FROM team_profiles")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO team_profiles (name, definition, pushed_by) VALUES ('forged', '{}', %s)",
                (team.member_name("alice"),),
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO team_profiles (name, definition) VALUES ('acme', '{}') "
                "ON CONFLICT (name) DO UPDATE SET definition = excluded.definition"
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE team_profiles")
    member(monkeypatch, tmp_path / "bob", bob, ACME)  # bob's own acme, pushed over alice's: refused
    code, _, err = cli("ai", "profile", "push", "acme", "--team")
    assert code != 0 and f"pushed by {team.member_name('alice')}: only they may replace it" in err
    code, _, err = cli("ai", "profile", "remove", "acme", "--team")
    assert code != 0 and "only they may remove it" in err
    assert rows_as_admin(pg_server, team, "SELECT * FROM team_profiles") == before
    # alice's push landing between bob's check and his upsert: the database refuses, in one line
    monkeypatch.setattr(profiles, "_get", lambda conn, name: None)
    with pytest.raises(InvalidInputError, match="just pushed by another member"):
        profiles.push(bob, profile_from("acme", {"anthropic": {"base_url": "http://x.test", "model": "m"}}))
    assert rows_as_admin(pg_server, team, "SELECT * FROM team_profiles") == before
    monkeypatch.undo()

    assert profiles.remove(team.owner_dsn, "acme").pushed_by == team.member_name("alice")  # the owner may
    assert rows_as_admin(pg_server, team, "SELECT count(*) FROM team_profiles") == [(0,)]


def test_a_local_profile_of_the_same_name_wins_and_list_llms_says_so(
    team: TeamCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = team.add("alice").dsn(), team.add("bob").dsn()
    member(monkeypatch, tmp_path / "alice", alice, ACME)
    assert cli("ai", "profile", "push", "acme", "--team")[0] == 0
    mine = ACME.replace("https://llm.acme.test/anthropic", "http://127.0.0.1:9/mine").replace(
        '"file:acme", "keepass:/home/alice/keys.kdbx#acme"', '"env:BOB_ACME"'
    )
    home = member(monkeypatch, tmp_path / "bob", bob, mine)
    monkeypatch.setenv("BOB_ACME", BOB_KEY)

    code, out, err = cli("ai", "list-llms", "--json")
    assert code == 0
    assert [r["team"] for r in json.loads(out) if r["name"] == "acme"] == [None]
    assert f"team profile 'acme' (pushed by {team.member_name('alice')}) is hidden by your local" in err
    code, out, err = cli("ai", "switch-llm", "acme", "--tool", "claude")
    assert code == 0 and "team profile" not in err
    claude = json.loads((home / ".claude" / "settings.json").read_text())
    assert claude["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9/mine"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("store", ["none", "unreachable"])
def test_list_llms_lists_the_local_profiles_without_a_team_store_or_when_it_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    dsn = None if store == "none" else f"postgresql://bob:pw@127.0.0.1:{_closed_port()}/team"
    member(monkeypatch, tmp_path / "bob", dsn, ACME)
    started = time.monotonic()
    code, out, err = cli("ai", "list-llms", "--json")
    elapsed = time.monotonic() - started

    assert code == 0 and "Traceback" not in err
    names = [row["name"] for row in json.loads(out)]
    assert "acme" in names and "anthropic" in names
    if store == "none":
        assert err == ""
    else:
        assert err.count("\n") == 1 and "team profiles not listed: cannot use PostgreSQL at 127.0.0.1" in err
        assert "pw" not in err.replace("pwd", "")
    assert elapsed < 10  # a short connect timeout, never a hang (loose: the machine is shared)
    code, _, err = cli("ai", "switch-llm", "nosuch", "--tool", "claude")
    assert code != 0 and "unknown profile 'nosuch'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "secret",
    [
        "file:openai",
        "keyring:mahavishnu/deepseek",
        "file:dashscope",
        "env:MAHAVISHNU_PG_PASSWORD",
        "env:OPENAI_API_KEY",
        "env:DASHSCOPE_API_KEY",
        "file:work",  # a member's own local profile's key
        "env:GITHUB_TOKEN",  # a token for something else
        "env:PGPASSWORD",
        "keyring:github/token",
        "aws-sm:prod/db-password",
        "pass:personal/email",
    ],
)
def test_a_team_profile_reads_only_a_members_own_key_for_it(secret: str) -> None:
    """Found by reviews acting as a member: a pushed profile ``lab`` naming ``file:openai`` and
    pointing at the pusher's server had a teammate's OpenAI key sent there on their switch; naming
    ``env:GITHUB_TOKEN`` (or ``file:work``, the member's own other profile) it had their GitHub
    token sent. Refused where it is pushed, and where a member's machine reads it (a row written
    by hand)."""
    from datetime import UTC, datetime

    from mahavishnu.environments.shared_profiles import check_references
    from mahavishnu.errors import InvalidInputError
    from mahavishnu.memory.team.profiles import TeamProfile

    with pytest.raises(InvalidInputError, match="refused"):
        check_references("lab", [secret])
    definition = {"anthropic": {"base_url": "http://127.0.0.1:9000", "model": "m"}, "secret": [secret]}
    with pytest.raises(InvalidInputError, match="refused"):
        TeamProfile("lab", definition, "bob", datetime.now(UTC)).profile()
    own = ["file:lab", "keyring:mahavishnu/lab", "env:LAB_API_KEY", "file:lab-gw", "env:LAB_GW_API_KEY"]
    assert check_references("lab", own, ["lab-gw"]) == own
    assert check_references("openai", ["file:openai"]) == ["file:openai"]  # its own provider's key
    assert check_references("openai", ["env:OPENAI_API_KEY"]) == ["env:OPENAI_API_KEY"]
    assert check_references("qwen", ["env:DASHSCOPE_API_KEY"]) == ["env:DASHSCOPE_API_KEY"]  # an alias's
