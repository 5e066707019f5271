"""One health report of every component: what ``mahavishnu health`` prints and the MCP ``health_check``
tool returns.

Components (each with a status and the latency of its check):

``store``          backend, location, rows, size on disk, applied/pending migrations
``embedder``       model, dimension, latency of one embed (the first embed also loads the model)
``postgres``       when configured (``memory.backend: postgres`` or a ``memory.dsn``)
``session-buddy``  when configured: ``session_buddy.url``/``.command`` → its ``health_check`` tool
                   (status, latency); else installed or declared as a service → MCP initialize + ping
``service:NAME``   each other configured service: state and health check
``assistant:TOOL`` the provider each assistant points at (user scope), probed when asked
``budget``         each budget of ``usage.yaml`` (``usage.budgets``): ``warn`` when passed

Statuses: ``ok``, ``stopped`` (a service nobody asked to run), ``skipped`` (not checked), ``warn``
(works, but look: a budget passed), ``error``. The report is ``ok`` when no component is in
``error``. Every report is recorded as rows of the store's ``performance_metrics`` table through
``services.metrics.record``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mahavishnu import wording
from mahavishnu.errors import (
    DimensionMismatchError,
    EmbedderMismatchError,
    MahavishnuError,
    StoreError,
    from_unexpected,
)
from mahavishnu.masking import mask_url

if TYPE_CHECKING:
    from mahavishnu.config import Settings
    from mahavishnu.memory.core.store import MemoryStore

Status = Literal["ok", "stopped", "skipped", "warn", "error"]
SESSION_BUDDY = "session-buddy"
EMBED_PROBE_TEXT = "mahavishnu health check"


@dataclass
class ComponentHealth:
    component: str
    status: Status
    detail: str
    latency_ms: float | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class HealthReport:
    ok: bool
    components: list[ComponentHealth]
    recorded_to: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Packages whose ``__init__`` imports modules of their own, imported before the checks run on threads
#: of their own. A thread whose first import of one of those modules comes while another runs the
#: package's ``__init__`` holds the module's import lock and waits for the package's, while the other
#: holds the package's and waits for the module's: Python's import locks call it a deadlock, and the
#: check that met it failed ("deadlock detected by _ModuleLock('mahavishnu.files.safe_write')", once
#: in 15 runs of `mahavishnu health` in a fresh home).
EAGER_PACKAGES = (
    "mahavishnu.files",
    "mahavishnu.usage.readers",
    "mahavishnu.environments.claude_settings",
    "mahavishnu.environments.mcp_servers",
    "mahavishnu.memory.core.embedders",
)


def health_report(
    settings: Settings | None = None,
    *,
    store: MemoryStore | None = None,
    probe_providers: bool = True,
    record: bool = True,
) -> HealthReport:
    """Check every component (concurrently where they are independent) and record the results.

    ``store``: an open store to check (the MCP server passes its own); otherwise one is opened and closed.
    ``probe_providers``: send one cheap request to each assistant's active provider.
    """
    if settings is None:
        from mahavishnu.config import load_settings

        settings = load_settings()
    checks: list[tuple[str, Callable[[], list[ComponentHealth]]]] = [
        ("store", lambda: _memory(settings, store)),
        ("postgres", lambda: _postgres(settings)),
        (SESSION_BUDDY, lambda: _session_buddy(settings)),
        ("services", lambda: _services(settings)),
        ("assistants", lambda: _assistants(settings, probe_providers)),
        ("budget", _budgets),
    ]
    for package in EAGER_PACKAGES:  # before the checks' threads: see EAGER_PACKAGES
        importlib.import_module(package)
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        components = [c for found in pool.map(lambda check: _guarded(*check), checks) for c in found]
    report = HealthReport(all(c.status != "error" for c in components), components)
    if record and _store_usable(components):
        report.recorded_to = _record(report)
    return report


def _store_usable(components: list[ComponentHealth]) -> bool:
    """Whether the metrics may be written to the store: not into one found damaged, read-only or
    unreachable (only pending migrations, which recording applies, leave it usable)."""
    found = [c for c in components if c.component == "store"]
    return not found or found[0].status != "error" or bool(found[0].data.get("migrations_pending"))


def _guarded(name: str, check: Callable[[], list[ComponentHealth]]) -> list[ComponentHealth]:
    """A check that raises is reported, never propagated: one broken component must not hide the rest."""
    try:
        return check()
    except MahavishnuError as exc:
        return [ComponentHealth(name, "error", _with_hint(exc), data=_hint_data(exc))]
    except Exception as exc:  # the report is the place to show any failure
        known = from_unexpected(exc)  # a damaged or read-only SQLite file: what it means, what to do
        if known is not None:
            return [ComponentHealth(name, "error", _with_hint(known), data=_hint_data(known))]
        return [ComponentHealth(name, "error", f"{type(exc).__name__}: {mask_url(str(exc))}")]


def _with_hint(exc: MahavishnuError) -> str:
    """The error's message, and for the store's errors what to do (``db check``, ``db restore`` ...)."""
    if isinstance(exc, StoreError) and exc.hint:
        return f"{mask_url(exc.message)}. {exc.hint}"
    return mask_url(exc.message)


def _hint_data(exc: MahavishnuError) -> dict[str, Any]:
    return {"hint": exc.hint} if exc.hint else {}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


# -- memory: store and embedder ------------------------------------------------------------------


def _memory(settings: Settings, store: MemoryStore | None) -> list[ComponentHealth]:
    from mahavishnu.memory.core.store import MemoryStore

    started = time.perf_counter()
    damaged = _file_check(settings, started)
    if damaged is not None:
        return [damaged, ComponentHealth("embedder", "skipped", "the store could not be read")]
    try:
        opened = store or MemoryStore.open(settings, one_command=True)  # (closed after this check)
    except Exception as exc:
        known = exc if isinstance(exc, MahavishnuError) else from_unexpected(exc)
        if known is None:
            raise
        failed = ComponentHealth(
            "store",
            "error",
            _with_hint(known),
            _ms(started),
            {"backend": settings.memory.backend, **_hint_data(known)},
        )
        skipped = ComponentHealth("embedder", "skipped", "the store could not be opened")
        return [failed, skipped, *_reached(settings, failed, known)]
    try:
        checked, failure = _store(opened, started)
        if checked.status == "error" and not checked.data.get("migrations_pending"):
            # (what waits on this machine for it too: when the team store does not answer, most of all)
            skipped = ComponentHealth("embedder", "skipped", "the store could not be read")
            return [checked, skipped, *_outbox(opened), *_reached(settings, checked, failure)]
        return [checked, _embedder(opened), *_outbox(opened), *_reached(settings, checked, failure)]
    finally:
        if store is None:
            opened.close()


def _file_check(settings: Settings, started: float) -> ComponentHealth | None:
    """The embedded store's file, checked as ``db check`` does (``store_check.quick_check_store``):
    a damaged file can still count its rows. The error, or None."""
    from mahavishnu.errors import StoreDamagedError
    from mahavishnu.memory.ops.store_check import quick_check_store

    # StoreError (unreadable, locked): reported by _guarded; past the time limit: not checked, not damaged
    report = quick_check_store(settings.memory)
    if report is None or report.ok:
        return None
    damaged = StoreDamagedError(f"the memory store {report.location} is damaged: {report.summary}")
    data = {"backend": "sqlite", "location": report.location, "damaged": True, **_hint_data(damaged)}
    return ComponentHealth("store", "error", _with_hint(damaged), _ms(started), data)


def _store(store: MemoryStore, started: float) -> tuple[ComponentHealth, MahavishnuError | None]:
    """The store's line, and what made it an error (None: it was read)."""
    try:
        stats = store.stats()
        migrations = store.migration_state()
    except Exception as exc:
        known = exc if isinstance(exc, MahavishnuError) else from_unexpected(exc)
        if known is None:
            raise
        data = {"backend": store.backend.name, **_hint_data(known)}
        return ComponentHealth("store", "error", _with_hint(known), _ms(started), data), known
    data = {
        "backend": stats["backend"],
        "location": mask_url(str(stats["location"])),
        "rows": stats.get("count"),
        "size_bytes": stats.get("size_bytes"),
        "migrations_applied": len(migrations.applied),
        "migrations_pending": list(migrations.pending),
        "embedder": stats.get("embedder"),
        "dimension": stats.get("dimension"),
    }
    status: Status = "error" if migrations.pending else "ok"
    rows, applied = wording.count(data["rows"], "row"), wording.count(len(migrations.applied), "migration")
    detail = f"{data['backend']}: {rows}, {applied} applied"
    if migrations.pending:
        detail += f", pending: {', '.join(migrations.pending)}"
    return ComponentHealth("store", status, detail, _ms(started), data), None


def _outbox(store: MemoryStore) -> list[ComponentHealth]:
    """What this machine's outbox holds for a store that queues (PostgreSQL): memories waiting for
    the server, and those it refused and that were set aside (``team sync --retry-refused``)."""
    from mahavishnu.memory.core import outbox
    from mahavishnu.memory.loop.sync import refused_notice

    target = store.outbox_target
    if target is None:
        return []
    waiting, refused = outbox.Waiting(0, None), []
    if outbox.outbox_path().exists():
        with outbox.Outbox() as box:
            waiting, refused = box.waiting(target), box.refused(target)
    data = {**waiting.to_dict(), "set_aside": len(refused)}
    notice = refused_notice(refused)
    if notice is not None:
        return [ComponentHealth("outbox", "warn", notice, data=data)]
    if waiting.count:
        queued = wording.count(waiting.count, "item")
        detail = f"{queued} queued on this machine, delivered when the team store takes writes again"
        return [ComponentHealth("outbox", "warn", detail, data=data)]
    return [ComponentHealth("outbox", "ok", "nothing queued on this machine", data=data)]


def _embedder(store: MemoryStore) -> ComponentHealth:
    started = time.perf_counter()
    try:
        embedder = store.embedder
        vector = embedder.embed(EMBED_PROBE_TEXT, kind="query")
        first = _ms(started)
        again = time.perf_counter()
        embedder.embed(EMBED_PROBE_TEXT + ".", kind="query")
        latency = _ms(again)
    except MahavishnuError as exc:
        if isinstance(exc, EmbedderMismatchError | DimensionMismatchError):  # the reembed to run
            detail = f"{exc.message}. {exc.hint}"
            return ComponentHealth("embedder", "error", detail, _ms(started), _hint_data(exc))
        return ComponentHealth("embedder", "error", exc.message, _ms(started))
    data = {
        "embedder": embedder.identity,
        "model": embedder.model,
        "dimension": int(vector.shape[0]),
        "first_embed_ms": first,
    }
    detail = f"{embedder.identity}, {vector.shape[0]} dims, one embed {latency:g} ms (first {first:g} ms)"
    return ComponentHealth("embedder", "ok", detail, latency, data)


# -- PostgreSQL ---------------------------------------------------------------------------------------


def _postgres(settings: Settings) -> list[ComponentHealth]:
    memory = settings.memory
    if memory.backend == "postgres" or not memory.dsn:  # (the store on it: ``_reached``)
        return []
    where = {"dsn": mask_url(memory.dsn), "backend": memory.backend}
    return [_postgres_ping(memory.dsn, where)]


def _reached(
    settings: Settings, store: ComponentHealth, failure: MahavishnuError | None
) -> list[ComponentHealth]:
    """The postgres line of a store on PostgreSQL: what the store check's connection found. A
    backend of its own, opened side by side, was a second attempt (a silent server waited for twice)."""
    memory = settings.memory
    if memory.backend != "postgres":
        return []
    where = {"dsn": mask_url(memory.dsn or ""), "backend": memory.backend}
    if failure is not None:
        return [ComponentHealth("postgres", "error", failure.message, store.latency_ms, where)]
    detail = f"reachable at {store.data['location']}"
    pending = {"pending": store.data["migrations_pending"]}
    return [ComponentHealth("postgres", "ok", detail, store.latency_ms, {**where, **pending})]


def _postgres_ping(dsn: str, where: dict[str, Any]) -> ComponentHealth:
    """A DSN is set but the store is not on it: connect and ask the version, if a driver is installed."""
    try:
        import psycopg  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from mahavishnu.distribution import install_extra

        detail = f"memory.dsn is set but psycopg is not installed ({install_extra('postgres')})"
        return ComponentHealth("postgres", "skipped", detail, None, where)
    started = time.perf_counter()
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        version = str(row[0]) if row else "?"
    except Exception as exc:  # any driver error means unreachable
        return ComponentHealth("postgres", "error", mask_url(str(exc)).strip(), _ms(started), where)
    return ComponentHealth("postgres", "ok", f"PostgreSQL {version}", _ms(started), where)


# -- services and Session-Buddy -------------------------------------------------------------------------


def _session_buddy(settings: Settings) -> list[ComponentHealth]:
    if settings.session_buddy.configured:
        return [_session_buddy_peer(settings)]
    from mahavishnu.services import definitions, health

    spec = definitions.all_services(settings).get(SESSION_BUDDY)
    if spec is None:
        return [ComponentHealth(SESSION_BUDDY, "skipped", "not configured (not installed, no service)")]
    result = health.check(spec.health)
    status: Status = "ok" if result.ok else "error"
    return [ComponentHealth(SESSION_BUDDY, status, result.detail, result.latency_ms, {"check": result.kind})]


def _session_buddy_peer(settings: Settings) -> ComponentHealth:
    """The configured peer (``session_buddy.url`` or ``.command``): its ``health_check`` tool, then its
    count of reflections (``peer_reflections``)."""
    from mahavishnu.errors import PeerError
    from mahavishnu.memory.peers.session_buddy import SessionBuddy

    peer = SessionBuddy.from_settings(settings)
    started = time.perf_counter()
    try:
        with peer:  # one session for both calls; a stdio peer's process ends with it
            answer = peer.health_check()
            reflections = _peer_reflections(peer)
    except PeerError as exc:
        return ComponentHealth(
            SESSION_BUDDY, "error", exc.message, _ms(started), {"check": "mcp-tool", "where": peer.where}
        )
    status: Status = "ok" if answer["status"] == "ok" else "error"
    data = {
        "check": "mcp-tool",
        "where": answer["where"],
        "server": answer["server"],
        "version": answer["version"],
        **reflections,
    }
    problem = reflections.get("problem")
    detail = answer["detail"] + (f"; {problem}. {reflections['hint']}" if problem else "")
    if reflections.get("lost"):
        status = "error"
    return ComponentHealth(SESSION_BUDDY, status, detail, answer["latency_ms"], data)


def _peer_reflections(peer: Any) -> dict[str, Any]:
    """The peer's count of reflections, and whether it dropped to 0 since the last check (Session-Buddy
    0.23 loses them all when it restarts offline). A slow first answer is a warning, not a failure."""
    from mahavishnu.errors import PeerError
    from mahavishnu.memory.peers.peer_ledger import Ledger, peer_key

    try:
        count = peer.reflection_count()
    except PeerError as exc:
        return {"reflections": None, "problem": f"reflections not counted: {exc.message}", "hint": exc.hint}
    before = Ledger().note_count(peer_key(peer), count)
    if count == 0 and before:
        return {
            "reflections": 0,
            "lost": True,
            "problem": f"its reflections dropped from {before} to 0 since the last check (it loses them "
            "when it restarts without internet access)",
            "hint": "Write Mahavishnu's insights to it again: `mahavishnu memory peer sync --resend`",
        }
    return {"reflections": count}


def _services(settings: Settings) -> list[ComponentHealth]:
    from mahavishnu.services.supervisor import Supervisor

    supervisor = Supervisor(settings)
    names = [name for name in supervisor.names() if name != SESSION_BUDDY]
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
        return list(pool.map(lambda name: _service(supervisor, name), names))


def _service(supervisor: Any, name: str) -> ComponentHealth:
    from mahavishnu.services.definitions import UI_SERVICE, dashboard_pid

    started = time.perf_counter()
    try:
        status = supervisor.status(name)
    except MahavishnuError as exc:
        return ComponentHealth(f"service:{name}", "error", exc.message, _ms(started))
    data = {"state": status.state, "pid": status.pid, "restarts": status.restarts, "desired": status.desired}
    outside = dashboard_pid() if name == UI_SERVICE and status.state != "running" else None
    if outside is not None:  # `mahavishnu ui` in a terminal: running, if not by the supervisor
        data.update(state="running", pid=outside)
        detail = f"running (pid {outside}, started by `mahavishnu ui`, not by the supervisor)"
        return ComponentHealth(f"service:{name}", "ok", detail, _ms(started), data)
    if status.state == "running":
        state: Status = "error" if status.healthy is False else "ok"
        detail = f"running (pid {status.pid})" + (f": {status.health}" if status.health else "")
    elif status.state == "stopped" and status.desired != "running":
        state, detail = "stopped", "not running"
    else:
        state, detail = "error", status.note or status.state
    return ComponentHealth(f"service:{name}", state, detail, _ms(started), data)


# -- assistants -------------------------------------------------------------------------------------------


def _assistants(settings: Settings, probe_providers: bool) -> list[ComponentHealth]:
    from mahavishnu.environments.switcher import ASSISTANTS

    tools = list(ASSISTANTS)
    with ThreadPoolExecutor(max_workers=len(tools)) as pool:
        return list(pool.map(lambda tool: _assistant(tool, settings, probe_providers), tools))


def _assistant(tool: str, settings: Settings, probe_providers: bool) -> ComponentHealth:
    from mahavishnu.services.probe import active, probe_active

    component = f"assistant:{tool}"
    started = time.perf_counter()
    try:
        entry = active(tool, settings, scope=None)
    except MahavishnuError as exc:
        return ComponentHealth(component, "error", exc.message, _ms(started))
    if entry is None:
        return ComponentHealth(component, "skipped", "no provider configured", _ms(started))
    data = {"profile": entry.profile, "base_url": entry.base_url, "model": entry.model, "path": entry.path}
    named = entry.profile or entry.base_url or "an unknown provider"
    if not probe_providers:
        return ComponentHealth(component, "skipped", f"uses {named} (not probed)", _ms(started), data)
    result = probe_active(tool, settings, scope=entry.scope, timeout=settings.watch.probe_timeout_seconds)
    if result is None:
        return ComponentHealth(component, "skipped", f"uses {named}: no known profile to probe", None, data)
    data.update(probe=result.status, http_status=str(result.http_status or ""))
    status: Status = "ok" if result.ok else "error"
    return ComponentHealth(component, status, f"{named}: {result.detail}", result.latency_ms, data)


# -- budgets ----------------------------------------------------------------------------------------------


def _budgets() -> list[ComponentHealth]:
    """One component per budget of ``usage.yaml``: ``warn`` when passed (the budget, the spend, the
    period), else ``ok``; none without budgets."""
    from mahavishnu.usage.budgets import spends

    started = time.perf_counter()
    found = spends()
    latency = _ms(started)
    return [
        ComponentHealth(
            spend.key,
            "warn" if spend.passed else "ok",
            spend.line(),
            latency,
            {"period": spend.period, "usd": spend.budget.usd, "spent_usd": round(spend.spent, 6)},
        )
        for spend in found
    ]


# -- metrics ----------------------------------------------------------------------------------------------


def _record(report: HealthReport) -> str | None:
    """Record each component as a ``performance_metrics`` row; where they went, or None if that failed."""
    from mahavishnu.services import metrics

    try:
        metrics.record_many(
            (c.component, "health", {"status": c.status, "latency_ms": c.latency_ms, "detail": c.detail})
            for c in report.components
        )
        return metrics.location()
    except (OSError, MahavishnuError):  # an unusable store is itself reported as a component
        return None
