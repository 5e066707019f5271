"""A team store on a test PostgreSQL, set up as a real one is: an owner role (CREATEROLE, not a
superuser) owning a database where an administrator created pgvector, ``team init`` run as that
owner, members added with ``team add``. For tests and ``benchmarks/team.py``; roles and databases
are dropped by ``drop``."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from mahavishnu.memory.team import advisory, members, schema, temp_files
from mahavishnu.memory.team.members import JoinString

if TYPE_CHECKING:
    import pytest
    from typer.testing import CliRunner

OWNER_PASSWORD = "owner-pw-2468"
_names = itertools.count()


class TeamCluster:
    def __init__(self, admin_dsn: str, *, embedder: str = "fake/hashing-v1", dimension: int = 64) -> None:
        self.admin_dsn = admin_dsn
        tag = f"{os.getpid()}_{next(_names)}"
        self.database = f"mv_team_{tag}"
        self.owner = f"mv_owner_{tag}"
        self.tag = tag
        self.embedder, self.dimension = embedder, dimension
        self.member_roles: list[str] = []
        self._admin(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
                sql.Identifier(self.owner), sql.Literal(OWNER_PASSWORD)
            )
        )
        self._admin(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(self.database), sql.Identifier(self.owner)
            )
        )
        self._admin(sql.SQL("CREATE EXTENSION IF NOT EXISTS vector"), self.database)
        self._admin(sql.SQL(schema.REVOKE_LARGE_OBJECTS), self.database)  # (docs/team.md: the admin's)
        self._admin(sql.SQL(advisory.statements(self.owner)), self.database)  # type: ignore[arg-type]
        self._admin(sql.SQL(temp_files.statements(self.database, self.owner)))  # type: ignore[arg-type]
        self.owner_dsn = make_conninfo(
            admin_dsn, dbname=self.database, user=self.owner, password=OWNER_PASSWORD
        )

    def _admin(self, statement: sql.Composable, dbname: str | None = None) -> None:
        dsn = make_conninfo(self.admin_dsn, dbname=dbname) if dbname else self.admin_dsn
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(statement)

    def init(self) -> schema.InitReport:
        return schema.init(self.owner_dsn, embedder=self.embedder, dimension=self.dimension)

    def member_name(self, name: str) -> str:
        """A role name unique on the server (roles are cluster-wide)."""
        return f"{name}_{self.tag}"

    def add(self, name: str, **where: str) -> JoinString:
        """A member ``name`` (made unique); its join string (its one-time password works until joined)."""
        role = self.member_name(name)
        ticket = members.add(self.owner_dsn, role, **where)  # type: ignore[arg-type]
        self.member_roles.append(role)
        return ticket

    def drop(self) -> None:
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.database)))
        for role in [
            *self.member_roles,
            schema.group_name(self.database),
            schema.search_role_name(self.database),
            self.owner,
        ]:
            self._admin(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def join_through_cli(
    runner: CliRunner, app: Any, team: TeamCluster, name: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``team add NAME`` as the owner, then this process as NAME's own machine (``home`` its HOME, the
    plaintext keyring) running ``team join`` with the string it printed: the CLI as a member runs it."""
    import keyring.core
    from keyrings.alt.file import PlaintextKeyring

    added = runner.invoke(app, ["team", "add", team.member_name(name), "--dsn", team.owner_dsn])
    join = next(line for line in added.stdout.splitlines() if line.startswith(members.JOIN_PREFIX))
    home.mkdir(parents=True, exist_ok=True)
    for variable, where in {
        "HOME": home,
        "MAHAVISHNU_HOME": home / ".mahavishnu",
        "XDG_DATA_HOME": home / ".local/share",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_CACHE_HOME": home / ".cache",
    }.items():
        monkeypatch.setenv(variable, str(where))
    keyring.core.set_keyring(PlaintextKeyring())
    joined = runner.invoke(app, ["team", "join", join])
    assert joined.exit_code == 0, joined.output


def within(seconds: float, action: Callable[[], object]) -> BaseException | None:
    """``action`` in a thread, which must end within ``seconds`` (a hang guard): what it raised."""
    raised: list[BaseException | None] = []

    def run() -> None:
        try:
            action()
            raised.append(None)
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "hung"
    return raised[0]
