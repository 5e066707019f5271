"""Workflow executions: each run recorded in ``workflow_executions`` and summarised as a
``workflow`` memory, so "how did the last release workflow go?" is answered by memory search."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from mahavishnu.clean_text import clipped
from mahavishnu.errors import InvalidInputError
from mahavishnu.json_types import JSONObject, JSONValue
from mahavishnu.memory.core import provenance
from mahavishnu.memory.core.backends.records import MAX_ROWS, WORKFLOWS
from mahavishnu.memory.core.given import check_store
from mahavishnu.memory.core.models import (
    MemoryDraft,
    check_label,
    check_limit,
    format_time,
    parse_time,
    utcnow,
)

if TYPE_CHECKING:
    from mahavishnu.memory.core.models import Memory
    from mahavishnu.memory.core.store import MemoryStore

Status = Literal["pending", "running", "completed", "failed", "cancelled"]
STATUSES: tuple[Status, ...] = ("pending", "running", "completed", "failed", "cancelled")
_RESULT_CHARS = 2_000  # of the result's JSON kept in the searchable summary (the row keeps it all)
_SUMMARY_ERROR_CHARS = 2_000  # of the error kept in the summary (a memory's content has a limit)
_ERROR_CHARS = 20_000  # of the error the row keeps: its head and its tail (a traceback's last line)
MAX_RESULT_CHARS = 1_000_000  # of the result's JSON: a run's record, not its output


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    id: int
    memory: Memory
    row: JSONObject  # the stored columns

    def to_dict(self) -> JSONObject:
        return {**self.row, "id": self.id, "memory_id": self.memory.id}


def store_workflow_execution(
    store: MemoryStore,
    workflow_id: str,
    adapter: str,
    repos: Sequence[str] = (),
    status: str = "completed",
    result: object = None,  # any JSON-serialisable value
    duration: float | None = None,
    error: str | None = None,
    *,
    project: str | None = None,
) -> WorkflowRun:
    """Record one workflow run and store its summary as a ``workflow`` memory."""
    from mahavishnu.redaction.scrub import scrub_tree

    check_store("store_workflow_execution", store)
    row: JSONObject = scrub_tree(_checked(workflow_id, adapter, repos, status, result, duration, error))
    status, adapter = str(row["status"]), str(row["adapter"])  # checked text, scrubbed
    if isinstance(row["error"], str):  # cut once scrubbed: a key cut in two is no longer recognised
        row["error"] = _cut(row["error"], _ERROR_CHARS)
    # A run's error and result are a program's output, often quoting what it read (a response body,
    # a page): ``external``, which recall leaves out by default, not ``kept`` (``provenance.py``).
    metadata = {"status": status, "adapter": adapter, "repos": row["repos"], provenance.KEY: "external"}
    draft = MemoryDraft(
        _cut(summary(row), store.settings.max_content_chars),
        "workflow",
        ("workflow", status, adapter),
        metadata,
        project=project,
        workflow_id=str(row["workflow_id"]),
        source_system=adapter,
    )
    [stored] = store.store_many_checked([draft])
    row.update(memory_id=stored.memory.id, created_at=format_time(utcnow()))
    try:
        [run_id] = store.backend.add_records(WORKFLOWS, [row])
    except BaseException:
        if not stored.duplicate:  # no summary of a run that was not recorded
            store.backend.delete([stored.memory.id])
        raise
    assert run_id is not None  # workflow_executions has no unique key besides its id
    return WorkflowRun(run_id, stored.memory, row)


def workflow_executions(
    store: MemoryStore,
    *,
    workflow_id: str | None = None,
    status: str | None = None,
    adapter: str | None = None,
    since: datetime | str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Recorded runs, newest first."""
    check_store("workflow_executions", store)
    if status is not None:
        _status(status)
    wanted = {"workflow_id": workflow_id, "status": status, "adapter": adapter}
    where = {k: check_label(k, v) for k, v in wanted.items() if v is not None}
    after = format_time(parse_time(since)) if since is not None else None
    return store.backend.records(WORKFLOWS, where, since=after, limit=check_limit(limit, MAX_ROWS))


def summary(row: Mapping[str, JSONValue]) -> str:
    """The searchable text of a run (its checked columns)."""
    names = row["repos"]
    repos = f" on {', '.join(map(str, names))}" if isinstance(names, list) and names else ""
    took = f" in {row['duration_seconds']:.1f}s" if row["duration_seconds"] is not None else ""
    text = f"Workflow {row['workflow_id']} ({row['adapter']}) {row['status']}{repos}{took}."
    if row["error"]:
        text += f"\nError: {_cut(str(row['error']), _SUMMARY_ERROR_CHARS)}"
    if row["result"] is not None:
        result = json.dumps(row["result"], ensure_ascii=False)
        text += f"\nResult: {result[:_RESULT_CHARS]}{'…' if len(result) > _RESULT_CHARS else ''}"
    return text


def _checked(
    workflow_id: str,
    adapter: str,
    repos: Sequence[str],
    status: str,
    result: object,
    duration: float | None,
    error: str | None,
) -> JSONObject:
    """A run's columns, checked (``InvalidInputError`` says what is wrong)."""
    labels = _required(
        {"workflow_id": check_label("workflow_id", workflow_id), "adapter": check_label("adapter", adapter)}
    )
    _check_repos(repos)
    _check_duration(duration)
    if error is not None and not isinstance(error, str):
        raise InvalidInputError(f"error must be text, got {type(error).__name__}")
    stored = _json_result(result)
    return {
        **labels,
        "repos": [*dict.fromkeys(repos)],
        "status": _status(status),
        "result": stored,
        "duration_seconds": float(duration) if duration is not None else None,
        "error": error,
    }


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: its head and its tail (where a traceback names the
    exception), marked where it was cut, so a long one is still recorded, not refused."""
    return clipped(text, limit, joint="\n…\n")


def _required(labels: dict[str, str | None]) -> dict[str, str]:
    """The checked labels, each present."""
    present: dict[str, str] = {}
    for name, value in labels.items():
        if value is None:
            raise InvalidInputError(f"a workflow execution needs {name}")
        present[name] = value
    return present


def _check_repos(repos: Sequence[str]) -> None:
    if (
        isinstance(repos, str)
        or not isinstance(repos, Iterable)  # (5: "'int' object is not iterable")
        or not all(isinstance(r, str) and r.strip() for r in repos)
    ):
        raise InvalidInputError(f"repos must be a list of repository names, got {repos!r}")


def _check_duration(duration: float | None) -> None:
    if duration is None:
        return
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or not math.isfinite(duration)
        or duration < 0
    ):
        raise InvalidInputError(f"duration must be a number of seconds >= 0, got {duration!r}")


def _json_result(result: object) -> JSONValue:
    """The result as JSON gives it back (tuples become lists); None stays None."""
    if result is None:
        return None
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the workflow result is not JSON-serialisable: {exc}") from exc
    if len(text) > MAX_RESULT_CHARS:
        raise InvalidInputError(
            f"the workflow result's JSON is {len(text):,} characters, over the limit of {MAX_RESULT_CHARS:,}",
            hint="Record what the run produced (counts, paths, a summary), not the output itself.",
        )
    stored: JSONValue = json.loads(text)
    return stored


def _status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidInputError(
            f"invalid workflow status {status!r}", hint=f"Use one of: {', '.join(STATUSES)}."
        )
    return status
