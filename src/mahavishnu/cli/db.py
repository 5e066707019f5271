"""``mahavishnu db``: the memory store's schema (status, migrate), damage check and whole-store
backup/restore."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mahavishnu import wording
from mahavishnu.cli.output import JSON_OPTION, console, info, print_json, table, warn
from mahavishnu.cli.target_file import FORCE_HELP, target_file

app = typer.Typer(
    help="Inspect and migrate the memory store's schema; back it up and restore it.", no_args_is_help=True
)


@app.command("status")
def status_cmd(as_json: bool = JSON_OPTION) -> None:
    """Show applied and pending migrations of the configured store (changes nothing)."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.store import default_store_path, open_backend

    settings = load_settings().memory
    path = settings.path or default_store_path()
    if settings.backend == "sqlite" and not path.exists():
        from mahavishnu.memory.core.migrations.sqlite import MIGRATIONS

        data: dict[str, Any] = {
            "backend": "sqlite",
            "location": str(path),
            "exists": False,
            "applied": [],
            "pending": MIGRATIONS.names,
            "up_to_date": False,
        }
    else:
        backend = open_backend(settings, migrate=False)
        try:
            data = {**backend.migration_state().to_dict(), "exists": True}
            data["read_only"] = bool(getattr(backend, "read_only", False))
        finally:
            backend.close()
    if as_json:
        print_json(data)
        return
    state = "up to date" if data["up_to_date"] else f"{len(data['pending'])} pending"
    where = data["location"] if data["exists"] else f"{data['location']} (not created yet)"
    if data.get("read_only"):
        from mahavishnu.memory.core.backends import read_only

        mount = f", on a read-only filesystem ({read_only.mount_point(path)})"
        where += (
            f" (read-only: reads work, writes fail{mount if read_only.on_read_only_filesystem(path) else ''})"
        )
    console.print(f"{data['backend']} store {where}: [bold]{state}[/bold]")
    rows = [(m["name"], m["applied_at"]) for m in data["applied"]] + [(n, "pending") for n in data["pending"]]
    table(None, ["migration", "applied"], rows)


@app.command("migrate")
def migrate_cmd(as_json: bool = JSON_OPTION) -> None:
    """Apply pending migrations (opening the store does this too)."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.store import open_backend

    backend = open_backend(load_settings().memory, migrate=False)
    try:
        applied = backend.migrate()
        location = backend.location
    finally:
        backend.close()
    if as_json:
        print_json({"applied": applied, "location": location})
    elif applied:
        info(f"applied {wording.count(len(applied), 'migration')} to {location}: {', '.join(applied)}")
    else:
        info(f"{location} is up to date")


@app.command("check")
def check_cmd(
    full: bool = typer.Option(
        False, "--full", help="PRAGMA integrity_check (indexes too; slower) instead of quick_check."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check the embedded store's file for damage (SQLite's quick_check, or integrity_check with
    --full); exit 1 when it is damaged."""
    from mahavishnu.config import load_settings
    from mahavishnu.errors import InvalidInputError, StoreDamagedError
    from mahavishnu.memory.core.store import default_store_path
    from mahavishnu.memory.ops.store_check import check_sqlite

    settings = load_settings().memory
    if settings.backend != "sqlite":
        raise InvalidInputError(
            "db check checks the embedded (SQLite) store",
            hint="For PostgreSQL use its own tools (amcheck, pg_amcheck).",
        )
    report = check_sqlite(settings.path or default_store_path(), full=full)
    if as_json:
        print_json(report.to_dict())
        if not report.ok:
            raise typer.Exit(1)
        return
    if not report.ok:
        message = f"the memory store {report.location} is damaged: {report.summary}"
        raise StoreDamagedError.checked(message, report.location)
    info(f"{report.location}: {report.check} ok")
    if report.read_only:
        from mahavishnu.memory.core.backends import read_only

        store = Path(report.location)
        why = read_only.describe(store)
        warn(f"it is {why} (not damaged): storing memories will fail. {read_only.hint(store)}")


@app.command("backup")
def backup_cmd(
    path: Path | None = typer.Argument(None, help="File to write (written in full before it appears)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    to: str | None = typer.Option(
        None,
        "--to",
        help="s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ for dated backups (needs boto3, the aws extra).",
    ),
    keep: int | None = typer.Option(
        None, "--keep", help="With --to PREFIX/: keep only the newest N backups."
    ),
    sse: str | None = typer.Option(
        None, "--sse", help="With --to: server-side encryption, AES256 or aws:kms."
    ),
    every: str | None = typer.Option(
        None,
        "--every",
        help="With --to: back up now (or when due) and then every 30s/15m/6h/1d until stopped, one log "
        "line per backup (what the mahavishnu-backup service runs).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Back up the whole store: SQLite's online backup (embedded) or pg_dump (PostgreSQL), to a file
    or to an S3-API object store (checksummed, private, rotated with --keep), once or --every N."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.ops import backup

    if (path is None) == (to is None):
        from mahavishnu.errors import InvalidInputError

        said = "not both" if path is not None else "one of them"
        raise InvalidInputError(
            f"give a FILE or --to s3://…, {said}", hint="e.g. `mahavishnu db backup ~/memory-backup.db`."
        )
    if path is not None and every is None and (keep is not None or sse is not None):  # (--every says)
        from mahavishnu.errors import InvalidInputError

        given = [name for name, v in (("--keep", keep), ("--sse", sse)) if v is not None]
        verb = "goes" if len(given) == 1 else "go"
        raise InvalidInputError(
            f"{', '.join(given)} {verb} with --to s3://…, not with a FILE: nothing was written",
            hint="Back up to a file without them, or to `--to s3://BUCKET/PREFIX/` to rotate and encrypt.",
        )
    if every is not None:
        _backup_every(every, to, keep, sse, as_json)
        return
    if to is not None:
        _backup_to_s3(to, keep, sse, as_json)
        return
    assert path is not None
    target = target_file(path, force)
    settings = load_settings().memory
    location = backup.backup(settings, target)
    if as_json:
        print_json({"backend": settings.backend, "location": location, "path": str(path)})
    else:
        info(f"backed up {location} to {path}")


@app.command("restore")
def restore_cmd(
    path: Path | None = typer.Argument(None, help="A file written by `mahavishnu db backup`."),
    source: str | None = typer.Option(
        None, "--from", help="s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ for the newest backup there."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Replace the store's contents with a backup, in one transaction (all or nothing); the store
    it replaces is backed up first."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.ops import backup

    settings = load_settings().memory
    if (path is None) == (source is None):
        from mahavishnu.errors import InvalidInputError

        said = "not both" if path is not None else "one of them"
        raise InvalidInputError(
            f"give a FILE or --from s3://…, {said}", hint="e.g. `mahavishnu db restore ~/memory-backup.db`."
        )
    if source is not None:
        from mahavishnu.integrations.s3.backup import restore_from_s3

        restored_from, done = restore_from_s3(settings, source)
    else:
        assert path is not None
        restored_from, done = str(path), backup.restore(settings, path)
    if as_json:
        print_json(
            {
                "backend": settings.backend,
                "location": done.location,
                "restored_from": restored_from,
                "previous": str(done.previous) if done.previous else None,
                "damaged_set_aside": str(done.set_aside) if done.set_aside else None,
            }
        )
        return
    info(f"restored {done.location} from {restored_from}")
    if done.previous:
        info(f"the store it replaced is kept in {done.previous} (`mahavishnu db restore` it to go back)")
    if done.set_aside:
        warn(f"the damaged store file was moved to {done.set_aside}")


def _backup_every(every: str, url: str | None, keep: int | None, sse: str | None, as_json: bool) -> None:
    from mahavishnu.config import load_settings, parse_interval
    from mahavishnu.errors import InvalidInputError
    from mahavishnu.integrations.s3 import schedule

    if url is None or as_json:
        raise InvalidInputError(
            "--every needs --to s3://… and writes log lines, not --json",
            hint="e.g. `mahavishnu db backup --every 6h --to s3://BUCKET/mahavishnu/ --keep 28`.",
        )
    try:
        seconds = parse_interval(every)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None

    def say(line: str) -> None:
        print(line, flush=True)  # stdout is the service's log file: one whole line at a time

    schedule.run(load_settings().memory, url, seconds, keep=keep, sse=sse, say=say)


def _backup_to_s3(url: str, keep: int | None, sse: str | None, as_json: bool) -> None:
    from mahavishnu.config import load_settings
    from mahavishnu.integrations.s3.backup import backup_to_s3

    settings = load_settings().memory
    done = backup_to_s3(settings, url, keep=keep, sse=sse)
    if as_json:
        print_json(
            {
                "backend": settings.backend,
                "location": done.location,
                "url": done.url,
                "size": done.size,
                "sha256": done.sha256,
                "rotated_out": list(done.removed),
            }
        )
        return
    info(f"backed up {done.location} to {done.url} ({done.size} bytes, SHA-256 checked)")
    if done.removed:
        info(f"removed {wording.count(len(done.removed), 'older backup')} (--keep {keep})")
