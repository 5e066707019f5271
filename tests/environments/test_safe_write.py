from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mahavishnu.environments.assistants.claude import validate
from mahavishnu.errors import ConfigDriftError, InvalidConfigFileError, NotFoundError, WriteFailedError
from mahavishnu.files import safe_write

OLD = '{\n  "hooks": {},\n  "keep": [1, 2]\n}\n'


def _add_marker(text: str | None) -> str:
    data = json.loads(text or "{}")
    data["marker"] = data.get("marker", 0) + 1
    return json.dumps(data, indent=2) + "\n"


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "cfg" / "settings.json"
    path.parent.mkdir()
    path.write_text(OLD)
    return path


def _leftovers(path: Path) -> list[Path]:
    return list(path.parent.glob(".*mahavishnu-tmp"))


def test_apply_writes_backs_up_and_reports_the_change(target):
    change = safe_write.apply(target, _add_marker, validate=validate)
    assert change.changed and change.before == OLD
    assert json.loads(target.read_text())["marker"] == 1
    [backup] = safe_write.list_backups(target)
    assert backup.file.read_text() == OLD
    assert stat.S_IMODE(backup.file.stat().st_mode) == 0o600


def test_unchanged_result_writes_nothing(target):
    before = target.stat().st_mtime_ns
    change = safe_write.apply(target, lambda text: text or "", validate=validate)
    assert not change.changed
    assert target.stat().st_mtime_ns == before
    assert safe_write.list_backups(target) == []


def test_new_file_and_missing_directories_are_created(tmp_path):
    path = tmp_path / "a" / "b" / "settings.json"
    safe_write.apply(path, _add_marker, validate=validate)
    assert json.loads(path.read_text()) == {"marker": 1}


def test_mode_is_kept_and_can_be_tightened(target):
    os.chmod(target, 0o640)
    safe_write.apply(target, _add_marker, validate=validate)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    safe_write.apply(target, _add_marker, validate=validate, mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_invalid_result_is_never_written(target):
    with pytest.raises(InvalidConfigFileError):
        safe_write.apply(target, lambda _t: '{"broken": ', validate=validate)
    assert target.read_text() == OLD
    assert _leftovers(target) == []


@pytest.mark.parametrize("step", ["temp-written", "before-replace"])
def test_failure_before_the_replace_leaves_the_old_file(target, monkeypatch, step):
    def fail(at: str) -> None:
        if at == step:
            raise OSError("disk on fire")

    monkeypatch.setattr(safe_write, "fault_hook", fail)
    with pytest.raises(OSError, match="disk on fire"):
        safe_write.apply(target, _add_marker, validate=validate)
    assert target.read_text() == OLD
    assert _leftovers(target) == []


def test_failure_after_the_replace_leaves_the_new_file(target, monkeypatch):
    monkeypatch.setattr(
        safe_write, "fault_hook", lambda at: (_ for _ in ()).throw(OSError("x")) if at == "replaced" else None
    )
    with pytest.raises(OSError):
        safe_write.apply(target, _add_marker, validate=validate)
    assert json.loads(target.read_text())["marker"] == 1


CRASH = textwrap.dedent(
    """
    import os, sys, json
    from pathlib import Path
    from mahavishnu.files import safe_write
    from mahavishnu.environments.assistants.claude import validate
    step = sys.argv[2]
    safe_write.fault_hook = lambda at: os._exit(137) if at == step else None
    big = {"marker": 1, "payload": "x" * 200_000}
    safe_write.apply(Path(sys.argv[1]), lambda t: json.dumps(big), validate=validate)
    """
)


@pytest.mark.parametrize(
    ("step", "expect_new"), [("temp-written", False), ("before-replace", False), ("replaced", True)]
)
def test_a_killed_writer_leaves_old_or_new_never_partial(target, step, expect_new):
    proc = subprocess.run([sys.executable, "-c", CRASH, str(target), step], check=False)
    assert proc.returncode == 137
    data = json.loads(target.read_text())  # always complete JSON
    assert ("marker" in data) is expect_new
    safe_write.apply(target, _add_marker, validate=validate)  # the next write cleans the crash's temp file
    assert _leftovers(target) == []


def test_a_concurrent_external_write_is_built_on_not_lost(target, monkeypatch):
    def someone_else_writes(at: str) -> None:
        if at == "before-replace" and "external" not in target.read_text():
            target.write_text('{"external": true}\n')

    monkeypatch.setattr(safe_write, "fault_hook", someone_else_writes)
    safe_write.apply(target, _add_marker, validate=validate)
    assert json.loads(target.read_text()) == {"external": True, "marker": 1}


def test_expected_content_mismatch_is_refused(target):
    with pytest.raises(ConfigDriftError):
        safe_write.apply(target, _add_marker, validate=validate, expected_before="{}")
    assert target.read_text() == OLD


def test_unwritable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(WriteFailedError, match="cannot write in"):
        safe_write.apply(blocker / "settings.json", _add_marker, validate=validate)


def test_backup_ring_keeps_the_newest_n_and_restore_is_undoable(target):
    for _ in range(5):
        safe_write.apply(target, _add_marker, validate=validate, backups=3)
    ring = safe_write.list_backups(target)
    assert len(ring) == 3
    assert [json.loads(b.file.read_text())["marker"] for b in ring] == [4, 3, 2]
    safe_write.restore(target, ring[-1].id, validate=validate)
    assert json.loads(target.read_text())["marker"] == 2
    safe_write.restore(target, None, validate=validate)  # newest backup = the state before the restore
    assert json.loads(target.read_text())["marker"] == 5


def test_a_file_in_a_folder_whose_name_is_not_utf8_is_backed_up(tmp_path):
    # a Latin-1 project folder (`claude … --scope project` there): its name reaches Python as a
    # surrogate, which the backup's name once failed to hash (UnicodeEncodeError, a traceback)
    folder = tmp_path / os.fsdecode(b"caf\xe9")
    folder.mkdir()
    path = folder / "settings.json"
    path.write_text(OLD)
    safe_write.apply(path, _add_marker, validate=validate)
    [backup] = safe_write.list_backups(path)
    assert backup.text() == OLD


def test_restore_of_unknown_backup_is_not_found(target):
    with pytest.raises(NotFoundError):
        safe_write.restore(target, "nope", validate=validate)


def test_dry_run_plan_writes_nothing_and_masks_secrets(target):
    change = safe_write.plan(target, lambda t: json.dumps({"token": "sk-live-abcdefghijklmnop"}))
    assert target.read_text() == OLD
    diff = change.diff(["sk-live-abcdefghijklmnop"])
    assert "sk-live-abcdefghijklmnop" not in diff
    assert '"token": "sk-…op"' in diff
