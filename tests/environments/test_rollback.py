"""`mahavishnu ai rollback` puts back every file the switch changed (settings file and .env), each
from the backup that same switch took, and a file the switch created goes away."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from _switch_helpers import set_profile_secrets, write_profiles
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import rollback, switch_llm
from mahavishnu.errors import NotFoundError
from mahavishnu.files.safe_write import list_backups

SETTINGS = '{\n  // mine\n  "ui": {"theme": "GitHub"}\n}\n'
ENV = "# my env\nGOOGLE_CLOUD_PROJECT=my-project\n"
runner = CliRunner()


@pytest.fixture
def gemini_dir(isolated_home: Path) -> Path:
    write_profiles(
        isolated_home,
        "  g-one:\n    requires_key: false\n"
        "    gemini: {base_url: 'http://127.0.0.1:9001', model: model-one}\n"
        "  g-two:\n    requires_key: false\n"
        "    gemini: {base_url: 'http://127.0.0.1:9002', model: model-two}\n",
    )
    directory = isolated_home / ".gemini"
    directory.mkdir()
    (directory / "settings.json").write_text(SETTINGS)
    return directory


def _files(directory: Path) -> dict[str, str | None]:
    return {
        name: (directory / name).read_text() if (directory / name).exists() else None
        for name in ("settings.json", ".env")
    }


def _rollback(*args: str) -> str:
    result = runner.invoke(app, ["ai", "rollback", "--tool", "gemini", *args])
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.split())


def test_gemini_rollback_restores_settings_and_env_from_the_same_switch(gemini_dir: Path) -> None:
    (gemini_dir / ".env").write_text(ENV)
    (gemini_dir / ".env").chmod(0o644)
    switch_llm("g-one", load_settings(), tool="gemini")
    one = _files(gemini_dir)
    switch_llm("g-two", load_settings(), tool="gemini")
    two = _files(gemini_dir)
    assert "9002" in str(two[".env"]) and "model-two" in str(two["settings.json"])

    out = _rollback()
    assert _files(gemini_dir) == one  # byte for byte, both files
    assert f"{gemini_dir / 'settings.json'}: restored" in out and f"{gemini_dir / '.env'}: restored" in out
    assert stat.S_IMODE((gemini_dir / ".env").stat().st_mode) == 0o644  # the user's: no key went in

    out = _rollback()  # a second rollback steps back once more (a stack, like undo): before g-one
    assert "to g-one" in out
    assert _files(gemini_dir) == {"settings.json": SETTINGS, ".env": ENV}


def test_a_file_the_switch_created_is_removed_and_kept_as_a_backup(gemini_dir: Path) -> None:
    switch_llm("g-one", load_settings(), tool="gemini")  # creates .env
    one = _files(gemini_dir)
    out = _rollback()
    assert _files(gemini_dir) == {"settings.json": SETTINGS, ".env": None}
    assert f"{gemini_dir / '.env'}: removed" in out
    [kept] = list_backups(gemini_dir / ".env")
    assert kept.file.read_text() == one[".env"]
    again = runner.invoke(app, ["ai", "rollback", "--tool", "gemini"])  # nothing older to undo
    assert again.exit_code == 1 and "nothing left to undo" in again.output
    assert _files(gemini_dir) == {"settings.json": SETTINGS, ".env": None}


def test_to_picks_an_older_switch_and_its_env(gemini_dir: Path) -> None:
    (gemini_dir / ".env").write_text(ENV)
    switch_llm("g-one", load_settings(), tool="gemini")
    switch_llm("g-two", load_settings(), tool="gemini")
    oldest = min(b.id for b in list_backups(gemini_dir / "settings.json"))
    _rollback("--to", oldest)
    assert _files(gemini_dir) == {"settings.json": SETTINGS, ".env": ENV}


def test_a_plain_rollback_after_rollback_to_undoes_that_rollback(gemini_dir: Path) -> None:
    (gemini_dir / ".env").write_text(ENV)
    switch_llm("g-one", load_settings(), tool="gemini")
    switch_llm("g-two", load_settings(), tool="gemini")
    two = _files(gemini_dir)
    oldest = min(b.id for b in list_backups(gemini_dir / "settings.json"))
    _rollback("--to", oldest)
    assert "undid the switch of" in (out := _rollback()) and f"to rollback to {oldest}" in out
    assert _files(gemini_dir) == two  # back where --to started (g-two), not to g-one


def test_to_alone_finds_the_assistant_whose_file_has_that_backup(gemini_dir: Path) -> None:
    (gemini_dir / ".env").write_text(ENV)
    switch_llm("g-one", load_settings(), tool="gemini")
    switch_llm("g-two", load_settings(), tool="gemini")
    oldest = min(b.id for b in list_backups(gemini_dir / "settings.json"))
    result = runner.invoke(app, ["ai", "rollback", "--to", oldest])  # no --tool: the id says which file
    assert result.exit_code == 0, result.output
    assert _files(gemini_dir) == {"settings.json": SETTINGS, ".env": ENV}
    unknown = runner.invoke(app, ["ai", "rollback", "--to", "20000101T000000.000000Z"])
    assert unknown.exit_code == 1 and "no backup '20000101T000000.000000Z'" in unknown.stderr


def test_a_missing_companion_backup_stops_the_rollback_before_any_write(gemini_dir: Path) -> None:
    (gemini_dir / ".env").write_text(ENV)
    switch_llm("g-one", load_settings(), tool="gemini")
    switch_llm("g-two", load_settings(), tool="gemini")
    two = _files(gemini_dir)
    for backup in list_backups(gemini_dir / ".env"):
        backup.file.unlink()  # as if the ring had trimmed it
    with pytest.raises(NotFoundError, match=r"\.env"):
        rollback(load_settings(), tool="gemini")
    assert _files(gemini_dir) == two


def test_codex_rollback_brings_back_the_key_its_env_held(isolated_home: Path, monkeypatch) -> None:
    codex = isolated_home / ".codex"
    codex.mkdir()
    (codex / "config.toml").write_text('model = "gpt-5.5"\n')
    (codex / ".env").write_text("OTHER=keep\n")
    set_profile_secrets(monkeypatch)
    switch_llm("zai", load_settings(), tool="codex", inline_secret=True)
    inline = {name: (codex / name).read_text() for name in ("config.toml", ".env")}
    switch_llm("deepseek", load_settings(), tool="codex")  # by reference: the key leaves .env
    assert (codex / ".env").read_text() == "OTHER=keep\n"
    rollback(load_settings(), tool="codex")
    assert {name: (codex / name).read_text() for name in ("config.toml", ".env")} == inline


def test_a_file_a_key_made_private_gets_its_own_mode_back(isolated_home: Path, monkeypatch) -> None:
    """--inline-secret makes the user's settings.json 0600 (the key goes in); rolled back to what the user
    had, with no key in it, it stayed 0600, and whatever reads the user's file (a dotfiles sync, a
    group) could no longer."""
    claude = isolated_home / ".claude" / "settings.json"
    claude.parent.mkdir()
    claude.write_text('{"theme": "dark"}\n')
    claude.chmod(0o644)
    set_profile_secrets(monkeypatch)
    switch_llm("zai", load_settings(), tool="claude", inline_secret=True)
    assert stat.S_IMODE(claude.stat().st_mode) == 0o600
    rollback(load_settings(), tool="claude")
    assert claude.read_text() == '{"theme": "dark"}\n' and stat.S_IMODE(claude.stat().st_mode) == 0o644


def test_a_single_file_backup_still_rolls_back_alone(isolated_home: Path, monkeypatch) -> None:
    set_profile_secrets(monkeypatch)
    switch_llm("qwen", load_settings(), tool="claude")
    claude = isolated_home / ".claude" / "settings.json"
    first = claude.read_text()
    switch_llm("zai", load_settings(), tool="claude")
    [done] = rollback(load_settings(), tool="claude")
    assert (done.path, done.action) == (str(claude), "restored")
    assert claude.read_text() == first


def test_a_rollback_failing_at_any_step_leaves_the_switch_in_place(
    gemini_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restoring settings.json and removing the .env the switch created are one transaction."""
    from mahavishnu.errors import WriteFailedError
    from mahavishnu.files import safe_write, transaction

    settings_file = gemini_dir.parent / ".mahavishnu" / "mahavishnu.yaml"  # failed tries take backups too
    settings_file.write_text(settings_file.read_text() + "environments:\n  backups_keep: 500\n")
    switch_llm("g-one", load_settings(), tool="gemini")  # creates .env
    switched = _files(gemini_dir)
    seen: list[str] = []
    monkeypatch.setattr(safe_write, "fault_hook", seen.append)
    rollback(load_settings(), tool="gemini")
    assert _files(gemini_dir) == {"settings.json": SETTINGS, ".env": None}
    assert "removed" in seen
    monkeypatch.setattr(safe_write, "fault_hook", None)
    switch_llm("g-one", load_settings(), tool="gemini")
    assert _files(gemini_dir) == switched
    # a failed rollback leaves the backups it took: name the switch's own each time
    to = max(b.id for b in list_backups(gemini_dir / "settings.json") if b.file.read_text() == SETTINGS)
    last = max(i for i, step in enumerate(seen) if step == "removed")
    for index, step in enumerate(seen[: last + 1]):  # every step up to the commit
        n = seen[: index + 1].count(step)
        count = {"n": 0}

        def hook(reached: str, step: str = step, n: int = n, count: dict[str, int] = count) -> None:
            if reached == step:
                count["n"] += 1
                if count["n"] == n:
                    raise WriteFailedError(f"injected failure at {step} #{n}")

        monkeypatch.setattr(safe_write, "fault_hook", hook)
        with pytest.raises(WriteFailedError, match="injected"):
            rollback(load_settings(), tool="gemini", to=to)
        monkeypatch.setattr(safe_write, "fault_hook", None)
        assert _files(gemini_dir) == switched, f"failure at {step} #{n}"
        assert stat.S_IMODE((gemini_dir / ".env").stat().st_mode) == 0o600
        assert not transaction.pending()
    rollback(load_settings(), tool="gemini", to=to)
    assert _files(gemini_dir) == {"settings.json": SETTINGS, ".env": None}
