"""`switch-llm --tool all` writes every assistant's files as one transaction: all or none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _switch_helpers import write_assistant_files
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.errors import ProtocolMismatchError, WriteFailedError
from mahavishnu.files import history, safe_write, switch_log, transaction
from mahavishnu.files.json_document import JsonDocument

CLAUDE = '{\n  "model": "opus",\n  "env": {"FOO": "bar"}\n}\n'
CODEX = '# codex\nmodel = "gpt-5.5"\n\n[projects."/x"]\ntrust_level = "trusted"\n'
QWEN = '{\n  // qwen\n  "general": {"vimMode": true}\n}\n'
runner = CliRunner()


@pytest.fixture
def files(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    return write_assistant_files(isolated_home, CLAUDE, CODEX, QWEN, monkeypatch)


def _originals(files: dict[str, Path]) -> dict[str, str]:
    return {"claude": CLAUDE, "codex": CODEX, "qwen": QWEN}


def _contents(files: dict[str, Path]) -> dict[str, str | None]:
    return {tool: (p.read_text() if p.exists() else None) for tool, p in files.items()}


@pytest.fixture
def fault(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, int], None]]:
    """``fault(step, n)``: fail the n-th time safe_write reaches ``step`` (later calls pass)."""

    def arm(step: str, n: int) -> None:
        seen = {"count": 0}

        def hook(reached: str) -> None:
            if reached == step:
                seen["count"] += 1
                if seen["count"] == n:
                    raise WriteFailedError(f"injected failure at {step} #{n}")

        monkeypatch.setattr(safe_write, "fault_hook", hook)

    yield arm


def test_all_switches_every_assistant_the_profile_serves(files: dict[str, Path]) -> None:
    result = switch_llm("qwen", load_settings(), tool="all")
    assert result.tools == ["claude", "codex", "qwen", "opencode", "pi"]
    assert [(s.tool, "no gemini endpoint" in s.reason) for s in result.skipped] == [("gemini", True)]
    assert json.loads(files["claude"].read_text())["env"]["ANTHROPIC_MODEL"] == "qwen3.7-max"
    assert tomllib.loads(files["codex"].read_text())["model_provider"] == "mahavishnu-qwen"
    assert JsonDocument.parse(files["qwen"].read_text()).data["model"]["name"] == "qwen3.7-max"
    assert not transaction.pending()


def test_a_chat_only_profile_skips_codex_under_all_but_is_refused_when_named(files: dict[str, Path]) -> None:
    result = switch_llm("kimi", load_settings(), tool="all")
    assert result.tools == ["claude", "qwen", "opencode", "pi"]
    assert {s.tool for s in result.skipped} == {"codex", "gemini"}
    assert files["codex"].read_text() == CODEX
    with pytest.raises(ProtocolMismatchError, match="Responses API"):
        switch_llm("kimi", load_settings(), tool="codex")


def test_a_profile_no_assistant_can_use_at_that_scope_is_an_error(files: dict[str, Path]) -> None:
    with pytest.raises(ProtocolMismatchError, match="cannot be used by any assistant"):
        switch_llm("gemini", load_settings(), tool="all", scope="local")


@pytest.mark.parametrize(("step", "n"), [("before-replace", 2), ("before-replace", 3), ("replaced", 2)])
def test_a_failed_write_restores_the_files_already_written(
    files: dict[str, Path], fault: Callable[[str, int], None], step: str, n: int
) -> None:
    fault(step, n)
    with pytest.raises(WriteFailedError, match="injected"):
        switch_llm("qwen", load_settings(), tool="all")
    assert _contents(files) == _originals(files)
    assert not transaction.pending()


def test_a_read_only_file_later_in_a_switch_is_refused_before_any_file_is_written(
    files: dict[str, Path],
) -> None:
    """A review: Codex's config.toml read-only, ``--tool all`` wrote Claude Code's settings, failed
    on Codex, restored Claude's (a new inode: a hard link split) and backed up the half-switched
    text on the way; `ai rollback`, finding no recorded change, put that backup in: a provider the
    user never had, their token blanked."""
    files["codex"].chmod(0o444)
    inode = files["claude"].stat().st_ino
    with pytest.raises(WriteFailedError, match="read-only"):
        switch_llm("qwen", load_settings(), tool="all")
    assert _contents(files) == _originals(files) and files["claude"].stat().st_ino == inode
    assert safe_write.list_backups() == [] and not transaction.pending()
    rolled = runner.invoke(app, ["ai", "rollback"])
    assert files["claude"].read_text() == CLAUDE, rolled.output


def test_a_failed_transaction_leaves_no_backup_of_what_it_never_committed(
    files: dict[str, Path], fault: Callable[[str, int], None]
) -> None:
    fault("before-replace", 3)  # claude and codex written, qwen fails: both restored
    with pytest.raises(WriteFailedError):
        switch_llm("qwen", load_settings(), tool="all")
    assert _contents(files) == _originals(files)
    held = [b.text() for b in safe_write.list_backups()]
    assert held and set(held) <= set(_originals(files).values())  # what the user had, nothing else


def test_a_file_the_transaction_created_is_removed_again(
    files: dict[str, Path], fault: Callable[[str, int], None]
) -> None:
    files["codex"].unlink()
    fault("before-replace", 3)  # claude, codex (created), then qwen fails
    with pytest.raises(WriteFailedError):
        switch_llm("qwen", load_settings(), tool="all")
    assert not files["codex"].exists()
    assert files["claude"].read_text() == CLAUDE


def test_gemini_settings_and_env_are_one_transaction_too(
    isolated_home: Path, fault: Callable[[str, int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "sk-g-0123456789")
    settings = isolated_home / ".gemini" / "settings.json"
    settings.parent.mkdir()
    settings.write_text("{}\n")
    fault("before-replace", 2)
    with pytest.raises(WriteFailedError):
        switch_llm("gemini", load_settings(), tool="gemini")
    assert settings.read_text() == "{}\n"
    assert not (isolated_home / ".gemini" / ".env").exists()


def test_dry_run_all_shows_one_diff_per_file_and_writes_nothing(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["ai", "switch-llm", "zai", "--tool", "all", "--dry-run"])
    assert result.exit_code == 0, result.output
    for path in files.values():
        assert result.output.count(f"+++ {path} (new)") == 1
    assert "gemini: skipped" in result.output
    assert _contents(files) == _originals(files)
    assert safe_write.list_backups() == []


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from mahavishnu.files import safe_write

    seen = []

    def hook(step):
        if step == "replaced":
            seen.append(step)
            if len(seen) == int(sys.argv[1]):
                os._exit(137)  # killed: no except, no finally, no cleanup

    safe_write.fault_hook = hook
    from mahavishnu.cli.main import app

    app(["ai", "switch-llm", "qwen", "--tool", "all"])
    """
)


def _killed_midway(after_files: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_SCRIPT, str(after_files)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 137, proc.stderr


def test_a_killed_switch_is_rolled_back_by_the_next_command(files: dict[str, Path]) -> None:
    _killed_midway(after_files=2)
    assert transaction.pending()
    half = _contents(files)
    assert half["claude"] != CLAUDE and half["codex"] != CODEX and half["qwen"] == QWEN

    result = runner.invoke(app, ["ai", "current"])
    assert result.exit_code == 0, result.output
    assert "rolled back an interrupted switch" in result.output
    assert _contents(files) == _originals(files)
    assert not transaction.pending()
    for tool in ("claude", "codex", "qwen", "gemini"):
        assert tool in result.output


def test_the_next_switch_recovers_first_then_switches(files: dict[str, Path]) -> None:
    _killed_midway(after_files=1)
    result = switch_llm("zai", load_settings(), tool="qwen")
    assert any("restored " + str(files["claude"]) in w for w in result.warnings)
    assert files["claude"].read_text() == CLAUDE
    assert JsonDocument.parse(files["qwen"].read_text()).data["model"]["name"] == "glm-5.3"


def test_recovery_leaves_a_file_someone_else_changed_since(files: dict[str, Path]) -> None:
    _killed_midway(after_files=2)
    files["claude"].write_text('{"edited": "by Claude Code meanwhile"}\n')
    recovery = transaction.recover()
    assert recovery is not None
    assert recovery.restored == [str(files["codex"])]
    assert recovery.left == [str(files["claude"])]
    assert files["claude"].read_text() == '{"edited": "by Claude Code meanwhile"}\n'
    assert files["codex"].read_text() == CODEX


_KILLED_AFTER_RECORDING = textwrap.dedent(
    """
    import os, sys
    from mahavishnu.files import history, switch_log

    module = {"history": history, "switch_log": switch_log}[sys.argv[1]]
    real = getattr(module, sys.argv[2])

    def recorded(*args, **kwargs):
        real(*args, **kwargs)
        os._exit(137)  # killed right after this record was written

    setattr(module, sys.argv[2], recorded)
    from mahavishnu.cli.main import app

    app(["ai", "switch-llm", "qwen", "--tool", "all"])
    """
)


@pytest.mark.parametrize("killed_after", ["history.record", "switch_log.record_change"])
def test_a_switch_killed_while_it_is_recorded_is_rolled_back_with_its_records(
    files: dict[str, Path], killed_after: str
) -> None:
    """Killed after its files and before its records, a switch stayed, unrecorded: `ai backups`
    did not list it and `ai rollback` undid the switch before it. Recorded before its commit, it
    is rolled back whole, its records with it."""
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_AFTER_RECORDING, *killed_after.split(".")],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 137, proc.stderr
    result = runner.invoke(app, ["ai", "current"])
    assert "rolled back an interrupted switch" in result.output
    assert _contents(files) == _originals(files)
    assert not transaction.pending()
    assert switch_log.records(changes=True) == []
    assert list(history.groups_dir().glob("*.json")) == []


def test_the_journal_is_private_while_it_exists(files: dict[str, Path]) -> None:
    _killed_midway(after_files=1)
    assert transaction.journal_path().stat().st_mode & 0o077 == 0
    transaction.recover()


def test_ai_current_lists_every_assistant(files: dict[str, Path]) -> None:
    switch_llm("deepseek", load_settings(), tool="all")
    result = runner.invoke(app, ["ai", "current", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["tool"], r["profile"]) for r in rows] == [
        ("claude", "deepseek"),
        ("codex", "deepseek"),
        ("qwen", "deepseek"),
        ("gemini", None),
        ("opencode", "deepseek"),
        ("pi", "deepseek"),
    ]
    gemini = rows[3]
    assert gemini["scope"] is None and gemini["error"] is None
    assert "sk-deepseek-secret" not in result.output


def test_ai_current_reports_an_unreadable_file_and_goes_on(files: dict[str, Path]) -> None:
    files["qwen"].write_text("{ not json")
    result = runner.invoke(app, ["ai", "current"])
    assert result.exit_code == 1, result.output  # once every readable file is shown
    assert "unreadable" in result.output and "claude" in result.output


# -- a transaction that writes one file and deletes another ------------------------------------------

A_OLD, A_NEW, B_OLD = '{"a": "old"}\n', '{"a": "new"}\n', "# b\nKEY=old\n"

_WRITE_AND_DELETE = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from mahavishnu.files import safe_write
    from mahavishnu.files import transaction
    from mahavishnu.environments.assistants.base import FileEdit

    a, b, kill_at, delete_first = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    seen = []

    def hook(step):
        seen.append([step, transaction.pending()])
        if len(seen) == kill_at:
            os._exit(137)  # killed: no except, no finally, no cleanup

    safe_write.fault_hook = hook
    write = FileEdit(path=a, transform=lambda _old: sys.argv[5], validate=lambda _text: None)
    steps = [transaction.Delete(b), write] if delete_first else [write, transaction.Delete(b)]
    transaction.run(steps)
    print(json.dumps(seen))
    """
)


@pytest.fixture
def pair(isolated_home: Path) -> tuple[Path, Path]:
    a, b = isolated_home / "cfg" / "a.json", isolated_home / "cfg" / "b.env"
    a.parent.mkdir()
    a.write_text(A_OLD)
    b.write_text(B_OLD)
    b.chmod(0o600)
    return a, b


def _write_and_delete(a: Path, b: Path, *, delete_first: bool = False) -> transaction.Outcome:
    from mahavishnu.environments.assistants.base import FileEdit

    write = FileEdit(path=a, transform=lambda _old: A_NEW, validate=lambda _text: None)
    steps: list[FileEdit | transaction.Delete] = [write, transaction.Delete(b)]
    return transaction.run(steps[::-1] if delete_first else steps)


def _state(a: Path, b: Path) -> tuple[str | None, str | None]:
    return (a.read_text() if a.exists() else None, b.read_text() if b.exists() else None)


def _steps_of_a_clean_run(
    a: Path, b: Path, monkeypatch: pytest.MonkeyPatch, delete_first: bool
) -> list[tuple[str, bool]]:
    """Each fault step a clean run reaches, and whether it comes after the commit (the journal was
    there and is gone: only the history group is still being written)."""
    seen: list[tuple[str, bool]] = []
    monkeypatch.setattr(safe_write, "fault_hook", lambda step: seen.append((step, transaction.pending())))
    _write_and_delete(a, b, delete_first=delete_first)
    monkeypatch.setattr(safe_write, "fault_hook", None)
    a.write_text(A_OLD)
    b.write_text(B_OLD)
    b.chmod(0o600)
    return _with_commit(seen)


def _with_commit(seen: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    journal_seen = False
    out = []
    for step, pending in seen:
        out.append((step, journal_seen and not pending))
        journal_seen = journal_seen or pending
    return out


def test_write_and_delete_commit_together_and_are_recorded_as_one_group(pair: tuple[Path, Path]) -> None:
    from mahavishnu.files import history

    a, b = pair
    outcome = _write_and_delete(a, b)
    assert _state(a, b) == (A_NEW, None)
    assert not transaction.pending()
    [removal] = outcome.removals
    assert removal.changed and removal.before == B_OLD
    [kept] = safe_write.list_backups(b)
    assert kept.id == removal.backup and kept.file.read_text() == B_OLD
    [change] = outcome.changes
    group = history.group_of(b, kept.id)
    assert group is not None
    assert {(str(e.path), e.backup) for e in group} == {(str(a), change.backup), (str(b), kept.id)}


def test_deleting_a_missing_file_does_nothing(pair: tuple[Path, Path]) -> None:
    a, b = pair
    b.unlink()
    outcome = _write_and_delete(a, b)
    assert [r.changed for r in outcome.removals] == [False]
    assert _state(a, b) == (A_NEW, None)
    assert safe_write.list_backups(b) == []


@pytest.mark.parametrize("delete_first", [False, True], ids=["write-then-delete", "delete-then-write"])
def test_a_failure_at_any_step_leaves_both_files_as_they_were(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, delete_first: bool
) -> None:
    a, b = pair
    steps = _steps_of_a_clean_run(a, b, monkeypatch, delete_first)
    names = [step for step, _ in steps]
    assert {"before-replace", "replaced", "before-remove", "removed"} <= set(names)
    for index, (step, committed) in enumerate(steps):
        n = names[: index + 1].count(step)

        def hook(reached: str, step: str = step, n: int = n, seen: list[str] = []) -> None:  # noqa: B006
            seen.append(reached)
            if reached == step and seen.count(step) == n:
                raise WriteFailedError(f"injected failure at {step} #{n}")

        monkeypatch.setattr(safe_write, "fault_hook", hook)
        with pytest.raises(WriteFailedError, match="injected"):
            _write_and_delete(a, b, delete_first=delete_first)
        monkeypatch.setattr(safe_write, "fault_hook", None)
        assert _state(a, b) == ((A_NEW, None) if committed else (A_OLD, B_OLD)), f"failure at {step} #{n}"
        assert not transaction.pending()
        if committed:
            a.write_text(A_OLD)
            b.write_text(B_OLD)
            b.chmod(0o600)
        assert b.stat().st_mode & 0o777 == 0o600


def _killed_at(a: Path, b: Path, kill_at: int, *, delete_first: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            _WRITE_AND_DELETE,
            str(a),
            str(b),
            str(kill_at),
            str(int(delete_first)),
            A_NEW,
        ],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("delete_first", [False, True], ids=["write-then-delete", "delete-then-write"])
def test_a_kill_at_any_step_is_undone_by_recovery(pair: tuple[Path, Path], delete_first: bool) -> None:
    a, b = pair
    clean = _killed_at(a, b, 0, delete_first=delete_first)
    assert clean.returncode == 0, clean.stderr
    assert _state(a, b) == (A_NEW, None)
    steps = _with_commit([(step, pending) for step, pending in json.loads(clean.stdout)])
    assert any(step == "removed" and not committed for step, committed in steps)
    for kill_at in range(1, len(steps) + 1):
        a.write_text(A_OLD)
        b.write_text(B_OLD)
        b.chmod(0o600)
        proc = _killed_at(a, b, kill_at, delete_first=delete_first)
        assert proc.returncode == 137, proc.stderr
        assert _state(a, b) in {(A_OLD, B_OLD), (A_NEW, B_OLD), (A_OLD, None), (A_NEW, None)}
        transaction.recover()
        step, committed = steps[kill_at - 1]
        assert _state(a, b) == ((A_NEW, None) if committed else (A_OLD, B_OLD)), (
            f"killed at {kill_at}: {step}"
        )
        assert not transaction.pending()
        if not committed:
            assert b.stat().st_mode & 0o777 == 0o600


def test_recovery_leaves_a_file_someone_recreated_after_the_delete(pair: tuple[Path, Path]) -> None:
    a, b = pair
    steps = [step for step, _ in json.loads(_killed_at(a, b, 0, delete_first=False).stdout)]
    a.write_text(A_OLD)
    b.write_text(B_OLD)
    proc = _killed_at(a, b, steps.index("removed") + 1, delete_first=False)
    assert proc.returncode == 137, proc.stderr
    b.write_text("KEY=written by the assistant meanwhile\n")
    recovery = transaction.recover()
    assert recovery is not None
    assert recovery.restored == [str(a)] and recovery.left == [str(b)]
    assert _state(a, b) == (A_OLD, "KEY=written by the assistant meanwhile\n")


def test_a_file_rewritten_just_before_its_removal_is_backed_up_and_restored_as_rewritten(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    calls: list[str] = []

    def hook(step: str) -> None:
        calls.append(step)
        if step == "before-remove" and calls.count(step) == 1:
            b.write_text("KEY=other\n")  # another program writes it between the backup and the removal
        if step == "before-replace" and calls.count(step) == 1:
            raise WriteFailedError("injected failure after the delete")

    monkeypatch.setattr(safe_write, "fault_hook", hook)
    with pytest.raises(WriteFailedError):
        _write_and_delete(a, b, delete_first=True)
    assert _state(a, b) == (A_OLD, "KEY=other\n")
    assert {backup.file.read_text() for backup in safe_write.list_backups(b)} == {B_OLD, "KEY=other\n"}
    monkeypatch.setattr(safe_write, "fault_hook", None)
    assert _write_and_delete(a, b).removals[0].before == "KEY=other\n"
    assert _state(a, b) == (A_NEW, None)


def test_a_file_written_then_removed_keeps_one_backup_and_a_failure_puts_back_the_first_text(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One backup per file per transaction, the first (``memory hooks remove`` empties a file, then
    deletes it): the record and a rollback after a later failure both name what it held before."""
    from mahavishnu.environments.assistants.base import FileEdit
    from mahavishnu.files import history

    a, b = pair
    empty = FileEdit(path=b, transform=lambda _old: "", validate=lambda _text: None)
    write = FileEdit(path=a, transform=lambda _old: A_NEW, validate=lambda _text: None)
    outcome = transaction.run([empty, transaction.Delete(b), write])
    [kept] = safe_write.list_backups(b)
    assert kept.file.read_text() == B_OLD
    named = [c.backup for c in outcome.changes if c.path == b] + [r.backup for r in outcome.removals]
    assert named == [kept.id, kept.id]
    group = history.group_of(b, kept.id)
    assert group is not None and [(e.path, e.backup) for e in group if e.path == b] == [(b, kept.id)]

    a.write_text(A_OLD)
    b.write_text(B_OLD)
    failed: list[str] = []

    def fail_writing_a(step: str) -> None:  # the hook does not name the file: the journal does
        journal = transaction.journal_path()
        if step == "before-replace" and not failed and str(a) in (safe_write.read_text(journal) or ""):
            failed.append(step)
            raise WriteFailedError(f"injected failure writing {a}")

    monkeypatch.setattr(safe_write, "fault_hook", fail_writing_a)
    with pytest.raises(WriteFailedError, match="injected"):
        transaction.run([empty, transaction.Delete(b), write])
    assert _state(a, b) == (A_OLD, B_OLD)
