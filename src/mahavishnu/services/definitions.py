"""The services Mahavishnu supervises: built-ins merged with the user's ``services.definitions``.

Built-ins (``services.builtins: false`` drops them; a user entry of the same name overrides them
field by field, ``enabled: false`` hides one):

``mahavishnu-mcp``   Mahavishnu's own MCP server over HTTP on 127.0.0.1:8680
``mahavishnu-watch`` ``mahavishnu watch``: restarts on config change, provider probes and fallback
``mahavishnu-memory`` the warm memory daemon the hooks ask (``memory/loop/daemon.py``; a Unix socket, no port)
``mahavishnu-ui``   the dashboard (``mahavishnu ui``) on 127.0.0.1:8690
``session-buddy``    Session-Buddy's MCP server on 127.0.0.1:8678, when ``session-buddy`` is installed
``ollama``           ``ollama serve`` on 127.0.0.1:11434, when ``ollama`` is installed

``mahavishnu-backup`` (``mahavishnu db backup --every EVERY --to s3://…``, a backup off the machine on
an interval) is declared by the ``backup`` settings section alone: whenever ``backup.to`` is set, even
with ``services.builtins: false``.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mahavishnu import paths
from mahavishnu.config import BackupSettings, ServiceSettings, Settings
from mahavishnu.environments.mcp_access import TOKEN_SECRET
from mahavishnu.errors import ConfigError, UnknownServiceError

MCP_PORT = 8680
WATCH_SERVICE = "mahavishnu-watch"
MEMORY_SERVICE = "mahavishnu-memory"
UI_SERVICE = "mahavishnu-ui"
UI_PORT = 8690
BACKUP_SERVICE = "mahavishnu-backup"
#: A plain service name: it names files in the services folder, so no path separator, no leading dot
#: (``..``, hidden files), no NUL, space or other control character.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]{0,199}")


def plain_name(name: str) -> bool:
    """Whether ``name`` can name a service's files (``NAME.pid``...): no ``/``, ``..``, NUL..."""
    return bool(_PLAIN_NAME.fullmatch(name))


mahavishnu_argv = paths.mahavishnu_argv


def dashboard_file() -> Path:
    """Where a running dashboard (``mahavishnu ui``, supervised or not) records its pid, port and
    login URL (0600)."""
    return paths.data_dir() / "ui" / "server.json"


@dataclass(frozen=True, slots=True)
class DashboardRecord:
    """``ui/server.json``: the dashboard's pid, port and login URL, and when it was written."""

    pid: int
    port: int
    url: str
    written: float


def dashboard_record() -> DashboardRecord | None:
    """The record a dashboard wrote (``dashboard_file``), whether or not it still runs; None when
    there is none or it is damaged."""
    import json

    path = dashboard_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        record = DashboardRecord(int(data["pid"]), int(data["port"]), str(data["url"]), path.stat().st_mtime)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record


def dashboard_running() -> DashboardRecord | None:
    """The record of the dashboard this user runs, when its process is alive and began before the
    record was written: a dashboard killed (or a reboot) leaves its record behind, and its pid, in
    use again by some unrelated process, made ``health`` say the dashboard ran."""
    from mahavishnu.services import procs

    record = dashboard_record()
    found = procs.stat(record.pid) if record is not None and record.pid > 0 else None
    if record is None or found is None or found.gone:
        return None
    began = procs.started_at(found)  # (to the second: the boot time /proc gives is whole seconds)
    return None if began is not None and began > record.written + 1 else record


def dashboard_pid() -> int | None:
    """The pid of the dashboard this user runs (``dashboard_running``)."""
    running = dashboard_running()
    return None if running is None else running.pid


def builtins() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {
        "mahavishnu-mcp": {
            "description": "Mahavishnu's MCP server (streamable HTTP)",
            "command": mahavishnu_argv("mcp", "serve", "--http", "--port", str(MCP_PORT)),
            "health": {"mcp": f"http://127.0.0.1:{MCP_PORT}/mcp", "bearer_secret": TOKEN_SECRET},
            # no config_files: it reads the settings on every call (its store follows memory.*), so
            # a settings change needs no restart that would cut its clients off
        },
        WATCH_SERVICE: {
            "description": "restarts services on config change, probes providers, falls back",
            "command": mahavishnu_argv("watch"),
        },
        MEMORY_SERVICE: {
            "description": "warm memory daemon for the assistants' hooks (Unix socket, no port)",
            "command": mahavishnu_argv("memory", "daemon"),
            "health": {"command": [sys.executable, "-m", "mahavishnu.memory.loop.daemon", "--health"]},
            "start_timeout_seconds": 120.0,  # loads the embedder and the vector index first
        },
        UI_SERVICE: {  # Starlette and Jinja2 are dependencies: every install has the dashboard
            "description": "the dashboard (`mahavishnu ui`); `service start` prints its login URL",
            "command": mahavishnu_argv("ui", "--no-browser", "--port", str(UI_PORT)),
            "health": {"tcp": f"127.0.0.1:{UI_PORT}"},
        },
    }
    if shutil.which("session-buddy"):
        found["session-buddy"] = {
            "description": "Session-Buddy MCP server",
            "command": ["session-buddy", "start"],
            "health": {"mcp": "http://127.0.0.1:8678/mcp"},
            "start_timeout_seconds": 90.0,
        }
    if shutil.which("ollama"):
        found["ollama"] = {
            "description": "Ollama model server",
            "command": ["ollama", "serve"],
            "env": {"OLLAMA_HOST": "127.0.0.1:11434"},
            "health": {"http": "http://127.0.0.1:11434/api/version"},
        }
    return found


def backup_service(backup: BackupSettings) -> dict[str, object] | None:
    """The scheduled backup's definition, when ``backup.to`` names a destination."""
    if backup.to is None:
        return None
    argv = ["db", "backup", "--every", backup.every, "--to", backup.to]
    argv += ["--keep", str(backup.keep)] if backup.keep is not None else []
    argv += ["--sse", backup.sse] if backup.sse is not None else []
    return {
        "description": f"backs the memory store up to {backup.to} every {backup.every} (`backup` settings)",
        "command": mahavishnu_argv(*argv),
        "restart": "on-failure",
    }


def all_services(settings: Settings) -> dict[str, ServiceSettings]:
    """Every enabled service by name, built-ins first."""
    base = builtins() if settings.services.builtins else {}
    scheduled = backup_service(settings.backup)
    if scheduled is not None:
        base[BACKUP_SERVICE] = scheduled
    user = {name: spec.model_dump(exclude_unset=True) for name, spec in settings.services.definitions.items()}
    services: dict[str, ServiceSettings] = {}
    for name in [*base, *(n for n in user if n not in base)]:
        if not plain_name(name):
            raise ConfigError(
                f"service name {name!r} is not a plain name (letters, digits, '-', '_', '.', '@', '+'; "
                "no '/' and no leading '.')",
                hint=f"Rename services.definitions.{name} in your settings file.",
            )
        merged = {**base.get(name, {}), **user.get(name, {})}
        merged["env"] = {**base.get(name, {}).get("env", {}), **user.get(name, {}).get("env", {})}
        spec = ServiceSettings.model_validate(merged)
        if not spec.enabled:
            continue
        if not spec.command:
            if name in _BUILTIN_NAMES:
                continue  # an override of a built-in whose program is not installed
            raise ConfigError(
                f"service '{name}' has no command",
                hint=f"Set services.definitions.{name}.command in your settings file.",
            )
        services[name] = spec
    return services


_BUILTIN_NAMES = (
    "mahavishnu-mcp",
    WATCH_SERVICE,
    MEMORY_SERVICE,
    UI_SERVICE,
    BACKUP_SERVICE,
    "session-buddy",
    "ollama",
)


def get(name: str, settings: Settings) -> ServiceSettings:
    services = all_services(settings)
    if not plain_name(name) or name not in services:
        raise unknown(name, ", ".join(services) or "none")
    return services[name]


def unknown(name: str, known: str) -> UnknownServiceError:
    """The error for a name that is no service, listing the ``known`` ones."""
    return UnknownServiceError(
        f"no service named '{name}' (declared: {known})",
        hint=f"Declare it under services.definitions in {paths.user_settings_file()}.",
    )


def expand(path: Path) -> Path:
    """``~`` and relative paths in service settings: relative to the user's home."""
    text = str(path)
    if text.startswith("~"):
        return paths.home() / text[1:].lstrip("/")
    return path if path.is_absolute() else paths.home() / path
