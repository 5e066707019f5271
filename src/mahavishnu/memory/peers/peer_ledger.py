"""What Mahavishnu wrote to the Session-Buddy peer: its ★ Insights, written through as reflections.

With a peer configured, each new insight (``cross_project.store_insights``) and each ``memory share``
is queued here and sent with ``store_reflection`` by a background thread, so the caller never waits
on the peer. Tags: ``mahavishnu``, ``project:P`` for each project that sees the insight,
``source:S`` (where it came from) and ``mahavishnu:<hash>``, our id (the first 16 hex digits of its
``insight_hash``, the same in every store).

The queue is a small SQLite file in the data dir (``MAHAVISHNU_HOME``), one row per (peer, insight),
so an insight is sent once per peer, also across restarts and processes. A peer that is down or
failing leaves its rows queued: they go with the next write-through or ``memory peer sync`` (which
also backfills every insight of the store; ``--resend`` sends everything again, for a peer that lost
its reflections).

Exactly once: a row is claimed (``sending``) before its call and marked ``sent`` after. A process that
died in between leaves the claim behind; once it is stale, the row is sent again only if the peer
does not already hold it (its ``quick_search`` matches a tag exactly: ``mahavishnu:<hash>``).

The file also keeps the peer's count of reflections at each health check, so ``health`` can say when
it dropped to 0 (Session-Buddy 0.23, offline, loses them all when it restarts).
"""

from __future__ import annotations

import atexit
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu.errors import PeerError
from mahavishnu.json_types import JSONObject
from mahavishnu.masking import mask_url
from mahavishnu.paths import create_private, make_dir

if TYPE_CHECKING:
    from mahavishnu.config import SessionBuddySettings
    from mahavishnu.memory.core.models import Memory
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.peers.session_buddy import PeerHit, SessionBuddy

LEDGER_FILE = "session-buddy-ledger.sqlite3"
#: A claim older than this belongs to a process that died while sending.
STALE_CLAIM = timedelta(minutes=2)
#: Characters of folded text that index a reflection for matching the peer's (cut) hits.
_KEY_CHARS = 64
_BATCH = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS reflections (
    peer TEXT NOT NULL,
    insight_hash TEXT NOT NULL,
    memory_id INTEGER NOT NULL,
    content TEXT NOT NULL,
    key TEXT NOT NULL,
    tags TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    queued_at TEXT NOT NULL,
    claimed_at TEXT,
    sent_at TEXT,
    PRIMARY KEY (peer, insight_hash)
);
CREATE INDEX IF NOT EXISTS reflections_key ON reflections (key);
CREATE TABLE IF NOT EXISTS peer_counts (
    peer TEXT PRIMARY KEY, count INTEGER NOT NULL, checked_at TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Reflection:
    """One insight as it is (to be) written to the peer."""

    insight_hash: str
    memory_id: int
    content: str
    tags: tuple[str, ...]
    in_doubt: bool = False  # claimed by a process that died: maybe sent already


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What a flush did: rows sent, already on the peer, still queued, and why they wait."""

    sent: int
    already: int
    queued: int
    error: str | None = None

    def to_dict(self) -> JSONObject:
        return {"sent": self.sent, "already": self.already, "queued": self.queued, "error": self.error}


def peer_key(peer: SessionBuddy | SessionBuddySettings) -> str:
    """The peer's address, as the ledger names it (credentials masked)."""
    url = peer.url
    return mask_url(url) if url else "stdio:" + " ".join(peer.command)


def _now() -> datetime:
    return datetime.now(UTC)


def _folded(text: str) -> str:
    return " ".join(text.split())


def _shows(whole: str, shown: str, cut: bool) -> bool:
    return whole.startswith(shown) if cut else whole == shown


def _key(text: str) -> str:
    return _folded(text)[:_KEY_CHARS]


class Ledger:
    """The ledger file. Every method opens, uses and closes one connection (safe across threads and
    processes: SQLite's locking serialises writers)."""

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            from mahavishnu.paths import data_dir

            path = data_dir() / LEDGER_FILE
        self.path = path

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        make_dir(self.path.parent)
        with closing(sqlite3.connect(create_private(self.path), timeout=10, isolation_level=None)) as db:
            db.row_factory = sqlite3.Row
            db.executescript(_SCHEMA)
            yield db

    def queue(self, peer: str, reflections: Sequence[Reflection]) -> int:
        """Queue reflections not yet known for ``peer``; how many were new."""
        now = _now().isoformat()
        rows = [
            (peer, r.insight_hash, r.memory_id, r.content, _key(r.content), json.dumps(r.tags), now)
            for r in reflections
        ]
        with self._db() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO reflections (peer, insight_hash, memory_id, content, key, tags, "
                "state, queued_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)",
                rows,
            )
            return db.total_changes - before

    def requeue_all(self, peer: str) -> int:
        """Send everything again (the peer lost its reflections); how many rows."""
        with self._db() as db:
            return db.execute(
                "UPDATE reflections SET state = 'queued', claimed_at = NULL "
                "WHERE peer = ? AND state = 'sent'",
                (peer,),
            ).rowcount

    def claim(self, peer: str) -> Reflection | None:
        """The oldest queued row (or one whose claim went stale), now claimed by this process."""
        now = _now()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT * FROM reflections WHERE peer = ? AND (state = 'queued' OR (state = 'sending' AND "
                "claimed_at < ?)) ORDER BY queued_at, insight_hash LIMIT 1",
                (peer, (now - STALE_CLAIM).isoformat()),
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE reflections SET state = 'sending', claimed_at = ?, attempts = attempts + 1 "
                    "WHERE peer = ? AND insight_hash = ?",
                    (now.isoformat(), peer, row["insight_hash"]),
                )
            db.execute("COMMIT")
        if row is None:
            return None
        tags = tuple(json.loads(row["tags"]))
        in_doubt = row["state"] == "sending"
        return Reflection(row["insight_hash"], row["memory_id"], row["content"], tags, in_doubt)

    def settle(self, peer: str, insight_hash: str, error: str | None = None) -> None:
        """Mark a claimed row sent, or (with ``error``) queued again."""
        with self._db() as db:
            if error is None:
                db.execute(
                    "UPDATE reflections SET state = 'sent', sent_at = ?, last_error = NULL "
                    "WHERE peer = ? AND insight_hash = ?",
                    (_now().isoformat(), peer, insight_hash),
                )
            else:
                db.execute(
                    "UPDATE reflections SET state = 'queued', claimed_at = NULL, last_error = ? "
                    "WHERE peer = ? AND insight_hash = ?",
                    (error, peer, insight_hash),
                )

    def counts(self, peer: str) -> dict[str, int]:
        """Rows per state for ``peer``: ``queued``, ``sending``, ``sent``."""
        with self._db() as db:
            found = db.execute(
                "SELECT state, count(*) FROM reflections WHERE peer = ? GROUP BY state", (peer,)
            ).fetchall()
        return {"queued": 0, "sending": 0, "sent": 0, **{state: n for state, n in found}}

    def owners(self, shown: Sequence[tuple[str, bool]]) -> list[tuple[str, int] | None]:
        """For each text the peer showed, and whether it was cut short (then it is a prefix), the
        insight we wrote it from: ``(insight_hash, memory_id)``, or None."""
        found: list[tuple[str, int] | None] = []
        with self._db() as db:
            for content, cut in shown:
                text = _folded(content)
                rows = db.execute(
                    "SELECT insight_hash, memory_id, content FROM reflections WHERE key = ?", (_key(text),)
                ).fetchall()
                match = next((r for r in rows if _shows(_folded(r["content"]), text, cut)), None)
                found.append((match["insight_hash"], match["memory_id"]) if match else None)
        return found

    def note_count(self, peer: str, count: int) -> int | None:
        """Remember the peer's count of reflections; the one noted before (None the first time)."""
        with self._db() as db:
            row = db.execute("SELECT count FROM peer_counts WHERE peer = ?", (peer,)).fetchone()
            db.execute(
                "INSERT INTO peer_counts (peer, count, checked_at) VALUES (?, ?, ?) ON CONFLICT (peer) "
                "DO UPDATE SET count = excluded.count, checked_at = excluded.checked_at",
                (peer, count, _now().isoformat()),
            )
        return None if row is None else int(row["count"])


# -- from memories -----------------------------------------------------------------------------------


def reflections_of(store: MemoryStore, memories: Sequence[Memory]) -> list[Reflection]:
    """The reflections to write for insight memories: their text and tags."""
    from mahavishnu.memory.core.sharing import insight_projects

    projects = insight_projects(store, memories)
    return [
        Reflection(
            str(m.metadata.get("insight_hash") or ""),
            m.id,
            m.content,
            (
                "mahavishnu",
                *(f"project:{p}" for p in seen),
                f"source:{m.metadata.get('source') or 'manual'}",
                f"mahavishnu:{str(m.metadata.get('insight_hash') or '')[:16]}",
            ),
        )
        for m, seen in zip(memories, projects, strict=True)
        if m.metadata.get("insight_hash")
    ]


def projects_of(store: MemoryStore, hits: Sequence[PeerHit]) -> list[set[str] | None]:
    """For each peer hit, the projects that see it when it is one of our insights (written through
    to the peer, and still in this store), else None."""
    from mahavishnu.memory.core.sharing import insight_projects

    ledger = Ledger()
    if not ledger.path.exists():
        return [None] * len(hits)
    owners = ledger.owners([(h.content, bool(h.metadata.get("truncated"))) for h in hits])
    ours = _still_ours(store, [o for o in owners if o is not None])
    seen = dict(zip(ours, insight_projects(store, list(ours.values())), strict=True))
    return [set(seen[o[1]]) if o is not None and o[1] in seen else None for o in owners]


def _still_ours(store: MemoryStore, owners: list[tuple[str, int]]) -> dict[int, Memory]:
    """The ledger's ``(insight_hash, memory_id)`` owners still in this store as the same insight
    (another store numbers them differently), by memory id."""
    found = store.backend.get([memory_id for _, memory_id in owners])
    return {
        memory_id: memory
        for insight_hash, memory_id in owners
        if (memory := found.get(memory_id)) and memory.metadata.get("insight_hash") == insight_hash
    }


# -- sending -----------------------------------------------------------------------------------------


def write_through(store: MemoryStore, memories: Sequence[Memory]) -> None:
    """Queue insights for the configured peer and send them in the background (never blocks on the
    peer; does nothing without one)."""
    from mahavishnu.config import load_settings
    from mahavishnu.errors import MahavishnuError

    if not memories:
        return
    try:
        settings = load_settings().session_buddy
        if settings.configured and Ledger().queue(peer_key(settings), reflections_of(store, memories)):
            _SENDER.kick(settings)
    except (MahavishnuError, sqlite3.Error, OSError):  # storing the insight succeeded: that stands
        logging.getLogger(__name__).warning("could not queue insights for Session-Buddy", exc_info=True)


def flush(peer: SessionBuddy, ledger: Ledger | None = None) -> SyncReport:
    """Send every queued row to ``peer``, oldest first; stops at the first failure (the rest wait)."""
    ledger = ledger or Ledger()
    key = peer_key(peer)
    sent = already = 0
    error: str | None = None
    while (reflection := ledger.claim(key)) is not None:
        try:
            held = reflection.in_doubt and _holds(peer, reflection)
            if not held:
                peer.store_reflection(reflection.content, reflection.tags)
        except PeerError as exc:
            error = f"{exc.message}. {exc.hint}" if exc.hint else exc.message
            ledger.settle(key, reflection.insight_hash, error)
            break
        ledger.settle(key, reflection.insight_hash)
        already, sent = already + held, sent + (not held)
    return SyncReport(sent, already, ledger.counts(key)["queued"], error)


def _holds(peer: SessionBuddy, reflection: Reflection) -> bool:
    """Whether the peer already holds the reflection (its id tag matches exactly)."""
    answer = peer.quick_search(reflection.tags[-1])
    if answer.warning:
        raise PeerError(answer.warning)
    return bool(answer.hits)


def sync(store: MemoryStore, peer: SessionBuddy, *, resend: bool = False) -> SyncReport:
    """Queue every insight of the store not yet written to ``peer`` (with ``resend``, all of them
    again), then send the queue now."""
    from mahavishnu.memory.core.models import Filters

    ledger = Ledger()
    key = peer_key(peer)
    if resend:
        ledger.requeue_all(key)
    ids = sorted(memory_id for memory_id, _ in store.backend.scan_metadata(Filters(types=("insight",)), []))
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        found = store.backend.get(batch)
        ledger.queue(key, reflections_of(store, [found[i] for i in batch if i in found]))
    return flush(peer, ledger)


class _Sender:
    """One background thread per process that drains the queue; kicked again while it runs, it
    drains once more. At exit it gets up to the peer's timeout to finish (what is left stays queued)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False
        self._timeout = 0.0
        atexit.register(self.join)

    def kick(self, settings: SessionBuddySettings) -> None:
        with self._lock:
            self._timeout = max(self._timeout, settings.timeout_seconds)
            if self._thread is not None and self._thread.is_alive():
                self._again = True
                return
            self._thread = threading.Thread(
                target=self._run, args=(settings,), name="session-buddy-write-through", daemon=True
            )
            self._thread.start()

    def _run(self, settings: SessionBuddySettings) -> None:
        from mahavishnu.memory.peers.session_buddy import SessionBuddy

        with SessionBuddy.from_settings(settings) as peer:
            while True:
                try:
                    flush(peer)
                except Exception:  # no traceback from a background thread: the rows stay queued
                    logging.getLogger(__name__).warning("writing to Session-Buddy failed", exc_info=True)
                with self._lock:
                    if not self._again:
                        self._thread = None
                        return
                    self._again = False

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread (at most ``timeout``, default the peer's timeout)."""
        thread = self._thread
        if thread is not None:
            thread.join(self._timeout if timeout is None else timeout)


_SENDER = _Sender()
