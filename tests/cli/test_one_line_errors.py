"""Hostile input and a hostile environment get one-line errors, never a traceback (issue 14, item 8):
a read-only store (a real ``chmod 444``), a corrupted page, unwritable Mahavishnu directories, config
files nested 100,000 levels deep, non-UTF-8 standard input, an id too big for SQLite, a NaN score.

Permission bits do not bind root while it holds ``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH``: when
the suite runs as root, the commands that need them still run as root (which can run an interpreter
under its own 0700 home, where ``nobody`` cannot), without those two capabilities: a ``preexec_fn``
drops them from the bounding set (``prctl(PR_CAPBSET_DROP)``; on exec root's permitted set becomes the
bounding set), else ``setpriv`` does. A probe checks that a 0444 file then refuses a write; when
neither way makes the bits bind on this machine, the tests skip and say why."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.memory.core.store import MemoryStore

DEEP = 100_000


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *, says: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: "), proc.stderr
    assert len(lines) <= 2 and all(line.startswith("hint: ") for line in lines[1:]), proc.stderr
    assert says in lines[0], lines[0]


@dataclass(frozen=True)
class Unprivileged:
    """How to start a command that the permission bits bind: a command prefix and a ``preexec_fn``
    (neither for a user other than root: the bits bind it already)."""

    prefix: list[str] = field(default_factory=list)
    preexec_fn: Callable[[], None] | None = None
    how: str = "as an ordinary user"


def _mahavishnu(
    *args: str, stdin: bytes | None = None, runner: Unprivileged | None = None
) -> subprocess.CompletedProcess[str]:
    runner = runner or Unprivileged()
    proc = subprocess.run(
        [*runner.prefix, sys.executable, "-m", "mahavishnu", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
        preexec_fn=runner.preexec_fn,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    )


PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
DAC_CAPABILITIES = "dac_override,dac_read_search"


def _prctl_dropper() -> Callable[[], None]:
    """A ``preexec_fn`` dropping the two capabilities from the bounding set (libc is loaded here, in
    the parent: the forked child only calls it)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def drop() -> None:
        for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            if prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"prctl(PR_CAPBSET_DROP, {cap}): {os.strerror(errno)}")

    return drop


def _ways_to_drop_dac() -> tuple[list[Unprivileged], list[str]]:
    """The ways this machine may have to start a process without the two capabilities, and why the
    others are missing."""
    ways: list[Unprivileged] = []
    missing: list[str] = []
    if sys.platform.startswith("linux"):
        try:
            ways.append(Unprivileged(preexec_fn=_prctl_dropper(), how="prctl(PR_CAPBSET_DROP)"))
        except (OSError, AttributeError) as exc:  # no C library with prctl
            missing.append(f"prctl: {exc}")
    else:
        missing.append(f"prctl: not on Linux ({sys.platform})")
    setpriv = shutil.which("setpriv")
    if setpriv:
        drop = ",".join(f"-{cap}" for cap in DAC_CAPABILITIES.split(","))
        prefix = [setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}", "--"]
        ways.append(Unprivileged(prefix=prefix, how="setpriv"))
    else:
        missing.append("setpriv: not on PATH")
    return ways, missing


def _root_without_dac(scratch: Path) -> Unprivileged | str:
    """For root: a way to run commands that the permission bits bind, or why there is none here. The
    probe imports mahavishnu (so the child can still reach the code) and then must fail to append to
    a 0444 file."""
    probe = scratch / "probe-read-only.txt"
    probe.write_text("")
    probe.chmod(0o444)
    write = [sys.executable, "-c", f"import mahavishnu; open({str(probe)!r}, 'a').write('x')"]
    ways, reasons = _ways_to_drop_dac()
    try:
        for way in ways:
            try:
                proc = subprocess.run(
                    [*way.prefix, *write],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                    preexec_fn=way.preexec_fn,
                )
            except (OSError, subprocess.SubprocessError) as exc:
                reasons.append(f"{way.how}: {exc}")
                continue
            if proc.returncode != 0 and "PermissionError" in proc.stderr:
                return way
            last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            reasons.append(
                f"{way.how}: " + ("root still wrote a 0444 file" if proc.returncode == 0 else last)
            )
        return "; ".join(reasons)
    finally:
        probe.chmod(0o600)
        probe.unlink()


@pytest.fixture
def own_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Unprivileged]]:
    """A home of its own, and how to run commands the permission bits bind in it."""
    home = Path(tempfile.mkdtemp(prefix="mahavishnu-perm-"))
    try:
        runner = Unprivileged()
        if os.geteuid() == 0:
            found = _root_without_dac(home)
            if isinstance(found, str):
                pytest.skip(
                    "running as root, and permission bits cannot be made to bind a child process here "
                    f"(it would need CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped): {found}"
                )
            runner = found
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("MAHAVISHNU_HOME", str(home / ".mahavishnu"))
        monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
        monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test-0123456789")
        monkeypatch.chdir(home)
        yield home, runner
    finally:
        for path in [home, *home.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o700 if path.is_dir() else 0o600)
        shutil.rmtree(home)


# -- the store ---------------------------------------------------------------------------------------


def _fill_store(count: int = 120) -> Path:
    """A store of ``count`` notes, embedded by the default model: the commands run on it open it
    with that model (a search's relevance judge reads every hit's cosine, text mode too)."""
    with MemoryStore.open() as store:
        for i in range(count):
            store.store(f"note {i} about alpha beta gamma " + "padding " * 60, "note")
    return Path(os.environ["MAHAVISHNU_HOME"]) / "memory.db"


def test_a_read_only_store_file_is_one_line(own_home: tuple[Path, Unprivileged]) -> None:
    _home, runner = own_home
    db = _fill_store(3)
    for file in db.parent.glob("memory.db*"):
        file.chmod(0o444)
    deleted = _mahavishnu("memory", "delete", "1", runner=runner)
    _assert_one_line_error(deleted, says="the memory store is read-only")
    assert "chmod u+w" in deleted.stderr
    found = _mahavishnu("memory", "search", "alpha", "--mode", "text", "--json", runner=runner)
    assert found.returncode == 0, found.stderr  # reading still works


def test_a_store_on_a_read_only_folder_is_read_and_refuses_writes(
    own_home: tuple[Path, Unprivileged],
) -> None:
    """A read-only mount, or a folder without write permission: SQLite cannot create the WAL's -shm
    file there, so the store opens read-only (immutable); reads work, a write says read-only."""
    _home, runner = own_home
    db = _fill_store(3)
    for file in db.parent.glob("memory.db*"):
        file.chmod(0o444)
    db.parent.chmod(0o555)
    found = _mahavishnu("memory", "search", "alpha", "--mode", "text", "--json", runner=runner)
    assert found.returncode == 0, found.stderr
    assert "note 0 about alpha" in found.stdout
    listed = _mahavishnu("memory", "list", "--json", runner=runner)
    assert listed.returncode == 0 and "note 2 about alpha" in listed.stdout, listed.stderr
    status = _mahavishnu("db", "status", runner=runner)
    assert status.returncode == 0, status.stderr
    assert "read-only: reads work, writes fail" in " ".join(status.stdout.split())
    deleted = _mahavishnu("memory", "delete", "1", runner=runner)
    _assert_one_line_error(deleted, says="is read-only")
    assert "damaged" not in deleted.stderr and "cannot open" not in deleted.stderr


def test_an_unreadable_store_is_not_called_damaged(own_home: tuple[Path, Unprivileged]) -> None:
    _home, runner = own_home
    db = _fill_store(3)
    db.chmod(0o000)
    listed = _mahavishnu("memory", "list", runner=runner)
    _assert_one_line_error(listed, says="cannot open the memory store")
    assert "damaged" not in listed.stderr


def test_unwritable_mahavishnu_directories_are_one_line(own_home: tuple[Path, Unprivileged]) -> None:
    home, runner = own_home
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text("{}\n")
    own = home / ".mahavishnu"
    (own / "locks").mkdir(parents=True)
    (own / "backups").mkdir()
    cases = [(own, "permission denied"), (own / "locks", "lock file"), (own / "backups", "backup")]
    for directory, says in cases:
        directory.chmod(0o555)
        switched = _mahavishnu("ai", "switch-llm", "qwen", runner=runner)
        _assert_one_line_error(switched, says=says)
        assert settings.read_text() == "{}\n"
        directory.chmod(0o755)


@pytest.fixture(params=["under /proc", "under a dangling link"])
def home_that_cannot_be_made(
    request: pytest.FixtureRequest, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``MAHAVISHNU_HOME`` whose files read as absent and whose folder cannot be made (``mkdir``
    says ENOENT under /proc, EEXIST under a dangling link), with the memory daemon on as users
    have it."""
    if request.param == "under /proc":
        if not Path("/proc/self").is_dir():
            pytest.skip("no /proc here")
        home = Path("/proc/mahavishnu-nonexistent")
    else:
        (isolated_home / "gone").symlink_to(isolated_home / "missing")
        home = isolated_home / "gone" / "mahavishnu"
    monkeypatch.setenv("MAHAVISHNU_HOME", str(home))
    monkeypatch.delenv("MAHAVISHNU_DAEMON")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["memory", "search", "tests"], "cannot open the memory store"),  # the daemon's start is skipped
        (["usage"], "cannot create"),
        (["service", "status"], "cannot create"),
        (["memory", "hooks", "install", "--tool", "claude"], "cannot create"),
    ],
)
@pytest.mark.usefixtures("home_that_cannot_be_made")
def test_a_mahavishnu_home_that_cannot_be_made_is_one_line(args: list[str], says: str) -> None:
    _assert_one_line_error(_mahavishnu(*args), says=says)


@pytest.mark.parametrize(
    ("args", "payload"),
    [
        (["memory", "context", "--tool", "claude"], {"hook_event_name": "UserPromptSubmit", "prompt": "x"}),
        (["memory", "context", "--tool", "claude"], {"hook_event_name": "SessionStart", "session_id": "z"}),
        (["memory", "import", "--tool", "claude", "-"], {"hook_event_name": "Stop", "session_id": "z"}),
    ],
)
@pytest.mark.usefixtures("home_that_cannot_be_made")
def test_a_hook_with_a_mahavishnu_home_that_cannot_be_made_adds_nothing_and_is_no_bug(
    args: list[str], payload: dict[str, str]
) -> None:
    hooked = _mahavishnu(*args, stdin=json.dumps(payload).encode())
    _assert_one_line_error(hooked, says="")
    assert hooked.returncode == 1 and hooked.stdout == ""
    assert "bug" not in hooked.stderr and "unexpectedly" not in hooked.stderr


def _page_count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])
    finally:
        conn.close()


def test_every_single_corrupted_page_is_one_line_and_db_check_finds_it(isolated_home: Path) -> None:
    """Overwrite each page of the store in turn (as a bad sector would): every command either works
    or says in one line that the store is damaged, and ``db check`` then reports the damage."""
    db = _fill_store()
    pristine = db.read_bytes()
    page_size = 4096
    runner = CliRunner()
    commands = [["memory", "search", "alpha", "--mode", "text"], ["memory", "get", "7"], ["memory", "list"]]
    failed_pages = []
    for page in range(2, _page_count(db) + 1):
        damaged = bytearray(pristine)
        damaged[(page - 1) * page_size : page * page_size] = bytes([0x5A]) * page_size
        db.write_bytes(bytes(damaged))
        for command in commands:
            result = runner.invoke(app, command)
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                page,
                command,
                repr(result.exception),
            )
            if result.exit_code != 0:
                assert re.match(r"error: the memory store\b.* is damaged", result.output), (page, command)
                assert "mahavishnu db check" in result.output
                failed_pages.append(page)
        if page in failed_pages:
            checked = runner.invoke(app, ["db", "check", "--full"])
            assert checked.exit_code == 1 and "is damaged" in checked.output, (page, checked.output)
            assert "db check" not in checked.output and f"sqlite3 {db} .recover" in checked.output
    assert failed_pages, "no corrupted page was ever noticed: the sweep tests nothing"
    db.write_bytes(pristine)
    ok = runner.invoke(app, ["db", "check"])
    assert ok.exit_code == 0 and "quick_check ok" in ok.output


def test_db_check_on_a_file_that_is_not_a_database(isolated_home: Path) -> None:
    db = Path(os.environ["MAHAVISHNU_HOME"]) / "memory.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not SQLite" * 500)
    _assert_one_line_error(_mahavishnu("db", "check"), says="is damaged")
    _assert_one_line_error(_mahavishnu("memory", "list"), says="memory store")


# -- hostile input -----------------------------------------------------------------------------------


def test_an_id_too_big_for_sqlite_is_not_found() -> None:
    _fill_store(1)
    _assert_one_line_error(_mahavishnu("memory", "get", "99999999999999999999"), says="no memory #")


def test_a_nan_min_score_is_refused() -> None:
    _fill_store(1)
    _assert_one_line_error(
        _mahavishnu("memory", "search", "alpha", "--mode", "text", "--min-score", "nan"),
        says="min_score must be a number",
    )


def test_non_utf8_standard_input_is_refused_and_nothing_is_stored() -> None:
    db = _fill_store(1)
    _assert_one_line_error(
        _mahavishnu("memory", "store", "-", stdin=b"caf\xe9 \xff\xfe latin-1"), says="not UTF-8"
    )
    with MemoryStore.open() as store:
        assert store.stats()["count"] == 1
    assert db.exists()


def test_an_argument_that_is_not_utf_8_is_one_line_and_nothing_is_written(isolated_home: Path) -> None:
    # a Latin-1 byte in argv reaches Python as a surrogate, which SQLite and the UTF-8 config
    # files refused with a UnicodeEncodeError traceback
    db = _fill_store(1)
    latin1 = os.fsdecode(b"caf\xe9")
    _assert_one_line_error(_mahavishnu("memory", "store", "hello", "--agent", latin1), says="not UTF-8")
    _assert_one_line_error(_mahavishnu("memory", "search", "alpha", "--repo", latin1), says="not UTF-8")
    with MemoryStore.open() as store:
        assert store.stats()["count"] == 1
    assert db.exists()
    _assert_one_line_error(_mahavishnu("claude", "statusline", "set", f"echo {latin1}"), says="not UTF-8")
    assert not (isolated_home / ".claude" / "settings.json").exists()


@pytest.mark.parametrize(
    ("relative", "text", "args"),
    [
        (".claude/settings.json", '{"a": ' + "[" * DEEP + "]" * DEEP + "}", ["--tool", "claude"]),
        (".qwen/settings.json", '{"a": ' + "[" * DEEP + "]" * DEEP + "}", ["--tool", "qwen"]),
        (".codex/config.toml", "a = " + "[" * DEEP + "]" * DEEP + "\n", ["--tool", "codex"]),
        (".mahavishnu/mahavishnu.yaml", "a: " + "[" * DEEP + "]" * DEEP + "\n", []),
    ],
    ids=["claude-json", "qwen-jsonc", "codex-toml", "settings-yaml"],
)
def test_a_config_nested_100000_deep_is_one_line_and_left_alone(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, relative: str, text: str, args: list[str]
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test-0123456789")
    path = isolated_home / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    _assert_one_line_error(_mahavishnu("ai", "switch-llm", "qwen", *args), says=str(path))
    current = _mahavishnu("ai", "current")
    assert "Traceback" not in current.stderr
    assert path.read_text() == text


def test_an_id_past_64_bits_is_an_unknown_id() -> None:
    deleted = _mahavishnu("memory", "delete", "99999999999999999999")
    _assert_one_line_error(deleted, says="no memory #99999999999999999999")
    assert deleted.returncode == 1  # as any unknown id
    _assert_one_line_error(_mahavishnu("memory", "get", "99999999999999999999"), says="no memory")


def test_a_secret_that_is_not_utf_8_is_refused_in_one_line() -> None:
    stored = _mahavishnu("secrets", "set", "k1", "--store", "file", stdin=b"\xff\xfe\xe9\n")
    said = [line for line in stored.stderr.splitlines() if not line.startswith("warning: ")]
    _assert_one_line_error(
        subprocess.CompletedProcess(stored.args, stored.returncode, stored.stdout, "\n".join(said)),
        says="the secret is not UTF-8 text",
    )
    assert stored.returncode == 2  # bad input, as an empty secret
    assert "k1" not in _mahavishnu("secrets", "list").stdout


@pytest.mark.parametrize(
    "args",
    [
        ["memory", "export", "{file}/out.jsonl"],
        ["db", "backup", "{file}/store.db"],
        ["memory", "export", "/proc/no-such-folder/out.jsonl"],
    ],
)
def test_a_destination_under_a_file_or_that_cannot_be_made_is_one_line(
    args: list[str], isolated_home: Path
) -> None:
    """A path the user typed whose folder is a file, or cannot be made: one line naming it."""
    in_the_way = isolated_home / "notes.txt"
    in_the_way.write_text("a file, not a folder\n")
    typed = [a.format(file=in_the_way) for a in args]
    _assert_one_line_error(_mahavishnu(*typed), says=f"cannot use {Path(typed[-1]).parent}")
    assert in_the_way.read_text() == "a file, not a folder\n"


@pytest.mark.parametrize(
    "args", [["memory", "search", "hello"], ["doctor"], ["ai", "list-llms"], ["usage", "daily"]]
)
def test_mahavishnu_home_set_to_a_file_is_one_line(
    args: list[str], isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MAHAVISHNU_HOME`` naming a file, not a folder: every command said so in a traceback
    (reporting the first error read the secrets file under it, ``NotADirectoryError``)."""
    in_the_way = isolated_home / "mahavishnu-home"
    in_the_way.write_text("a file, not a folder\n")
    monkeypatch.setenv("MAHAVISHNU_HOME", str(in_the_way))
    _assert_one_line_error(_mahavishnu(*args), says=str(in_the_way))
    assert in_the_way.read_text() == "a file, not a folder\n"


@pytest.mark.parametrize(
    "args", [["run", "bad\x1b]0;pwned\x07\x1b[2J"], ["service", "start", "bad\x1b]0;pwned\x07\x1b[2J"]]
)
def test_escape_sequences_in_what_an_error_quotes_do_not_reach_the_terminal(args: list[str]) -> None:
    """`unknown profile '…'` quoted the name as typed: a terminal obeyed its escape sequences
    (the window retitled, the screen cleared)."""
    proc = _mahavishnu(*args)
    _assert_one_line_error(proc, says="'bad'")
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr and "pwned" not in proc.stderr


def test_a_huge_value_an_error_quotes_is_shortened() -> None:
    """`unknown profile '…'` quoted a 100 kB name whole, burying the error under it."""
    name = "p" * 50_000 + "q" * 50_000
    proc = _mahavishnu("service", "start", name)
    _assert_one_line_error(proc, says="'ppp")
    assert len(proc.stderr) < 5_000 and " … " in proc.stderr and "qqq" in proc.stderr


def test_a_name_that_is_not_utf_8_prints_as_its_bytes_under_a_strict_utf_8_locale(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a UTF-8 locale (en_US.UTF-8: Python's output `strict`) the listing for a file named
    in Latin-1 ended in an encoding error, after the command had done its work."""
    monkeypatch.setenv("PYTHONIOENCODING", "utf-8:strict")
    named = os.fsdecode(bytes(isolated_home) + b"/caf\xe9.json")
    proc = _mahavishnu("ai", "backups", "--file", named)
    assert proc.returncode == 0, proc.stderr
    assert "caf\ufffd.json" in proc.stdout and not proc.stderr
