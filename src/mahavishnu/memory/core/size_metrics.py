"""The store's size as telemetry (``mahavishnu.telemetry``): memories by type, bytes on disk.

``record`` sets the gauges from one ``MemoryStore.stats()`` (a command that has the figures: ``memory
stats``); ``Sizes`` keeps the latest figures of a long-running process (the memory daemon), which
updates them where it may use its store, and serves them as observable gauges read on the
collecting thread (an OTLP export, a Prometheus scrape), which never touches a store itself.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from mahavishnu import telemetry

MEMORIES = "memory.store.memories"
BYTES = "memory.store.bytes"
_MEMORIES_HELP = "Memories in the store, by type"
_BYTES_HELP = "Size of the store on disk"


def observations(stats: Mapping[str, Any]) -> dict[str, list[telemetry.Observation]]:
    """The gauges' (value, attributes) pairs from ``stats``: memories by type, bytes."""
    backend = str(stats.get("backend") or "unknown")
    by_type = stats.get("by_type") or {}
    memories: list[telemetry.Observation] = [
        (float(count), {"type": str(kind), "backend": backend}) for kind, count in by_type.items()
    ]
    size = stats.get("size_bytes")
    sizes: list[telemetry.Observation] = (
        [(float(size), {"backend": backend})] if isinstance(size, int | float) else []
    )
    return {MEMORIES: memories, BYTES: sizes}


def record(stats: Mapping[str, Any]) -> None:
    """Sets the store-size gauges from ``stats`` (a no-op when telemetry is off)."""
    found = observations(stats)
    for value, attributes in found[MEMORIES]:
        telemetry.gauge(MEMORIES, value, unit="{memory}", description=_MEMORIES_HELP, **attributes)
    for value, attributes in found[BYTES]:
        telemetry.gauge(BYTES, value, unit="By", description=_BYTES_HELP, **attributes)


class Sizes:
    """The latest figures of each store a process keeps open, served as observable gauges."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latest: dict[str, dict[str, list[telemetry.Observation]]] = {}
        telemetry.observe(MEMORIES, lambda: self._read(MEMORIES), unit="{memory}", description=_MEMORIES_HELP)
        telemetry.observe(BYTES, lambda: self._read(BYTES), unit="By", description=_BYTES_HELP)

    def update(self, store: str, stats: Mapping[str, Any]) -> None:
        found = observations(stats)
        with self.lock:
            self.latest[store] = found

    def _read(self, name: str) -> list[telemetry.Observation]:
        """The figures of every store, added up where two stores give the same attributes."""
        summed: dict[tuple[tuple[str, telemetry.Attribute], ...], float] = {}
        with self.lock:
            for found in self.latest.values():
                for value, attributes in found[name]:
                    key = tuple(sorted(attributes.items()))
                    summed[key] = summed.get(key, 0.0) + value
        return [(value, dict(key)) for key, value in summed.items()]
