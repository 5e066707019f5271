"""Prefect flow and task runs recorded as workflow executions, with real Prefect flows run locally
against a real Prefect server (PREFECT_HOME in a tmp folder, the server on 127.0.0.1): a
completed flow and its task, a failing flow shown by ``memory workflows --status failed``, secrets
in parameters masked, and the backfill of ``memory workflows import-prefect``."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from testkit.ports import free_port
from typer.testing import CliRunner

from mahavishnu.cli import memory as memory_cli
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore

runner = CliRunner()
CANARY = "sk-proj-Zq8Rt2Lm5Nx7Vb4Kc9Wd3Hf6"


STARTS = 2  # a server that hangs in its start is started once more, on another port
START_SECONDS = 150.0  # 15 s alone from an empty database; a busy 2-core machine runs two workers
UVICORN = [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app"]
UVICORN += ["--host", "127.0.0.1", "--log-level", "info", "--lifespan", "on"]
# faulthandler: a server stopped with SIGABRT writes where each of its threads was into the log
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PYTHONFAULTHANDLER": "1"}


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """Prefect's settings and database in a tmp folder, set before Prefect is first imported, and a
    Prefect server on loopback that its clients use (PREFECT_API_URL): its folder and API address.

    The server is Prefect's own app under uvicorn, as Prefect's ephemeral mode runs it, but started
    here: Prefect's ephemeral start keeps no log and waits once, and on CI it twice never answered
    (120 s, then 300 s, while the process lived). Here a start that hangs is started again, and a
    failed start shows the server's log."""
    if importlib.util.find_spec("prefect") is None:  # not importorskip: Prefect reads its settings on import
        pytest.skip("the prefect extra is not installed")
    home = tmp_path_factory.mktemp("prefect-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_HOME", str(home))
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        patch.setenv("DO_NOT_TRACK", "1")
        patch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")
        patch.setenv("PREFECT_LOGGING_TO_API_ENABLED", "false")  # else exiting waits on the stopped server
        with prefect_server(home) as api_url:
            patch.setenv("PREFECT_API_URL", api_url)
            yield home, api_url


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    log = home / "server.log"
    for _ in range(STARTS):
        port = free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                [*UVICORN, "--port", str(port)],
                env={**os.environ, **SERVER_ENV},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        api_url = f"http://127.0.0.1:{port}/api"
        served = answers(api_url, process)
        try:
            if served:
                yield api_url
                return
        finally:
            stop(process, hung=not served)
    tail = log.read_text(errors="replace")[-12_000:]
    pytest.fail(f"Prefect's server did not answer in {STARTS} starts of {START_SECONDS:.0f} s:\n{tail}")


def stop(process: subprocess.Popen[bytes], hung: bool) -> None:
    """SIGTERM; SIGABRT to a server that never answered, for its threads' tracebacks in the log."""
    process.send_signal(signal.SIGABRT if hung else signal.SIGTERM)  # nothing if it has exited
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def answers(api_url: str, process: subprocess.Popen[bytes]) -> bool:
    """Whether the server answers /health before START_SECONDS or its exit."""
    deadline = time.monotonic() + START_SECONDS
    with httpx.Client(trust_env=False, timeout=5) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if client.get(f"{api_url}/health").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    return False


@pytest.fixture(autouse=True)
def prefect_settings(prefect_home: tuple[Path, str]) -> Iterator[None]:
    """The same settings in Prefect's own context, for each test: Prefect reads the environment once,
    when first imported, and a test of another module may have imported it in this process before
    (its clients would then start an ephemeral server of their own, under the default home)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    home, api_url = prefect_home
    with temporary_settings(updates={PREFECT_HOME: home, PREFECT_API_URL: api_url}):
        yield


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch, prefect_settings: None) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


def open_store() -> MemoryStore:
    return MemoryStore.open(embedder=FakeEmbedder())


def workflows(*args: str) -> list[dict[str, Any]]:
    result = runner.invoke(memory_cli.app, ["workflows", *args, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    return runs


def test_flow_and_task_runs_are_recorded_and_a_failed_run_is_listed_as_failed() -> None:
    from prefect import flow, task

    from mahavishnu.integrations.prefect import record_runs

    @record_runs(open_store=open_store)
    @task
    def add(x: int, y: int) -> int:
        return x + y

    @record_runs(project="etl", open_store=open_store)
    @flow(name="nightly-load")
    def nightly(day: str, api_key: str) -> int:
        return add(len(day), 1)

    @record_runs(project="etl", open_store=open_store)
    @flow(name="broken-load")
    def broken(table: str) -> None:
        raise ValueError(f"table {table} is missing")

    assert nightly("2026-01-31", CANARY) == 11
    with pytest.raises(ValueError, match="missing"):
        broken("orders")

    runs = workflows()
    by_id = {r["workflow_id"]: r for r in runs}
    assert set(by_id) == {"nightly-load", "nightly-load/add", "broken-load"}
    done = by_id["nightly-load"]
    assert (done["adapter"], done["status"]) == ("prefect", "completed")
    assert done["duration_seconds"] is not None and done["duration_seconds"] >= 0
    assert done["result"]["parameters"]["day"] == "2026-01-31"
    assert CANARY not in json.dumps(runs)
    assert done["result"]["parameters"]["api_key"] != CANARY
    assert by_id["nightly-load/add"]["result"]["flow_run_id"] == done["result"]["run_id"]

    [failed] = workflows("--status", "failed")
    assert failed["workflow_id"] == "broken-load"
    assert "table orders is missing" in failed["error"]
    table = runner.invoke(memory_cli.app, ["workflows", "--status", "failed"])
    assert "broken-load" in table.stdout and "nightly-load" not in table.stdout

    with open_store() as store:
        [hit] = store.search(
            "broken load orders missing", filters={"type": "workflow", "project": "etl"}, limit=1
        )
    assert "broken-load" in hit.memory.content


def test_a_parameter_under_a_secret_name_is_masked_even_in_plain_words() -> None:
    """``scrub_tree`` keeps ``password: correcthorse…`` (in free text more often a name than a value);
    a flow's parameter is the value, so the record must not keep it."""
    from mahavishnu.integrations.prefect.runs import masked

    parameters = {
        "password": "correcthorsebatterystaple",
        "db": {"auth_token": "plainwords", "host": "db1"},
        "user": "bob",
        "max_tokens": 100,
        "token": None,
    }
    assert masked(parameters) == {
        "password": "[REDACTED:secret]",
        "db": {"auth_token": "[REDACTED:secret]", "host": "db1"},
        "user": "bob",
        "max_tokens": 100,
        "token": None,
    }


def test_a_long_parameter_is_recorded_as_its_size() -> None:
    """A run's record is not a copy of its input (Prefect takes parameters up to 512 KB)."""
    from prefect import flow

    from mahavishnu.integrations.prefect import record_runs

    rows = [{"id": n, "name": f"customer {n}"} for n in range(2_000)]

    @record_runs(open_store=open_store)
    @flow(name="bulk-load")
    def bulk(rows: list[dict[str, Any]], day: str) -> int:
        return len(rows)

    assert bulk(rows, "2026-01-31") == 2_000
    [run] = workflows("--workflow", "bulk-load")
    size = len(json.dumps(rows))
    expected = {"rows": f"[{size:,} characters of JSON, not kept]", "day": "2026-01-31"}
    assert run["status"] == "completed" and run["result"]["parameters"] == expected


def test_a_task_that_failed_before_a_retry_records_its_attempts() -> None:
    """Prefect runs a task's hooks once, at its last state: a task that failed and then passed on a
    retry was recorded as plain completed, nothing saying that it had failed."""
    from prefect import flow, task

    from mahavishnu.integrations.prefect import record_runs

    calls: list[int] = []

    @record_runs(open_store=open_store)
    @task(retries=2, retry_delay_seconds=0)
    def extract() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("connection reset by the upstream API")
        return len(calls)

    @record_runs(open_store=open_store)
    @flow(name="flaky-load")
    def flaky() -> int:
        return extract()

    assert flaky() == 2
    runs = {r["workflow_id"]: r for r in workflows()}
    retried, whole = runs["flaky-load/extract"], runs["flaky-load"]
    assert retried["status"] == "completed" and retried["result"]["attempts"] == 2
    assert whole["result"]["attempts"] == 1


@pytest.mark.parametrize("project", ["team/etl", "a\nb", " "])
def test_a_bad_project_is_refused_when_decorating_not_at_every_run(project: str) -> None:
    """The hooks only log what they cannot write: a bad name found there would lose every run."""
    from prefect import flow

    from mahavishnu.errors import InvalidInputError
    from mahavishnu.integrations.prefect import record_runs

    @flow
    def nightly() -> None: ...

    with pytest.raises(InvalidInputError, match="project"):
        record_runs(nightly, project=project)


def test_a_store_passed_as_the_opener_or_a_path_as_the_store_is_refused() -> None:
    """``record_runs(open_store=store)`` logged "'MemoryStore' object is not callable" at each run,
    and every run was lost; ``import_runs("memory.db")`` blamed workflow_executions."""
    from prefect import flow

    from mahavishnu.errors import InvalidInputError
    from mahavishnu.integrations.prefect import import_runs, record_runs

    @flow
    def nightly() -> None: ...

    with open_store() as store, pytest.raises(InvalidInputError, match="record_runs takes a function"):
        record_runs(nightly, open_store=store)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="import_runs takes a MemoryStore, not str"):
        import_runs("memory.db")  # type: ignore[arg-type]


def test_import_prefect_backfills_finished_runs_once() -> None:
    from prefect import flow

    @flow(name="report")
    def report(pages: int, password: str = CANARY) -> int:
        return pages

    @flow(name="report-failing")
    def failing() -> None:
        raise RuntimeError("printer on fire")

    report(3)
    with pytest.raises(RuntimeError):
        failing()

    first = runner.invoke(memory_cli.app, ["workflows", "import-prefect", "--json"])
    assert first.exit_code == 0, (first.output, first.exception)
    counts = json.loads(first.stdout)
    assert counts["added"] >= 2
    again = json.loads(runner.invoke(memory_cli.app, ["workflows", "import-prefect", "--json"]).stdout)
    assert again["added"] == 0 and again["skipped"] == counts["seen"]
    # over the API's page of 200 (which it answers with 422): read in pages
    more = runner.invoke(memory_cli.app, ["workflows", "import-prefect", "--limit", "201", "--json"])
    assert more.exit_code == 0, (more.output, more.exception)
    assert json.loads(more.stdout) == {**again, "seen": counts["seen"], "skipped": counts["seen"]}

    imported = {r["workflow_id"]: r for r in workflows("--adapter", "prefect")}
    assert imported["report"]["status"] == "completed"
    assert imported["report-failing"]["status"] == "failed"
    assert "printer on fire" in imported["report-failing"]["error"]
    assert CANARY not in json.dumps(imported)


@pytest.mark.usefixtures("prefect_home")
@pytest.mark.parametrize("url", ["http://127.0.0.1:9/api", "notaurl"])
def test_import_prefect_without_a_server_there_is_one_line(url: str, isolated_home: object) -> None:
    from mahavishnu.cli.main import app

    result = runner.invoke(app, ["memory", "workflows", "import-prefect", "--api-url", url])
    assert result.exit_code != 0 and not isinstance(result.exception, (httpx.HTTPError, httpx.InvalidURL))
    assert f"cannot reach the Prefect API at {url}" in result.output and "Traceback" not in result.output


def test_import_prefect_whose_temporary_server_never_answers_is_one_line(
    monkeypatch: pytest.MonkeyPatch, isolated_home: object
) -> None:
    from prefect.client import orchestration

    from mahavishnu.cli.main import app

    def slow_start(*args: object, **kwargs: object) -> None:  # Prefect's words, on a busy machine
        raise RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")

    monkeypatch.setattr(orchestration, "get_client", slow_start)
    result = runner.invoke(app, ["memory", "workflows", "import-prefect"])
    assert result.exit_code == 2 and not isinstance(result.exception, RuntimeError)
    assert "did not answer in time" in " ".join(result.output.split()) and "--api-url" in result.output


def test_the_temporary_server_prefect_starts_without_an_api_sends_no_telemetry() -> None:
    from prefect.settings import PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings

    from mahavishnu.integrations.prefect.runs import _api

    with temporary_settings(updates={PREFECT_SERVER_ANALYTICS_ENABLED: True}), _api(None):
        # on by default; on a new database its write raced the migrations: a traceback on stderr
        assert PREFECT_SERVER_ANALYTICS_ENABLED.value() is False


@pytest.mark.usefixtures("prefect_home")
def test_import_prefect_from_a_server_that_is_not_prefects_says_what_it_answered(
    isolated_home: object, tmp_path: Path
) -> None:
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from mahavishnu.cli.main import app

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None: ...

    with ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(tmp_path))) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/api"
        result = runner.invoke(app, ["memory", "workflows", "import-prefect", "--api-url", url])
        server.shutdown()
    assert result.exit_code != 0 and not isinstance(result.exception, httpx.HTTPError)
    assert f"the Prefect API at {url} answered 501" in result.output and "Traceback" not in result.output
