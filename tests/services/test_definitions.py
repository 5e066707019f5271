"""Service declarations: built-ins, user overrides merged field by field, and clear errors."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import time

import pytest

from mahavishnu.config import load_settings
from mahavishnu.errors import ConfigError
from mahavishnu.services.definitions import MCP_PORT, all_services, dashboard_file, dashboard_pid

from .helpers import write_settings


def test_builtins_are_mahavishnus_own_plus_installed_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        shutil, "which", lambda name: None if name in ("session-buddy", "ollama") else "/bin/x"
    )
    # the dashboard is part of every install (issue 48: it needed the ui extra's Jinja2)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jinja2" else True)
    services = all_services(load_settings())
    assert list(services) == ["mahavishnu-mcp", "mahavishnu-watch", "mahavishnu-memory", "mahavishnu-ui"]
    mcp = services["mahavishnu-mcp"]
    assert mcp.command[-5:] == ["mcp", "serve", "--http", "--port", str(MCP_PORT)]
    assert mcp.health.mcp == f"http://127.0.0.1:{MCP_PORT}/mcp"
    assert services["mahavishnu-watch"].command[-1] == "watch"
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    services = all_services(load_settings())
    assert services["ollama"].command == ["ollama", "serve"]
    assert services["ollama"].health.http == "http://127.0.0.1:11434/api/version"
    assert services["session-buddy"].health.mcp == "http://127.0.0.1:8678/mcp"


def test_user_entries_override_builtins_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    write_settings(
        {
            "services": {
                "definitions": {
                    "ollama": {"env": {"OLLAMA_MODELS": "/data/models"}, "restart": "no"},
                    "session-buddy": {"enabled": False},
                    "api": {"command": "uvicorn app:api --port 9000", "health": {"tcp": "9000"}},
                }
            }
        }
    )
    services = all_services(load_settings())
    assert "session-buddy" not in services
    assert services["ollama"].env == {"OLLAMA_HOST": "127.0.0.1:11434", "OLLAMA_MODELS": "/data/models"}
    assert services["ollama"].restart == "no" and services["ollama"].command == ["ollama", "serve"]
    assert services["api"].command == ["uvicorn", "app:api", "--port", "9000"]
    assert services["api"].health.kind == "tcp"
    write_settings({"services": {"builtins": False, "definitions": {"api": {"cwd": "/srv"}}}})
    with pytest.raises(ConfigError, match="service 'api' has no command"):
        all_services(load_settings())


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ({"definitions": {"all": {"command": "x"}}}, "'all' is not a service name"),
        ({"definitions": {"a b": {"command": "x"}}}, "'a b' is not a service name"),
        ({"definitions": {"x": {"command": "x", "colour": "red"}}}, "colour"),
        ({"definitions": {"x": {"command": "x", "health": {"http": "u", "tcp": "1"}}}}, "not http and tcp"),
        ({"stop_timeout_seconds": 0}, "stop_timeout_seconds"),
    ],
)
def test_invalid_service_settings_are_config_errors(services: dict[str, object], message: str) -> None:
    write_settings({"services": services})
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_watch_and_fallback_settings_validate() -> None:
    write_settings({"fallback": {"chains": {"cursor": ["qwen"]}}})
    with pytest.raises(ConfigError, match=r"fallback\.chains"):
        load_settings()
    write_settings({"fallback": {"chains": {"claude": ["qwen", "zai"]}, "notify_command": "notify-send x"}})
    settings = load_settings()
    assert settings.fallback.chain("claude") == ["qwen", "zai"] and settings.fallback.chain("codex") == []
    assert settings.fallback.notify_command == ["notify-send", "x"]
    assert settings.watch.probe_interval_seconds > 0 and settings.watch.debounce_seconds > 0


def test_the_dashboard_is_running_by_its_record_only_while_its_pid_is_still_its_process() -> None:
    """A dashboard killed (or a reboot) leaves ui/server.json behind: once its pid named some other
    process, `health` said the dashboard ran, "started by `mahavishnu ui`", for good."""
    record = dashboard_file()
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"pid": os.getpid(), "port": 8690, "url": "http://127.0.0.1:8690/"}))
    assert dashboard_pid() == os.getpid()  # this process began before it wrote the record
    written_long_ago = time.time() - 3600
    os.utime(record, (written_long_ago, written_long_ago))
    other = subprocess.Popen(["sleep", "30"])  # an unrelated process, begun after the record
    try:
        record.write_text(json.dumps({"pid": other.pid, "port": 8690, "url": "http://127.0.0.1:8690/"}))
        os.utime(record, (written_long_ago, written_long_ago))
        assert dashboard_pid() is None
    finally:
        other.kill()
        other.wait()
    record.write_text(json.dumps({"pid": other.pid, "port": 8690, "url": "http://127.0.0.1:8690/"}))
    assert dashboard_pid() is None  # gone
