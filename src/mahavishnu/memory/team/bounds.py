"""What members may write in a team store: ``team init`` puts a trigger ``team_bounds`` on every
table members write, refusing, before anything is stored (or a text indexed), a text, ``jsonb`` or
array value longer than Mahavishnu ever writes there (``BOUNDS``). It binds every role, the owner's
too, and checks a value only when it is new (an INSERT, or an UPDATE that changes it): a row written
before the bounds stays readable, shareable, re-embedded and deletable as it is, and ``team init``
names such rows (``oversized``). Without it one 100 MB shared memory of a member's, written with
``psql``, made every member's search take ~23 s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.postgres import BACKUP_MAINTENANCE, BOUNDS_REFUSAL, MAINTENANCE_SETTING
from mahavishnu.memory.core.models import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_TURN_CHARS,
    METADATA_CHARS,
)
from mahavishnu.memory.core.workflows import MAX_RESULT_CHARS
from mahavishnu.memory.team import writes
from mahavishnu.paths import MAX_PATH_CHARS
from mahavishnu.wording import plural

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

#: The most characters of a memory's content a team store takes: ``memory.max_content_chars``'s
#: default, what every member's client writes unless its setting was raised. A fixed bound, not the
#: owner's setting at ``team init``: a limit every member lives by should not follow one machine's
#: settings file, and each character costs every member's search that meets the memory, whose words
#: are read whole (measured, one matching shared memory among 200: +20 ms at this length, +0.3 s at
#: 1,000,000 characters, +5 s at 20 MB, +23 s at 100 MB). A member whose setting is larger is
#: refused in one line naming this number (``BOUNDS_REFUSAL``).
MEMORY_CHARS: int = MemorySettings.model_fields["max_content_chars"].default
#: Every other text, ``jsonb`` or array column members write holds a name, an id, a label or a path
#: (names are checked at 256 characters, ``models.MAX_NAME_CHARS``; paths at ``MAX_PATH_CHARS``):
#: this many characters, unless ``BOUNDS`` says otherwise (a later release's column too).
LABEL_CHARS = 2 * MAX_PATH_CHARS
#: A metadata object: Mahavishnu keeps ``METADATA_CHARS`` of it as Python writes its JSON; the text
#: PostgreSQL makes of the same ``jsonb`` can be longer (numbers written out in full), hence twice.
_METADATA = 2 * METADATA_CHARS
#: A conversation turn's row: what every store takes (``models.MAX_TURN_CHARS``). Turns are not what
#: a search reads.
_TURN = MAX_TURN_CHARS
#: An error (a workflow run's is cut at 20,000 characters; an ingestion's is its exception's text).
_TEXT = 1_000_000
#: A workflow run's result (``MAX_RESULT_CHARS`` of Python's JSON) and repositories, an ingestion's
#: warnings and patterns.
_RUN = 2 * MAX_RESULT_CHARS
#: What each table's trigger ``team_bounds`` allows in a column (characters of text; of a ``jsonb``
#: or an array, characters of the text PostgreSQL makes of it), where it is not ``LABEL_CHARS``.
BOUNDS: dict[str, dict[str, int]] = {
    "memories": {"content": MEMORY_CHARS, "tags": METADATA_CHARS, "metadata": _METADATA},
    "agent_conversations": {"content": _TURN, "metadata": _METADATA},
    "rag_ingestions": {"error": _TEXT, "metadata": _RUN},
    "workflow_executions": {"repos": _RUN, "result": _RUN, "error": _TEXT},
    "performance_metrics": {"metrics": _METADATA},
    # team-wide rows, which no member's quota counts (``quota.TEAM_TABLES``): names and a sentence
    # (a million characters each, 100,000 groups came to 100 GB no limit saw)
    "project_groups": {"name": MAX_NAME_CHARS, "description": MAX_DESCRIPTION_CHARS},
    "project_group_members": {"group_name": MAX_NAME_CHARS, "project": MAX_NAME_CHARS},
    "team_profiles": {"definition": _METADATA},
}
#: The name of each table's trigger (and the constraint its refusals name: ``BOUNDS_REFUSAL``).
_BOUNDS_TRIGGER = BOUNDS_REFUSAL
#: How many of the rows over the bounds that were written before them ``init`` names.
_NAMED_OVERSIZED = 5


@dataclass(frozen=True, slots=True)
class Bound:
    """What a member may write in one column: at most ``chars`` characters (of a ``jsonb`` or an
    array: of the text PostgreSQL makes of it)."""

    table: str
    column: str
    chars: int
    text: bool  # a text column (measured as it is; the others as their ``::text``)

    def value(self, row: str) -> sql.Composed:
        """The text measured, of ``row`` (``NEW``, or a table's alias)."""
        from psycopg import sql

        written = "{}.{}" if self.text else "{}.{}::text"
        return sql.SQL(written).format(sql.SQL(row), sql.Identifier(self.column))  # type: ignore[arg-type]

    def over(self, row: str) -> sql.Composed:
        """Whether ``row``'s value is longer than the bound (a text's bytes first, which needs
        none of a stored text read)."""
        from psycopg import sql

        value, chars = self.value(row), sql.Literal(self.chars)
        longer = sql.SQL("length({}) > {}").format(value, chars)
        return sql.SQL("octet_length({}) > {} AND {}").format(value, chars, longer) if self.text else longer


def bounds_of(conn: psycopg.Connection[Any], tables: Sequence[str]) -> dict[str, list[Bound]]:
    """Of each of ``tables`` (those members write), the bound of every text, ``jsonb``, ``json`` and
    array column (``BOUNDS``, else ``LABEL_CHARS``), from the catalog: a column a later release adds
    is bounded too."""
    rows = conn.execute(
        "SELECT c.relname, a.attname, t.typcategory = 'S' FROM pg_attribute AS a "
        "JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_type AS t ON t.oid = a.atttypid "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p') "
        "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
        "AND (t.typcategory IN ('S', 'A') OR t.oid IN ('json'::regtype, 'jsonb'::regtype)) "
        "ORDER BY array_position(%s, c.relname::text), a.attnum",
        (list(tables), list(tables)),
    ).fetchall()
    by_table: dict[str, list[Bound]] = {}
    for table, column, text in rows:
        chars = BOUNDS.get(str(table), {}).get(str(column), LABEL_CHARS)
        by_table.setdefault(str(table), []).append(Bound(str(table), str(column), chars, bool(text)))
    return by_table


def put_in_place(conn: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    """Each of ``tables``' trigger ``team_bounds`` (BEFORE INSERT, and UPDATE of a bounded column:
    before the row is stored or its text indexed), refusing a value over its ``Bound`` when it is
    new: inserted, or changed by the update (a row from before the bounds keeps working as it is).
    The function runs as the writer (it reads only the row), so it needs no power of its own."""
    from psycopg import sql

    for table, bounds in bounds_of(conn, tables).items():
        function = sql.Identifier(f"{_BOUNDS_TRIGGER}_{table}")
        checks = sql.SQL("\n").join(_bound_check(bound) for bound in bounds)
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql "
                "SET search_path = {} AS $f$\nBEGIN\n{}\n  RETURN NEW;\nEND $f$"
            ).format(function, sql.SQL(writes.SEARCH_PATH), checks)  # type: ignore[arg-type]
        )
        conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {}() FROM PUBLIC").format(function))
        name, trigger = sql.Identifier(table), sql.Identifier(_BOUNDS_TRIGGER)
        columns = sql.SQL(", ").join(sql.Identifier(b.column) for b in bounds)
        conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(trigger, name))
        conn.execute(
            sql.SQL(
                "CREATE TRIGGER {} BEFORE INSERT OR UPDATE OF {} ON {} FOR EACH ROW EXECUTE FUNCTION {}()"
            ).format(trigger, columns, name, function)
        )


def _bound_check(bound: Bound) -> sql.Composed:
    """The trigger's test of one column: new, and over its bound; the refusal says what to do."""
    from psycopg import sql

    column = sql.Identifier(bound.column)
    new = sql.SQL("(TG_OP = 'INSERT' OR NEW.{} IS DISTINCT FROM OLD.{})").format(column, column)
    if (bound.table, bound.column) == ("memories", "content"):
        said = f"a team store takes at most {bound.chars:,} characters of memory content, and this is %s"
        hint = (
            f"Set memory.max_content_chars to {bound.chars} or less in your settings (`mahavishnu "
            "config path` prints where) and split longer text; nothing was stored."
        )
    else:
        said = (
            f"a team store takes at most {bound.chars:,} characters in {bound.table}.{bound.column}, "
            "and this is %s"
        )
        hint = "Shorten it (Mahavishnu itself writes less there); nothing was stored."
    # a text's length first (cheap); a jsonb's or an array's only once it is known to be new
    first, then = (bound.over("NEW"), new) if bound.text else (new, bound.over("NEW"))
    return sql.SQL(
        "  IF {} AND {} THEN\n"
        "    RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = {}, TABLE = TG_TABLE_NAME,\n"
        "      COLUMN = {}, MESSAGE = format({}, to_char(length({}), 'FM999,999,999,990')), HINT = {};\n"
        "  END IF;"
    ).format(
        first,
        then,
        sql.Literal(_BOUNDS_TRIGGER),
        sql.Literal(bound.column),
        sql.Literal(said),
        bound.value("NEW"),
        sql.Literal(hint),
    )


def oversized(
    conn: psycopg.Connection[Any], tables: Sequence[str], row_names: Mapping[str, tuple[str, str | None]]
) -> str | None:
    """What to tell of the rows holding more than their bounds (written before ``team init`` put
    them in place) of ``tables``, each named by ``row_names``' columns (the row's, its writer's;
    else ``id`` and ``owner_role``), or None: read as the owner's ``db backup`` reads
    (``team_backup``: every row, reading only, no lock a member waits on), one scan a table."""
    import psycopg
    from psycopg import sql

    named: list[str] = []
    total = 0
    try:
        with conn.transaction():
            conn.execute("SELECT set_config(%s, %s, true)", (MAINTENANCE_SETTING, BACKUP_MAINTENANCE))
            for table, bounds in bounds_of(conn, tables).items():
                key, writer = row_names.get(table, ("id", "owner_role"))
                lengths = sql.SQL(", ").join(
                    sql.SQL("CASE WHEN {} THEN length({}) END").format(b.over("r"), b.value("r"))
                    for b in bounds
                )
                found = conn.execute(
                    sql.SQL(
                        "SELECT count(*) OVER (), r.{}::text, {}, ARRAY[{}] FROM {} AS r WHERE {} "
                        "ORDER BY r.{} LIMIT {}"
                    ).format(
                        sql.Identifier(key),
                        sql.Identifier(writer) if writer else sql.SQL("NULL::text"),
                        lengths,
                        sql.Identifier(table),
                        sql.SQL(" OR ").join(b.over("r") for b in bounds),
                        sql.Identifier(key),
                        sql.Literal(_NAMED_OVERSIZED),
                    )
                ).fetchall()
                total += int(found[0][0]) if found else 0
                for _, row, by, sizes in found:
                    over = ", ".join(
                        f"{b.column}: {int(n):,} characters" for b, n in zip(bounds, sizes, strict=True) if n
                    )
                    named.append(f"{table} {row}{f' by {by}' if by else ''} ({over})")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"rows written before this release's bounds could not be looked for: {first}"
    if not total:
        return None
    more = f", and {total - len(named[:_NAMED_OVERSIZED]):,} more" if total > _NAMED_OVERSIZED else ""
    return (
        f"{total:,} {plural(total, 'row')} written before the bounds "
        f"{'holds' if total == 1 else 'hold'} more than a member may now write: "
        f"{'; '.join(named[:_NAMED_OVERSIZED])}{more}. They stay as they are, and every search that "
        "meets such a memory reads it whole: its author deletes it (`mahavishnu memory delete ID`), "
        'or you do (docs/team.md, "Bounds")'
    )
