"""`memory hooks install`, `memory hooks remove`, then `ai rollback` twice, for every assistant: each
rollback puts every file back byte for byte as it was before the change it undoes (issue 48: `remove
--tool all` backed Codex's hooks.json up twice in one transaction, the hooks and then the ``{}`` it
wrote before deleting the file, and the rollback put back ``{}``). One backup per file per
transaction, the first."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.files import safe_write

runner = CliRunner()

#: What each assistant's files hold before the hooks go in (a user's own settings and hook).
OWN = {
    ".claude/settings.json": '{\n  "model": "opus",\n  "hooks": {"Stop": [{"hooks": '
    '[{"type": "command", "command": "my-stop"}]}]}\n}\n',
    ".codex/config.toml": '# mine\nmodel = "gpt-5"\n',
    ".codex/hooks.json": '{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "my-stop"}]}]}}\n',
    ".qwen/settings.json": '// mine\n{\n  "model": {"name": "qwen3-coder-plus"}\n}\n',
    ".gemini/settings.json": '{\n  "model": {"name": "gemini-2.5-pro"}\n}\n',
    ".config/opencode/opencode.json": '{\n  // mine\n  "share": "disabled",\n}\n',
    ".config/opencode/plugins/mine.js": "export const Mine = async () => ({})\n",
}
TOOLS = ("claude", "codex", "qwen", "gemini", "opencode", "all")


def files(home: Path) -> dict[str, bytes]:
    """Every file of the assistants' folders, by path under HOME."""
    found = {}
    for folder in (".claude", ".codex", ".qwen", ".gemini", ".config/opencode"):
        for path in sorted((home / folder).rglob("*")):
            if path.is_file():
                found[str(path.relative_to(home))] = path.read_bytes()
    return found


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("own", [True, False], ids=["own-files", "no-files"])
def test_install_remove_and_two_rollbacks_restore_every_byte(
    isolated_home: Path, tool: str, own: bool
) -> None:
    if own:
        for name, text in OWN.items():
            (isolated_home / name).parent.mkdir(parents=True, exist_ok=True)
            (isolated_home / name).write_text(text)
    before = files(isolated_home)
    ok("memory", "hooks", "install", "--tool", tool)
    installed = files(isolated_home)
    assert installed != before
    ok("memory", "hooks", "remove", "--tool", tool)
    assert files(isolated_home) != installed
    ok("ai", "rollback")  # undoes the remove
    assert files(isolated_home) == installed
    ok("ai", "rollback")  # undoes the install
    assert files(isolated_home) == before


@pytest.mark.parametrize("own", [True, False], ids=["own-files", "no-files"])
def test_a_remove_takes_one_backup_per_file(isolated_home: Path, own: bool) -> None:
    """Codex's hooks.json is emptied, then deleted (install created it, or only our hooks were left
    in it): one backup, of the hooks it held."""
    if own:
        (isolated_home / ".codex").mkdir()
        (isolated_home / ".codex" / "config.toml").write_text(OWN[".codex/config.toml"])
    ok("memory", "hooks", "install", "--tool", "codex")
    hooks = isolated_home / ".codex" / "hooks.json"
    installed = hooks.read_text()
    taken = {b.id for b in safe_write.list_backups(hooks)}
    ok("memory", "hooks", "remove", "--tool", "all")
    assert not hooks.exists()
    new = [b for b in safe_write.list_backups(hooks) if b.id not in taken]
    assert [b.text() for b in new] == [installed]


def test_a_change_recorded_with_two_backups_of_one_file_rolls_back_to_the_first(isolated_home: Path) -> None:
    """A remove recorded before the fix named hooks.json twice (the hooks, then ``{}``): a rollback
    now puts back the first."""
    from mahavishnu.files import switch_log
    from mahavishnu.files.history import Entry

    hooks = isolated_home / ".codex" / "hooks.json"
    hooks.parent.mkdir()
    held = '{"hooks": {"Stop": []}}\n'
    first = safe_write.backup(hooks, held, keep=10).id
    second = safe_write.backup(hooks, "{}\n", keep=10).id
    entries = [Entry(hooks, first), Entry(hooks, second)]
    switch_log.record("memory hooks remove", ["codex"], "-", entries, kind=switch_log.CHANGE)
    ok("ai", "rollback")
    assert hooks.read_text() == held


def folders(home: Path) -> set[str]:
    """Every folder under HOME but Mahavishnu's own (and the keyring's)."""
    return {
        str(path.relative_to(home))
        for path in home.rglob("*")
        if path.is_dir() and not path.relative_to(home).parts[0].startswith((".mahavishnu", ".local"))
    }


def test_rolling_an_install_back_removes_the_folders_it_created_and_keeps_the_others(
    isolated_home: Path,
) -> None:
    """Pi's ``~/.pi/agent/extensions``, OpenCode's ``~/.config/opencode/plugins``, ``~/.codex``…
    go once empty; ``~/.config``, there before, stays, and so does a folder holding a file of the
    user's, written there since."""
    (isolated_home / ".config").mkdir()
    before = folders(isolated_home)
    ok("memory", "hooks", "install", "--tool", "all")
    assert {".pi/agent/extensions", ".config/opencode/plugins", ".codex"} <= folders(isolated_home)
    (isolated_home / ".qwen" / "mine.json").write_text("{}\n")
    ok("ai", "rollback")
    assert folders(isolated_home) == before | {".qwen"}
    assert (isolated_home / ".qwen" / "mine.json").exists()


def test_rolling_back_to_an_install_s_backup_removes_the_folders_it_created(isolated_home: Path) -> None:
    """``ai rollback --to ID`` (the backup of the user's Claude settings that ``ai backups`` lists)
    puts back every file the install wrote, as ``ai rollback`` does, and the folders it created go
    too."""
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"model": "opus"}\n')
    before = folders(isolated_home)
    ok("memory", "hooks", "install", "--tool", "all")
    assert {".pi/agent/extensions", ".config/opencode/plugins"} <= folders(isolated_home)
    (backup,) = [b for b in safe_write.list_backups() if b.path == settings]
    ok("ai", "rollback", "--to", backup.id)
    assert settings.read_text() == '{"model": "opus"}\n'
    assert folders(isolated_home) == before
