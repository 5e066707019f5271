"""Settings: defaults < user file < project file < ``MAHAVISHNU_*`` environment.

The user file is ``$MAHAVISHNU_HOME/mahavishnu.yaml`` (or the XDG config dir), the project file
``settings/mahavishnu.yaml`` in the enclosing repository. Environment variables nest with ``__``:
``MAHAVISHNU_MEMORY__BACKEND=postgres``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from mahavishnu import paths
from mahavishnu.errors import ConfigError

ENV_PREFIX = "MAHAVISHNU_"


class Endpoint(BaseModel):
    """How to reach a provider over one wire protocol. Both URL and model are required once the
    user's override is merged over the catalogue (a user may override just the model)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    base_url: str | None = None
    model: str | None = None
    opus_model: str | None = None
    sonnet_model: str | None = None
    haiku_model: str | None = None
    timeout_ms: int | None = Field(default=None, gt=0)
    wire_api: Literal["responses", "chat"] | None = None


class ProfileSettings(BaseModel):
    """A provider profile; user entries are merged over the built-in catalogue by name."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    label: str | None = None
    aliases: list[str] = Field(default_factory=list)
    secret: list[str] = Field(default_factory=list)  # references tried first; see environments/secrets.py
    requires_key: bool = True
    docs: str | None = None
    anthropic: Endpoint | None = None
    openai: Endpoint | None = None
    gemini: Endpoint | None = None


class EnvironmentsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    default_tool: Literal["claude", "codex", "qwen", "gemini"] = "claude"
    backups_keep: int = Field(default=10, ge=1, le=1000)


class MemorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: Path | None = None
    dsn: str | None = None
    embedder: Literal["local", "ollama", "openai"] = "local"
    embedder_model: str | None = None
    embedder_url: str | None = None
    embedder_api_key: str | None = None
    max_content_chars: int = Field(default=100_000, gt=0)
    # Embedded store: from this many vectors on, an ANN index (on-disk sidecar) replaces the exact scan.
    ann_threshold: int = Field(default=50_000, ge=1)
    # Hybrid search (see memory/search.py and benchmarks/scifact.py for the measurements behind the defaults).
    hybrid_fusion: Literal["convex", "rrf"] = "convex"
    hybrid_alpha: float = Field(default=0.5, ge=0.0, le=1.0)
    hybrid_rrf_k: int = Field(default=60, ge=1)
    hybrid_depth: int = Field(default=100, ge=1, le=1000)
    # Embedded store: a full-text query matches its rarest terms while their postings fit this budget
    # (0: every term). Bounds text-search cost on large stores; measured in benchmarks/scifact.py.
    text_posting_budget: int = Field(default=10_000, ge=0)


def _default_extensions() -> list[str]:
    return [
        *(".py", ".pyi", ".md", ".txt", ".yaml", ".yml", ".rst", ".toml", ".json", ".cfg", ".ini"),
        *(".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".vue", ".svelte", ".html", ".css", ".scss"),
        *(".go", ".rs", ".java", ".kt", ".kts", ".scala", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs"),
        *(".rb", ".php", ".swift", ".lua", ".sh", ".bash", ".zsh", ".sql", ".proto", ".graphql", ".tf"),
    ]


def _default_ingest_excludes() -> list[str]:
    return [
        *("node_modules/", "vendor/", "third_party/", ".venv/", "venv/", "__pycache__/", "dist/", "build/"),
        *("target/", ".tox/", ".nox/", ".mypy_cache/", ".pytest_cache/", ".ruff_cache/", ".eggs/"),
        *("*.egg-info/", "*.min.js", "*.min.css", "*.map", "package-lock.json", "yarn.lock"),
        *("pnpm-lock.yaml", "Cargo.lock", "poetry.lock", "uv.lock", "Pipfile.lock", "composer.lock"),
    ]


class IngestSettings(BaseModel):
    """``mahavishnu memory ingest``: which files of a repository become ``rag`` memories, and how."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    extensions: list[str] = Field(default_factory=_default_extensions)  # taken unless --include is given
    exclude: list[str] = Field(default_factory=_default_ingest_excludes)  # gitignore-style, with .gitignore
    max_file_bytes: int = Field(default=1_000_000, gt=0)  # bigger files are skipped (vendored, generated)
    chunk_chars: int = Field(default=1024, ge=64, le=50_000)
    overlap_chars: int = Field(default=128, ge=0)  # repeated context where a chunk cuts a block in two
    window_chunks: int = Field(default=256, ge=1)  # chunks embedded, then committed together

    @field_validator("extensions")
    @classmethod
    def _dotted(cls, value: list[str]) -> list[str]:
        return [e.lower() if e.startswith(".") else f".{e.lower()}" for e in value]

    @model_validator(mode="after")
    def _overlap_fits(self) -> IngestSettings:
        if self.overlap_chars >= self.chunk_chars // 2:
            raise ValueError("ingest.overlap_chars must be under half of ingest.chunk_chars")
        return self


AssistantName = Literal["claude", "codex", "qwen", "gemini"]


def _every_assistant() -> list[AssistantName]:
    return ["claude", "codex", "qwen", "gemini"]


_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class HealthCheckSettings(BaseModel):
    """How to tell a service is up: at most one check; with none, a live process counts as healthy."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    http: str | None = None  # GET this URL: healthy on a 2xx/3xx answer
    tcp: str | None = None  # "host:port" or "port" (127.0.0.1): healthy when it accepts a connection
    mcp: str | None = None  # a streamable-HTTP MCP endpoint: healthy when initialize + ping answer
    command: list[str] | None = None  # argv (a string is split like a shell would): healthy on exit 0
    timeout_seconds: float = Field(default=2.0, gt=0)

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_check(self) -> HealthCheckSettings:
        chosen = [k for k in ("http", "tcp", "mcp", "command") if getattr(self, k)]
        if len(chosen) > 1:
            raise ValueError(
                f"a health check is one of http, tcp, mcp or command, not {' and '.join(chosen)}"
            )
        return self

    @property
    def kind(self) -> str:
        return next((k for k in ("http", "tcp", "mcp", "command") if getattr(self, k)), "process")


class ServiceSettings(BaseModel):
    """A supervised service. User entries are merged field by field over a built-in of the same name."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    description: str | None = None
    enabled: bool = True  # false hides a built-in (and keeps `all` from starting it)
    command: list[str] = Field(default_factory=list)  # argv, run without a shell; a string is split
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Path | None = None
    health: HealthCheckSettings = Field(default_factory=HealthCheckSettings)
    # on-failure: `mahavishnu watch` restarts it when it exits without `service stop` or fails its
    # health check `unhealthy_after` times in a row; no: never restarted automatically.
    restart: Literal["no", "on-failure"] = "on-failure"
    max_restarts: int = Field(default=5, ge=0)  # automatic restarts allowed per restart_window
    restart_window_seconds: float = Field(default=600.0, gt=0)
    unhealthy_after: int = Field(default=3, ge=1)
    config_files: list[Path] = Field(default_factory=list)  # a change restarts the service (watch)
    start_timeout_seconds: float | None = Field(default=None, gt=0)  # default: services.start_timeout
    stop_timeout_seconds: float | None = Field(default=None, gt=0)  # default: services.stop_timeout

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value


class ServicesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    builtins: bool = True  # Mahavishnu's MCP server, the watcher, Session-Buddy and Ollama (if installed)
    start_timeout_seconds: float = Field(default=30.0, gt=0)  # wait this long for the health check
    stop_timeout_seconds: float = Field(default=10.0, gt=0)  # SIGTERM, then SIGKILL after this
    log_max_bytes: int = Field(default=5_000_000, ge=0)  # a bigger log is rotated (.1) on start; 0: never
    definitions: dict[str, ServiceSettings] = Field(default_factory=dict)

    @field_validator("definitions")
    @classmethod
    def _names(cls, value: dict[str, ServiceSettings]) -> dict[str, ServiceSettings]:
        for name in value:
            if not _SERVICE_NAME.match(name) or name == "all":
                raise ValueError(
                    f"'{name}' is not a service name (letters, digits, '.', '_', '-'; not 'all')"
                )
        return value


class WatchSettings(BaseModel):
    """``mahavishnu watch``: config files, service liveness and provider probes. Sub-second values work."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    poll_seconds: float = Field(default=1.0, gt=0)  # how often files and processes are looked at
    debounce_seconds: float = Field(default=2.0, ge=0)  # quiet time after the last change before a restart
    services: bool = True  # restart services on config change / exit / failed health checks
    health_interval_seconds: float = Field(default=30.0, ge=0)  # 0: only liveness, no health checks
    probe_interval_seconds: float = Field(default=120.0, ge=0)  # 0: no provider probes
    probe_timeout_seconds: float = Field(default=10.0, gt=0)
    probe_tools: list[AssistantName] = Field(default_factory=_every_assistant)


class FallbackSettings(BaseModel):
    """Automatic provider fallback, run by ``mahavishnu watch``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    chains: dict[AssistantName, list[str]] = Field(default_factory=dict)  # tool -> profiles, preferred first
    failures_before_switch: int = Field(default=3, ge=1)
    switch_back: bool = True  # return to the original profile once it answers again
    successes_before_switch_back: int = Field(default=2, ge=1)
    scope: Literal["user", "project", "local"] = "user"
    notify_command: list[str] | None = None  # run on every switch, event as JSON in MAHAVISHNU_EVENT

    def chain(self, tool: str) -> list[str]:
        return next((names for name, names in self.chains.items() if name == tool), [])

    @field_validator("notify_command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value


class SessionBuddySettings(BaseModel):
    """The Session-Buddy peer (an MCP memory server) that unified search and reflections reach."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    enabled: bool = True  # false: never contact the peer (searches say it was skipped)
    url: str | None = None  # streamable-HTTP endpoint, e.g. http://127.0.0.1:8678/mcp
    command: list[str] = Field(default_factory=list)  # or a stdio server: argv, run without a shell
    timeout_seconds: float = Field(default=2.0, gt=0)  # per call; a search never waits longer
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)  # passed to quick_search

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @property
    def configured(self) -> bool:
        return self.enabled and bool(self.url or self.command)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    environments: EnvironmentsSettings = Field(default_factory=EnvironmentsSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    profiles: dict[str, ProfileSettings] = Field(default_factory=dict)
    services: ServicesSettings = Field(default_factory=ServicesSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    fallback: FallbackSettings = Field(default_factory=FallbackSettings)
    session_buddy: SessionBuddySettings = Field(default_factory=SessionBuddySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, *(_FileSource(settings_cls, path) for _, path in reversed(layer_files())))


class _FileSource(PydanticBaseSettingsSource):
    """A YAML settings file; errors name the file and say what to fix."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        return read_settings_file(self.path)


def layer_files() -> list[tuple[str, Path]]:
    """The settings files in precedence order, lowest first."""
    files = [("user", paths.user_settings_file())]
    project = paths.project_settings_file()
    if project is not None:
        files.append(("project", project))
    return files


def read_settings_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"invalid YAML in {path}{where}", hint="Fix the file; nothing was changed."
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def _env_layer() -> dict[str, Any]:
    return EnvSettingsSource(
        Settings, env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False
    )()


def load_settings() -> Settings:
    """The effective settings, with env overriding the files."""
    try:
        return Settings(**_env_layer())
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {_first_error(exc)}") from exc


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" + (
        f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    )


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: data}


def settings_with_sources() -> list[tuple[str, Any, str]]:
    """Each effective leaf setting as (dotted key, value, source), sources being
    ``default``, ``user: PATH``, ``project: PATH`` or ``env``."""
    effective = _flatten(load_settings().model_dump(mode="json", exclude_none=False))
    layers = [(f"{name}: {path}", _flatten(read_settings_file(path))) for name, path in layer_files()]
    layers.append(("env", _flatten(_env_layer())))
    rows = []
    for key, value in effective.items():
        source = "default"
        for name, flat in layers:
            if any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in flat):
                source = name
        rows.append((key, value, source))
    return rows
