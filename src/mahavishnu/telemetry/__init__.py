"""Telemetry: what Mahavishnu does, as OpenTelemetry metrics, spans and logs; off by default.

A call site measures one operation in one line::

    with telemetry.measure("recall", assistant=tool) as measured:
        ...
        measured.count("items", len(chosen))

which records, when telemetry is on, the histogram ``mahavishnu.recall.duration`` (seconds), the
counter ``mahavishnu.recall.items``, a span ``mahavishnu.recall`` and one log record inside that
span (so the log carries the trace id), all with the same attributes plus ``outcome`` (``ok``,
``error`` or what the call site set). Off (the default), ``measure`` hands back one shared object
that does nothing, and not one OpenTelemetry module is imported: the hooks' start-up is unchanged.

On when the optional extra is installed (``pip install 'mahavishnu-cp[otel]'``) and one of:

* the standard variables name an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` or a per-signal
  ``OTEL_EXPORTER_OTLP_{METRICS,TRACES,LOGS}_ENDPOINT``; the SDK reads the other ``OTEL_*``
  variables, headers and timeout included), or the setting ``telemetry.otlp_endpoint`` does;
  ``OTEL_SDK_DISABLED=true`` turns it all off;
* a server asks for Prometheus' text format (``enable(prometheus=True)``: the MCP server's HTTP mode
  with ``telemetry.prometheus: true`` serves it at ``/metrics``).

Besides ``measure``: ``gauge`` sets a gauge (usage totals, a store's size) and ``observe`` registers
one read at each collection (the memory daemon's stores); while an OTLP endpoint is configured,
Mahavishnu's own ``logging`` records go out too, scrubbed (``sdk.ScrubbedHandler``); ``serve``
serves ``/metrics`` on a loopback port for a process with no HTTP server of its own (the daemon).

The decision is taken once per process, at the first measurement (``secrets get`` included: the
setting is read from the settings snapshot, without pydantic).

Every command is measured as ``cli`` (``command``, opened by ``cli/entry.py``), lazily: OpenTelemetry
is loaded at its end, or at the first measurement inside it. A command the memory daemon answers
(a hook, ``memory search``) sends its start with the request (``pending_command``); a daemon with
telemetry on records the command there, its own work nested in it (``remote_command``), and says
so, and the command's process then records nothing (``hand_off``): a hook the daemon answers loads
no OpenTelemetry module, which cost it 0.3-0.9 s (``benchmarks/telemetry_cost.py``).

Attributes are names and outcomes only (assistant, profile, search mode, event): ``_label`` keeps
any value to a short name-like word, so neither memory text nor a key can end up in an export.

The layer sits between ``environments`` and ``config``: it reads the settings, and everything that
does something (switches, the memory loop, the MCP server) can measure itself.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mahavishnu.telemetry.sdk import Sdk

#: Attribute values: short name-like words (a model id may hold ``/`` or ``@``). Anything else is
#: recorded as "other". (Compiled at first use: ~4 ms a hook need not pay when telemetry is off.)
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,63}$"
#: The variables that name an OTLP destination (the OpenTelemetry specification's).
ENDPOINT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
)

Attribute = str | int | bool


class Measured(Protocol):
    """What ``measure`` hands the call site while the operation runs."""

    def set(self, **attributes: Attribute) -> None:
        """Attributes known only later (an outcome, an event)."""

    def count(self, name: str, amount: int | float = 1) -> None:
        """Adds ``amount`` to the counter ``mahavishnu.<operation>.<name>``."""


class _Nothing:
    """Telemetry off: every method does nothing."""

    def __enter__(self) -> _Nothing:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def set(self, **attributes: Attribute) -> None:
        return None

    def count(self, name: str, amount: int | float = 1) -> None:
        return None


_NOTHING = _Nothing()
_sdk: Sdk | None = None
_decided = False


class _Noted:
    """What a measurement notes as it goes: its attributes and counts."""

    def __init__(self, attributes: dict[str, Attribute]) -> None:
        self.attributes = attributes
        self.counts: dict[str, float] = {}

    def set(self, **attributes: Attribute) -> None:
        self.attributes.update(labels(attributes))

    def count(self, name: str, amount: int | float = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount


class _Measure(_Noted):
    """One operation being measured (telemetry on)."""

    def __init__(self, sdk: Sdk, operation: str, attributes: dict[str, Attribute]) -> None:
        super().__init__(attributes)
        self.sdk = sdk
        self.operation = operation
        self.started = 0.0
        self.close_span: Callable[[dict[str, Attribute], BaseException | None], None] | None = None

    def __enter__(self) -> _Measure:
        self.close_span = self.sdk.start_span(self.operation, self.attributes)
        self.started = time.perf_counter()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        seconds = time.perf_counter() - self.started
        self.attributes.setdefault("outcome", "ok" if exc is None else "error")
        try:
            self.sdk.record(self.operation, seconds, self.counts, self.attributes)
        finally:
            if self.close_span is not None:
                self.close_span({**self.attributes, **_count_attributes(self.counts)}, exc)


def measure(operation: str, **attributes: Attribute) -> AbstractContextManager[Measured]:
    """A context manager measuring ``operation`` (see the module docstring); a no-op when off, or
    inside ``unmeasured``."""
    sdk = _current()
    if sdk is None or getattr(_unmeasured, "on", False):
        return _NOTHING
    return _Measure(sdk, operation, labels(attributes))


_unmeasured = threading.local()


@contextmanager
def unmeasured() -> Iterator[None]:
    """Work done inside (by this thread) is not measured: work a process does for itself, which
    no user asked for (the memory daemon's warm-up search), must not count as theirs."""
    before = getattr(_unmeasured, "on", False)
    _unmeasured.on = True
    try:
        yield
    finally:
        _unmeasured.on = before


class _Command(_Noted):
    """The command being run, measured as ``cli`` when it ends, by this process unless the memory
    daemon took it over (``hand_off``). Its span opens, from the command's start, at the first
    measurement inside it (so that one nests in it) or at its end."""

    def __init__(self, attributes: dict[str, Attribute]) -> None:
        super().__init__(attributes)
        self.measured: _Measure | None = None  # once opened
        self.handed = False
        self.thread = threading.current_thread()
        self.started_ns, self.started = 0, 0.0

    def __enter__(self) -> _Command:
        global _command
        self.started_ns, self.started = time.time_ns(), time.perf_counter()
        _command = self
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        global _command
        _command = None
        if self.handed and self.measured is None:
            return
        sdk = _current()
        if sdk is not None:
            self.open(sdk).__exit__(kind, exc, tb)

    def open(self, sdk: Sdk) -> _Measure:
        """The command's measurement, its span started (and made current) once."""
        if self.measured is None:
            measured = self.measured = _Measure(sdk, "cli", self.attributes)
            measured.counts, measured.started = self.counts, self.started
            measured.close_span = sdk.start_span("cli", self.attributes, start_time=self.started_ns)
        return self.measured


_command: _Command | None = None


def command(**attributes: Attribute) -> AbstractContextManager[Measured]:
    """The measurement of the command being run (``cli/entry.py``); a no-op when telemetry is off.
    Unlike ``measure``, it loads no OpenTelemetry module until it must (see the module docstring)."""
    if _decided:
        return measure("cli", **attributes)
    if _otlp_endpoint() is None:
        return _NOTHING
    return _Command(labels(attributes))


def pending_command() -> dict[str, Attribute] | None:
    """What the memory daemon needs to record the command being run (its name and start), while
    nothing of it has been recorded here; None otherwise."""
    pending = _command
    if pending is None or pending.measured is not None or pending.handed:
        return None
    name = pending.attributes.get("mahavishnu.command", "other")
    return {"command": name, "started_ns": pending.started_ns}


def hand_off() -> None:
    """The memory daemon recorded the command being run: this process records nothing of it."""
    if _command is not None and _command.measured is None:
        _command.handed = True


#: The oldest a command handed to the daemon may have begun (a client's start, nanoseconds ago).
_HANDED_AGE_NS = 3600 * 10**9


def remote_command(sent: object) -> _Measure | None:
    """The measurement of a command another process handed over (``pending_command``'s dict, sent
    with its request to the memory daemon), begun when that process began it; None when telemetry
    is off here or ``sent`` is not one (then the sender records its command itself)."""
    sdk = _current()
    if sdk is None or not isinstance(sent, dict):
        return None
    name, started = sent.get("command"), sent.get("started_ns")
    now = time.time_ns()
    if not isinstance(name, str) or type(started) is not int or not 0 <= now - started <= _HANDED_AGE_NS:
        return None
    return _Remote(sdk, labels({"command": name}), started)


class _Remote(_Measure):
    """A command measured by the daemon that answered it, from its start in the process that ran it."""

    def __init__(self, sdk: Sdk, attributes: dict[str, Attribute], started_ns: int) -> None:
        super().__init__(sdk, "cli", attributes)
        self.started_ns = started_ns

    def __enter__(self) -> _Remote:
        self.close_span = self.sdk.start_span(self.operation, self.attributes, start_time=self.started_ns)
        self.started = time.perf_counter() - (time.time_ns() - self.started_ns) / 1e9
        return self


def labels(attributes: Mapping[str, Attribute]) -> dict[str, Attribute]:
    """Attribute names as exported: ``mahavishnu.<key>``, except ``outcome`` and names that are
    already dotted (the OpenTelemetry semantic conventions' ``gen_ai.system`` …)."""
    return {
        key if key == "outcome" or "." in key else f"mahavishnu.{key}": _label(v)
        for key, v in attributes.items()
    }


def _label(value: Attribute) -> Attribute:
    if isinstance(value, bool | int):
        return value
    return value if re.match(LABEL_PATTERN, value) else "other"


def _count_attributes(counts: dict[str, float]) -> dict[str, Attribute]:
    return {f"mahavishnu.{name}": int(amount) for name, amount in counts.items()}


def _current() -> Sdk | None:
    global _decided
    if not _decided:
        _decided = True
        endpoint = _otlp_endpoint()
        if endpoint is not None:
            _start(otlp_endpoint=endpoint, prometheus=False)
    pending = _command  # (its span's context is its thread's: opened there only)
    if _sdk is not None and pending and not pending.handed and pending.thread is threading.current_thread():
        pending.open(_sdk)  # a measurement inside the command: it nests in the command's span
    return _sdk


def _otlp_endpoint() -> str | None:
    """The OTLP destination: "" when the standard variables name one (the SDK reads them), the
    setting's base URL, or None (no export)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES):
        return ""
    try:
        return configured_endpoint()
    except Exception:  # invalid settings: the command reports them; telemetry stays off
        return None


def configured_endpoint() -> str | None:
    """The setting ``telemetry.otlp_endpoint``, read from the settings snapshot when it holds (no
    pydantic, no YAML: every command measures itself, ``secrets get`` included), else through the
    validated settings; None at once when no settings source mentions telemetry at all."""
    if not _may_set_telemetry():
        return None
    from mahavishnu import settings_snapshot as snapshot

    key = snapshot.fingerprint()
    cached = snapshot.read("settings", key) if key is not None else None
    if isinstance(cached, dict):
        try:
            value = cached["fields"]["telemetry"]["fields"]["otlp_endpoint"]
        except (KeyError, TypeError):
            value = None
        else:
            return value if isinstance(value, str) and value else None
    from mahavishnu.config import load_settings

    return load_settings().telemetry.otlp_endpoint


def _start(*, otlp_endpoint: str | None, prometheus: bool) -> Sdk | None:
    global _sdk
    try:
        from mahavishnu.telemetry.sdk import Sdk
    except ImportError:  # the [otel] extra is not installed: off
        return None
    _sdk = Sdk(otlp_endpoint=otlp_endpoint, prometheus=prometheus)
    return _sdk


def _may_set_telemetry() -> bool:
    """Whether a settings file's text or a ``MAHAVISHNU_TELEMETRY*`` variable mentions telemetry:
    a look of a few bytes that spares the usual case (no telemetry setting anywhere) the snapshot
    and what it imports (hashlib, dataclasses: ~10 ms of the capture hook's hand-off)."""
    if any(name.upper().startswith("MAHAVISHNU_TELEMETRY") for name in os.environ):
        return True
    from mahavishnu import paths

    for _, path in paths.layer_files():
        try:
            if b"telemetry" in path.read_bytes():
                return True
        except FileNotFoundError:
            continue
        except OSError:  # unreadable here: let the settings say (and report it)
            return True
    return False


def enabled() -> bool:
    """Whether telemetry is on in this process (deciding it now if no measurement has)."""
    return _current() is not None


def gauge(
    name: str, value: float, *, unit: str = "1", description: str = "", **attributes: Attribute
) -> None:
    """Sets the gauge ``mahavishnu.<name>`` to ``value`` for ``attributes``; a no-op when off."""
    sdk = _current()
    if sdk is not None:
        sdk.gauge(f"mahavishnu.{name}", value, labels(attributes), unit=unit, description=description)


Observation = tuple[float, Mapping[str, Attribute]]


def observe(
    name: str, read: Callable[[], Iterable[Observation]], *, unit: str = "1", description: str = ""
) -> None:
    """Registers the observable gauge ``mahavishnu.<name>``: ``read()`` gives its (value,
    attributes) pairs each time the metrics are collected (an export, a scrape). It runs on the
    collecting thread: it must only read what its owner keeps up to date. A no-op when off."""
    sdk = _current()
    if sdk is not None:
        sdk.observe(f"mahavishnu.{name}", lambda: [(v, labels(a)) for v, a in read()], unit, description)


def available() -> bool:
    """Whether the OpenTelemetry SDK (the ``[otel]`` extra) is installed."""
    import importlib.util

    return all(
        importlib.util.find_spec(m) is not None for m in ("opentelemetry.sdk", "opentelemetry.exporter")
    )


def enable(*, prometheus: bool) -> Sdk | None:
    """Turns telemetry on for this process (an OTLP export too when one is configured), with
    Prometheus' text format when asked; None when the ``[otel]`` extra is missing."""
    global _decided
    if _sdk is not None and (_sdk.prometheus or not prometheus):
        return _sdk
    endpoint = _otlp_endpoint()
    shutdown()
    _decided = True
    return _start(otlp_endpoint=endpoint, prometheus=prometheus)


def prometheus_text() -> str | None:
    """The current metrics in Prometheus' text format, or None when nobody asked for it."""
    return _sdk.prometheus_text() if _sdk is not None else None


def flush() -> None:
    """Exports what is pending now (a long-running process also exports periodically and at exit)."""
    if _sdk is not None:
        _sdk.flush()


def shutdown() -> None:
    """Exports what is pending and forgets the decision (the next measurement decides again)."""
    global _sdk, _decided
    if _sdk is not None:
        _sdk.shutdown()
    _sdk = None
    _decided = False


__all__ = [
    "ENDPOINT_VARIABLES",
    "Attribute",
    "Measured",
    "Observation",
    "available",
    "command",
    "configured_endpoint",
    "enable",
    "enabled",
    "flush",
    "gauge",
    "hand_off",
    "labels",
    "measure",
    "observe",
    "pending_command",
    "prometheus_text",
    "remote_command",
    "shutdown",
    "unmeasured",
]
