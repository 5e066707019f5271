"""Prefect flow and task runs recorded as workflow executions (``mahavishnu[prefect]``): state hooks
(``record_runs``, or the hooks themselves) and the backfill of ``mahavishnu memory workflows
import-prefect``. See ``runs.py``."""
