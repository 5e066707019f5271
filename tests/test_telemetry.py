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
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mahavishnu import mcp_server, telemetry
from mahavishnu.config import RecallSettings, load_settings
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
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
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
    switch = (("mahavishnu_assistant", "claude"), ("mahavishnu_dry_run", "False"))
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


def test_without_the_setting_there_is_no_metrics_route(isolated_home: Path) -> None:
    with mcp_http(metrics=False) as port:
        answer = httpx.get(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
    assert answer.status_code == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        web = _free_port()
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
