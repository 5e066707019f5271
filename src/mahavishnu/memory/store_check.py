"""``mahavishnu db check``: is the embedded store's file damaged?

SQLite's own checks, on a read-only connection of its own (not the backend, which a damaged file
may not even open, and which would migrate): ``PRAGMA quick_check`` (every page's structure, in
seconds), or ``PRAGMA integrity_check`` (also that every index matches its table).
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mahavishnu.errors import NotFoundError

MAX_PROBLEMS = 100


@dataclass(frozen=True)
class CheckReport:
    location: str
    check: str  # quick_check or integrity_check
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> str:
        """The first problem, and how many more there are."""
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"{self.problems[0]}{more}" if self.problems else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def check_sqlite(path: Path, *, full: bool = False) -> CheckReport:
    """Run SQLite's check over ``path``; every line it reports (up to ``MAX_PROBLEMS``) is a problem."""
    pragma = "integrity_check" if full else "quick_check"
    if not path.is_file():
        raise NotFoundError(f"no memory store at {path}", hint="It is created by the first `memory store`.")
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute(f"PRAGMA {pragma}({MAX_PROBLEMS})").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:  # not a database at all, or a header SQLite cannot read
        return CheckReport(str(path), pragma, [str(exc)])
    lines = [str(row[0]) for row in rows]
    return CheckReport(str(path), pragma, [] if lines == ["ok"] else lines)
