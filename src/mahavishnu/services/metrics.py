"""Performance metrics written by the services layer (provider probes, health checks).

Rows go to the memory store's ``performance_metrics`` table (component, metric_type, metrics
JSON, recorded_at), whichever backend is configured. Opening the store here is cheap: the
embedder and the vector index load only when a search needs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.services.probe import ProbeResult


def _store() -> MemoryStore:
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.store import MemoryStore

    return MemoryStore.open(load_settings())


def record(component: str, metric_type: str, metrics: dict[str, Any]) -> None:
    record_many([(component, metric_type, metrics)])


def record_many(rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
    """Several rows through one opening of the store."""
    with _store() as store:
        for component, metric_type, metrics in rows:
            store.store_performance_metrics(component, metric_type, metrics)


def record_probe(result: ProbeResult) -> None:
    data = asdict(result)
    component = f"provider:{data.pop('profile')}"
    record(component, "probe", data)


def read(component: str | None = None, metric_type: str | None = None) -> list[dict[str, Any]]:
    """The newest 1,000 recorded rows, oldest first."""
    with _store() as store:
        rows = store.performance_metrics(component=component, metric_type=metric_type, limit=1_000)
    return rows[::-1]


def location() -> str:
    """Where the rows go, for reports."""
    with _store() as store:
        return f"performance_metrics in {store.backend.name} store {store.backend.location}"
