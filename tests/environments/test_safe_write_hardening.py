"""What attacking the safe writes found (issue 14): symlinked dotfiles, read-only files, an outside
write in the instant before the rename, a killed switch followed by a plain edit, leftovers."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from mahavishnu import paths
from mahavishnu.environments.assistants.claude import validate
from mahavishnu.errors import ConfigFileError, WriteFailedError
from mahavishnu.files import history, safe_write, transaction

OLD = '{\n  "hooks": {}\n}\n'


def _add_marker(text: str | None) -> str:
    data = json.loads(text or "{}")
    data["marker"] = data.get("marker", 0) + 1
    return json.dumps(data, indent=2) + "\n"


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path]:
    """``~/.claude/settings.json`` as GNU stow makes it: a relative link into a dotfiles repository."""
    target = tmp_path / "dotfiles" / "claude" / "settings.json"
    target.parent.mkdir(parents=True)
    target.write_text(OLD)
    link = tmp_path / "home" / ".claude" / "settings.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(os.path.relpath(target, link.parent))
    return link, target


@dataclass(frozen=True)
class _MarkerEdit:
    path: Path
    mode: int | None = None

    def transform(self, text: str | None) -> str:
        return _add_marker(text)

    def validate(self, text: str) -> None:
        validate(text)


def _temps(directory: Path) -> list[Path]:
    return list(directory.rglob("*.mahavishnu-tmp"))


# -- symlinks -----------------------------------------------------------------------------------


def test_a_symlinked_file_is_written_through_its_link(linked: tuple[Path, Path]) -> None:
    link, target = linked
    change = safe_write.apply(link, _add_marker, validate=validate)
    assert link.is_symlink(), "the link must stay a link"
    assert json.loads(target.read_text()) == {"hooks": {}, "marker": 1}
    assert change.before == OLD and change.backup is not None
    assert _temps(link.parent) == [] and _temps(target.parent) == []


def test_a_hard_linked_file_is_said_to_part_from_its_other_links(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A review: ``ln ~/dotfiles/claude-settings.json ~/.claude/settings.json``; every write made a
    new file there (the atomic rename), and the dotfiles copy silently kept the old text."""
    kept = tmp_path / "dotfiles" / "claude-settings.json"
    kept.parent.mkdir()
    kept.write_text(OLD)
    live = tmp_path / "settings.json"
    os.link(kept, live)
    safe_write.apply(live, _add_marker, validate=validate)
    assert json.loads(live.read_text())["marker"] == 1 and kept.read_text() == OLD
    said = capsys.readouterr().err
    assert f"{live} had 2 hard links" in said and "the other links still hold what it held" in said
    safe_write.apply(live, _add_marker, validate=validate)  # one link now: nothing to say
    assert capsys.readouterr().err == ""


def test_a_dangling_link_is_an_error_and_nothing_is_created(tmp_path: Path) -> None:
    link = tmp_path / "settings.json"
    link.symlink_to(tmp_path / "gone" / "settings.json")
    with pytest.raises(ConfigFileError, match="does not exist"):
        safe_write.apply(link, _add_marker, validate=validate)
    assert link.is_symlink() and not (tmp_path / "gone").exists()


def test_a_failed_transaction_rolls_back_through_the_link(linked: tuple[Path, Path], tmp_path: Path) -> None:
    link, target = linked
    other = tmp_path / "home" / "other.json"

    class Edit:
        def __init__(self, path: Path, fail: bool = False) -> None:
            self.path, self.validate, self.mode, self.fail = path, validate, None, fail

        def transform(self, text: str | None) -> str:
            if self.fail:
                raise WriteFailedError("disk full")
            return _add_marker(text)

    with pytest.raises(WriteFailedError):
        transaction.apply_all([Edit(link), Edit(other, fail=True)])
    assert link.is_symlink() and target.read_text() == OLD


def test_restore_puts_a_backup_back_through_the_link(linked: tuple[Path, Path]) -> None:
    link, target = linked
    safe_write.apply(link, _add_marker, validate=validate)
    safe_write.restore(link, None, validate=validate)
    assert link.is_symlink() and target.read_text() == OLD


# -- read-only files ----------------------------------------------------------------------------


@pytest.mark.parametrize("requested", [None, 0o600])  # .env files are written 0600
def test_a_read_only_file_is_refused_and_left_alone(tmp_path: Path, requested: int | None) -> None:
    path = tmp_path / "settings.json"
    path.write_text(OLD)
    path.chmod(0o444)
    with pytest.raises(WriteFailedError, match="read-only") as caught:
        safe_write.apply(path, _add_marker, validate=validate, mode=requested)
    assert "--force" in (caught.value.hint or "")
    assert path.read_text() == OLD and stat.S_IMODE(path.stat().st_mode) == 0o444


@pytest.mark.parametrize("requested", [None, 0o600])
def test_force_writes_a_read_only_file_and_keeps_its_mode(tmp_path: Path, requested: int | None) -> None:
    path = tmp_path / "settings.json"
    path.write_text(OLD)
    path.chmod(0o444)
    with safe_write.allow_read_only():
        safe_write.apply(path, _add_marker, validate=validate, mode=requested)
    assert json.loads(path.read_text())["marker"] == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_an_unchanged_read_only_file_is_no_error(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(OLD)
    path.chmod(0o444)
    assert not safe_write.apply(path, lambda text: text or "", validate=validate).changed


def _mahavishnu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mahavishnu", *args], capture_output=True, text=True, check=False, timeout=120
    )


def test_cli_refuses_a_read_only_settings_file_in_one_line_and_force_writes_it(isolated_home: Path) -> None:
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(OLD)
    settings.chmod(0o444)
    refused = _mahavishnu("claude", "permissions", "allow", "add", "Bash(ls)")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert refused.stderr.splitlines()[0].startswith("error: ") and "read-only" in refused.stderr
    assert settings.read_text() == OLD
    forced = _mahavishnu("--force", "claude", "permissions", "allow", "add", "Bash(ls)")
    assert forced.returncode == 0, forced.stderr
    assert "Bash(ls)" in json.loads(settings.read_text())["permissions"]["allow"]
    assert stat.S_IMODE(settings.stat().st_mode) == 0o444


# -- an outside write in the instant between the last re-read and the rename --------------------


def _atomic_outside_write(path: Path, text: str) -> None:
    """How an assistant (or an editor) saves: a temp file renamed over the original."""
    side = path.with_name(path.name + ".editor")
    side.write_text(text)
    os.replace(side, path)


@pytest.mark.parametrize("how", ["rename", "in-place"])
def test_an_outside_write_inside_the_gap_is_built_on_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(OLD)
    external = '{\n  "external": true\n}\n'
    injected: list[str] = []

    def write_in_the_gap(step: str) -> None:
        if step == "checked" and not injected:  # after the last re-read, before the rename
            injected.append(step)
            if how == "rename":
                _atomic_outside_write(path, external)
            else:
                path.write_text(external)

    monkeypatch.setattr(safe_write, "fault_hook", write_in_the_gap)
    change = safe_write.apply(path, _add_marker, validate=validate)
    assert injected, "the gap was never reached"
    assert json.loads(path.read_text()) == {"external": True, "marker": 1}
    assert change.before == external
    assert _temps(tmp_path) == []


def test_a_file_created_inside_the_gap_is_built_on_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.json"

    def create_in_the_gap(step: str) -> None:
        if step == "checked" and not path.exists():
            _atomic_outside_write(path, '{"external": true}\n')

    monkeypatch.setattr(safe_write, "fault_hook", create_in_the_gap)
    safe_write.apply(path, _add_marker, validate=validate)
    assert json.loads(path.read_text()) == {"external": True, "marker": 1}


# -- a killed switch, then a write that is not a transaction ------------------------------------

_KILLED_SWITCH = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from mahavishnu.files import history
    from mahavishnu.files import safe_write
    from mahavishnu.files import transaction
    from mahavishnu.environments.assistants.claude import validate

    class Edit:
        def __init__(self, path):
            self.path, self.validate, self.mode = Path(path), validate, None
        def transform(self, text):
            return json.dumps({"provider": "new"})

    written = []
    def kill_after_the_first_file(step):
        if step == "replaced":
            written.append(step)
        if step == "before-replace" and written:
            os._exit(137)  # killed between the first file and the second
    safe_write.fault_hook = kill_after_the_first_file
    transaction.apply_all([Edit(sys.argv[1]), Edit(sys.argv[2])])
    """
)


def test_a_plain_write_after_a_killed_switch_rolls_the_switch_back_first(isolated_home: Path) -> None:
    first, second = isolated_home / "claude.json", isolated_home / "codex.json"
    for path in (first, second):
        path.write_text('{"provider": "old"}')
    killed = subprocess.run([sys.executable, "-c", _KILLED_SWITCH, str(first), str(second)], check=False)
    assert killed.returncode == 137
    assert json.loads(first.read_text()) == {"provider": "new"}  # half a switch on disk
    unrelated = isolated_home / "hooks.json"
    safe_write.apply(unrelated, _add_marker, validate=validate)  # e.g. `claude hooks add`
    assert json.loads(first.read_text()) == {"provider": "old"}, "both assistants agree again"
    assert json.loads(second.read_text()) == {"provider": "old"}
    assert not transaction.pending()


def test_cli_claude_hooks_after_a_killed_switch_restores_the_provider_first(isolated_home: Path) -> None:
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"provider": "old"}')
    other = isolated_home / "codex.json"
    other.write_text('{"provider": "old"}')
    killed = subprocess.run([sys.executable, "-c", _KILLED_SWITCH, str(settings), str(other)], check=False)
    assert killed.returncode == 137
    added = _mahavishnu("claude", "permissions", "allow", "add", "Bash(ls)")
    assert added.returncode == 0, added.stderr
    assert "rolled back an interrupted switch" in added.stderr
    data = json.loads(settings.read_text())
    assert data["provider"] == "old" and data["permissions"]["allow"] == ["Bash(ls)"]


# -- leftovers ----------------------------------------------------------------------------------


def test_stale_temp_files_of_backups_and_the_journal_are_removed_on_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(OLD)
    safe_write.apply(path, _add_marker, validate=validate)  # creates its backup dir
    stale = [
        safe_write._backup_dir(path) / ".20260101T000000.000000Z.bak.abcd.mahavishnu-tmp",
        transaction.journal_path().with_name(".journal.json.abcd.mahavishnu-tmp"),
        path.with_name(".settings.json.abcd.mahavishnu-tmp"),
        history.groups_dir() / ".20260101T000000.000000Z-abcd1234.json.abcd.mahavishnu-tmp",
    ]
    for file in stale:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text('{"token": "sk-left-behind"}')

    transaction.apply_all([_MarkerEdit(path)])
    assert [f for f in stale if f.exists()] == []


def test_lock_files_are_one_per_file_however_many_switches(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"

    transaction.apply_all([_MarkerEdit(path)])
    locks = sorted((paths.data_dir() / "locks").iterdir())
    for _ in range(5):
        transaction.apply_all([_MarkerEdit(path)])
    assert sorted((paths.data_dir() / "locks").iterdir()) == locks


def test_a_transaction_does_not_delete_a_read_only_file(tmp_path: Path) -> None:
    keep = tmp_path / "work.config.toml"
    keep.write_text('model = "x"\n')
    keep.chmod(0o444)
    with pytest.raises(WriteFailedError, match="read-only"):
        transaction.run([transaction.Delete(keep)])
    assert keep.read_text() == 'model = "x"\n' and not transaction.pending()
    with safe_write.allow_read_only():
        transaction.run([transaction.Delete(keep)])
    assert not keep.exists()


def test_a_fifo_in_a_config_files_place_is_refused_at_once(tmp_path: Path) -> None:
    """Reading it waited for a writer forever: `switch-llm`, `ai current`, `doctor` all hung."""
    fifo = tmp_path / "settings.json"
    os.mkfifo(fifo)
    with pytest.raises(ConfigFileError, match="is not a regular file, not a config file"):
        safe_write.read_text(fifo)
    with pytest.raises(ConfigFileError, match="is a directory, not a config file"):
        safe_write.read_text(tmp_path)


def test_a_full_disk_is_one_error_naming_the_file_and_the_file_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while the temp file is written names no file: it reached the user as a traceback
    (a switch-llm onto a full disk). It is a WriteFailedError naming the file, which stays whole."""
    import errno

    path = tmp_path / "settings.json"
    path.write_text(OLD)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteFailedError, match="No space left on device") as raised:
        safe_write.apply(path, _add_marker, validate=validate, back_up=False)
    assert str(path.parent) in raised.value.hint
    assert path.read_text() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]
