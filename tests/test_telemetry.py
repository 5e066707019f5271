"""Telemetry (``mahavishnu.telemetry``, the ``[otel]`` extra): what a real recall, capture, search and
switch export over OTLP/HTTP, decoded by a loopback receiver with ``opentelemetry-proto``; the
Prometheus text format at the MCP server's ``/metrics``, scraped by a real Prometheus server when
Debian's ``prometheus`` is installed; nothing secret and no memory text in any payload; and,
telemetry off, not one OpenTelemetry module imported by the recall hook."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from testkit.ports import free_port, served_in_thread

from mahavishnu import mcp_server, telemetry
from mahavishnu.config import RecallSettings, load_settings
from mahavishnu.distribution import install_extra
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.errors import MahavishnuError
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop.capture import capture_hook
from mahavishnu.memory.loop.recall import build_context

pytest.importorskip("opentelemetry.sdk", reason="the telemetry tests need the [otel] extra (in [test])")
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

CANARY_KEY = "sk-canary0telemetry0" + "7" * 24  # the provider key of the switched profile
CANARY_TEXT = "quokka-marmalade-canary"  # in the memory recall replays
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_telemetry() -> Iterator[None]:
    telemetry.shutdown()
    yield
    telemetry.shutdown()


@dataclass
class Received:
    bodies: dict[str, list[bytes]] = field(default_factory=dict)

    def raw(self) -> bytes:
        return b"".join(b for bodies in self.bodies.values() for b in bodies)


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, Received]]:
    """An OTLP/HTTP receiver on loopback: keeps each POSTed body by path (/v1/metrics …), answers 200."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            received.bodies.setdefault(self.path, []).append(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def _attributes(pairs: list[KeyValue]) -> dict[str, object]:
    found: dict[str, object] = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        found[pair.key] = getattr(pair.value, kind) if kind else None
    return found


def metric_points(received: Received) -> dict[str, list[tuple[dict[str, object], float]]]:
    """Each metric's points as (attributes, value): a counter's sum, a histogram's count."""
    points: dict[str, list[tuple[dict[str, object], float]]] = {}
    for body in received.bodies.get("/v1/metrics", []):
        request = ExportMetricsServiceRequest.FromString(body)
        for resource in request.resource_metrics:
            assert _attributes(list(resource.resource.attributes))["service.name"] == "mahavishnu"
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        value = point.count if kind == "histogram" else point.as_double or point.as_int
                        points.setdefault(metric.name, []).append(
                            (_attributes(list(point.attributes)), value)
                        )
    return points


def spans(received: Received) -> dict[str, list[tuple[bytes, dict[str, object]]]]:
    found: dict[str, list[tuple[bytes, dict[str, object]]]] = {}
    for body in received.bodies.get("/v1/traces", []):
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    found.setdefault(span.name, []).append(
                        (span.trace_id, _attributes(list(span.attributes)))
                    )
    return found


def log_records(received: Received) -> list[tuple[str, bytes, dict[str, object]]]:
    found = []
    for body in received.bodies.get("/v1/logs", []):
        for resource in ExportLogsServiceRequest.FromString(body).resource_logs:
            for scope in resource.scope_logs:
                for record in scope.log_records:
                    found.append(
                        (record.body.string_value, record.trace_id, _attributes(list(record.attributes)))
                    )
    return found


def _one(points: list[tuple[dict[str, object], float]], **wanted: object) -> float:
    matching = [
        value for attributes, value in points if all(attributes.get(k) == v for k, v in wanted.items())
    ]
    assert matching, (wanted, points)
    return sum(matching)


def _open_store() -> MemoryStore:
    return MemoryStore.open(load_settings(), embedder=FakeEmbedder())


def test_a_real_recall_capture_search_and_switch_arrive_over_otlp_with_their_attributes(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").write_text('{"permissions": {"allow": []}}\n')
    monkeypatch.setenv("DASHSCOPE_API_KEY", CANARY_KEY)
    with otlp_receiver() as (endpoint, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        with _open_store() as store:
            store.store(f"We decided the {CANARY_TEXT} stays in the api", "decision", project="api")
            start = {
                "hook_event_name": "SessionStart",
                "session_id": "s1",
                "cwd": "/w/api",
                "source": "startup",
            }
            answer = build_context(store, start, "claude", RecallSettings())
            assert answer is not None and CANARY_TEXT in json.dumps(answer)  # recalled: the text is in play
            assert store.search(f"{CANARY_TEXT} api", mode="text")
            with pytest.raises(MahavishnuError):  # not one of Codex's session files: refused
                capture_hook(store, "codex", {"transcript_path": str(isolated_home / "elsewhere.jsonl")})
        switched = switch_llm("qwen", load_settings(), tool="claude")
        assert switched.tools == ["claude"]
        with pytest.raises(MahavishnuError):
            switch_llm("no-such-profile", load_settings(), tool="claude")
        telemetry.shutdown()  # exports what is pending, as a process does at exit

    points = metric_points(received)
    recall = {"mahavishnu.assistant": "claude", "mahavishnu.event": "SessionStart", "outcome": "ok"}
    assert _one(points["mahavishnu.recall.duration"], **recall) == 1
    assert _one(points["mahavishnu.recall.items"], **recall) == 1
    assert _one(points["mahavishnu.recall.tokens"], **recall) > 10
    assert _one(points["mahavishnu.memory.search.duration"], **{"mahavishnu.mode": "text"}) == 1
    assert _one(points["mahavishnu.memory.search.hits"], **{"mahavishnu.mode": "text"}) >= 1
    refused = {"mahavishnu.assistant": "codex", "outcome": "refused"}
    assert _one(points["mahavishnu.capture.refusals"], **refused) == 1
    switch = {"mahavishnu.assistant": "claude", "mahavishnu.profile": "qwen", "outcome": "ok"}
    assert _one(points["mahavishnu.switch.duration"], **switch) == 1
    assert _one(points["mahavishnu.switch.switched"], **switch) == 1
    assert _one(points["mahavishnu.switch.duration"], **{"outcome": "error"}) == 1

    traced = spans(received)
    (recall_trace, recall_span), *_ = traced["mahavishnu.recall"]
    assert recall_span["mahavishnu.items"] == 1 and recall_span["mahavishnu.assistant"] == "claude"
    assert traced["mahavishnu.switch"] and traced["mahavishnu.capture"]
    logs = log_records(received)
    (recall_log,) = [log for log in logs if log[0] == "mahavishnu.recall"]
    assert recall_log[1] == recall_trace  # the log record carries its span's trace id
    assert {log[0] for log in logs} >= {"mahavishnu.switch", "mahavishnu.capture", "mahavishnu.memory.search"}

    everything = received.raw()
    assert CANARY_KEY.encode() not in everything and CANARY_KEY[8:24].encode() not in everything
    assert CANARY_TEXT.encode() not in everything


def test_attribute_values_that_are_not_names_are_never_exported() -> None:
    assert telemetry.labels({"profile": CANARY_KEY})["mahavishnu.profile"] == CANARY_KEY  # a word…
    said = telemetry.labels({"profile": f"my key is {CANARY_KEY}", "event": "x" * 65, "n": 3})
    assert said == {"mahavishnu.profile": "other", "mahavishnu.event": "other", "mahavishnu.n": 3}


def test_the_setting_names_the_endpoint_when_no_variable_does(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with otlp_receiver() as (endpoint, received):
        monkeypatch.setenv("MAHAVISHNU_TELEMETRY__OTLP_ENDPOINT", endpoint)
        with _open_store() as store:
            store.search("anything", mode="text")
        telemetry.shutdown()
    assert _one(metric_points(received)["mahavishnu.memory.search.duration"], outcome="ok") == 1


def test_telemetry_is_off_by_default_and_then_measures_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with otlp_receiver() as (endpoint, received), _open_store() as store:
        store.search("anything", mode="text")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)  # too late: decided once per process
        store.search("anything", mode="text")
        telemetry.flush()
    assert not received.bodies
    assert telemetry.prometheus_text() is None


def test_the_recall_hook_imports_no_opentelemetry_module_when_off(isolated_home: Path) -> None:
    payload = {
        "hook_event_name": "SessionStart",
        "session_id": "s",
        "cwd": str(isolated_home),
        "source": "startup",
    }
    probe = (
        "import sys, runpy; sys.argv = ['mahavishnu', 'memory', 'context', '--tool', 'claude']\n"
        "try:\n    runpy.run_module('mahavishnu', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "sys.stderr.write('OTEL=' + ','.join(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], input=json.dumps(payload), capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in done.stderr and done.returncode == 0, done.stderr
    assert done.stderr.strip().endswith("OTEL="), done.stderr


# -- Prometheus -------------------------------------------------------------------------------------

TOKEN = "t0ken-for-metrics-0123456789abcdef"


@contextmanager
def mcp_http(metrics: bool) -> Iterator[int]:
    """The MCP server's HTTP app (with ``/metrics``) on a loopback port, in a thread; yields the port."""
    backing = mcp_server.Backing(store=_open_store)
    app = mcp_server.http_app(mcp_server.build_server(backing), token=TOKEN, metrics=metrics)
    try:
        with served_in_thread(app, lifespan="on") as port:
            yield port
    finally:
        backing.close()


def _call_tools(port: int) -> None:
    async def go() -> None:
        client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        async with Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=client)) as mcp:
            assert not (
                await mcp.call_tool("store_memory", {"content": f"the {CANARY_TEXT} memory"})
            ).is_error
            assert not (await mcp.call_tool("search_memory", {"query": CANARY_TEXT, "mode": "text"})).is_error
            switched = await mcp.call_tool("switch_llm", {"name": "qwen", "tool": "claude"})
            assert not switched.is_error, switched

    anyio.run(go)


def parse_exposition(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Prometheus' text format: {name: {sorted labels: value}}; each family has HELP and TYPE."""
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, rest = head.partition("{")
        labels = (
            tuple(sorted(tuple(p.split("=", 1)) for p in rest.rstrip("}").split(",") if p)) if rest else ()
        )
        samples.setdefault(name, {})[tuple((k, v.strip('"')) for k, v in labels)] = float(value)
        assert any(name == t or name.startswith(f"{t}_") for t in typed), line
    return samples


def test_mcp_http_serves_metrics_in_the_prometheus_format_behind_its_token(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").write_text("{}\n")
    monkeypatch.setenv("DASHSCOPE_API_KEY", CANARY_KEY)
    assert telemetry.enable(prometheus=True) is not None
    with mcp_http(metrics=True) as port:
        _call_tools(port)
        url = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(url, timeout=10).status_code == 401
        answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "text/plain; version=0.0.4"
    )
    samples = parse_exposition(answer.text)
    switch = (("mahavishnu_assistant", "claude"), ("mahavishnu_dry_run", "false"))
    assert (
        samples["mahavishnu_switch_duration_seconds_count"][
            (*switch, ("mahavishnu_profile", "qwen"), ("outcome", "ok"))
        ]
        == 1
    )
    searches = samples["mahavishnu_memory_search_duration_seconds_count"]
    assert searches[(("mahavishnu_mode", "text"), ("outcome", "ok"))] == 1
    buckets = samples["mahavishnu_memory_search_duration_seconds_bucket"]
    assert buckets[(("le", "+Inf"), ("mahavishnu_mode", "text"), ("outcome", "ok"))] == 1
    assert CANARY_KEY not in answer.text and CANARY_TEXT not in answer.text


def test_a_clients_unknown_tool_names_add_no_series_and_no_key_to_the_metrics(isolated_home: Path) -> None:
    """A review: ``switch_llm``'s label was the ``tool`` a client sent, refused or not: each word made
    a series of its own (a client could add them without end), and a key sent as one was exported."""
    assert telemetry.enable(prometheus=True) is not None
    sent = [f"bogus{n}" for n in range(5)] + [CANARY_KEY]
    with mcp_http(metrics=True) as port:

        async def go() -> None:
            client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
            url = f"http://127.0.0.1:{port}/mcp"
            async with Client(streamable_http_client(url, http_client=client)) as mcp:
                for tool in sent:
                    arguments = {"name": "qwen", "tool": tool, "dry_run": True}
                    refused = await mcp.call_tool("switch_llm", arguments)
                    assert refused.is_error and "unknown tool" in str(refused.content)

        anyio.run(go)
        answer = httpx.get(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
    counts = parse_exposition(answer.text)["mahavishnu_switch_duration_seconds_count"]
    assert counts == {
        (("mahavishnu_assistant", "other"), ("mahavishnu_dry_run", "true"), ("outcome", "error")): len(sent)
    }
    assert "bogus" not in answer.text and CANARY_KEY not in answer.text


def test_a_rebinding_page_cannot_read_the_metrics_of_a_server_without_a_token(isolated_home: Path) -> None:
    """A review: ``/metrics`` was answered before the SDK's rebinding guard (which guards ``/mcp``):
    served with ``--no-auth``, a page whose name resolves to 127.0.0.1 read it (Host and Origin its own)."""
    from starlette.testclient import TestClient

    assert telemetry.enable(prometheus=True) is not None
    app = mcp_server.http_app(mcp_server.build_server(), host="127.0.0.1", metrics=True, port=8931)
    with TestClient(app, base_url="http://127.0.0.1:8931") as client:
        rebound = client.get("/metrics", headers={"Host": "attacker.example:8931"})
        foreign = client.get("/metrics", headers={"Origin": "http://attacker.example:8931"})
        ours = client.get("/metrics", headers={"Origin": "http://127.0.0.1:8931"})
    assert (rebound.status_code, foreign.status_code, ours.status_code) == (421, 403, 200)
    assert "mahavishnu" not in rebound.text + foreign.text


def test_without_the_setting_there_is_no_metrics_route(isolated_home: Path) -> None:
    with mcp_http(metrics=False) as port:
        answer = httpx.get(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
    assert answer.status_code == 404


def test_a_real_prometheus_scrapes_the_mcp_servers_metrics(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        reason = "Debian's prometheus is not installed (apt-get install -y prometheus): scrape not checked"
        print(reason)
        pytest.skip(reason)
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").write_text("{}\n")
    monkeypatch.setenv("DASHSCOPE_API_KEY", CANARY_KEY)
    assert telemetry.enable(prometheus=True) is not None
    with mcp_http(metrics=True) as port:
        _call_tools(port)
        (tmp_path / "token").write_text(TOKEN)
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: mahavishnu\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
            f"    authorization: {{credentials_file: {tmp_path / 'token'}}}\n"
        )
        web = free_port()
        prometheus = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{web}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "HOME": str(isolated_home)},
        )
        try:
            found = _query_until(web, 'mahavishnu_switch_duration_seconds_count{mahavishnu_profile="qwen"}')
        finally:
            prometheus.terminate()
            _, stderr = prometheus.communicate(timeout=30)
    assert found, stderr.decode()[-2000:]
    labels = found[0]["metric"]
    assert labels["job"] == "mahavishnu" and labels["mahavishnu_assistant"] == "claude"
    assert labels["outcome"] == "ok" and found[0]["value"][1] == "1"


def _query_until(port: int, query: str, seconds: float = 60) -> list[dict[str, object]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=5)
            result = answer.json()["data"]["result"] if answer.status_code == 200 else []
        except httpx.HTTPError:
            result = []
        if result:
            return list(result)
        time.sleep(0.5)
    return []


# -- every command, the store, ingest, probes, Session-Buddy, usage, logs, doctor ----------------------


def span_records(received: Received) -> list[dict[str, object]]:
    """Every span: name, trace and span ids, parent span id, attributes."""
    found: list[dict[str, object]] = []
    for body in received.bodies.get("/v1/traces", []):
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    found.append(
                        {
                            "name": span.name,
                            "trace": span.trace_id,
                            "id": span.span_id,
                            "parent": span.parent_span_id,
                            "attributes": _attributes(list(span.attributes)),
                        }
                    )
    return found


@pytest.fixture
def this_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes run this tree's code, whatever the environment's install points at."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT / "src"))


def _mahavishnu(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mahavishnu", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_every_command_is_a_span_its_work_nests_in_named_by_its_commands_never_its_arguments(
    isolated_home: Path, this_tree: None
) -> None:
    payload = {
        "hook_event_name": "SessionStart",
        "session_id": "s",
        "cwd": str(isolated_home),
        "source": "startup",
    }
    with otlp_receiver() as (endpoint, received):
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        hook = _mahavishnu("memory", "context", "--tool", "claude", stdin=json.dumps(payload), env=env)
        assert hook.returncode == 0 and not hook.stderr, hook.stderr  # the fast path
        assert _mahavishnu("config", "path", env=env).returncode == 0  # through Typer
        assert _mahavishnu("memory", "hooks", "status", env=env).returncode == 0  # a nested group
        searched = _mahavishnu("memory", "search", CANARY_TEXT, "--mode", "text", "--json", env=env)
        assert searched.returncode == 0, searched.stderr
        failed = _mahavishnu("ai", "switch-llm", "no-such-profile", env=env)
        assert failed.returncode != 0
    commands = [s for s in span_records(received) if s["name"] == "mahavishnu.cli"]
    named = {str(s["attributes"]["mahavishnu.command"]): s for s in commands}
    assert set(named) == {
        "memory.context",
        "config.path",
        "memory.hooks.status",
        "memory.search",
        "ai.switch-llm",
    }
    assert named["config.path"]["attributes"]["outcome"] == "ok"
    assert named["ai.switch-llm"]["attributes"]["outcome"] == "error"
    assert named["ai.switch-llm"]["attributes"]["mahavishnu.exit_code"] == failed.returncode
    (recall,) = [s for s in span_records(received) if s["name"] == "mahavishnu.recall"]
    assert recall["trace"] == named["memory.context"]["trace"]
    assert recall["parent"] == named["memory.context"]["id"]  # the hook's recall nests in its command
    durations = metric_points(received)["mahavishnu.cli.duration"]
    assert _one(durations, **{"mahavishnu.command": "memory.hooks.status", "outcome": "ok"}) == 1
    assert CANARY_TEXT.encode() not in received.raw() and b"no-such-profile" not in received.raw()


@pytest.mark.parametrize(
    "endpoint",
    [None, "http://[collector", "http://127.0.0.1:99999"],
    ids=["stopped", "no-url", "port-out-of-range"],
)
def test_a_collector_that_is_not_there_costs_a_command_nothing(
    endpoint: str | None, isolated_home: Path, this_tree: None
) -> None:
    """A stopped collector: the SDK's exporters retried it for their whole timeout, one signal after
    the other, printing each try (3.6 s and six lines on every command and hook). An endpoint that
    is no URL: looking at its port raised ValueError ("Invalid IPv6 URL", "Port out of range"), a
    traceback and exit status 1 after every command, and "the memory hook failed unexpectedly"."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint or f"http://127.0.0.1:{free_port()}"}
    payload = {"hook_event_name": "UserPromptSubmit", "session_id": "s", "cwd": str(isolated_home)}
    hook = _mahavishnu(
        "memory", "context", "--tool", "claude", stdin=json.dumps({**payload, "prompt": "which db?"}), env=env
    )
    assert hook.returncode == 0 and hook.stderr == "", hook.stderr
    command = _mahavishnu("config", "path", env=env)
    assert command.returncode == 0 and command.stderr == "", command.stderr


@contextmanager
def silent_collector() -> Iterator[tuple[str, list[bytes]]]:
    """A port that takes connections and reads what is sent, but never answers (a hung collector):
    its URL, and the requests that came (a look at the port sends nothing)."""
    requests: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def hold() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)
            connection.settimeout(5)
            try:
                if data := connection.recv(65536):
                    requests.append(data)
            except OSError:
                pass

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", requests
    finally:
        listener.close()
        for connection in held:
            connection.close()


def test_a_collector_that_never_answers_costs_a_hook_one_timeout_and_no_output(
    isolated_home: Path, this_tree: None
) -> None:
    """Its port takes the connection, so each signal's export waited its whole timeout, one after
    the other (7 s added to every hook, where the default timeout is 2 s), and the SDK printed
    "Failed to export ... batch" three times on the hook's stderr."""
    payload = {"hook_event_name": "UserPromptSubmit", "session_id": "s", "cwd": str(isolated_home)}
    with silent_collector() as (endpoint, requests):
        hook = _mahavishnu(
            "memory", "context", "--tool", "claude", stdin=json.dumps({**payload, "prompt": "which db?"}),
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
        )  # fmt: skip
    assert hook.returncode == 0 and hook.stderr == "", hook.stderr
    assert len(requests) == 1, [r.split(b"\r\n", 1)[0] for r in requests]  # the others: dropped at once


def test_the_collector_is_looked_at_again_once_its_answer_has_aged(monkeypatch: pytest.MonkeyPatch) -> None:
    from mahavishnu.telemetry import sdk

    port = free_port()
    collector = sdk.Collector("127.0.0.1", port)
    assert not collector.reachable()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert not collector.reachable()  # the answer holds a while: one look, not one per signal
        monkeypatch.setattr(sdk, "PROBE_HOLDS_SECONDS", 0.0)
        assert collector.reachable()  # a daemon's collector came back


def test_a_proxied_collector_is_not_looked_at(monkeypatch: pytest.MonkeyPatch) -> None:
    from mahavishnu.telemetry import sdk

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert sdk.Collector("collector.invalid", 4318).reachable()  # the proxy reaches it, not this machine


def test_commands_import_no_opentelemetry_module_when_off(isolated_home: Path, this_tree: None) -> None:
    probe = (
        "import sys, runpy; sys.argv = ['mahavishnu', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('mahavishnu', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "sys.stderr.write('OTEL=' + ','.join(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    for args in (
        ["secrets", "get", "qwen"],
        ["config", "path"],
        ["memory", "import", "--tool", "claude", "-"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            input="{}",
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "DASHSCOPE_API_KEY": CANARY_KEY},
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip().endswith("OTEL="), (args, done.stderr)


@contextmanager
def provider_mock(status: int) -> Iterator[str]:
    """An OpenAI-shaped provider on loopback answering every GET with ``status``; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _write_settings(isolated_home: Path, data: dict[str, object]) -> None:
    path = Path(os.environ["MAHAVISHNU_HOME"]) / "mahavishnu.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))  # (JSON is YAML)


def test_the_store_ingest_provider_probes_and_session_buddy_calls_are_measured(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.memory.ingest.pipeline import ingest_repository
    from mahavishnu.memory.peers.session_buddy import SessionBuddy
    from mahavishnu.services.probe import probe_profile

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "notes.md").write_text(f"# Notes\n\nThe {CANARY_TEXT} lives here.\n")
    monkeypatch.setenv("MOCK_KEY", CANARY_KEY)
    with otlp_receiver() as (endpoint, received), provider_mock(200) as good, provider_mock(401) as bad:
        _write_settings(
            isolated_home,
            {
                "profiles": {
                    "mock-up": {"secret": ["env:MOCK_KEY"], "openai": {"base_url": good, "model": "m1"}},
                    "mock-down": {"secret": ["env:MOCK_KEY"], "openai": {"base_url": bad, "model": "m1"}},
                }
            },
        )
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        with _open_store() as store:
            store.store(f"the {CANARY_TEXT} decision", "decision")
            store.store(f"the {CANARY_TEXT} decision", "decision")  # a duplicate
            ingest_repository(store, repo)
        assert probe_profile("mock-up", load_settings(), protocol="openai", timeout=5)[0].ok
        assert not probe_profile("mock-down", load_settings(), protocol="openai", timeout=5)[0].ok
        buddy = SessionBuddy(url=f"http://127.0.0.1:{free_port()}/mcp", timeout_seconds=2)
        with pytest.raises(MahavishnuError):
            buddy.reflection_count()
        buddy.close()
        telemetry.shutdown()

    points = metric_points(received)
    assert _one(points["mahavishnu.memory.store.stored"], **{"mahavishnu.backend": "sqlite"}) >= 1
    assert _one(points["mahavishnu.memory.store.duplicates"], **{"mahavishnu.backend": "sqlite"}) == 1
    assert _one(points["mahavishnu.memory.ingest.files_indexed"], outcome="ok") == 1
    assert _one(points["mahavishnu.memory.ingest.chunks_created"], outcome="ok") >= 1
    up = {"mahavishnu.profile": "mock-up", "mahavishnu.protocol": "openai", "outcome": "ok"}
    assert _one(points["mahavishnu.probe.duration"], **up) == 1
    down = {"mahavishnu.profile": "mock-down", "outcome": "http-error", "mahavishnu.http_status": 401}
    assert _one(points["mahavishnu.probe.duration"], **down) == 1
    peer = {"mahavishnu.tool": "reflection_stats", "mahavishnu.transport": "http", "outcome": "error"}
    assert _one(points["mahavishnu.session_buddy.call.duration"], **peer) == 1
    names = {s["name"] for s in span_records(received)}
    assert names >= {
        "mahavishnu.memory.store",
        "mahavishnu.memory.ingest",
        "mahavishnu.probe",
        "mahavishnu.session_buddy.call",
    }
    everything = received.raw()
    assert CANARY_KEY.encode() not in everything and CANARY_TEXT.encode() not in everything


def test_usage_figures_are_gauges_with_the_genai_attribute_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import date

    from mahavishnu.usage import metrics
    from mahavishnu.usage.records import Provider, UsageRecord

    def request(model: str, tokens: int, session: str) -> UsageRecord:
        return UsageRecord("claude", f"k{session}", 1.7e9, model, tokens, 10, 5, 100, session, "api")

    dashscope = Provider("qwen", "qwen", "https://dashscope.example/apps/anthropic", "alibaba")
    anthropic = Provider("anthropic", None, None, "anthropic")
    priced = [
        (request("qwen3-coder-plus", 1000, "a"), dashscope, 0.25),
        (request("qwen3-coder-plus", 500, "b"), dashscope, 0.125),
        (request("claude-sonnet-4-5", 7, "c"), anthropic, None),  # unpriced
    ]
    with otlp_receiver() as (endpoint, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        metrics.record(priced, date(2026, 1, 1), None)
        telemetry.shutdown()
    points = metric_points(received)
    qwen = {
        "gen_ai.system": "alibaba",
        "gen_ai.request.model": "qwen3-coder-plus",
        "mahavishnu.assistant": "claude",
        "mahavishnu.provider": "qwen",
        "mahavishnu.since": "2026-01-01",
        "mahavishnu.until": "all",
    }
    assert _one(points["mahavishnu.usage.tokens"], **qwen, **{"gen_ai.token.type": "input"}) == 1500
    assert _one(points["mahavishnu.usage.tokens"], **qwen, **{"gen_ai.token.type": "cache_read"}) == 200
    assert _one(points["mahavishnu.usage.cost"], **qwen) == pytest.approx(0.375)
    assert _one(points["mahavishnu.usage.requests"], **qwen, **{"mahavishnu.priced": True}) == 2
    claude = {"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5"}
    assert _one(points["mahavishnu.usage.requests"], **claude, **{"mahavishnu.priced": False}) == 1
    assert not [a for a, _ in points["mahavishnu.usage.cost"] if a["gen_ai.system"] == "anthropic"]


def test_mahavishnus_log_records_are_exported_scrubbed_with_their_trace_id(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    session = isolated_home / ".claude" / "projects" / "-w-quokka-project" / "s.jsonl"
    with otlp_receiver() as (endpoint, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        log = logging.getLogger("mahavishnu.memory.somewhere")
        with telemetry.measure("switch", assistant="claude"):
            log.warning("the provider refused key %s", CANARY_KEY, extra={"leak": CANARY_TEXT})
            try:
                raise ValueError(f"bad {CANARY_TEXT}")
            except ValueError:
                log.error("lookup failed for api_key=%s", CANARY_KEY, exc_info=True)
            log.warning("skipped %s (not %s2)", session, isolated_home)  # a path names the user
        logging.getLogger("elsewhere").warning("not ours: %s", "x")
        telemetry.shutdown()
    logs = log_records(received)
    ours = [(body, trace, attrs) for body, trace, attrs in logs if attrs.get("mahavishnu.logger")]
    assert [body.split(" ")[0] for body, _, _ in ours] == ["the", "lookup", "skipped"]
    assert ours[2][0] == f"skipped ~/.claude/projects/-w-quokka-project/s.jsonl (not {isolated_home}2)"
    (switch_trace, _), *_ = spans(received)["mahavishnu.switch"]
    assert all(trace == switch_trace for _, trace, _ in ours)  # correlated with the span they ran in
    assert ours[1][2]["exception.type"] == "ValueError" and ours[0][2]["mahavishnu.logger"].endswith(
        "somewhere"
    )
    assert not any("not ours" in body for body, _, _ in logs)
    everything = received.raw()
    assert CANARY_KEY.encode() not in everything and CANARY_KEY[8:24].encode() not in everything
    assert CANARY_TEXT.encode() not in everything


def test_doctor_warns_when_an_endpoint_is_set_but_the_extra_is_missing(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu import doctor

    settings = load_settings()
    assert doctor.check_telemetry(settings) == []  # nothing configured: nothing said
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert [f.status for f in doctor.check_telemetry(settings)] == ["ok"]
    monkeypatch.setattr(telemetry, "available", lambda: False)
    (finding,) = doctor.check_telemetry(settings)
    assert finding.status == "warn" and "OTEL_EXPORTER_OTLP_ENDPOINT" in finding.detail
    assert finding.hint == install_extra("otel") and finding.hint.startswith("pip install ")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    monkeypatch.setenv("MAHAVISHNU_TELEMETRY__DAEMON_METRICS_PORT", "9464")
    (finding,) = doctor.check_telemetry(load_settings())
    assert finding.status == "warn" and "telemetry.daemon_metrics_port" in finding.detail


# -- the memory daemon's /metrics -------------------------------------------------------------------


@contextmanager
def daemon_with_metrics(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, str]]:
    """The real supervised memory daemon with ``telemetry.daemon_metrics_port`` set, one memory in
    its store; yields the port and the bearer token (kept in the secrets file, as without a keyring)."""
    from mahavishnu.environments.mcp_access import TOKEN_SECRET
    from mahavishnu.environments.secrets import store_secret

    port = free_port()
    _write_settings(isolated_home, {"telemetry": {"daemon_metrics_port": port}})
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    store_secret(TOKEN_SECRET, TOKEN, "file")
    with MemoryStore.open(load_settings()) as store:  # the real local embedder, as the daemon's
        store.store(f"We decided the {CANARY_TEXT} stays in the api", "decision", project="api")
    with supervised_daemon(monkeypatch):
        yield port, TOKEN


@contextmanager
def supervised_daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real memory daemon, started by the supervisor with this environment (this tree's code),
    warm; stopped (its telemetry exported) when the block ends."""
    from mahavishnu.memory.loop import daemon
    from mahavishnu.services.supervisor import Supervisor

    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT / "src"))  # the daemon runs this tree's code
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    supervisor = Supervisor(load_settings())
    supervisor.start(daemon.SERVICE)
    deadline = time.monotonic() + 120  # (on a loaded box the warm-up outlasts the start's wait)
    while daemon.ping(timeout=1.0) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        assert daemon.ping(timeout=5.0) is not None, supervisor.tail(daemon.SERVICE, 20)
        yield
    finally:
        supervisor.stop(daemon.SERVICE)
        print(supervisor.log_path(daemon.SERVICE).read_text()[-2000:])


def _imported_opentelemetry(importtime: str) -> list[str]:
    """The OpenTelemetry modules a process's ``-X importtime`` lines (its stderr) name."""
    return [line for line in importtime.splitlines() if "opentelemetry" in line]


def test_a_hook_the_daemon_answers_is_recorded_there_and_loads_no_opentelemetry(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MemoryStore.open(load_settings()) as store:
        store.store(f"We decided the {CANARY_TEXT} stays in the api", "decision", project="api")

    def hook(env: dict[str, str], session: str) -> subprocess.CompletedProcess[str]:
        payload = {
            "hook_event_name": "SessionStart",
            "session_id": session,
            "cwd": "/w/api",
            "source": "startup",
        }
        argv = [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "mahavishnu",
            "memory",
            "context",
            "--tool",
            "claude",
        ]
        done = subprocess.run(
            argv,
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **env},
        )
        assert done.returncode == 0 and CANARY_TEXT in done.stdout, done.stderr[-2000:]
        return done

    with otlp_receiver() as (endpoint, received):
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        with supervised_daemon(monkeypatch):  # started without an endpoint: its telemetry is off
            alone = hook(otel, "s1")  # so the hook records its command itself
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        with supervised_daemon(monkeypatch):  # this one exports
            handed = hook(otel, "s2")
    assert _imported_opentelemetry(alone.stderr)  # (the check can fail)
    assert not _imported_opentelemetry(handed.stderr), _imported_opentelemetry(handed.stderr)[:3]

    commands = [
        s
        for s in span_records(received)
        if s["name"] == "mahavishnu.cli" and s["attributes"]["mahavishnu.command"] == "memory.context"
    ]
    assert len(commands) == 2  # (beside the second daemon's own command, `memory daemon`)
    recalls = [s for s in span_records(received) if s["name"] == "mahavishnu.recall"]
    assert len(recalls) == 1  # the daemon's, the second time (the first daemon measured nothing)
    by_daemon = next(s for s in commands if s["id"] == recalls[0]["parent"])  # the recall nests in it
    assert by_daemon["attributes"]["outcome"] == "ok" and by_daemon["trace"] == recalls[0]["trace"]
    durations = metric_points(received)["mahavishnu.cli.duration"]
    assert _one(durations, **{"mahavishnu.command": "memory.context", "outcome": "ok"}) == 2
    assert CANARY_TEXT.encode() not in received.raw()


def _hooks_through_the_daemon() -> None:
    from mahavishnu.memory.loop import daemon

    start = {"hook_event_name": "SessionStart", "session_id": "s1", "cwd": "/w/api", "source": "startup"}
    answer = daemon.request("context", {"payload": start, "tool": "claude"}, timeout=30)
    assert answer is not None and answer["ok"] and CANARY_TEXT in json.dumps(answer["result"])
    refused = daemon.request("capture", {"tool": "codex", "payload": {"transcript_path": "/elsewhere.jsonl"}})
    assert refused is not None and not refused["ok"] and "error" in refused


def test_the_memory_daemon_serves_its_recall_capture_and_store_figures_at_metrics(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.memory.loop import daemon

    with daemon_with_metrics(isolated_home, monkeypatch) as (port, token):
        _hooks_through_the_daemon()
        for query in ("api", "database"):
            assert (daemon.request("search", {"query": query}, timeout=30) or {}).get("ok")
        url = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(url, timeout=10).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 404
        answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "text/plain; version=0.0.4"
    )
    samples = parse_exposition(answer.text)
    recall = (("mahavishnu_assistant", "claude"), ("mahavishnu_event", "SessionStart"), ("outcome", "ok"))
    assert samples["mahavishnu_recall_duration_seconds_count"][recall] == 1
    assert samples["mahavishnu_recall_items_total"][recall] == 1
    refused = (("mahavishnu_assistant", "codex"), ("outcome", "refused"))
    assert samples["mahavishnu_capture_refusals_total"][refused] == 1
    # the two searches asked for (a session's start recalls without one), not the daemon's warm-up
    assert sum(samples["mahavishnu_memory_search_duration_seconds_count"].values()) == 2
    memories = samples["mahavishnu_memory_store_memories"]
    assert memories[(("mahavishnu_backend", "sqlite"), ("mahavishnu_type", "decision"))] == 1
    assert samples["mahavishnu_memory_store_bytes"][(("mahavishnu_backend", "sqlite"),)] > 0
    assert CANARY_TEXT not in answer.text and token not in answer.text


def test_a_real_prometheus_scrapes_the_memory_daemons_metrics(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        reason = "Debian's prometheus is not installed (apt-get install -y prometheus): scrape not checked"
        print(reason)
        pytest.skip(reason)
    with daemon_with_metrics(isolated_home, monkeypatch) as (port, token):
        _hooks_through_the_daemon()
        (tmp_path / "token").write_text(token)
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: mahavishnu-memory\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
            f"    authorization: {{credentials_file: {tmp_path / 'token'}}}\n"
        )
        web = free_port()
        prometheus = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{web}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "HOME": str(isolated_home)},
        )
        try:
            found = _query_until(
                web, 'mahavishnu_recall_duration_seconds_count{mahavishnu_event="SessionStart"}'
            )
        finally:
            prometheus.terminate()
            _, stderr = prometheus.communicate(timeout=30)
    assert found, stderr.decode()[-2000:]
    labels = found[0]["metric"]
    assert labels["job"] == "mahavishnu-memory" and labels["mahavishnu_assistant"] == "claude"
    assert found[0]["value"][1] == "1"


def test_pi_and_opencode_usage_is_exported_with_their_assistant_and_provider(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.usage.report import report

    fixtures = Path(__file__).resolve().parent / "usage" / "fixtures" / "pi-opencode-home"
    shutil.copytree(fixtures, isolated_home, dirs_exist_ok=True)
    with otlp_receiver() as (endpoint, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        report("daily", None, ["pi", "opencode"])
        telemetry.shutdown()
    tokens = metric_points(received)["mahavishnu.usage.tokens"]
    pi = {"mahavishnu.assistant": "pi", "mahavishnu.provider": "openai", "gen_ai.request.model": "gpt-5"}
    assert _one(tokens, **pi, **{"gen_ai.token.type": "cache_read"}) == 31000
    opencode = {"mahavishnu.assistant": "opencode", "mahavishnu.provider": "anthropic"}
    assert _one(tokens, **opencode, **{"gen_ai.token.type": "cache_write"}) == 5000
