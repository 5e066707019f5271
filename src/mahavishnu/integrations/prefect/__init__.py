"""Prefect flow and task runs recorded as workflow executions (``mahavishnu-cp[prefect]``): state hooks
(``record_runs``, or the hooks themselves) and the backfill of ``mahavishnu memory workflows
import-prefect``. See ``runs.py``."""

from mahavishnu.integrations.prefect.runs import (
    Recorder,
    flow_run_hook,
    import_runs,
    record_runs,
    task_run_hook,
)

__all__ = ["Recorder", "flow_run_hook", "import_runs", "record_runs", "task_run_hook"]
