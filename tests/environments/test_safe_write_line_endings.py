"""A CRLF file stays CRLF through every write: read without newline translation, and a line a writer
adds with a bare LF (tomlkit, a new block) gets the file's ending."""

from __future__ import annotations

from pathlib import Path

import pytest
from _switch_helpers import set_profile_secrets
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.files import safe_write

runner = CliRunner()
SETTINGS = '{\n  "permissions": {\n    "allow": [\n      "Bash(ls)"\n    ]\n  },\n  "model": "opus"\n}\n'


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def bare_lf(data: bytes) -> int:
    return data.replace(b"\r\n", b"").count(b"\n")


def test_read_text_keeps_crlf(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b'{\r\n  "a": 1\r\n}\r\n')
    assert safe_write.read_text(path) == '{\r\n  "a": 1\r\n}\r\n'


def test_a_hook_added_then_removed_leaves_a_crlf_settings_file_byte_identical(isolated_home: Path) -> None:
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_bytes(crlf(SETTINGS))

    dry = runner.invoke(app, ["claude", "hooks", "add", "Stop", "--command", "say hi", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    changed = [
        line for line in dry.stdout.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert runner.invoke(app, ["claude", "hooks", "add", "Stop", "--command", "say hi"]).exit_code == 0
    written = path.read_bytes()
    assert b"say hi" in written and bare_lf(written) == 0
    after = safe_write.read_text(path) or ""
    real = [line for line in safe_write.Change(path, crlf(SETTINGS).decode(), after).diff().splitlines()]
    assert len(changed) == len([line for line in real if line[:1] in "+-" and line[:3] not in ("+++", "---")])
    assert len(changed) < 2 * after.count("\n") - 2  # not every line twice: only what the hook changes

    assert runner.invoke(app, ["claude", "hooks", "remove", "Stop", "--command", "say hi"]).exit_code == 0
    assert path.read_bytes() == crlf(SETTINGS)


def test_permissions_keep_crlf(isolated_home: Path) -> None:
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_bytes(crlf(SETTINGS))
    assert runner.invoke(app, ["claude", "permissions", "allow", "add", "Bash(pwd)"]).exit_code == 0
    assert b"Bash(pwd)" in path.read_bytes() and bare_lf(path.read_bytes()) == 0


CONFIGS = {
    "codex": (".codex/config.toml", 'model = "gpt-5.5"\n\n# mine\n[tui]\nnotifications = true\n', "deepseek"),
    "qwen": (".qwen/settings.json", '{\n  "ui": {"theme": "x"}\n}\n', "deepseek"),
    "gemini": (".gemini/settings.json", '{\n  "ui": {"theme": "x"}\n}\n', "gemini"),
    "claude": (".claude/settings.json", '{\n  "model": "opus"\n}\n', "deepseek"),
}


@pytest.mark.parametrize("tool", CONFIGS)
def test_a_switch_keeps_crlf_in_the_config_and_its_env_file(
    tool: str, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relative, text, profile = CONFIGS[tool]
    config = isolated_home / relative
    config.parent.mkdir()
    config.write_bytes(crlf(text))
    dotenv = config.parent / ".env"
    if tool != "claude":
        dotenv.write_bytes(b"# mine\r\nFOO=bar\r\n")
    set_profile_secrets(monkeypatch)

    switch_llm(profile, load_settings(), tool=tool, inline_secret=True)

    written = config.read_bytes()
    assert written != crlf(text) and bare_lf(written) == 0, written
    if tool != "claude":
        assert bare_lf(dotenv.read_bytes()) == 0 and b"FOO=bar\r\n" in dotenv.read_bytes()


def test_lf_and_mixed_files_get_what_the_writer_made(tmp_path: Path) -> None:
    assert safe_write.keep_line_endings("a\nb\n", "a\nb\nc\n") == "a\nb\nc\n"
    assert safe_write.keep_line_endings("a\r\nb\n", "a\r\nb\nc\n") == "a\r\nb\nc\n"
    assert safe_write.keep_line_endings(None, "a\n") == "a\n"
    assert safe_write.keep_line_endings("a\r\n", "a\r\nb\n") == "a\r\nb\r\n"


def test_a_restore_puts_back_the_backup_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"a = 1\r\nb = 2\r\n")
    crlf_backup = safe_write.apply(path, lambda old: "a = 1\r\n", validate=lambda _t: None).backup
    safe_write.restore(path, crlf_backup, validate=lambda _t: None)
    assert path.read_bytes() == b"a = 1\r\nb = 2\r\n"

    path.write_bytes(b"a = 1\n")
    lf_backup = safe_write.apply(path, lambda old: "a = 2\r\n", validate=lambda _t: None).backup
    safe_write.restore(path, lf_backup, validate=lambda _t: None)  # over a CRLF file: still the LF one
    assert path.read_bytes() == b"a = 1\n"


def test_a_failed_switch_rolls_a_crlf_toml_file_back(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = isolated_home / ".codex" / "config.toml"
    config.parent.mkdir()
    original = crlf('model = "gpt-5.5"\n\n[tui]\nnotifications = true\n')
    config.write_bytes(original)
    set_profile_secrets(monkeypatch)
    writes = []

    def fail_the_second_write(step: str) -> None:
        if step == "before-replace":
            writes.append(step)
            if len(writes) == 2:  # config.toml is written, its .env is not
                raise RuntimeError("disk full")

    monkeypatch.setattr(safe_write, "fault_hook", fail_the_second_write)
    with pytest.raises(RuntimeError):
        switch_llm("deepseek", load_settings(), tool="codex", inline_secret=True)
    assert config.read_bytes() == original
