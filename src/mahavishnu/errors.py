"""One exception tree for the whole package.

Every error a user can cause carries a one-line ``message`` and a ``hint`` that says what to do;
the CLI prints both and exits non-zero, the MCP server returns them as a tool error.
``from_unexpected`` turns what the environment (not a bug) raises below us — a read-only or
damaged SQLite file, a directory we may not write or cannot make, input nested too deeply to
parse — into one.

    MahavishnuError
    ├── ConfigError                 settings file or value is invalid
    ├── InvalidInputError           a bad argument: empty content, bad filter, bad hook ...
    ├── NotFoundError               something named does not exist
    │   ├── UnknownProfileError     no provider profile by that name or alias
    │   ├── SecretNotFoundError     a secret reference resolves to nothing
    │   └── UnknownServiceError     no service declared by that name
    ├── SecretStoreError            no usable keyring backend, unsafe secrets file ...
    ├── ProtocolMismatchError       a profile the chosen assistant cannot speak
    ├── ConfigFileError             an assistant's config file cannot be used
    │   ├── InvalidConfigFileError  existing file does not parse (message names the line)
    │   ├── ConfigDriftError        file changed on disk while we were editing it
    │   └── WriteFailedError        the file or its directory cannot be written
    ├── StoreError                  the memory store cannot do what was asked
    │   ├── StoreDamagedError       the store's file is corrupt (``mahavishnu db check``)
    │   ├── MigrationError          schema migration failed or the store is newer than us
    │   ├── NotYoursError           a team member's change to a memory another member wrote
    │   ├── StoreClosedError        a ``MemoryStore`` used after ``close()`` (or its ``with`` block)
    │   └── BackendUnavailableError a database server cannot be reached (message names the host)
    │       └── ServerUnreachableError  no answer from it at all (refused, timed out, gone midway)
    │           └── QueuedOfflineError  ... so what was to be stored waits in the local outbox
    ├── EmbeddingError              an embedder failed or is unreachable
    │   ├── DimensionMismatchError  vectors of the wrong size for this store
    │   └── EmbedderMismatchError   same size, but another model's vector space
    ├── ProviderUnavailableError    an LLM provider does not answer or refuses the key (``run``'s check)
    ├── ServiceError                a supervised service failed to start/stop/answer
    │   ├── ServiceStartError       it exited or never passed its health check (carries the log tail)
    │   └── ServiceStopError        its process group outlived SIGKILL
    └── PeerError                   the Session-Buddy peer is not configured, unreachable, slow or failed
"""

from __future__ import annotations

import errno
import os


class MahavishnuError(Exception):
    """Base of every error Mahavishnu raises on purpose."""

    exit_code = 1
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class ConfigError(MahavishnuError):
    default_hint = "Fix the settings file (`mahavishnu config path` prints where it is); nothing was changed."


class InvalidInputError(MahavishnuError):
    exit_code = 2


def wrong_type(function: str, takes: str, value: object, hint: str | None = None) -> InvalidInputError:
    """``function`` of the public API given ``value`` where it takes ``takes``: said so, not the
    AttributeError or TypeError the value would raise deep inside (``'int' object has no attribute ...``)."""
    return InvalidInputError(f"{function} takes {takes}, not {type(value).__name__}", hint)


def given_path(function: str, value: object) -> str | os.PathLike[str]:
    """The path a caller of ``function`` gave (a ``Path`` or its text), refused when it is not one
    (``Path(5)`` said "expected str, bytes or os.PathLike object") or is empty (``Path("")`` is
    the working directory)."""
    if not isinstance(value, str | os.PathLike):
        raise wrong_type(function, "a path", value)
    if value == "":
        raise InvalidInputError(f"{function} takes a path, not an empty text", hint="Name a file or folder.")
    return value


class NotFoundError(MahavishnuError):
    pass


class UnknownProfileError(NotFoundError):
    default_hint = "List the profiles with `mahavishnu ai list-llms`."


class SecretNotFoundError(NotFoundError):
    default_hint = "Store it with `mahavishnu secrets set NAME` or export the environment variable."


class SecretStoreError(MahavishnuError):
    pass


class ProtocolMismatchError(MahavishnuError):
    exit_code = 2


class ConfigFileError(MahavishnuError):
    pass


def restore_hint(source: str) -> str:
    """What to do about a config file that does not parse: fix it, or put one of its backups back
    (not ``ai rollback`` alone: that undoes the last switch, maybe another assistant's)."""
    if source.startswith("<"):  # no file: a text given in code
        return "Fix the text; nothing was written."
    return (
        f"Fix the file by hand, or put a backup back: `mahavishnu ai backups --file {source}` lists them, "
        "`mahavishnu ai rollback --to ID` restores one; nothing was written."
    )


class InvalidConfigFileError(ConfigFileError):
    default_hint = (
        "Fix the file by hand, or put a backup back: `mahavishnu ai backups` lists them, "
        "`mahavishnu ai rollback --to ID` restores one; nothing was written."
    )


class ConfigDriftError(ConfigFileError):
    default_hint = "Another program changed the file while it was being edited; run the command again."


class WriteFailedError(ConfigFileError):
    default_hint = "Check the permissions of the file and its directory."


class StoreError(MahavishnuError):
    pass


class StoreDamagedError(StoreError):
    default_hint = (
        "Run `mahavishnu db check` for the details; then put a backup back with `mahavishnu db "
        "restore FILE`, or recover what is readable with `sqlite3 memory.db .recover | sqlite3 repaired.db`."
    )

    @classmethod
    def checked(cls, message: str, path: object) -> StoreDamagedError:
        """``db check`` found damage: what to do next, for this file (no "run db check")."""
        return cls(
            message,
            hint=f"Put a backup back with `mahavishnu db restore FILE`, or recover what is readable with "
            f"`sqlite3 {path} .recover | sqlite3 repaired.db` and set memory.path to repaired.db.",
        )


class MigrationError(StoreError):
    pass


class NotYoursError(StoreError):
    """On a team store, a change to a memory another member wrote: the database's row-level
    security would silently leave it as it is, so the change is refused before it is tried."""


class StoreClosedError(StoreError):
    """A ``MemoryStore`` used after it was closed: sqlite3 said "Cannot operate on a closed
    database", naming neither the store nor what to do."""

    default_hint = "Open one again with MemoryStore.open(); or use it in `with MemoryStore.open() as store:`."


class BackendUnavailableError(StoreError):
    #: Whether its hint is to check that the server runs and ``memory.dsn`` names it: a command given
    #: ``--dsn`` says so of that instead (``cli/team.py``).
    about_reach: bool = False
    #: Whether the server refused the password: one kept in the secret store may be another since
    #: (the member joined again), which a long-lived store then opens anew (``PostgresBackend.replaced``).
    password_refused: bool = False


class ServerUnreachableError(BackendUnavailableError):
    """The server did not answer at all (connection refused, timed out, or lost midway), as opposed
    to one that answered with a refusal (a wrong password, no such database)."""


class ConnectionLimitError(ServerUnreachableError):
    """The server answered, but refuses this member another connection (their role's ``CONNECTION
    LIMIT``): for now, so what is stored meanwhile waits in the outbox as for a server down."""


class QueuedOfflineError(ServerUnreachableError):
    """The store was unreachable, so the memories to store were written to the local outbox
    (``memory/core/outbox.py``) instead: acknowledged, and delivered once it is reachable again."""

    exit_code = 0

    def __init__(
        self, message: str, hint: str | None = None, *, client_ids: tuple[str, ...] = (), waiting: int = 0
    ) -> None:
        super().__init__(message, hint)
        self.client_ids = client_ids
        self.waiting = waiting


class EmbeddingError(MahavishnuError):
    pass


class DimensionMismatchError(EmbeddingError):
    default_hint = "Use the store's embedder, or migrate with `mahavishnu memory reembed --embedder NAME`."


class ProviderUnavailableError(MahavishnuError):
    """An LLM provider that does not answer or refuses the key (``mahavishnu run``'s check)."""


class ServiceError(MahavishnuError):
    pass


class EmbedderMismatchError(EmbeddingError):
    default_hint = "Use the store's embedder, or migrate with `mahavishnu memory reembed --embedder NAME`."


class UnknownServiceError(NotFoundError):
    default_hint = "List the declared services with `mahavishnu service status`."


class ServiceStartError(ServiceError):
    default_hint = "Read the whole log with `mahavishnu service logs NAME`."

    def __init__(self, message: str, hint: str | None = None, log_tail: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.log_tail = log_tail or []


class ServiceStopError(ServiceError):
    default_hint = "Inspect the processes with `ps -o pid,pgid,stat,cmd -g PGID`; nothing else was signalled."


class PeerError(MahavishnuError):
    default_hint = (
        "Check the peer with `mahavishnu health`; configure it with `session_buddy.url` in "
        "mahavishnu.yaml or MAHAVISHNU_SESSION_BUDDY__URL."
    )


#: What SQLite says when the file itself is corrupt (``database disk image is malformed``, a page
#: of FTS5 or vector data that decodes to garbage ...).
_DAMAGED = ("malformed", "not a database", "decode", "vtable constructor", "corrupt", "no such vtab")


#: What the file system says of a path, not of the program: no such folder, a file where a folder
#: should be (or the other way), a read-only or full disk, a name too long, a loop of links.
_PATH_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOENT", "ENOTDIR", "EISDIR", "EROFS", "ENOSPC", "EDQUOT", "ENAMETOOLONG", "ELOOP")
    if hasattr(errno, name)
)


def from_unexpected(exc: BaseException) -> MahavishnuError | None:
    """A one-line error for an exception the environment caused, or None for a real bug."""
    if type(exc).__module__ == "sqlite3":  # without importing sqlite3 here
        return _from_sqlite(str(exc))
    if isinstance(exc, RecursionError):
        return InvalidInputError(
            "the input is nested too deeply to read",
            hint="Flatten the file or value (a config file nested thousands of levels is not valid).",
        )
    if isinstance(exc, UnicodeEncodeError) and exc.reason == "surrogates not allowed":
        return InvalidInputError(  # an argument's byte that is not UTF-8, on its way to a file or a query
            "a value given holds bytes that are not UTF-8 text",
            hint="Give it again as UTF-8 text (check the encoding of the terminal or script that passed it).",
        )
    if isinstance(exc, PermissionError):
        where = f": {exc.filename}" if exc.filename else ""
        return WriteFailedError(f"permission denied{where}")
    if isinstance(exc, OSError) and type(exc).__module__ == "mahavishnu.paths":  # (not imported here)
        return WriteFailedError(  # ``paths.CannotMakeDirError``: one of Mahavishnu's own directories
            f"cannot create {exc.filename}: {exc.strerror}",
            hint="Mahavishnu keeps its files there: set MAHAVISHNU_HOME to a folder this user can create "
            "and write, or make that one so.",
        )
    if isinstance(exc, OSError) and exc.filename and exc.errno in _PATH_ERRNOS:
        return WriteFailedError(  # a path the user gave: under a file, on a full or read-only disk...
            f"cannot use {exc.filename}: {exc.strerror}",
            hint="Check that path: its folders must exist or be creatable (none of them a file) "
            "on a writable disk with room; nothing was written there.",
        )
    return None


def _from_sqlite(text: str) -> StoreError:
    if "readonly" in text or "read-only" in text:
        return StoreError(
            f"the memory store is read-only ({text})",
            hint="Make memory.db, its -wal/-shm files and its directory writable (`chmod u+w`), "
            "or point memory.path at a writable file.",
        )
    if any(marker in text for marker in _DAMAGED):
        return StoreDamagedError(f"the memory store is damaged ({text})")
    if "locked" in text or "busy" in text:
        return StoreError(f"the memory store is busy ({text})", hint="Another process holds it; retry.")
    return StoreError(f"the memory store failed: {text}", hint="Run `mahavishnu db check`.")
