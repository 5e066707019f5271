"""The OpenTelemetry SDK behind ``mahavishnu.telemetry``, imported only when telemetry is on.

Providers of its own (never the global ones: a library Mahavishnu loads, such as the MCP SDK, keeps
its own telemetry to itself): metrics with an OTLP/HTTP exporter (periodic, and at exit) and/or a
pull reader for Prometheus' text format; spans and log records over OTLP/HTTP when an endpoint is
configured. A log record is emitted inside its operation's span, so it carries the trace id.

Mahavishnu's own ``logging`` records (the ``mahavishnu`` logger and its children, at the level
they are let through: WARNING by default) go the same way while an OTLP endpoint is configured,
with the trace id of the span they are written in: their message text passed through the secret
scrubber (``redaction/scrub.py``), and nothing else of the record (no arguments, no ``extra``, no
traceback: an exception's type only).

Each export first asks whether the collector's port takes a connection (``Collector``, at most once
every few seconds): the exporters retry an unreachable collector for their whole timeout, one signal
after the other, and print each try, so a stopped collector added 3.6 s and six lines to every
command, the recall hook included. Data for a collector that is not there is dropped. A collector
that takes the connection but does not answer (hung, or a port that only listens) costs one
export's timeout: exports go one at a time and a failed one holds like a closed port, so the
other signals are dropped at once (each waited its own timeout: 7 s added to every hook). The
SDK's own complaints are not printed (a hook's stderr is its assistant's); a process that
configured logging still gets them.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypedDict, TypeVar
from urllib.parse import urlsplit

from opentelemetry import context, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation
from opentelemetry.metrics import _Gauge as Gauge  # (the API names it so until it is stable)
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExportResult,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import Status, StatusCode

from mahavishnu import paths
from mahavishnu.__about__ import __version__
from mahavishnu.redaction.scrub import scrub
from mahavishnu.telemetry.prometheus import exposition

Attribute = str | int | bool
_Result = TypeVar("_Result", MetricExportResult, SpanExportResult, LogRecordExportResult)
#: Seconds: a recall hook takes milliseconds, a capture of a long session seconds.
DURATION_BUCKETS: Sequence[float] = (
    *(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
#: An exporter's wait for the collector unless OTEL_EXPORTER_OTLP_TIMEOUT says otherwise: a hook
#: exports as it exits, and must not hang its assistant on an unreachable collector.
DEFAULT_TIMEOUT_SECONDS = 2.0
_SIGNALS = {"metrics": "METRICS", "traces": "TRACES", "logs": "LOGS"}
#: The SDK's endpoint when no variable names one.
DEFAULT_ENDPOINT = "http://localhost:4318"
#: How long one look at the collector's port may take, and how long its answer holds.
PROBE_SECONDS, PROBE_HOLDS_SECONDS = 0.25, 5.0
#: The logger whose records (its children's included) are exported.
LOGGER = "mahavishnu"
#: Where the SDK and its exporters complain ("Failed to export ... batch"): with no handler of its
#: own, Python's last resort printed them to the stderr of every hook a slow collector held up.
logging.getLogger("opentelemetry").addHandler(logging.NullHandler())
_SEVERITIES = (
    (logging.CRITICAL, SeverityNumber.FATAL),
    (logging.ERROR, SeverityNumber.ERROR),
    (logging.WARNING, SeverityNumber.WARN),
    (logging.INFO, SeverityNumber.INFO),
    (logging.DEBUG, SeverityNumber.DEBUG),
)


class Sdk:
    def __init__(self, *, otlp_endpoint: str | None, prometheus: bool) -> None:
        self.prometheus = prometheus
        attributes: dict[str, str] = {"service.version": __version__}
        if not os.environ.get("OTEL_SERVICE_NAME"):
            attributes["service.name"] = "mahavishnu"
        resource = Resource.create(attributes)
        readers: list[MetricReader] = []
        if otlp_endpoint is not None:
            readers.append(PeriodicExportingMetricReader(_gated(_Metrics, otlp_endpoint, "metrics")))
        self.pull = InMemoryMetricReader() if prometheus else None
        if self.pull is not None:
            readers.append(self.pull)
        self.meters = MeterProvider(resource=resource, metric_readers=readers)
        self.meter = self.meters.get_meter("mahavishnu", __version__)
        self.tracers: TracerProvider | None = None
        self.loggers: LoggerProvider | None = None
        if otlp_endpoint is not None:
            self.tracers = TracerProvider(resource=resource)
            self.tracers.add_span_processor(BatchSpanProcessor(_gated(_Spans, otlp_endpoint, "traces")))
            self.loggers = LoggerProvider(resource=resource)
            self.loggers.add_log_record_processor(
                BatchLogRecordProcessor(_gated(_Logs, otlp_endpoint, "logs"))
            )
        self.histograms: dict[str, Histogram] = {}
        self.counters: dict[str, Counter] = {}
        self.gauges: dict[str, Gauge] = {}
        self.handler: ScrubbedHandler | None = None
        if self.loggers is not None:
            self.handler = ScrubbedHandler(self.loggers)
            logging.getLogger(LOGGER).addHandler(self.handler)

    def record(
        self, operation: str, seconds: float, counts: dict[str, float], attributes: dict[str, Attribute]
    ) -> None:
        name = f"mahavishnu.{operation}.duration"
        if name not in self.histograms:
            self.histograms[name] = self.meter.create_histogram(
                name,
                unit="s",
                description=f"How long {operation} took",
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
            )
        self.histograms[name].record(seconds, attributes)
        for what, amount in counts.items():
            name = f"mahavishnu.{operation}.{what}"
            if name not in self.counters:
                self.counters[name] = self.meter.create_counter(
                    name, unit="1", description=f"{operation}: {what}"
                )
            self.counters[name].add(amount, attributes)

    def gauge(
        self, name: str, value: float, attributes: dict[str, Attribute], *, unit: str, description: str
    ) -> None:
        if name not in self.gauges:
            self.gauges[name] = self.meter.create_gauge(name, unit=unit, description=description or name)
        self.gauges[name].set(value, attributes)

    def observe(
        self,
        name: str,
        read: Callable[[], Iterable[tuple[float, dict[str, Attribute]]]],
        unit: str,
        description: str,
    ) -> None:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            try:
                return [Observation(value, attributes) for value, attributes in read()]
            except Exception:  # a figure that cannot be read now is left out of this collection
                return []

        self.meter.create_observable_gauge(
            name, callbacks=[callback], unit=unit, description=description or name
        )

    def start_span(
        self, operation: str, attributes: dict[str, Attribute], start_time: int | None = None
    ) -> Callable[[dict[str, Attribute], BaseException | None], None] | None:
        """Starts the operation's span (made current; begun at ``start_time``, nanoseconds since the
        epoch, when given); the returned function ends it, after emitting the operation's log record
        inside it. None without an OTLP endpoint."""
        if self.tracers is None:
            return None
        span = self.tracers.get_tracer("mahavishnu", __version__).start_span(
            f"mahavishnu.{operation}", attributes=attributes, start_time=start_time
        )
        token = context.attach(trace.set_span_in_context(span))

        def close(final: dict[str, Attribute], exc: BaseException | None) -> None:
            try:
                span.set_attributes(final)
                if exc is not None:  # the type only: an exception's message may quote anything
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                self._log(operation, final, error=exc is not None)
            finally:
                context.detach(token)
                span.end()

        return close

    def _log(self, operation: str, attributes: dict[str, Attribute], *, error: bool) -> None:
        if self.loggers is None:
            return
        severity = SeverityNumber.WARN if error else SeverityNumber.INFO
        self.loggers.get_logger("mahavishnu", __version__).emit(
            severity_number=severity,
            severity_text=severity.name,
            body=f"mahavishnu.{operation}",
            attributes=attributes,
            event_name=f"mahavishnu.{operation}",
        )

    def prometheus_text(self) -> str | None:
        if self.pull is None:
            return None
        data = self.pull.get_metrics_data()
        return exposition(data) if data is not None else ""

    def flush(self) -> None:
        self.meters.force_flush()
        if self.tracers is not None:
            self.tracers.force_flush()
        if self.loggers is not None:
            self.loggers.force_flush()

    def shutdown(self) -> None:
        if self.handler is not None:
            logging.getLogger(LOGGER).removeHandler(self.handler)
        self.meters.shutdown()
        if self.tracers is not None:
            self.tracers.shutdown()
        if self.loggers is not None:
            self.loggers.shutdown()


class ScrubbedHandler(logging.Handler):
    """A ``logging`` handler emitting each record as an OpenTelemetry log record (in the current
    span's context, so with its trace id): the message scrubbed of secrets, the user's home folder
    in it written ``~`` (a path names the user and their projects), the logger's name, the code
    location, an exception's type; never the arguments, ``extra`` fields or a traceback."""

    def __init__(self, loggers: LoggerProvider) -> None:
        super().__init__()
        self.loggers = loggers
        home = str(paths.home()).rstrip("/")  # (not followed by more of a name: not /home/alice2)
        self.home = re.compile(re.escape(home) + r"(?![\w.-])") if len(home) > 1 else None  # (not "/")

    def body(self, record: logging.LogRecord) -> str:
        text = scrub(record.getMessage())
        return self.home.sub("~", text) if self.home else text

    def emit(self, record: logging.LogRecord) -> None:
        try:
            attributes: dict[str, Attribute] = {
                "code.function.name": record.funcName,
                "code.line.number": record.lineno,
                "mahavishnu.logger": record.name,
            }
            if record.exc_info and record.exc_info[0] is not None:
                attributes["exception.type"] = record.exc_info[0].__name__
            severity = next((s for level, s in _SEVERITIES if record.levelno >= level), SeverityNumber.TRACE)
            self.loggers.get_logger(record.name, __version__).emit(
                timestamp=int(record.created * 1e9),
                severity_number=severity,
                severity_text=record.levelname,
                body=self.body(record),
                attributes=attributes,
            )
        except Exception:  # logging must never fail what logs, nor print a traceback (a hook's stderr)
            return


class Collector:
    """Whether an OTLP endpoint's host takes a TCP connection on its port, looked at again once
    ``PROBE_HOLDS_SECONDS`` have passed (a daemon's collector may come back). Always yes when a
    proxy carries the requests there: the proxy, not this machine, reaches the collector."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        proxies = urllib.request.getproxies()
        self.proxied = bool({"http", "https"} & proxies.keys()) and not urllib.request.proxy_bypass(host)
        self.verdict: bool | None = None
        self.seen = 0.0
        self.lock = threading.Lock()

    @staticmethod
    def address(endpoint: str) -> tuple[str, int]:
        """The endpoint's host and port; port 0 when it is no URL (``http://[bad``, a port past
        65535): a collector nothing is sent to, rather than a traceback ending every command."""
        try:
            url = urlsplit(endpoint)
            return url.hostname or "localhost", url.port or (443 if url.scheme == "https" else 80)
        except ValueError:
            return "", 0

    def reachable(self) -> bool:
        if not self.port:
            return False
        if self.verdict is not None and time.monotonic() - self.seen < PROBE_HOLDS_SECONDS:
            return self.verdict
        if self.proxied:
            return True
        try:
            socket.create_connection((self.host, self.port), timeout=PROBE_SECONDS).close()
            self.verdict = True
        except OSError:
            self.verdict = False
        self.seen = time.monotonic()
        return self.verdict

    def export(self, send: Callable[[], _Result], failure: _Result) -> _Result:
        """``send()``'s result, or ``failure`` at once when the collector is unreachable. One export
        at a time, and one that fails (no answer within its timeout, or a refusal) counts as
        unreachable until looked at again: the signals exported beside it or after it are dropped,
        rather than each waiting its own timeout on a collector that does not answer."""
        with self.lock:
            if not self.reachable():
                return failure
            result = send()
            if result is failure:
                self.verdict, self.seen = False, time.monotonic()
            return result


def collector(endpoint: str) -> Collector:
    """The ``Collector`` of an endpoint's host and port: the three signals' exporters share its look."""
    return _collector_at(*Collector.address(endpoint))


@functools.cache
def _collector_at(host: str, port: int) -> Collector:
    return Collector(host, port)


class _Metrics(OTLPMetricExporter):
    """The OTLP exporters, each sending through its collector's ``Collector.export`` (``collector``
    set by ``_gated``)."""

    collector: Collector

    def export(
        self, metrics_data: MetricsData, timeout_millis: float | None = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        send = functools.partial(super().export, metrics_data, timeout_millis, **kwargs)
        return self.collector.export(send, MetricExportResult.FAILURE)


class _Spans(OTLPSpanExporter):
    collector: Collector

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.collector.export(functools.partial(super().export, spans), SpanExportResult.FAILURE)


class _Logs(OTLPLogExporter):
    collector: Collector

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return self.collector.export(functools.partial(super().export, batch), LogRecordExportResult.FAILURE)


_Gated = TypeVar("_Gated", _Metrics, _Spans, _Logs)


def _gated(kind: type[_Gated], base: str, signal: str) -> _Gated:
    """An exporter of ``signal`` to ``base`` (``_where``) with its endpoint's ``Collector``."""
    where = _where(base, signal)
    exporter = kind(endpoint=where["endpoint"], timeout=where["timeout"])
    exporter.collector = collector(where["endpoint"] or _variable_endpoint(signal))
    return exporter


def _variable_endpoint(signal: str) -> str:
    """The endpoint the standard variables name for ``signal`` (the SDK reads them the same way)."""
    own = os.environ.get(f"OTEL_EXPORTER_OTLP_{_SIGNALS[signal]}_ENDPOINT", "").strip()
    return own or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT


class _Where(TypedDict):
    endpoint: str | None
    timeout: float | None


def _where(base: str, signal: str) -> _Where:
    """An exporter's endpoint (the setting's base URL + ``/v1/<signal>``; None when the standard
    variables name it, which the SDK reads) and its timeout."""
    endpoint = f"{base.rstrip('/')}/v1/{signal}" if base else None
    timeouts = ("OTEL_EXPORTER_OTLP_TIMEOUT", f"OTEL_EXPORTER_OTLP_{_SIGNALS[signal]}_TIMEOUT")
    timeout = None if any(os.environ.get(name) for name in timeouts) else DEFAULT_TIMEOUT_SECONDS
    return {"endpoint": endpoint, "timeout": timeout}
