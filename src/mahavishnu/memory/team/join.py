"""``team join``: a member's machine joins the team store with the owner's one-time join string.

In this order, so a refusal leaves the string usable and the machine unchanged:
1. connect with the string's password and check the role is in the team's group;
2. check this machine's embedder makes the team's vectors (the model and dimension the store
   records): another model's vectors would be compared with the team's as if they meant the same,
   so a mismatch is refused with the setting that fixes it (``--use-team-embedder`` writes it);
3. keep a new password, made here, in the secret store (``pg-password``: the OS keyring, else the
   0600 secrets file; never the settings file), then set it on the role (sent hashed): the join
   string's password no longer works;
4. point the settings at the store (``memory.dsn`` without a password).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mahavishnu.errors import BackendUnavailableError, EmbedderMismatchError, InvalidInputError
from mahavishnu.json_types import JSONObject
from mahavishnu.memory.core.backends.postgres import PASSWORD_VARIABLE, connect, dsn_host, dsn_location
from mahavishnu.memory.team.members import JoinString, hashed_password, require_group

if TYPE_CHECKING:
    import psycopg

#: The secret ``resolve_dsn`` reads a PostgreSQL password from when the DSN holds none.
PASSWORD_SECRET = "pg-password"
_SETTABLE_EMBEDDERS = ("local", "ollama", "openai", "fastembed")


@dataclass(frozen=True, slots=True)
class Joined:
    location: str
    role: str
    group: str
    embedder: str | None
    secret_store: str
    settings_file: Path

    def to_dict(self) -> JSONObject:
        return {
            "location": self.location,
            "role": self.role,
            "group": self.group,
            "embedder": self.embedder,
            "password_stored_in": self.secret_store,
            "settings_file": str(self.settings_file),
        }


def join(text: str, *, use_team_embedder: bool = False) -> Joined:
    from psycopg import sql

    from mahavishnu import paths
    from mahavishnu.config import load_settings
    from mahavishnu.environments.secrets import Store, keyring_available, store_secret

    ticket = JoinString.decode(text)
    dsn = ticket.dsn()
    with _joined(dsn, ticket.user) as conn:
        group = require_group(conn, dsn)
        if not conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (group,)).fetchone()[0]:  # type: ignore[index]
            raise InvalidInputError(
                f"{ticket.user} is not a member of the team at {dsn_location(dsn)}",
                hint="Ask the owner to run `mahavishnu team add NAME` again.",
            )
        space = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('embedder', 'dimension')"))
        embedder_update = _embedder_update(space) if use_team_embedder else {}
        _check_embedder(load_settings().memory.model_copy(update=embedder_update), space)
        password = secrets.token_urlsafe(32)
        store: Store = "keyring" if keyring_available() else "file"
        store_secret(PASSWORD_SECRET, password, store)
        verifier = sql.Literal(hashed_password(conn, ticket.user, password))
        conn.execute(sql.SQL("ALTER ROLE CURRENT_USER PASSWORD {}").format(verifier))
    settings_file = paths.user_settings_file()
    write_settings(settings_file, {"dsn": ticket.dsn(with_password=False), **embedder_update})
    return Joined(dsn_location(dsn), ticket.user, group, space.get("embedder"), store, settings_file)


@contextmanager
def _joined(dsn: str, user: str) -> Iterator[psycopg.Connection[Any]]:
    """The join string's connection: a password it holds that the server refuses was used already
    (a join sets the member's own), or replaced by a later ``team add``; said so, not as a wrong
    password in memory.dsn. A server that does not answer: the string's host and port to check, not
    memory.dsn or the outbox (a join has neither yet)."""
    try:
        conn = connect(dsn)
    except BackendUnavailableError as exc:
        if exc.about_reach:
            hint = (
                f"Check the host and port in the join string ({dsn_host(dsn)}) and that the server is "
                "reachable from this machine; nothing was changed (the string still works)."
            )
            raise type(exc)(exc.message, hint=hint) from None
        if "password authentication failed" not in exc.message:
            raise
        raise InvalidInputError(
            f"this join string no longer works: {user}'s one-time password was used by an earlier "
            "`team join`, or replaced by a later `team add`",
            hint=f"Ask the team's owner for a new one (`mahavishnu team add {user}`).",
        ) from None
    with conn:
        yield conn


def use_here(dsn: str) -> tuple[Path, str | None]:
    """Point this machine's memory at the store ``dsn`` (``team init --use-here``), as ``join``
    does for a member: ``memory.dsn`` without its password, which (if it holds one, or else
    ``MAHAVISHNU_PG_PASSWORD`` does) goes to the secret store, so later commands need neither. The
    settings file, and the secret store used (None: no password to keep)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from mahavishnu import paths
    from mahavishnu.environments.secrets import Store, keyring_available, store_secret

    params = conninfo_to_dict(dsn)
    password = params.pop("password", None) or os.environ.get(PASSWORD_VARIABLE)
    store: Store | None = None
    if password:
        store = "keyring" if keyring_available() else "file"
        store_secret(PASSWORD_SECRET, str(password), store)
    settings_file = paths.user_settings_file()
    write_settings(settings_file, {"dsn": make_conninfo("", **params)})
    return settings_file, store


def used_here(dsn: str) -> bool:
    """Whether this machine's memory commands already use the store ``dsn``."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.backends.postgres import configured_location

    settings = load_settings().memory
    return settings.backend == "postgres" and configured_location(settings) == dsn_location(dsn)


def _embedder_update(space: dict[str, Any]) -> dict[str, Any]:
    """The settings that select the team's embedder (``name/model``)."""
    name, _, model = str(space.get("embedder") or "").partition("/")
    if name not in _SETTABLE_EMBEDDERS:
        raise InvalidInputError(
            f"the team's embedder {space.get('embedder')!r} cannot be selected in settings",
            hint="Ask the owner which embedder the team uses.",
        )
    if name == "local":
        from mahavishnu.memory.core.embedders.local import MODEL_NAMES

        model = next((runtime for runtime, m in MODEL_NAMES.items() if m == model), model)
    return {"embedder": name, "embedder_model": model}


def _check_embedder(settings: Any, space: dict[str, Any]) -> None:
    """Refuse an embedder other than the team's (its identity, then its dimension)."""
    from mahavishnu.memory.core import store as store_module

    team, dimension = space.get("embedder"), space.get("dimension")
    if not team:
        return  # the team has not stored anything yet: this machine's embedder will set it
    if _follows(settings, str(team)):
        return  # nothing configured here: the store's own model is used, and followed after a reembed
    embedder = store_module.default_embedder(settings)
    mine = embedder.identity
    if mine == team and str(embedder.dimension) == str(dimension):
        return
    raise EmbedderMismatchError(
        f"the team store's vectors come from {team} ({dimension}-dim); this machine embeds with {mine} "
        f"({embedder.dimension}-dim)",
        hint="Run `mahavishnu team join --use-team-embedder` with the same join string (it is still valid) "
        "to use the team's embedder on this machine.",
    )


def _follows(settings: Any, team: str) -> bool:
    """Whether a machine that configures no embedder uses the team's own (``MemoryStore`` takes a
    store's local model, or its hub model, when none is configured): then nothing is written, and
    the owner's ``memory reembed`` reaches this member on its next command."""
    if "embedder" in settings.model_fields_set or settings.embedder_model is not None:
        return False
    name, _, model = team.partition("/")
    if name == "fastembed":
        return bool(model)
    from mahavishnu.memory.core.embedders.local import MODEL_NAMES

    return name == "local" and model in MODEL_NAMES.values()


def write_settings(path: Path, memory: dict[str, Any]) -> None:
    """Set ``memory.*`` keys in the YAML settings file ``path`` (an explicit ``backend: sqlite``
    goes: a DSN selects PostgreSQL), safely (locked, backed up, atomic)."""
    import yaml

    from mahavishnu.config import MemorySettings
    from mahavishnu.files import safe_write

    def transform(before: str | None) -> str:
        data = yaml.safe_load(before or "") or {}
        if not isinstance(data, dict):
            raise InvalidInputError(f"{path} must hold a mapping at the top level")
        section = dict(data.get("memory") or {})
        if section.get("backend") == "sqlite":
            del section["backend"]
        section.update(memory)
        data["memory"] = section
        return yaml.safe_dump(data, sort_keys=False)

    def validate(text: str) -> None:
        try:
            MemorySettings.model_validate((yaml.safe_load(text) or {}).get("memory") or {})
        except ValueError as exc:
            raise InvalidInputError(f"the settings would not be valid: {exc}") from None

    from mahavishnu.paths import make_dir

    make_dir(path.parent)
    safe_write.apply(path, transform, validate=validate, backups=3, mode=0o600)  # `doctor` wants it private
