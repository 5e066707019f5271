"""Helpers for the services tests: a free loopback port, settings files, waiting, our processes."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from mahavishnu.services import procs

HERE = Path(__file__).resolve().parent
SERVER = HERE / "http_service.py"


def write_settings(data: dict[str, Any]) -> Path:
    path = Path(os.environ["MAHAVISHNU_HOME"]) / "mahavishnu.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def web_service(port: int, *extra: str, **fields: Any) -> dict[str, Any]:
    """A service definition running the loopback HTTP server, health-checked over HTTP."""
    return {
        "command": [sys.executable, str(SERVER), str(port), *extra],
        "health": {"http": f"http://127.0.0.1:{port}/health", "timeout_seconds": 0.5},
        **fields,
    }


def services_settings(definitions: dict[str, Any], **watch: Any) -> dict[str, Any]:
    return {
        "services": {
            "builtins": False,
            "start_timeout_seconds": 10,
            "stop_timeout_seconds": 2,
            "definitions": definitions,
        },
        "watch": {"poll_seconds": 0.05, "debounce_seconds": 0.3, "probe_interval_seconds": 0, **watch},
    }


def ours() -> list[int]:
    """Live processes started under this test's MAHAVISHNU_HOME (children inherit it), except us."""
    home = os.environ["MAHAVISHNU_HOME"]
    found = []
    for pid in procs.pids():
        if pid == os.getpid():
            continue
        if procs.environ(pid).get("MAHAVISHNU_HOME") == home and procs.alive(pid):
            found.append(pid)
    return found


def wait_for(condition: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
