"""Team profiles: provider profiles kept in the team store (``team_profiles``, ``m010``), so every
member sees the same catalogue. A definition never holds a key (``environments.shared_profiles``
refuses one at push); each member's key comes from their own secret store or the variable the
profile names, resolved on their machine.

Who may do what is the database's (``team init``'s row-level security): every member reads every
team profile; a member pushes, changes and removes only the ones they pushed (``pushed_by``, set
by the database to the role that inserts); the tables' owner may also remove anyone's.

Precedence: a local profile (built-in or the user's) wins over a team profile of the same name
or alias; ``ai list-llms`` says which team profiles are hidden so. Reading the team's catalogue
never stops the local one: no team store configured, one unreachable (a short connect timeout)
or one without the table is a one-line notice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mahavishnu.environments.profiles import PROFILE_NAME, Profile, profile_from
from mahavishnu.environments.shared_profiles import check_references, shareable
from mahavishnu.errors import InvalidInputError, MahavishnuError, NotFoundError, StoreError
from mahavishnu.json_types import JSONObject
from mahavishnu.memory.core.backends.postgres import connect, dsn_location, resolve_dsn
from mahavishnu.memory.team.members import require_group
from mahavishnu.memory.team.schema import PROFILES_TABLE
from mahavishnu.memory.team.writes import PROFILE_DELETE_FUNCTION

if TYPE_CHECKING:
    import psycopg

    from mahavishnu.config import Settings

_COLUMNS = "name, definition, pushed_by, pushed_at"
#: What ``m010_team_profiles`` accepts as a name (checked here first, to say so in one line).
_NAME = PROFILE_NAME  # (a profile's name anywhere: ``profiles.PROFILE_NAME``)
_MISSING_TABLE_HINT = "Its owner runs `mahavishnu team init` again (after an upgrade) to add team profiles."


@dataclass(frozen=True, slots=True)
class TeamProfile:
    name: str
    definition: JSONObject
    pushed_by: str
    pushed_at: datetime

    def profile(self) -> Profile:
        """The profile a member's machine uses: checked as a local one, machine-local references
        left out, Mahavishnu's own secrets refused (``check_references``)."""
        found = profile_from(self.name, self.definition)
        usable = check_references(self.name, found.settings.secret, found.settings.aliases)
        return Profile(self.name, found.settings.model_copy(update={"secret": usable}), builtin=False)

    def to_dict(self) -> JSONObject:
        return {"pushed_by": self.pushed_by, "pushed_at": self.pushed_at.isoformat()}


@dataclass(frozen=True, slots=True)
class Pushed:
    name: str
    location: str
    pushed_by: str
    replaced: bool
    dropped: list[str] = field(default_factory=list)

    def to_dict(self) -> JSONObject:
        return {
            "name": self.name,
            "location": self.location,
            "pushed_by": self.pushed_by,
            "replaced": self.replaced,
            "dropped_references": [*self.dropped],
        }


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The team's profiles as read now, or why none could be (``notice``, one line)."""

    profiles: list[TeamProfile] = field(default_factory=list)
    notice: str | None = None


def team_dsn(settings: Settings) -> str | None:
    """The configured team store's DSN (with its password as ``resolve_dsn`` finds it); None when
    memory is not on PostgreSQL."""
    if settings.memory.backend != "postgres":
        return None
    return resolve_dsn(settings.memory)


def push(dsn: str, profile: Profile) -> Pushed:
    """Put ``profile`` (its definition without keys) in the team store under its name; replacing
    one of that name only when this role pushed it."""
    share = shareable(profile)
    if not _NAME.fullmatch(profile.name):
        raise InvalidInputError(
            f"'{profile.name}' cannot name a team profile",
            hint="Use letters, digits, '.', '_' and '-' (at most 64), starting with a letter or digit.",
        )
    with connect(dsn) as conn, conn.transaction():
        require_group(conn, dsn)
        _require_table(conn, dsn)
        existing = _get(conn, profile.name)
        me = str(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
        if existing is not None and existing.pushed_by != me:
            raise _not_yours(existing, "replace")
        try:
            conn.execute(
                f"INSERT INTO {PROFILES_TABLE} (name, definition) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, pushed_at = now()",
                (profile.name, _jsonb(share.definition)),
            )
        except _refused() as exc:  # pushed by another member meanwhile (row-level security said no)
            raise InvalidInputError(
                f"team profile '{profile.name}' was just pushed by another member: only they may replace it",
                hint="List it with `mahavishnu ai list-llms`; push yours under another name.",
            ) from exc
    return Pushed(profile.name, dsn_location(dsn), me, existing is not None, share.dropped)


def remove(dsn: str, name: str) -> TeamProfile:
    """Remove team profile ``name`` (this role's own; the tables' owner: anyone's)."""
    with connect(dsn) as conn, conn.transaction():
        require_group(conn, dsn)
        _require_table(conn, dsn)
        existing = _get(conn, name)
        if existing is None:
            raise NotFoundError(f"no team profile '{name}'", hint="List them with `mahavishnu ai list-llms`.")
        deleted = _delete(conn, existing.name)
        if not deleted:
            raise _not_yours(existing, "remove")
    return existing


def _delete(conn: psycopg.Connection[Any], name: str) -> int:
    """Team profile ``name`` deleted (a member: through ``team_delete_profile``, ``team/writes.py``)."""
    if conn.execute(f"SELECT has_table_privilege('{PROFILES_TABLE}', 'DELETE')").fetchone()[0]:  # type: ignore[index]
        return int(conn.execute(f"DELETE FROM {PROFILES_TABLE} WHERE name = %s", (name,)).rowcount)
    found = conn.execute(f"SELECT {PROFILE_DELETE_FUNCTION}(%s)", (name,)).fetchone()
    return int(found[0]) if found else 0


def fetch(dsn: str) -> list[TeamProfile]:
    """Every team profile, by name."""
    with connect(dsn) as conn:
        _require_table(conn, dsn)
        rows = conn.execute(f"SELECT {_COLUMNS} FROM {PROFILES_TABLE} ORDER BY name").fetchall()
    return [_team_profile(row) for row in rows]


def catalogue(settings: Settings) -> Catalogue:
    """The team's profiles for ``ai list-llms``: empty without a team store; a one-line notice,
    never an error, when it cannot be read."""
    try:
        dsn = team_dsn(settings)
        return Catalogue(fetch(dsn)) if dsn is not None else Catalogue()
    except MahavishnuError as exc:
        return Catalogue(notice=f"team profiles not listed: {exc.message}")


def find(settings: Settings, name: str) -> TeamProfile | None:
    """The team profile ``name`` (its name or an alias, case-insensitively), for a switch that found
    no local profile of that name; None without a team store."""
    dsn = team_dsn(settings)
    if dsn is None:
        return None
    wanted = name.strip().lower()
    for each in fetch(dsn):
        aliases = each.definition.get("aliases")
        names = [each.name, *(aliases if isinstance(aliases, list) else [])]
        if wanted in (str(n).lower() for n in names):
            return each
    return None


def with_team_profile(settings: Settings, found: TeamProfile) -> Settings:
    """``settings`` with team profile ``found`` among the user's profiles (this process only)."""
    profile = found.profile()
    return settings.model_copy(update={"profiles": {**settings.profiles, profile.name: profile.settings}})


def hidden_by_local(local: dict[str, Profile], team: list[TeamProfile]) -> list[TeamProfile]:
    """The team profiles a local profile hides (same name or alias: the local one wins)."""
    taken = {n.lower() for p in local.values() for n in (p.name, *p.aliases)}
    return [t for t in team if t.name.lower() in taken]


def _get(conn: psycopg.Connection[Any], name: str) -> TeamProfile | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM {PROFILES_TABLE} WHERE name = %s", (name,)).fetchone()
    return None if row is None else _team_profile(row)


def _team_profile(row: Any) -> TeamProfile:
    name, definition, pushed_by, pushed_at = row
    return TeamProfile(str(name), dict(definition), str(pushed_by), pushed_at)


def _require_table(conn: psycopg.Connection[Any], dsn: str) -> None:
    found = conn.execute(
        "SELECT CASE WHEN to_regclass(%s) IS NULL THEN false "
        "ELSE has_table_privilege(to_regclass(%s)::oid, 'SELECT') END",
        (PROFILES_TABLE, PROFILES_TABLE),
    ).fetchone()
    if not (found and found[0]):
        raise StoreError(
            f"the team store at {dsn_location(dsn)} has no team profiles", hint=_MISSING_TABLE_HINT
        )


def _not_yours(existing: TeamProfile, verb: str) -> InvalidInputError:
    return InvalidInputError(
        f"team profile '{existing.name}' was pushed by {existing.pushed_by}: only they may {verb} it",
        hint="Push yours under another name (`profiles: NEW_NAME:` in your settings), or ask them.",
    )


def _refused() -> tuple[type[Exception], ...]:
    import psycopg

    return (psycopg.errors.InsufficientPrivilege,)


def _jsonb(value: JSONObject) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value)
