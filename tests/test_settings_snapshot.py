"""Settings loading: the same results as the former pydantic-settings class, and a snapshot that is
used only while every input is unchanged."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, create_model
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from mahavishnu import config, paths, project_trust, settings_snapshot
from mahavishnu.config import Settings, load_settings, snapshot_decode, snapshot_encode
from mahavishnu.environments import profiles
from mahavishnu.environments.secrets import lookup, lookup_cached
from mahavishnu.errors import ConfigError, MahavishnuError

RICH = {
    "environments": {"default_tool": "codex", "backups_keep": 3},
    "memory": {"path": "~/mem.db", "hybrid_alpha": 1, "embedder": "ollama"},
    "ingest": {"extensions": ["PY", ".Md"], "chunk_tokens": 300},
    "profiles": {
        "qwen": {"aliases": ["q"], "anthropic": {"model": "qwen-max"}},
        "lab": {
            "label": "Lab",
            "secret": ["env:LAB_KEY"],
            "openai": {"base_url": "http://127.0.0.1:9/v1", "model": "m", "wire_api": "chat"},
        },
    },
    "services": {
        "definitions": {
            "web": {
                "command": "python -m http.server 9",
                "cwd": "/srv",
                "health": {"tcp": "9", "timeout_seconds": 1},
                "config_files": ["a.yaml"],
            }
        }
    },
    "watch": {"probe_tools": ["claude"], "poll_seconds": 0.5},
    "fallback": {"chains": {"claude": ["qwen", "zai"]}, "notify_command": "notify-send x"},
    "session_buddy": {"url": "http://127.0.0.1:8678/mcp", "command": "sb serve"},
}


@pytest.fixture
def settle_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_snapshot, "SETTLE_NS", 0)


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def _fields_sets(model: Any) -> Any:
    """Every nested model's ``model_fields_set`` (what ``exclude_unset`` depends on)."""
    if isinstance(model, BaseModel):
        return (
            sorted(model.model_fields_set),
            {name: _fields_sets(getattr(model, name)) for name in type(model).model_fields},
        )
    if isinstance(model, dict):
        return {key: _fields_sets(value) for key, value in model.items()}
    if isinstance(model, list):
        return [_fields_sets(value) for value in model]
    return None


# -- the same as pydantic-settings ----------------------------------------------------------------


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MAHAVISHNU_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, *(_File(settings_cls, path) for _, path in reversed(config.layer_files())))


class _File(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError

    def __call__(self) -> dict[str, Any]:
        return config.read_settings_file(self.path)


#: The Settings class as it was: a pydantic-settings BaseSettings with the same fields.
Reference: Any = create_model(
    "Settings",
    __base__=_Base,
    **{name: (field.annotation, field) for name, field in Settings.model_fields.items()},  # type: ignore[call-overload]
)


def _reference() -> Any:
    env = EnvSettingsSource(
        Reference, env_prefix="MAHAVISHNU_", env_nested_delimiter="__", case_sensitive=False
    )
    try:
        return Reference(**env()).model_dump()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _ours() -> Any:
    try:
        return load_settings().model_dump()
    except ConfigError as exc:
        assert isinstance(exc.__cause__, Exception)
        return f"{type(exc.__cause__).__name__}: {exc.__cause__}"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize(
    ("user", "project", "env"),
    [
        (None, None, {}),
        (RICH, None, {}),
        (RICH, {"profiles": {"qwen": {"label": "P"}}, "memory": {"backend": "postgres"}}, {}),
        (RICH, None, {"MAHAVISHNU_MEMORY__BACKEND": "postgres", "mahavishnu_profiles__Qwen__label": "E"}),
        (
            None,
            None,
            {"MAHAVISHNU_WATCH__PROBE_TOOLS": '["codex"]', "MAHAVISHNU_INGEST": '{"chunk_tokens": 100}'},
        ),
        (None, None, {"MAHAVISHNU_HOME_LIKE": "x", "MAHAVISHNU_MEMORYX": "y"}),  # not settings
        ({"memory": {"backend": "nope"}}, None, {}),
        ({"unknown": 1}, None, {}),
        ({"ingest": {"chunk_tokens": 100, "overlap_tokens": 60}}, None, {}),
        (None, None, {"MAHAVISHNU_MEMORY__HYBRID_ALPHA": "2"}),
    ],
)
def test_settings_match_the_former_pydantic_settings_class(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, user: Any, project: Any, env: dict[str, str]
) -> None:
    if user is not None:
        _write(paths.user_settings_file(), user)
    if project is not None:
        (isolated_home / "repo" / ".git").mkdir(parents=True)
        _write(isolated_home / "repo" / "settings" / "mahavishnu.yaml", project)
        project_trust.trust(isolated_home / "repo" / "settings" / "mahavishnu.yaml")
        monkeypatch.chdir(isolated_home / "repo")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    expected = _reference()
    assert _ours() == expected
    assert _ours() == expected  # and again, possibly from the snapshot


def test_settings_fields_are_listed_for_the_snapshot() -> None:
    assert tuple(Settings.model_fields) == settings_snapshot.SETTINGS_FIELDS


# -- the snapshot ---------------------------------------------------------------------------------


def test_snapshot_round_trip_is_exact(isolated_home: Path) -> None:
    _write(paths.user_settings_file(), RICH)
    fresh = Settings()
    restored = snapshot_decode(snapshot_encode(fresh))
    assert restored == fresh
    assert restored.model_dump() == fresh.model_dump()
    assert restored.model_dump(exclude_unset=True) == fresh.model_dump(exclude_unset=True)
    assert _fields_sets(restored) == _fields_sets(fresh)
    assert isinstance(restored.memory.path, Path) and isinstance(
        restored.services.definitions["web"].cwd, Path
    )


def test_load_settings_uses_the_snapshot_until_a_file_changes(isolated_home: Path, settle_now: None) -> None:
    path = paths.user_settings_file()
    _write(path, RICH)
    first = load_settings()
    cache = paths.cache_dir() / "settings.json"
    assert cache.exists() and oct(cache.stat().st_mode & 0o777) == "0o600"
    second = load_settings()
    assert second == first and _fields_sets(second) == _fields_sets(first)

    _write(path, {**RICH, "environments": {"default_tool": "gemini"}})
    assert load_settings().environments.default_tool == "gemini"
    path.unlink()
    assert load_settings() == Settings.model_validate({})


def test_a_project_file_that_appears_is_seen(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, settle_now: None
) -> None:
    (isolated_home / "repo" / ".git").mkdir(parents=True)
    monkeypatch.chdir(isolated_home / "repo")
    assert load_settings().memory.backend == "sqlite"
    _write(isolated_home / "repo" / "settings" / "mahavishnu.yaml", {"memory": {"backend": "postgres"}})
    assert load_settings().memory.backend == "sqlite"  # not trusted yet
    project_trust.trust(isolated_home / "repo" / "settings" / "mahavishnu.yaml")
    assert load_settings().memory.backend == "postgres"


def test_recently_changed_files_are_not_snapshotted(isolated_home: Path) -> None:
    _write(paths.user_settings_file(), RICH)  # just written: its timestamps may not have ticked yet
    load_settings()
    assert not (paths.cache_dir() / "settings.json").exists()


def test_environment_settings_bypass_the_snapshot(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, settle_now: None
) -> None:
    load_settings()
    cache = paths.cache_dir() / "settings.json"
    before = cache.read_bytes()
    monkeypatch.setenv("MAHAVISHNU_ENVIRONMENTS__DEFAULT_TOOL", "qwen")
    assert load_settings().environments.default_tool == "qwen"
    assert cache.read_bytes() == before
    monkeypatch.delenv("MAHAVISHNU_ENVIRONMENTS__DEFAULT_TOOL")
    assert load_settings().environments.default_tool == "claude"


def test_invalid_settings_are_never_snapshotted(isolated_home: Path, settle_now: None) -> None:
    _write(paths.user_settings_file(), {"memory": {"backend": "nope"}})
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"memory\.backend"):
            load_settings()
    assert not (paths.cache_dir() / "settings.json").exists()


def test_a_settings_file_with_the_old_chunk_sizes_says_what_to_rename(isolated_home: Path) -> None:
    _write(paths.user_settings_file(), {"ingest": {"chunk_chars": 1024}})
    with pytest.raises(ConfigError, match=r"ingest\.chunk_chars is now ingest\.chunk_tokens"):
        load_settings()


@pytest.mark.parametrize(
    "damage", ["", "{", '{"key": 1}', "[]", '{"key": null, "value": {"$model": "Nope"}}']
)
def test_a_damaged_snapshot_is_a_miss(isolated_home: Path, settle_now: None, damage: str) -> None:
    _write(paths.user_settings_file(), RICH)
    expected = load_settings()
    cache = paths.cache_dir() / "settings.json"
    cache.write_text(damage)
    assert load_settings() == expected
    key = settings_snapshot.fingerprint()
    settings_snapshot.write("settings", key, {"$model": "Settings", "set": [], "fields": {"memory": 1}})
    assert load_settings() == expected


def test_profiles_come_back_from_the_snapshot_unchanged(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, settle_now: None
) -> None:
    _write(paths.user_settings_file(), RICH)
    settings = load_settings()
    validated, invalid = profiles._validate_profiles(settings)
    assert invalid == {}
    profiles.all_profiles(settings)  # stores them
    assert (paths.cache_dir() / "profiles.json").exists()
    monkeypatch.setattr(profiles.ProfileSettings, "__pydantic_complete__", False)  # as in a new process
    restored = profiles.all_profiles(settings)
    assert list(restored) == list(validated)
    for name, profile in validated.items():
        again = restored[name]
        assert (again.name, again.builtin, again.settings) == (
            profile.name,
            profile.builtin,
            profile.settings,
        )
        assert _fields_sets(again.settings) == _fields_sets(profile.settings)


@pytest.mark.parametrize(
    "name", ["qwen", "Q", " dashscope ", "lab", "stored", "missing", "env:LAB_KEY", "bad:x"]
)
def test_cached_secret_lookup_matches_lookup(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, settle_now: None, name: str
) -> None:
    _write(paths.user_settings_file(), RICH)
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-0123456789")
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789")
    secrets_file = paths.secrets_file()
    secrets_file.write_text('stored = "sk-file-0123456789"\n')
    os.chmod(secrets_file, 0o600)

    def outcome(fn: Any) -> Any:
        try:
            return fn()
        except MahavishnuError as exc:
            return (type(exc).__name__, exc.message, exc.hint)

    assert lookup_cached(name) is None  # nothing validated yet
    expected = outcome(lambda: lookup(name, load_settings()))
    profiles.all_profiles(load_settings())
    monkeypatch.setattr(profiles.ProfileSettings, "__pydantic_complete__", False)
    assert outcome(lambda: lookup_cached(name)) == expected


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("MAHAVISHNU_WATCH", "not json", "watch"),
        ("MAHAVISHNU_MCP__ALLOWED_ROOTS", "/tmp", "mcp.allowed_roots"),
        ("MAHAVISHNU_INGEST__EXTENSIONS", ".py", "ingest.extensions"),
    ],
)
def test_a_plain_value_where_json_is_wanted_is_one_error_naming_the_variable(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    """pydantic-settings raised its SettingsError (a traceback); the error now names the variable."""
    monkeypatch.setenv(name, value)
    expected = rf"^invalid settings: {re.escape(field)}: .*\(set by {name}\)$"
    with pytest.raises(ConfigError, match=expected) as error:
        load_settings()
    assert error.value.hint.startswith(f"{name} takes JSON here")


def test_a_plain_command_in_the_environment_is_split_as_a_shell_would(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAHAVISHNU_SESSION_BUDDY__COMMAND", "session-buddy --stdio")
    assert load_settings().session_buddy.command == ["session-buddy", "--stdio"]


def test_one_setting_is_read_from_the_snapshot_as_validated_or_not_at_all(
    settle_now: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``memory store``'s fast path asks whether a question writer is set without pydantic: the
    snapshot's value while it holds, else a miss (the settings are then loaded)."""
    assert settings_snapshot.cached_setting("memory", "question_writer") == (False, None)  # nothing cached
    _write(paths.user_settings_file(), {"memory": {"question_writer": "lab"}})
    assert load_settings().memory.question_writer == "lab"  # validates, and writes the snapshot
    assert settings_snapshot.cached_setting("memory", "question_writer") == (True, "lab")
    assert settings_snapshot.cached_setting("memory", "backend") == (True, "sqlite")
    assert settings_snapshot.cached_setting("memory", "no_such_setting") == (False, None)
    monkeypatch.setenv("MAHAVISHNU_MEMORY__QUESTION_WRITER", "other")  # the environment is no key
    assert settings_snapshot.cached_setting("memory", "question_writer") == (False, None)


def test_every_bad_setting_is_named_in_the_one_line_with_where_it_was_set(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It named the first and said "(and 2 more)": the user fixed one a run."""
    file = paths.user_settings_file()
    _write(file, {"memory": {"backend": "sqlite3", "hybrid_alpha": "x"}, "recall": {"prompt_first_hits": -4}})
    with pytest.raises(ConfigError) as error:
        load_settings()
    problems = error.value.message.removeprefix("invalid settings: ").removesuffix(f" (set by {file})")
    assert [p.split(":")[0] for p in problems.split("; ")] == [
        "memory.backend",
        "memory.hybrid_alpha",
        "recall.prompt_first_hits",
    ]
    assert error.value.hint == f"Fix it in {file}."
    monkeypatch.setenv("MAHAVISHNU_MEMORY__HYBRID_ALPHA", "y")
    with pytest.raises(ConfigError) as error:
        load_settings()
    said = "hybrid_alpha: Input should be a valid number, unable to parse string as a number (set by "
    assert said + "MAHAVISHNU_MEMORY__HYBRID_ALPHA); " in error.value.message
    assert error.value.message.count(f"(set by {file})") == 2
    assert error.value.hint == "Fix each where it is set; nothing was changed."
