"""Performance metrics written by the services layer (provider probe latencies).

The memory store's schema has a ``performance_metrics`` table (component, metric_type, metrics JSON,
recorded_at) but the store has no method to write it yet. Until it does, :func:`record` appends rows
of exactly that shape to ``$MAHAVISHNU_HOME/performance_metrics.jsonl``; pointing :func:`record` at
the store later changes nothing for its callers.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mahavishnu import paths

if TYPE_CHECKING:
    from mahavishnu.services.probe import ProbeResult


def metrics_path() -> Path:
    return paths.data_dir() / "performance_metrics.jsonl"


def record(component: str, metric_type: str, metrics: dict[str, Any]) -> None:
    row = {
        "component": component,
        "metric_type": metric_type,
        "metrics": metrics,
        "recorded_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    path = metrics_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def record_probe(result: ProbeResult) -> None:
    data = asdict(result)
    component = f"provider:{data.pop('profile')}"
    record(component, "probe", data)


def read(component: str | None = None, metric_type: str | None = None) -> list[dict[str, Any]]:
    try:
        lines = metrics_path().read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if (component is None or row.get("component") == component) and (
            metric_type is None or row.get("metric_type") == metric_type
        ):
            rows.append(row)
    return rows
