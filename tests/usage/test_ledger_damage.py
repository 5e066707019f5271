"""A damaged ledger (``usage.sqlite3``, a cache: the machine crashed mid-write, the disk filled, a
tool scribbled on it) is made again from the logs: the report is the one a fresh ledger gives,
never a traceback or the memory store's "damaged" advice."""

from __future__ import annotations

import pickle
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from mahavishnu.usage import ledger
from mahavishnu.usage.records import Tool
from mahavishnu.usage.report import report


def _fresh_report(logs: Path) -> dict[str, object]:
    ledger.ledger_file().unlink(missing_ok=True)
    return report("daily", "model", ["claude", "codex", "qwen", "gemini"]).to_json()


def test_a_file_that_is_not_a_database_is_made_again(logs: Path) -> None:
    expected = _fresh_report(logs)
    ledger.ledger_file().write_bytes(b"\x00garbage" * 4096)

    assert report("daily", "model", ["claude", "codex", "qwen", "gemini"]).to_json() == expected
    with sqlite3.connect(ledger.ledger_file()) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == ledger.VERSION
        assert db.execute("SELECT SUM(count) FROM reads").fetchone()[0] > 0


def test_damage_found_only_while_reading_reads_the_logs_again(logs: Path) -> None:
    expected = _fresh_report(logs)
    file = ledger.ledger_file()
    data = bytearray(file.read_bytes())
    page = 4096
    assert len(data) > 4 * page, "the ledger is too small for this test"
    data[page:] = b"\xff" * (len(data) - page)  # its header is whole, every other page is not
    file.write_bytes(bytes(data))
    with sqlite3.connect(file) as db, pytest.raises(sqlite3.DatabaseError):
        db.execute("SELECT SUM(count) FROM reads").fetchone()  # (damaged indeed)

    assert report("daily", "model", ["claude", "codex", "qwen", "gemini"]).to_json() == expected


class _Runs:
    """What a pickle that names a function would call on loading (it never must)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path("/").joinpath("ran").touch, ())  # type: ignore[return-value]


def _checked(data: bytes) -> bytes:
    """``data`` as a read's records are kept: after their CRC-32 (so the unpickling is reached)."""
    return zlib.crc32(data).to_bytes(4, "little") + data


@pytest.mark.parametrize(
    "blob",
    [
        _checked(pickle.dumps([_Runs()])),  # names a function: refused, never called
        _checked(pickle.dumps([("claude", "k")])),  # plain, but not records
        _checked(pickle.dumps({"not": "a list"})),
        _checked(b"\x80\x05cut short"),
        pickle.dumps([_Runs()]),  # without its CRC
        b"",
    ],
    ids=["names-a-function", "short-rows", "not-a-list", "cut-short", "no-crc", "empty"],
)
def test_a_read_whose_records_are_not_records_makes_the_ledger_again(
    logs: Path, blob: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache file written by something else: the blob is never trusted to name code, and a
    report over it is the one a fresh ledger gives."""
    called: list[object] = []
    monkeypatch.setattr(Path, "touch", lambda *args, **kwargs: called.append(args))
    expected = _fresh_report(logs)
    with sqlite3.connect(ledger.ledger_file()) as db:
        db.execute("UPDATE reads SET records = ? WHERE id = (SELECT MIN(id) FROM reads)", (blob,))
        db.execute("DELETE FROM sums")  # (else the kept sums answer without reading the records)

    assert report("daily", "model", ["claude", "codex", "qwen", "gemini"]).to_json() == expected
    assert called == []


@pytest.mark.parametrize("damage", ["crcs-as-text", "records-as-text", "a-byte-changed"])
def test_a_read_of_the_wrong_type_or_with_a_byte_changed_is_damage(logs: Path, damage: str) -> None:
    """A cell whose type tag flipped, or one byte of a read's records changed on the disk (a digit
    of a count, a value's type): the report is the one a fresh ledger gives, never a traceback
    or a wrong figure."""
    tools: list[Tool] = ["claude", "codex", "qwen", "gemini"]
    _fresh_report(logs)
    with sqlite3.connect(ledger.ledger_file()) as db:
        if damage == "crcs-as-text":
            db.execute("UPDATE reads SET crcs = 'abcd'")
        else:
            read, blob = db.execute("SELECT id, records FROM reads ORDER BY id LIMIT 1").fetchone()
            if damage == "records-as-text":
                changed: object = "abcd"
            else:  # a count one more or less: the pickle is as valid as before
                data = bytearray(blob)
                count = pickle.loads(bytes(data[4:]))[0][4]
                value = pickle.dumps(count, 5)[2:-1]  # (its opcode and bytes)
                data[data.index(value, 4) + 1] ^= 1
                changed = bytes(data)
            db.execute("UPDATE reads SET records = ? WHERE id = ?", (changed, read))
            db.execute("DELETE FROM sums")
    if damage == "crcs-as-text":  # an append asks the CRCs
        log = max((logs / ".claude").rglob("*.jsonl"), key=lambda path: path.stat().st_size)
        line = next(line for line in log.read_bytes().splitlines(keepends=True) if b'"usage"' in line)
        with log.open("ab") as handle:
            handle.write(line)
    shown = report("daily", "model", tools).to_json()

    assert shown == _fresh_report(logs)


@pytest.mark.parametrize("column", ["crcs", "index"])
def test_key_crcs_cut_short_make_the_ledger_again(logs: Path, column: str) -> None:
    """An append asks the reads' key CRCs (and the index of them) whether its requests were
    counted: CRCs cut short are damage, and the report is the one a fresh ledger gives."""
    tools: list[Tool] = ["claude", "codex", "qwen", "gemini"]
    _fresh_report(logs)
    log = max((logs / ".claude").rglob("*.jsonl"), key=lambda path: path.stat().st_size)
    lines = log.read_bytes().splitlines(keepends=True)
    usage_lines = [line for line in lines if b'"usage"' in line]
    if column == "index":
        with log.open("ab") as handle:  # a request read before, streamed again
            handle.write(usage_lines[0])
        report("daily", "model", tools)  # (its check makes the index)
    with sqlite3.connect(ledger.ledger_file()) as db:
        if column == "crcs":  # (before the index is made of them)
            db.execute("UPDATE reads SET crcs = X'010203'")
        else:
            db.execute("UPDATE crc_buckets SET packed = X'010203'")
    with log.open("ab") as handle:
        handle.write(usage_lines[-1])
    expected = report("daily", "model", tools).to_json()

    assert expected == _fresh_report(logs)


def test_the_cli_reports_over_a_damaged_ledger(logs: Path) -> None:
    _fresh_report(logs)
    ledger.ledger_file().write_bytes(b"not a database at all" * 100)

    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "usage", "daily", "--json"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )

    assert done.returncode == 0, done.stderr
    assert '"daily"' in done.stdout
    assert "memory store" not in done.stderr and "Traceback" not in done.stderr


def test_only_damage_removes_the_ledger() -> None:
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    malformed = sqlite3.DatabaseError("database disk image is malformed")
    malformed.sqlite_errorcode = sqlite3.SQLITE_CORRUPT  # type: ignore[attr-defined]

    assert not ledger._is_damage(locked)
    assert not ledger._is_damage(sqlite3.OperationalError("no code"))
    assert ledger._is_damage(malformed)


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE crc_covered DROP COLUMN keys",
        "DROP TABLE crc_buckets; CREATE TABLE crc_buckets (bucket INTEGER PRIMARY KEY)",
        "DROP TABLE sums; CREATE TABLE sums (query TEXT PRIMARY KEY)",
    ],
)
def test_tables_not_as_this_version_makes_them_are_made_again(logs: Path, change: str) -> None:
    """Another program (or another build of this one at the same ``VERSION``) changed the tables
    an append asks (the kept sums, the CRC index): the cache is made again, not a failed report."""
    tools: list[Tool] = ["claude", "codex", "qwen", "gemini"]
    log = max((logs / ".claude").rglob("*.jsonl"), key=lambda path: path.stat().st_size)
    repeat = next(line for line in reversed(log.read_bytes().splitlines(True)) if b'"usage"' in line)
    _fresh_report(logs)
    with log.open("ab") as handle:
        handle.write(repeat)
    report("daily", "model", tools)  # (the append asks: the CRC index is made)
    with sqlite3.connect(ledger.ledger_file()) as db:
        db.executescript(change)
    with log.open("ab") as handle:
        handle.write(repeat)
    got = report("daily", "model", tools).to_json()

    assert got == _fresh_report(logs)


def test_a_busy_ledger_is_named_as_the_usage_cache(logs: Path) -> None:
    _fresh_report(logs)
    holder = sqlite3.connect(ledger.ledger_file(), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import sqlite3; sqlite3.connect = (lambda c: lambda *a, **k: c(*a, "
             "**{**k, 'timeout': 0.1}))(sqlite3.connect); from mahavishnu.cli.entry import run; run()",
             "usage", "daily", "--json"],
            capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        holder.rollback()
        holder.close()

    assert done.returncode == 1, done.stdout
    assert "the usage cache is busy" in done.stderr and "memory store" not in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2


def test_two_reports_that_open_a_new_cache_at_once_drop_the_old_tables_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One report finds the cache of another VERSION; before it drops the old tables, a second report
    makes the new ones and stores a log's row: the first must not drop those (the second would then
    find its tables gone, call that damage and remove the file the first is writing to)."""
    file = tmp_path / "usage.sqlite3"
    with sqlite3.connect(file) as old:
        old.execute(f"PRAGMA user_version = {ledger.VERSION - 1}")
        old.execute("CREATE TABLE files (path TEXT)")
    real = ledger._emptied
    second: list[bool] = []

    def emptied(db: sqlite3.Connection) -> bool:
        if not second:  # the first report looked at the number: the second comes in now
            second.append(True)
            with ledger.opened(file) as other, other:
                other.execute(
                    "INSERT INTO files VALUES ('s0.jsonl', 'claude', 1, 1, 1, x'', '{}', 0, 0, '1:1')"
                )
        return real(db)

    monkeypatch.setattr(ledger, "_emptied", emptied)
    with ledger.opened(file) as db:
        assert db.execute("SELECT path FROM files").fetchall() == [("s0.jsonl",)]
    assert second == [True]


def test_a_cache_another_report_made_again_meanwhile_says_so(tmp_path: Path) -> None:
    moved = sqlite3.OperationalError("attempt to write a readonly database")
    moved.sqlite_errorcode = 1032  # type: ignore[attr-defined]  # SQLITE_READONLY_DBMOVED

    failed = ledger._failed(tmp_path / "usage.sqlite3", moved)

    assert "made again by another report" in failed.message and "again" in (failed.hint or "")
