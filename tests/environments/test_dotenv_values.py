"""A ``.env`` an assistant reads may hold a quoted value over several lines (a PEM key, say), as
dotenv readers allow: a switch keeps it byte for byte, and only an unclosed quote is refused, with
the file and line named and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from _switch_helpers import write_file

from mahavishnu.config import load_settings
from mahavishnu.environments import env_file
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.errors import InvalidConfigFileError

PEM = 'SIGNING_KEY="-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"\n'
OWN = "# mine\n" + PEM + "NOTE='two\nlines'\nFOO=1\n"


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-0123456789abcdef")
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-0123456789abcdef")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-profile-0123456789abcdef")


def test_values_over_several_lines_are_read_whole() -> None:
    assert env_file.parse(OWN) == {
        "SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----",
        "NOTE": "two\nlines",
        "FOO": "1",
    }
    assert env_file.parse('A="say \\"hi\\"\nthere"\nB=2') == {"A": 'say "hi"\nthere', "B": "2"}
    env_file.validate(OWN)  # no error


@pytest.mark.parametrize(("tool", "profile"), [("qwen", "qwen"), ("codex", "zai"), ("gemini", "gemini")])
def test_a_switch_keeps_a_value_over_several_lines(isolated_home: Path, tool: str, profile: str) -> None:
    dotenv = write_file(isolated_home / f".{tool}" / ".env", OWN)

    switch_llm(profile, load_settings(), tool=tool, inline_secret=True)

    text = dotenv.read_text()
    assert text.startswith(OWN) and "0123456789abcdef" in text.removeprefix(OWN)
    switch_llm("stock", load_settings(), tool=tool)
    assert dotenv.read_text() == OWN


def test_a_quote_left_open_is_refused_naming_the_file_and_line(isolated_home: Path) -> None:
    broken = 'FOO=1\nSIGNING_KEY="-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n'
    dotenv = write_file(isolated_home / ".qwen" / ".env", broken)

    with pytest.raises(InvalidConfigFileError) as raised:
        switch_llm("qwen", load_settings(), tool="qwen", inline_secret=True)

    assert f"refusing to write {dotenv}: the quoted value of its line 2 never closes" in str(raised.value)
    assert "MIIE" not in str(raised.value) and "nothing was written" in (raised.value.hint or "")
    assert dotenv.read_text() == broken
