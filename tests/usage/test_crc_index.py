"""The ledger's index of key CRCs (``ledger.first_times``): whatever reads are stored, in whatever
steps, and whichever report asks up to which read, it names the same earliest times a scan of every
read gives. CRCs are squeezed into a few values (into one bucket, or a few) so that keys share them:
a shared CRC costs a read unpickled, never a wrong answer."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mahavishnu.usage import ledger

JAN_1 = 1_767_225_600.0


def _row(key: str, time: float, output: int = 1) -> ledger.Row:
    return ("claude", key, time, "claude-sonnet-4-5", 1, output, 0, 0, "s1", None, "main", 0, "", "")


def _add(db: sqlite3.Connection, rows: list[ledger.Row], path: str = "log") -> int:
    blob, count, first, last, crcs = ledger._encoded(rows)
    db.execute(
        "INSERT INTO reads (path, tool, first, last, count, records, crcs)"
        " VALUES (?, 'claude', ?, ?, ?, ?, ?)",
        (path, first, last, count, blob, crcs),
    )
    return ledger.last_row(db)


def _scanned(db: sqlite3.Connection, upto: int, keys: list[str]) -> dict[str, tuple[float, int]]:
    """Each key's earliest time and most output, from every read up to ``upto``."""
    first: dict[str, tuple[float, int]] = {}
    for (blob,) in db.execute("SELECT records FROM reads WHERE id <= ?", (upto,)):
        for row in ledger._decoded(blob):
            if row[1] in keys:
                time, output = first.get(row[1], (float("inf"), -1))
                first[row[1]] = (min(time, row[2]), max(output, row[5]))
    return first


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    with ledger.opened(tmp_path / "usage.sqlite3") as connection:
        yield connection


_READ = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 500)), min_size=1, max_size=30)
_REAL_CRC = ledger._crc  # (taken once: a patch stays on between hypothesis' examples)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    reads=st.lists(_READ, min_size=1, max_size=25),
    asks=st.lists(
        st.tuples(st.integers(0, 30), st.lists(st.integers(0, 45), max_size=12), st.booleans()), max_size=12
    ),
    squeeze=st.sampled_from([1, 3, 1 << 16, 5 << 16, 1 << 32]),
)
def test_first_times_name_what_a_scan_of_every_read_does(
    db: sqlite3.Connection,
    monkeypatch: pytest.MonkeyPatch,
    reads: list[list[tuple[int, int]]],
    asks: list[tuple[int, list[int], bool]],
    squeeze: int,
) -> None:
    """``squeeze``: CRCs modulo it (1: all one; 3: three in one bucket; then buckets apart). Some
    steps forget the newest log first (SQLite gives its read's id to the next one stored)."""
    monkeypatch.setattr(ledger, "_crc", lambda key: _REAL_CRC(key) % squeeze)
    for table in ("reads", "crc_covered", "crc_buckets"):
        db.execute(f"DELETE FROM {table}")
    pending = iter(enumerate(reads))
    for upto_pick, wanted, forget in asks:
        if forget and (newest := ledger.last_row(db)):
            (path,) = db.execute("SELECT path FROM reads WHERE id = ?", (newest,)).fetchone()
            ledger._forget(db, path)
        for _ in range(upto_pick % 4):  # reads come between the questions
            if (item := next(pending, None)) is not None:
                n, read = item
                rows = [
                    _row(f"k{key}", JAN_1 + at, at % 7) for key, at in dict(read).items()
                ]  # a streamed reply's
                _add(db, rows, f"log{n}")  # output grows from read to read, or not
        upto = upto_pick % (ledger.last_row(db) + 1)  # (a report's sums may count up to an older read)
        keys = [f"k{key}" for key in wanted]

        assert ledger.first_times(db, ["claude"], None, None, upto, keys) == _scanned(db, upto, keys)


def test_the_index_is_made_again_once_reads_outside_it_hold_an_eighth_of_its_keys(
    db: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the reads whose CRCs match are unpickled, in the index and outside it alike."""
    unpickled: list[int] = []
    real = ledger._decoded
    monkeypatch.setattr(ledger, "_decoded", lambda blob: unpickled.append(1) or real(blob))
    first = _add(db, [_row(f"k{n}", JAN_1 + n) for n in range(80)])
    assert ledger.first_times(db, ["claude"], None, None, first, ["k1"]) == {"k1": (JAN_1 + 1, 1)}
    assert db.execute("SELECT upto, keys FROM crc_covered").fetchone() == (first, 80)
    _add(db, [_row(f"k{n}", JAN_1 + n) for n in range(80, 85)])
    small = _add(db, [_row(f"k{n}", JAN_1 + n) for n in range(85, 90)])  # 10 keys since: an eighth
    unpickled.clear()
    assert ledger.first_times(db, ["claude"], None, None, small, ["k85", "k99"]) == {"k85": (JAN_1 + 85, 1)}
    assert db.execute("SELECT upto, keys FROM crc_covered").fetchone() == (first, 80)  # looked at apart
    assert unpickled == [1]  # the read holding k85 only
    more = _add(db, [_row("k90", JAN_1 + 90)])  # 11 keys outside: more than an eighth
    assert ledger.first_times(db, ["claude"], None, None, more, ["k90", "k3"]) == {
        "k90": (JAN_1 + 90, 1),
        "k3": (JAN_1 + 3, 1),
    }
    assert db.execute("SELECT upto, keys FROM crc_covered").fetchone() == (more, 91)
    buckets = db.execute("SELECT bucket, packed FROM crc_buckets").fetchall()
    assert sum(len(packed) for _, packed in buckets) == 91 * 8
    assert all(len({value >> 48 for value in memoryview(packed).cast("Q")}) == 1 for _, packed in buckets)


@pytest.mark.parametrize(
    "change",
    [
        "INSERT INTO crc_covered VALUES (99, 1)",  # two rows: which one is true?
        "UPDATE crc_covered SET keys = 'many'",
        "UPDATE crc_buckets SET packed = X'0102'",
    ],
)
def test_an_index_not_as_made_is_damage(db: sqlite3.Connection, change: str) -> None:
    first = _add(db, [_row(f"k{n}", JAN_1 + n) for n in range(80)])
    ledger.first_times(db, ["claude"], None, None, first, ["k1"])
    db.execute(change)

    with pytest.raises(ledger._BadBlob):
        ledger.first_times(db, ["claude"], None, None, first, ["k1"])
