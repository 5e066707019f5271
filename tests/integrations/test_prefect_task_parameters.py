"""A decorated task's runs record their parameters, masked and size-capped as a flow's are: Prefect
keeps a task run's parameters neither in its ``TaskRun`` nor on its server, so the record had ``{}``.
Real Prefect flows and tasks, against the Prefect server of ``test_prefect.py`` (its fixtures, used
as they are: Prefect's ephemeral server once never answered on CI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr
from test_prefect import (  # noqa: F401  (fixtures, used by name)
    CANARY,
    fake_embedder,
    open_store,
    prefect_home,
    prefect_settings,
    workflows,
)

DRAIN_SECONDS = 30.0


@dataclass
class Database:
    host: str
    password: str


class Source(BaseModel):
    url: str
    api_key: str
    token: SecretStr


@pytest.fixture(scope="module", autouse=True)
def events_to_this_server(request: pytest.FixtureRequest) -> Iterator[None]:
    """Prefect's events worker (task run states, heartbeats) is one per process, its client bound to
    the API it first sent to: after ``test_prefect.py``'s server stopped, this module's events went
    there, and the process, exiting, retried them for 18 minutes. Drained before this module's runs
    (the next worker sends to this server) and after them (while this server still answers)."""
    request.getfixturevalue("prefect_home")  # set up before, torn down after this fixture
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=DRAIN_SECONDS)
    yield
    EventsWorker.drain_all(timeout=DRAIN_SECONDS)


def test_a_task_run_records_its_parameters_as_a_flow_run_does() -> None:
    from prefect import flow, task

    from mahavishnu.integrations.prefect import record_runs

    @record_runs(project="etl", open_store=open_store)
    @task
    def load(table: str, rows: int) -> int:
        return rows

    @record_runs(project="etl", open_store=open_store)
    @flow(name="orders-load")
    def orders() -> int:
        return load("orders", 42)

    assert orders() == 42
    [run] = workflows("--workflow", "orders-load/load")
    assert run["status"] == "completed"
    assert run["result"]["parameters"] == {"table": "orders", "rows": 42}


def test_a_task_runs_parameters_are_masked_and_capped_as_a_flows_are() -> None:
    from prefect import flow, task

    from mahavishnu.integrations.prefect import record_runs

    rows = [{"id": n, "name": f"customer {n}"} for n in range(2_000)]

    @record_runs(open_store=open_store)
    @task
    def push(rows: list[dict[str, Any]], password: str, db: dict[str, str], note: str) -> int:
        return len(rows)

    @flow(name="push-load")
    def pushing() -> int:
        db = {"auth_token": "plainwords", "host": "db1"}
        return push(rows, "correcthorsebatterystaple", db, f"key {CANARY}")

    assert pushing() == 2_000
    [run] = workflows("--workflow", "push-load/push")
    recorded = run["result"]["parameters"]
    assert recorded["rows"] == f"[{len(json.dumps(rows)):,} characters of JSON, not kept]"
    assert recorded["password"] == "[REDACTED:secret]"
    assert recorded["db"] == {"auth_token": "[REDACTED:secret]", "host": "db1"}
    assert recorded["note"].startswith("key ") and CANARY not in json.dumps(run)


def test_a_task_given_a_tuple_keyed_dict_or_a_cycle_is_recorded() -> None:
    """A task's parameters come as the code passed them (a flow's, as Prefect serialized them):
    ``json`` refuses a tuple key and a cycle, and the run went unrecorded, with a warning."""
    from prefect import flow, task

    from mahavishnu.integrations.prefect import record_runs

    @record_runs(open_store=open_store)
    @task
    def monthly(totals: dict[tuple[int, int], int], tree: dict[str, Any]) -> int:
        return sum(totals.values())

    @flow(name="monthly-load")
    def loading() -> int:
        tree: dict[str, Any] = {"name": "root", "password": "plainwords"}
        tree["parent"] = tree
        return monthly({(2026, 11): 3, (2026, 12): 4}, tree)

    assert loading() == 7
    [run] = workflows("--workflow", "monthly-load/monthly")
    assert run["result"]["parameters"] == {
        "totals": {"(2026, 11)": 3, "(2026, 12)": 4},
        "tree": {"name": "root", "password": "[REDACTED:secret]", "parent": "[circular dict]"},
    }


def test_a_task_given_a_dataclass_or_a_pydantic_model_has_its_secret_fields_masked() -> None:
    """A flow's parameters come serialised by Prefect, a task's as the code passed them: a dataclass
    or a model was recorded as its text (``Database(host='db1', password='…')``), where only the
    field's name says the value is a secret, and the password was kept."""
    from prefect import flow, task

    from mahavishnu.integrations.prefect import record_runs

    @record_runs(open_store=open_store)
    @task
    def pull(db: Database, source: Source) -> int:
        return 1

    @flow(name="model-load")
    def loading() -> int:
        source = Source(url="https://api.example.com", api_key="plainwordkey", token="plaintoken")
        return pull(Database("db1", "correcthorsebattery"), source)

    assert loading() == 1
    [run] = workflows("--workflow", "model-load/pull")
    assert run["result"]["parameters"] == {
        "db": {"host": "db1", "password": "[REDACTED:secret]"},
        "source": {
            "url": "https://api.example.com",
            "api_key": "[REDACTED:secret]",
            "token": "[REDACTED:secret]",
        },
    }


def test_a_task_given_an_infinite_float_is_recorded() -> None:
    """JSON has no infinity, and the store refused the record: ``upper=float("inf")``, a common
    default, lost every run of the task (NaN too)."""
    from prefect import flow, task

    from mahavishnu.integrations.prefect import record_runs

    @record_runs(open_store=open_store)
    @task
    def clip(values: list[float], upper: float = float("inf")) -> list[float]:
        return [min(v, upper) for v in values]

    @flow(name="clipping")
    def clipping() -> list[float]:
        return clip([1.0, float("nan")])

    assert clipping()[0] == 1.0
    [run] = workflows("--workflow", "clipping/clip")
    assert run["result"]["parameters"] == {"values": [1.0, "nan"], "upper": "inf"}


def test_an_upstream_future_is_recorded_as_its_result_and_a_failed_task_keeps_its_parameters() -> None:
    from prefect import flow, task

    from mahavishnu.integrations.prefect import record_runs

    @task
    def count(table: str) -> int:
        return len(table) * 7

    @record_runs(open_store=open_store)
    @task
    def check(table: str, rows: int) -> None:
        raise ValueError(f"{table} has {rows} rows, wanted 0")

    @flow(name="checks")
    def checks() -> None:
        counted = count.submit("orders")
        check.submit("orders", counted).wait()

    checks()
    [run] = workflows("--workflow", "checks/check")
    assert run["status"] == "failed" and "orders has 42 rows" in run["error"]
    assert run["result"]["parameters"] == {"table": "orders", "rows": 42}


def test_recorded_runs_of_one_process_load_the_embedder_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each hook opens the store anew: with the embedder loaded anew too (an ONNX session, ~0.4 s
    on 2 cores), a flow of 30 recorded tasks took 14 s instead of 1."""
    from prefect import flow, task

    from mahavishnu.integrations.prefect import record_runs
    from mahavishnu.memory.core import store as store_module
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder

    built: list[FakeEmbedder] = []

    def build(settings: object) -> FakeEmbedder:
        built.append(FakeEmbedder())
        return built[-1]

    monkeypatch.setattr(store_module, "default_embedder", build)

    @record_runs  # the default store: MemoryStore.open()
    @task
    def square(n: int) -> int:
        return n * n

    @record_runs
    @flow(name="squares")
    def squares() -> list[int]:
        return [square(n) for n in range(3)]

    assert squares() == [0, 1, 4]
    assert len(workflows("--workflow", "squares/square")) == 3
    assert len(workflows("--workflow", "squares")) == 1
    assert len(built) == 1


def test_recorded_runs_follow_a_reembed_in_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker process recording runs after a `memory reembed` elsewhere: each hook opens the
    default store anew, and the embedder kept from an earlier run is the old model's, so it must
    not be reused (the run's record would be refused, and only logged: lost)."""
    from prefect import flow

    from mahavishnu.integrations.prefect import record_runs
    from mahavishnu.memory.core import store as store_module
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.core.store import MemoryStore

    embedders = {"hashing-v1": FakeEmbedder(), "v2": FakeEmbedder(model="v2")}
    model = ["hashing-v1"]  # the embedder the settings give (a local model follows the store's)
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: embedders[model[0]])

    @record_runs  # the default store: MemoryStore.open()
    @flow(name="hourly-sync")
    def hourly() -> int:
        return 1

    assert hourly() == 1
    with MemoryStore.open() as elsewhere:
        elsewhere.reembed(embedders["v2"])
    model[0] = "v2"
    old_calls = embedders["hashing-v1"].calls
    assert hourly() == 1
    assert len(workflows("--workflow", "hourly-sync")) == 2
    assert embedders["hashing-v1"].calls == old_calls
    with MemoryStore.open() as store:
        assert {m.embedding_model for m in store.recent({"type": "workflow"})} == {"fake/v2"}
