"""Prefect flow and task runs as workflow executions, with no storage code in the flow.

    from mahavishnu.integrations.prefect import record_runs

    @record_runs            # or record_runs(project="etl") / record_runs(my_flow)
    @flow
    def nightly(day: str, api_key: str) -> int: ...

``record_runs`` adds state hooks to a flow (completion, failure, crash, cancellation) or a task
(completion, failure); the hooks themselves are ``flow_run_hook`` and ``task_run_hook`` for a
flow's ``on_completion=[...]`` lists. Each run becomes one ``workflow_executions`` row and its
``workflow`` memory: ``workflow_id`` the flow's name (``FLOW/TASK`` for a task), adapter ``prefect``,
the status (completed, failed, cancelled), the duration, the state's message as the error, and as
result the run's id, name, state, attempts (``run_count``: a retried task's runs) and parameters
(a task's read from its run's context: ``task_parameters``), secrets masked (``redaction/scrub.py``:
values under secret-looking names, and anything shaped like a key) and each over 10,000 characters
of JSON kept as its size, a flow's and a task's alike. A hook never fails the run: a store that
cannot be written is logged. Each hook opens the store and closes it; the embedder the default store
loaded is kept for the next run (``integrations/_store.py``).

``import_runs`` backfills from a Prefect API (``mahavishnu memory workflows import-prefect``): the
finished flow runs, each recorded once (a run a hook recorded is skipped, by its run id).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from pydantic import BaseModel

from mahavishnu.integrations._store import check_opener
from mahavishnu.integrations._store import open_default as _open_default
from mahavishnu.json_types import JSONValue
from mahavishnu.memory.core.backends.records import MAX_ROWS
from mahavishnu.memory.core.given import check_store
from mahavishnu.memory.core.models import check_limit, project_or_none
from mahavishnu.memory.core.workflows import store_workflow_execution, workflow_executions
from mahavishnu.redaction.scrub import REDACTED, scrub_tree
from mahavishnu.redaction.shapes import is_secret_name

if TYPE_CHECKING:
    from prefect import Task
    from prefect.client.schemas.objects import FlowRun, State, TaskRun

    from mahavishnu.memory.core.store import MemoryStore

ADAPTER = "prefect"
_log = logging.getLogger(__name__)
_STATUS = {
    "COMPLETED": "completed",
    "FAILED": "failed",
    "CRASHED": "failed",
    "CANCELLED": "cancelled",
    "CANCELLING": "cancelled",
    "RUNNING": "running",
}
#: Finished states that the backfill imports.
FINISHED = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
_PARAMETER_CHARS = 10_000  # of one parameter's JSON kept in a run's record
_API_PAGE = 200  # the most flow runs Prefect's API returns at once (PREFECT_API_DEFAULT_LIMIT)
StoreOpener = Callable[[], "MemoryStore"]
F = TypeVar("F")
_SECRET = REDACTED.format(kind="secret")


@dataclass(frozen=True, slots=True)
class Recorder:
    """The hooks, bound to a project and a way to open the store."""

    project: str | None = None
    open_store: StoreOpener = _open_default

    def __post_init__(self) -> None:
        # checked now: a hook logs what it cannot write, so a bad name would lose every run quietly
        object.__setattr__(self, "project", project_or_none(self.project))
        check_opener("record_runs", self.open_store)

    def flow_hook(self, flow: Any, flow_run: FlowRun, state: State) -> None:
        self._safely(
            flow.name, lambda store: record_flow_run(store, flow.name, flow_run, state, self.project)
        )

    def task_hook(self, task: Task[..., Any], task_run: TaskRun, state: State) -> None:
        name = f"{_current_flow_name() or 'task'}/{task.name}"
        self._safely(
            name,
            lambda store: record_task_run(
                store, name, task_run, state, self.project, task_parameters(task_run)
            ),
        )

    def _safely(self, name: str, write: Callable[[MemoryStore], object]) -> None:
        try:
            with _opened(self.open_store) as store:
                write(store)
        except Exception as exc:  # a run must not fail because its record could not be written
            _log.warning("mahavishnu: could not record the Prefect run of %s: %s", name, exc)


@contextmanager
def _opened(open_store: StoreOpener) -> Iterator[MemoryStore]:
    store = open_store()
    try:
        yield store
    finally:
        store.close()


#: Hooks with the default recorder, for a flow's or a task's own hook lists.
flow_run_hook = Recorder().flow_hook
task_run_hook = Recorder().task_hook


@overload
def record_runs(target: F, *, project: str | None = None, open_store: StoreOpener | None = None) -> F: ...
@overload
def record_runs(
    target: None = None, *, project: str | None = None, open_store: StoreOpener | None = None
) -> Callable[[F], F]: ...
def record_runs(
    target: F | None = None, *, project: str | None = None, open_store: StoreOpener | None = None
) -> F | Callable[[F], F]:
    """A flow or task with its runs recorded (a decorator, with or without arguments)."""
    recorder = Recorder(project, open_store or _open_default)

    def wrap(item: F) -> F:
        from prefect import Flow, Task

        if isinstance(item, Flow):
            flow_hook = recorder.flow_hook
            return cast(
                F,
                item.with_options(
                    on_completion=[*item.on_completion_hooks, flow_hook],
                    on_failure=[*item.on_failure_hooks, flow_hook],
                    on_crashed=[*item.on_crashed_hooks, flow_hook],
                    on_cancellation=[*item.on_cancellation_hooks, flow_hook],
                ),
            )
        if isinstance(item, Task):
            task_hook = recorder.task_hook
            return cast(
                F,
                item.with_options(
                    on_completion=[*item.on_completion_hooks, task_hook],
                    on_failure=[*item.on_failure_hooks, task_hook],
                ),
            )
        raise TypeError(f"record_runs takes a Prefect flow or task, not {type(item).__name__}")

    return wrap(target) if target is not None else wrap


def record_flow_run(
    store: MemoryStore, flow_name: str, flow_run: FlowRun, state: State | None, project: str | None = None
) -> None:
    state = state or flow_run.state
    _record(store, flow_name, "flow", flow_run, state, flow_run.parameters, project)


def record_task_run(
    store: MemoryStore,
    name: str,
    task_run: TaskRun,
    state: State,
    project: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> None:
    """``parameters``: the run's (``task_parameters`` in its hook); a ``TaskRun`` holds none."""
    extra = {"flow_run_id": str(task_run.flow_run_id)} if task_run.flow_run_id else {}
    _record(store, name, "task", task_run, state, parameters or {}, project, extra)


def task_parameters(task_run: TaskRun) -> dict[str, Any]:
    """The parameters of ``task_run``, read in its state hook from the run's context, where Prefect's
    engine keeps them (neither the ``TaskRun`` nor Prefect's server holds a task run's parameters);
    an upstream task's future passed on as its result, as the task got it (the context holds the
    parameters as given, before Prefect resolved them). ``{}`` outside that run."""
    from prefect.context import TaskRunContext
    from prefect.utilities.collections import visit_collection

    context = TaskRunContext.get()
    if context is None or context.task_run is None or context.task_run.id != task_run.id:
        return {}
    parameters = dict(context.parameters)
    try:
        resolved = visit_collection(parameters, _future_result, return_data=True, remove_annotations=True)
    except Exception:  # an object the visit cannot copy: recorded as given (its text, masked)
        return parameters
    return resolved if isinstance(resolved, dict) else parameters


def _future_result(value: Any) -> Any:
    """A finished upstream future as its result; any other value as it is."""
    from prefect.futures import PrefectFuture

    if not isinstance(value, PrefectFuture):
        return value
    state = value.state
    return value.result(raise_on_failure=False) if state.is_completed() else f"[{state.name} task run]"


def _record(
    store: MemoryStore,
    workflow_id: str,
    kind: str,
    run: FlowRun | TaskRun,
    state: State | None,
    parameters: Mapping[str, Any],
    project: str | None,
    extra: Mapping[str, str] | None = None,
) -> None:
    state_type = state.type.value if state is not None else "PENDING"
    status = _STATUS.get(state_type, "pending")
    ended = (state.timestamp if state is not None else None) or run.end_time
    result: dict[str, JSONValue] = {
        "run_id": str(run.id),
        "run_name": run.name,
        "kind": kind,
        "state": state.name if state is not None else None,
        # Prefect runs the hooks at the last state only: a run that passed on a retry said nothing
        # of the attempts that failed before it.
        "attempts": run.run_count,
        "parameters": bounded(masked(parameters)),
        **(extra or {}),
    }
    store_workflow_execution(
        store,
        workflow_id,
        ADAPTER,
        status=status,
        result=result,
        duration=_seconds(run.start_time, ended),
        error=(state.message or state.name) if state is not None and status == "failed" else None,
        project=project,
    )


def masked(parameters: Mapping[str, Any]) -> JSONValue:
    """The parameters as JSON (what JSON cannot hold as its text), secrets masked: every value under
    a secret-looking name, then anything shaped like a key (``scrub_tree``)."""
    plain = {str(name): _plain(value) for name, value in parameters.items()}
    masked_tree: JSONValue = scrub_tree(_named_secrets_masked(plain))
    return masked_tree


def _plain(value: Any, within: frozenset[int] = frozenset()) -> JSONValue:
    """``value`` as JSON, a mapping's keys as their text and what JSON cannot hold as its text: a
    task's parameters come as the code passed them, and ``json`` refuses a tuple key (a dict keyed
    by ``(year, month)``) or a cycle, which lost the run's record."""
    if id(value) in within:
        return f"[circular {type(value).__name__}]"
    named = value if isinstance(value, Mapping) else _fields(value)
    if named is not None:
        inside = within | {id(value)}
        return {str(key): _plain(item, inside) for key, item in named.items()}
    if isinstance(value, list | tuple):
        inside = within | {id(value)}
        return [_plain(item, inside) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf (``upper=float("inf")``): the store refused the record
    plain: JSONValue = json.loads(json.dumps(value, default=str))
    return plain


def _fields(value: Any) -> Mapping[str, Any] | None:
    """A dataclass's or a pydantic model's fields by name (None for anything else): as its text
    (``Database(host='db1', password='…')``) a task's parameter kept its password, which only the
    field's name says is one (a flow's come serialised by Prefect, as mappings)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in fields(value)}
    if isinstance(value, BaseModel):
        return dict(value)  # its fields as they are: a nested model is walked in turn
    return None


def bounded(parameters: JSONValue) -> JSONValue:
    """The parameters with each one too long to record (a table, a file's bytes) replaced by its
    size: the record is of the run, not a copy of its input (Prefect takes up to 512 KB)."""
    if not isinstance(parameters, dict):
        return parameters
    sizes = {name: len(json.dumps(value, ensure_ascii=False)) for name, value in parameters.items()}
    return {
        name: value if sizes[name] <= _PARAMETER_CHARS else f"[{sizes[name]:,} characters of JSON, not kept]"
        for name, value in parameters.items()
    }


def _named_secrets_masked(value: JSONValue) -> JSONValue:
    """``value`` with whatever sits under a secret-looking name (``password``, ``db_token``) masked.
    ``scrub_tree`` masks such a value only when it looks like a credential, since in free text
    ``password: changeme`` or ``token: str`` is seldom one; a parameter is always the value itself,
    and a plain-word password (``correcthorsebattery``) is still a password."""
    if isinstance(value, list):
        return [_named_secrets_masked(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        name: _SECRET if is_secret_name(name) and _filled(item) else _named_secrets_masked(item)
        for name, item in value.items()
    }


def _filled(value: JSONValue) -> bool:
    """A value worth masking: not empty, not a nested object (its own names decide)."""
    return value not in (None, "", []) and not isinstance(value, dict | bool)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _current_flow_name() -> str | None:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context.flow.name if context is not None and context.flow is not None else None


# -- the backfill ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Imported:
    seen: int  # finished flow runs the API returned
    added: int  # recorded now
    skipped: int  # recorded before (by a hook or an earlier import)


def import_runs(
    store: MemoryStore,
    *,
    api_url: str | None = None,
    limit: int = 200,
    project: str | None = None,
) -> Imported:
    """Record the newest ``limit`` finished flow runs of the Prefect API at ``api_url`` (Prefect's own
    settings when None: PREFECT_API_URL or its profile) that are not recorded yet."""
    check_store("import_runs", store)
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    limit = check_limit(limit, MAX_ROWS)
    known = _recorded_run_ids(store)
    wanted = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in FINISHED]))
    )
    with _api(api_url), get_client(sync_client=True) as client:
        runs: list[FlowRun] = []
        while len(runs) < limit:  # in pages: the API answers 422 to a limit over its page size
            size = min(_API_PAGE, limit - len(runs))
            page = client.read_flow_runs(
                flow_run_filter=wanted, sort=FlowRunSort.START_TIME_DESC, limit=size, offset=len(runs)
            )
            runs.extend(page)
            if len(page) < size:
                break
        names: dict[Any, str] = {}
        added = 0
        for run in reversed(runs):  # oldest first: the newest ends up first in listings
            if str(run.id) in known:
                continue
            if run.flow_id not in names:
                names[run.flow_id] = client.read_flow(run.flow_id).name
            record_flow_run(store, names[run.flow_id], run, run.state, project)
            added += 1
    return Imported(len(runs), added, len(runs) - added)


@contextmanager
def _api(url: str | None) -> Iterator[None]:
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings

    # with no API set, Prefect starts a temporary server for this one read: its telemetry is not the
    # user's to send, and on a new database its write raced the migrations ('database is locked' on stderr)
    api = {PREFECT_API_URL: url} if url is not None else {}
    with temporary_settings(updates={PREFECT_SERVER_ANALYTICS_ENABLED: False, **api}):
        yield


def _recorded_run_ids(store: MemoryStore) -> set[str]:
    runs = workflow_executions(store, adapter=ADAPTER, limit=MAX_ROWS)
    return {
        str(r["result"]["run_id"])
        for r in runs
        if isinstance(r.get("result"), dict) and "run_id" in r["result"]
    }
