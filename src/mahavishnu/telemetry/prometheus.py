"""The OpenTelemetry SDK's collected metrics in Prometheus' text exposition format (0.0.4).

Names follow the OpenTelemetry-to-Prometheus compatibility rules: dots become underscores, a unit
of seconds adds ``_seconds``, a monotonic counter adds ``_total``; attribute keys become label
names the same way. Counters are written as ``counter``, histograms as ``histogram``
(``_bucket{le=...}``, ``_sum``, ``_count``), anything else as ``gauge``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping

from opentelemetry.sdk.metrics.export import Gauge, Histogram, Metric, MetricsData, Sum
from opentelemetry.util.types import AttributeValue

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_INVALID = re.compile(r"[^A-Za-z0-9_]")
_UNITS = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}


def exposition(data: MetricsData) -> str:
    lines: list[str] = []
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                lines.extend(_metric(metric))
    return "".join(f"{line}\n" for line in lines)


def metric_name(metric: Metric) -> str:
    name = _INVALID.sub("_", metric.name)
    unit = _UNITS.get(metric.unit or "")
    if unit and not name.endswith(f"_{unit}"):
        name = f"{name}_{unit}"
    if isinstance(metric.data, Sum) and metric.data.is_monotonic and not name.endswith("_total"):
        name = f"{name}_total"
    return name


def _metric(metric: Metric) -> Iterator[str]:
    name = metric_name(metric)
    data = metric.data
    kind = "histogram" if isinstance(data, Histogram) else "gauge"
    if isinstance(data, Sum) and data.is_monotonic:
        kind = "counter"
    yield f"# HELP {name} {_escape_help(metric.description or metric.name)}"
    yield f"# TYPE {name} {kind}"
    if isinstance(data, Histogram):
        for point in data.data_points:
            cumulative = 0
            for bound, count in zip([*point.explicit_bounds, math.inf], point.bucket_counts, strict=True):
                cumulative += count
                yield f"{name}_bucket{_labels(point.attributes, le=_number(bound))} {cumulative}"
            yield f"{name}_sum{_labels(point.attributes)} {_number(point.sum)}"
            yield f"{name}_count{_labels(point.attributes)} {point.count}"
        return
    if isinstance(data, Sum | Gauge):  # (Mahavishnu records no exponential histogram)
        for value_point in data.data_points:
            yield f"{name}{_labels(value_point.attributes)} {_number(value_point.value)}"


def _labels(attributes: Mapping[str, AttributeValue] | None, **extra: str) -> str:
    pairs = [(_INVALID.sub("_", key), _label_value(value)) for key, value in (attributes or {}).items()]
    pairs.extend(extra.items())
    if not pairs:
        return ""
    return "{" + ",".join(f'{key}="{_escape_value(value)}"' for key, value in sorted(pairs)) + "}"


def _label_value(value: AttributeValue) -> str:
    """An attribute as OpenTelemetry's Prometheus exporter writes it: a bool ``true``/``false``
    (``str`` gave ``True``, which a query for ``dry_run="true"`` misses), a sequence as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if value is None:
        return ""
    return json.dumps(dict(value) if isinstance(value, Mapping) else list(value), default=str)


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")
