"""The user's own provider settings survive a trip through a profile: a switch keeps them and says
so, a stock switch puts them back (keeping what changed since), and never invents files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _switch_helpers import write_file

from mahavishnu.config import load_settings
from mahavishnu.environments import own_settings
from mahavishnu.environments.switcher import rollback, switch_llm

CODEX = """# my codex config
model = "llama3"
model_provider = "mylocal"  # my LM Studio
approval_policy = "on-request"

[model_providers.mylocal]
name = "LM Studio"
base_url = "http://127.0.0.1:1234/v1"
"""
CLAUDE = {
    "env": {"ANTHROPIC_BASE_URL": "https://gateway.corp.example/anthropic", "ANTHROPIC_MODEL": "corp"},
    "apiKeyHelper": "/usr/local/bin/corp-key",
    "permissions": {"allow": ["Bash(ls:*)"]},
}


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-own0123456789abcdef")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-own0123456789abcdef")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-profile-0123456789abcdef")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-deep-own0123456789abcdef")
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-own0123456789abcdef")


def _switch(name: str, tool: str) -> list[str]:
    return switch_llm(name, load_settings(), tool=tool).warnings


def test_codex_own_provider_comes_back_byte_for_byte(isolated_home: Path) -> None:
    config = write_file(isolated_home / ".codex" / "config.toml", CODEX)
    warnings = _switch("openai", "codex")
    assert any("your own provider settings are replaced" in w for w in warnings)
    assert 'model_provider = "mylocal"' not in config.read_text()
    assert any("are back" in w for w in _switch("stock", "codex"))
    assert config.read_text() == CODEX


@pytest.mark.parametrize(
    "original",
    [
        b'model = "gpt-5-codex"\r\n[projects."/home/me/app"]\r\ntrust_level = "trusted"\r\n',
        b'model = "gpt-5-codex"\r\n\r\n[projects."/home/me/app"]\r\ntrust_level = "trusted"\r\n',
        CODEX.replace("\n", "\r\n").encode(),
        CODEX.replace("\n", "\r\n").rstrip().encode(),
    ],
    ids=["crlf-table-right-below", "crlf-blank-line", "crlf-own-provider", "crlf-no-final-break"],
)
def test_a_crlf_codex_config_comes_back_byte_for_byte(isolated_home: Path, original: bytes) -> None:
    config = isolated_home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_bytes(original)
    _switch("openai", "codex")
    kept = own_settings.kept(config)
    assert (
        kept is not None and "\r\n" in kept[1] and "\n" not in kept[1].replace("\r\n", "")
    )  # base: CRLF only
    warnings = _switch("stock", "codex")
    assert any("are back" in w for w in warnings), warnings
    assert config.read_bytes() == original


def test_a_base_kept_with_mixed_line_endings_still_puts_the_settings_back(isolated_home: Path) -> None:
    """A record kept by an earlier version, whose stock form of a CRLF file has an LF line."""
    original = b'model = "gpt-5-codex"\r\n[projects."/home/me/app"]\r\ntrust_level = "trusted"\r\n'
    config = isolated_home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_bytes(original)
    _switch("openai", "codex")
    own_settings.keep(config, original.decode(), '\n[projects."/home/me/app"]\r\ntrust_level = "trusted"\r\n')
    assert any("are back" in w for w in _switch("stock", "codex"))
    assert config.read_bytes() == original


def test_a_base_kept_with_a_blank_line_the_switch_added_still_puts_the_settings_back(
    isolated_home: Path,
) -> None:
    """A record kept before a switch put its keys above the first table's comments: tomlkit had
    written a blank line over that table, which the stock form kept and no longer has."""
    original = b'model = "gpt-5-codex"\n# trusted\n[projects."/home/me/app"]\ntrust_level = "trusted"\n'
    config = isolated_home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_bytes(original)
    _switch("openai", "codex")
    own_settings.keep(
        config, original.decode(), '\n# trusted\n[projects."/home/me/app"]\ntrust_level = "trusted"\n'
    )
    assert any("are back" in w for w in _switch("stock", "codex"))
    assert config.read_bytes() == original


def test_line_endings_an_editor_changed_since_the_switch_do_not_keep_the_settings_out(
    isolated_home: Path,
) -> None:
    config = write_file(isolated_home / ".codex" / "config.toml", CODEX)
    _switch("openai", "codex")
    config.write_bytes(config.read_bytes().replace(b"\n", b"\r\n"))  # saved on Windows meanwhile
    assert any("are back" in w for w in _switch("stock", "codex"))
    assert config.read_bytes() == CODEX.replace("\n", "\r\n").encode()


def test_claude_gateway_comes_back_and_later_edits_stay(isolated_home: Path) -> None:
    settings = write_file(isolated_home / ".claude" / "settings.json", json.dumps(CLAUDE, indent=2) + "\n")
    _switch("qwen", "claude")
    _switch("deepseek", "claude")  # a second switch keeps the first copy
    data = json.loads(settings.read_text())
    data["permissions"]["allow"].append("Bash(git:*)")  # Claude Code rewrites the whole file
    settings.write_text(json.dumps(data, indent=4))
    _switch("stock", "claude")
    back = json.loads(settings.read_text())
    assert back["env"] == CLAUDE["env"] and back["apiKeyHelper"] == CLAUDE["apiKeyHelper"]
    assert back["permissions"]["allow"] == ["Bash(ls:*)", "Bash(git:*)"]
    assert own_settings.kept(settings) is None  # put back: nothing left to keep


@pytest.mark.parametrize(("tool", "edit"), [("claude", ("qwen3.7-max", "qwen3-coder-plus")), ("codex", None)])
def test_a_profiles_settings_edited_by_hand_do_not_replace_the_users_own_kept_before(
    isolated_home: Path, tool: str, edit: tuple[str, str] | None
) -> None:
    """A review: switched to qwen, the model changed by hand in the file, then switched to zai:
    the edited qwen set-up was kept as the user's own over their gateway, and `stock` put qwen back
    as "your own provider settings"."""
    if tool == "claude":
        path = write_file(isolated_home / ".claude" / "settings.json", json.dumps(CLAUDE, indent=2) + "\n")
    else:
        path = write_file(isolated_home / ".codex" / "config.toml", CODEX)
    original = path.read_text()
    _switch("qwen", tool)
    text = path.read_text()
    old, new = edit or ('model = "qwen3.7-max"', 'model = "qwen3-coder-plus"')
    assert old in text
    path.write_text(text.replace(old, new))
    said = _switch("zai", tool)
    assert any("edited by hand are replaced" in w for w in said), said
    _switch("stock", tool)
    if tool == "claude":
        back = json.loads(path.read_text())
        assert back["env"] == CLAUDE["env"] and back["apiKeyHelper"] == CLAUDE["apiKeyHelper"]
    else:
        assert path.read_text() == original


def test_a_stock_switch_that_puts_the_gateway_back_says_so_not_the_login(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It printed "now uses claude" and "new sessions use claude" (the login) while sessions would
    use the user's own gateway it had just put back."""
    from typer.testing import CliRunner

    from mahavishnu.cli.main import app

    bin_dir = isolated_home / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").write_text("#!/bin/sh\n")
    (bin_dir / "claude").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    settings = write_file(isolated_home / ".claude" / "settings.json", json.dumps(CLAUDE))
    runner = CliRunner()
    assert runner.invoke(app, ["ai", "switch-llm", "qwen"]).exit_code == 0
    back = runner.invoke(app, ["ai", "switch-llm", "claude"])
    assert back.exit_code == 0, back.output
    assert f"{settings}: now uses your own provider settings again" in back.stdout
    assert "new sessions use your own provider settings" in back.stdout
    assert "now uses claude" not in back.stdout and "new sessions use claude" not in back.stdout
    again = runner.invoke(app, ["ai", "switch-llm", "qwen", "--json"])
    assert [f["own"] for f in json.loads(again.stdout)["files"]] == [False]


def test_own_gemini_key_in_env_comes_back(isolated_home: Path) -> None:
    dotenv = write_file(isolated_home / ".gemini" / ".env", "GEMINI_API_KEY=AIzaMyOwnKey1234567890\nFOO=1\n")
    _switch("gemini", "gemini")
    assert "AIzaMyOwnKey" not in dotenv.read_text()
    _switch("stock", "gemini")
    assert dotenv.read_text() == "GEMINI_API_KEY=AIzaMyOwnKey1234567890\nFOO=1\n"


@pytest.mark.parametrize("tool", ["qwen", "codex"])
def test_own_key_in_env_comes_back_after_an_inline_switch(isolated_home: Path, tool: str) -> None:
    """The user's own ``DASHSCOPE_API_KEY`` line, which an inline switch replaces with the profile's
    key: the switch says so and keeps it, stock puts the file back as it was, twice over."""
    own = "# mine\nDASHSCOPE_API_KEY=my-own-dashscope-key\nFOO=1"  # (no final newline)
    dotenv = write_file(isolated_home / f".{tool}" / ".env", own)
    for _ in range(2):
        switched = switch_llm("qwen", load_settings(), tool=tool, inline_secret=True).warnings
        assert any("your own provider settings are replaced" in w for w in switched)
        assert "my-own-dashscope-key" not in dotenv.read_text()
        stocked = _switch("stock", tool)
        assert any("are back" in w for w in stocked), stocked
        assert not any("did not write" in w for w in stocked)
        assert dotenv.read_text() == own


def test_stock_after_an_inline_switch_says_nothing_false_on_the_second_trip(isolated_home: Path) -> None:
    """The ``.env`` the first inline switch created holds only our key: no trip back to stock
    claims it removed settings Mahavishnu did not write (the stock switch removes the file it
    empties, and the next inline switch creates it again)."""
    for _ in range(2):
        switch_llm("qwen", load_settings(), tool="qwen", inline_secret=True)
        assert not any("did not write" in w for w in _switch("stock", "qwen"))
    assert not (isolated_home / ".qwen" / ".env").exists()


def test_a_file_without_provider_settings_is_not_kept(isolated_home: Path) -> None:
    settings = write_file(isolated_home / ".claude" / "settings.json", '{"permissions": {"allow": []}}')
    assert not any("own provider" in w for w in _switch("qwen", "claude"))
    assert own_settings.kept(settings) is None
    assert not any("own provider" in w for w in _switch("stock", "claude"))
    assert json.loads(settings.read_text()) == {"permissions": {"allow": []}}


def test_stock_says_when_it_removes_settings_it_did_not_write(isolated_home: Path) -> None:
    write_file(isolated_home / ".claude" / "settings.json", json.dumps(CLAUDE))
    warnings = _switch("stock", "claude")  # asked for on purpose: the login, not the gateway
    assert any("removed provider settings Mahavishnu did not write" in w for w in warnings)


def test_an_edit_where_the_own_settings_were_keeps_them_aside(isolated_home: Path) -> None:
    config = write_file(isolated_home / ".codex" / "config.toml", CODEX)
    _switch("openai", "codex")
    mine = "# my codex config\nmodel_reasoning_effort = 'high'\n"  # just where the own lines were
    config.write_text(config.read_text().replace("# my codex config\n", mine))
    warnings = _switch("stock", "codex")
    assert any("could not be put back" in w and str(own_settings.kept_file(config)) in w for w in warnings)
    assert "model_reasoning_effort" in config.read_text()  # the stock switch still happened
    kept = own_settings.kept(config)
    assert kept is not None and kept[0] == CODEX


def test_stock_creates_no_file(isolated_home: Path) -> None:
    result = switch_llm("stock", load_settings(), tool="all")
    assert result.files == [] and "own login" in result.notes[-1]
    assert not any(p.is_file() for p in isolated_home.rglob("*") if ".mahavishnu" not in p.parts)


def test_a_set_up_edited_in_after_a_switch_is_the_users_own(isolated_home: Path) -> None:
    """Switched to a profile, then the user puts their gateway in by hand: the next switch keeps it
    (the file's provider settings are no longer the ones Mahavishnu wrote) and stock puts it back."""
    settings = write_file(isolated_home / ".claude" / "settings.json", "{}\n")
    _switch("qwen", "claude")
    data = json.loads(settings.read_text())
    data["env"].update(CLAUDE["env"])
    data["apiKeyHelper"] = CLAUDE["apiKeyHelper"]
    settings.write_text(json.dumps(data, indent=4))  # reformatted too, as Claude Code would

    assert any("your own provider settings are replaced" in w for w in _switch("deepseek", "claude"))
    assert any("are back" in w for w in _switch("stock", "claude"))
    back = json.loads(settings.read_text())
    assert back["env"]["ANTHROPIC_BASE_URL"] == CLAUDE["env"]["ANTHROPIC_BASE_URL"]
    assert back["apiKeyHelper"] == CLAUDE["apiKeyHelper"]


def test_a_rollback_to_an_earlier_profile_is_still_mahavishnus(isolated_home: Path) -> None:
    """What a switch wrote stays Mahavishnu's after a rollback brings it back: not kept as the
    user's own, so a stock switch leaves the assistant on its login."""
    settings = write_file(isolated_home / ".claude" / "settings.json", "{}\n")
    _switch("qwen", "claude")
    _switch("deepseek", "claude")
    rollback(load_settings(), tool="claude")
    assert json.loads(settings.read_text())["apiKeyHelper"].endswith("secrets get qwen")

    assert not any("own provider" in w for w in [*_switch("zai", "claude"), *_switch("stock", "claude")])
    assert "env" not in json.loads(settings.read_text())


def test_another_switch_cannot_come_between_reading_whose_settings_they_are_and_recording_it(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two switches at once: one read the file while the other had written its profile but not yet
    recorded it as Mahavishnu's, kept that profile as the user's own, and a later stock switch put
    it back (3 runs in 14 of `switch-llm qwen & switch-llm zai`). Reading, writing and recording
    are one step under the transaction lock, which another process's switch waits for."""
    from mahavishnu.files import transaction

    write_file(isolated_home / ".claude" / "settings.json", json.dumps(CLAUDE, indent=2) + "\n")
    seen: list[bool] = []
    real_kept, real_mark = own_settings.kept, own_settings.mark

    def kept(path: Path) -> object:
        seen.append(transaction._inside.get())
        return real_kept(path)

    def mark(path: Path, **kwargs: object) -> None:
        seen.append(transaction._inside.get())
        real_mark(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(own_settings, "kept", kept)
    monkeypatch.setattr(own_settings, "mark", mark)
    _switch("qwen", "claude")
    _switch("stock", "claude")
    assert seen and all(seen)


_KILLED_AFTER_THE_WRITE = """
import os, sys
from mahavishnu.config import load_settings
from mahavishnu.environments import switcher

real = switcher.transaction.run

def run(*args, **kwargs):
    real(*args, **kwargs)  # the files are written, the switch recorded: then the process dies
    os._exit(137)

switcher.transaction.run = run
switcher.switch_llm(sys.argv[1], load_settings(), tool=sys.argv[2])
"""


def test_a_switch_killed_right_after_its_write_leaves_the_own_settings_to_come_back(
    isolated_home: Path,
) -> None:
    """Killed between writing the profile and recording it as Mahavishnu's, a switch left the
    profile unrecorded: the next switch kept it as the user's own (over the user's real set-up),
    and a stock switch put that profile back. What a switch writes is recorded as Mahavishnu's
    before the file is written."""
    import subprocess
    import sys

    config = write_file(isolated_home / ".codex" / "config.toml", CODEX)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_AFTER_THE_WRITE, "openai", "codex"], capture_output=True, text=True
    )
    assert killed.returncode == 137, killed.stderr
    assert 'model_provider = "mylocal"' not in config.read_text()
    assert not any("your own provider settings" in w for w in _switch("deepseek", "codex"))
    assert any("are back" in w for w in _switch("stock", "codex"))
    assert config.read_text() == CODEX


def test_a_switch_fingerprints_each_text_of_a_file_once(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text a switch writes is fingerprinted before the write (recorded in case the process is
    killed) and after it: on a settings file of tens of MB each time read it whole."""
    write_file(isolated_home / ".claude" / "settings.json", json.dumps(CLAUDE, indent=2))
    texts: list[str] = []
    digest = own_settings.owned_digest

    def counted(text: str, stock_text: str, path: Path) -> str:
        texts.append(text)
        return digest(text, stock_text, path)

    monkeypatch.setattr(own_settings, "owned_digest", counted)
    for profile in ("qwen", "deepseek", "stock"):
        texts.clear()
        _switch(profile, "claude")
        assert texts and len(texts) == len(set(texts)), profile
    assert json.loads((isolated_home / ".claude" / "settings.json").read_text()) == CLAUDE


def test_a_switch_reads_a_files_record_once_and_writes_it_once(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the user's own settings are kept, a file's record holds the file twice (60 MB for a
    settings.json of 30 MB): a provider switch read it four times (whose settings, what is kept, the
    marks before and after the write) and wrote it twice, the second time as it was. It reads it to
    learn whose settings the file holds, and again to write the kept copy back beside the new
    fingerprint; a stock switch reads it once, for the kept copy."""
    from mahavishnu.files import safe_write

    settings = write_file(isolated_home / ".claude" / "settings.json", json.dumps(CLAUDE, indent=2) + "\n")
    _switch("qwen", "claude")
    record = own_settings.kept_file(settings)
    reads: list[Path] = []
    writes: list[str] = []
    read_text, write_private = Path.read_text, safe_write.write_private

    def counted_read(self: Path, *args: object, **kwargs: object) -> str:
        reads.extend([self] if self == record else [])
        return read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    def counted_write(path: Path, text: str, **kwargs: object) -> None:
        writes.extend([text] if path == record else [])
        write_private(path, text, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", counted_read)
    monkeypatch.setattr(safe_write, "write_private", counted_write)
    for profile in ("deepseek", "zai", "stock"):
        reads.clear()
        writes.clear()
        _switch(profile, "claude")
        assert len(reads) == (1 if profile == "stock" else 2), profile
        assert len(writes) == 1, profile
        assert record.read_text() == writes[0]
    assert json.loads(settings.read_text()) == CLAUDE


@pytest.mark.parametrize("tool", ["claude", "codex"])
def test_own_settings_the_user_removed_after_a_rollback_do_not_come_back(
    isolated_home: Path, tool: str
) -> None:
    """Switched (the gateway kept), rolled back, then the user took the gateway out by hand: the
    next switch finds no own settings, and stock left the copy of the first in place, putting the
    deleted gateway (and its key helper) back."""
    if tool == "claude":
        settings = write_file(isolated_home / ".claude" / "settings.json", json.dumps(CLAUDE) + "\n")
        bare = '{\n  "permissions": {"allow": ["Bash(ls:*)"]}\n}\n'
    else:
        settings = write_file(isolated_home / ".codex" / "config.toml", CODEX)
        bare = '# my codex config\napproval_policy = "on-request"\n'
    assert any("are replaced" in w for w in _switch("deepseek", tool))
    rollback(load_settings(), tool=tool)
    settings.write_text(bare)
    assert not any("own provider" in w for w in _switch("deepseek", tool))
    assert not any("own provider" in w for w in _switch("stock", tool))
    assert settings.read_text() == bare
    assert own_settings.kept(settings) is None
