"""Review of the Gemini CLI, Qwen Code and Codex integrations: what a user or an attacker meets.

A key written into a ``.env`` with ``--inline-secret`` must reach the assistant as it is. Gemini CLI and
Qwen Code read ``.env`` files with the npm ``dotenv`` package (within double quotes it turns only
``\\n``/``\\r`` into line breaks: ``\\"`` and ``\\\\`` stay as written); Codex with the Rust ``dotenvy``
crate (within double quotes ``$NAME`` is replaced by that variable's value). Checked with the real
CLIs (Gemini CLI 0.61.0, Qwen Code 0.24.4, Codex 0.169.0) against a loopback mock: a key with ``"`` or
``\\`` went to the provider changed, and one with ``$`` was replaced (or the line dropped, and Codex
said the variable was missing), when written in double quotes with backslash escapes. The tests read
the file with ``dotenv_readers.read_as``, the models of those readers (checked against the real ones in
test_env_file_quoting.py and tests/e2e/test_dotenv_quoting_e2e.py): a switch either writes the key so
that the reader gets it back, or refuses (the key never in the error) and writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _switch_helpers import write_file, write_profiles

from mahavishnu.config import load_settings
from mahavishnu.environments import dotenv_readers
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.errors import InvalidConfigFileError, MahavishnuError

#: Keys with a quote, a backslash, a dollar sign (a proxy key a user chose, say): each reader reads
#: every one of them back from the way env_file writes it.
ODD_KEYS = ['sk-pa"ss-0123456789', "sk-back\\slash-0123456789", "sk-dollar$HOME-0123456789"]
#: A key no way of writing carries to the npm reader (each kind of quote and a '#'): refused there.
MIXED_KEY = "sk-'\"`#-0123456789"


def _npm_dotenv(text: str) -> dict[str, str]:
    """What the npm ``dotenv`` package (its ``parse``, as Gemini CLI and Qwen Code bundle it) reads."""
    return dotenv_readers.read_as("dotenv", text)


def dotenvy_reads(written: str) -> str | None:
    """What Codex's reader (the ``dotenvy`` crate) makes of one value written as ``written``."""
    return dotenv_readers.read_as("dotenvy", f"K={written}\n").get("K")


@pytest.fixture
def lab(isolated_home: Path) -> Path:
    write_profiles(
        isolated_home,
        "  lab:\n    label: Lab\n    secret: ['env:LAB_KEY']\n"
        "    openai: {base_url: 'http://127.0.0.1:9/v1', model: lab-m, wire_api: responses}\n"
        "    gemini: {base_url: 'http://127.0.0.1:9', model: lab-g}\n",
    )
    return isolated_home


def _switch_or_refusal(tool: str, key: str, monkeypatch: pytest.MonkeyPatch) -> MahavishnuError | None:
    monkeypatch.setenv("LAB_KEY", key)
    try:
        switch_llm("lab", load_settings(), tool=tool, inline_secret=True)
    except MahavishnuError as exc:
        assert key not in f"{exc.message} {exc.hint}"
        return exc
    return None


@pytest.mark.parametrize("key", [*ODD_KEYS, MIXED_KEY])
@pytest.mark.parametrize(("tool", "var"), [("gemini", "GEMINI_API_KEY"), ("qwen", "LAB_KEY")])
def test_an_inline_key_reaches_gemini_and_qwen_unchanged_or_is_refused(
    lab: Path, monkeypatch: pytest.MonkeyPatch, tool: str, var: str, key: str
) -> None:
    dotenv = lab / f".{tool}" / ".env"
    refused = _switch_or_refusal(tool, key, monkeypatch)
    assert (refused is not None) == (key == MIXED_KEY)
    if refused is not None:
        assert not dotenv.exists() and "none of its files was written" in (refused.hint or "")
        return
    assert _npm_dotenv(dotenv.read_text())[var] == key


@pytest.mark.parametrize("key", [*ODD_KEYS, MIXED_KEY])
def test_an_inline_key_reaches_codex_unchanged_or_is_refused(
    lab: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    write_file(lab / ".codex" / "config.toml", 'model = "gpt-5"\n')
    dotenv = lab / ".codex" / ".env"
    refused = _switch_or_refusal("codex", key, monkeypatch)
    assert refused is None  # (dotenvy's double quotes carry any key an environment variable can hold)
    if refused is not None:
        assert not dotenv.exists() and (lab / ".codex" / "config.toml").read_text() == 'model = "gpt-5"\n'
        return
    [line] = [line for line in dotenv.read_text().splitlines() if line.startswith("LAB_KEY=")]
    assert dotenvy_reads(line.removeprefix("LAB_KEY=")) == key


def test_the_reader_models_agree_with_the_real_clis() -> None:
    """What the real CLIs sent the mock, each for a line written as shown."""
    assert _npm_dotenv('K="a\\"b#c\\\\d"\n')["K"] == 'a\\"b#c\\\\d'
    assert _npm_dotenv("K='a$HOME\"b'\n")["K"] == 'a$HOME"b'
    assert dotenvy_reads('"a\\"b"') == 'a"b' and dotenvy_reads('"a\\\\b"') == "a\\b"
    assert dotenvy_reads('"a$HOME-b"') is None
    assert dotenvy_reads("'a$HOME\"b#c\\d e f'") == 'a$HOME"b#c\\d e f'


INLINE_PROVIDERS = (
    'model = "gpt-5"\nmodel_providers = { proxy = { name = "p", base_url = "https://x/v1" } }\n'
)


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        (INLINE_PROVIDERS, "an inline table"),
        ('model_providers = "x"\n', "not a table"),
        ('[[model_providers]]\nname = "x"\n', "not a table"),
    ],
)
def test_a_codex_model_providers_no_table_can_join_is_named_not_called_invalid_toml(
    lab: Path, monkeypatch: pytest.MonkeyPatch, text: str, shape: str
) -> None:
    """Codex reads ``model_providers = { … }`` (valid TOML): a switch cannot add a
    ``[model_providers.mahavishnu-NAME]`` table beside it. It said the user's file was invalid TOML
    at a line the file does not have; it says what is in the way instead, and writes nothing."""
    config = write_file(lab / ".codex" / "config.toml", text)
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789")

    with pytest.raises(MahavishnuError) as raised:
        switch_llm("lab", load_settings(), tool="codex")

    assert f"{config}: model_providers is {shape}" in raised.value.message
    assert "invalid TOML" not in raised.value.message and config.read_text() == text


def test_a_codex_switch_reads_a_big_config_without_parsing_it_again_and_again(
    lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Codex adds a ``[projects."<folder>"]`` table per trusted folder: with 4,000 of them a switch
    took 17 s, 12 tomlkit parses of the whole file (1.2 s each) where tomllib reads it in 0.08 s. Only
    the edit itself needs tomlkit's document."""
    import tomlkit

    projects = "".join(f'[projects."/p/{i}"]\ntrust_level = "trusted"\n' for i in range(50))
    write_file(lab / ".codex" / "config.toml", 'model = "gpt-5"\n' + projects)
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789")
    switch_llm("lab", load_settings(), tool="codex")
    parses: list[int] = []
    real = tomlkit.parse

    def counted(text: str) -> tomlkit.TOMLDocument:
        parses.append(len(text))
        return real(text)

    monkeypatch.setattr(tomlkit, "parse", counted)

    switch_llm("stock", load_settings(), tool="codex")
    switch_llm("lab", load_settings(), tool="codex")

    assert len(parses) <= 8, len(parses)  # (it was 22)


@pytest.mark.parametrize("module", ["gemini", "qwen"])
def test_settings_we_would_write_wrong_are_refused_without_a_file_to_restore(module: str) -> None:
    """The check of the text about to be written named it "the new settings" and told the user to
    list that file's backups (`ai backups --file the new settings`), which finds nothing."""
    import importlib

    validate = importlib.import_module(f"mahavishnu.environments.assistants.{module}").validate
    with pytest.raises(InvalidConfigFileError) as refused:
        validate('{"model": {"name": "glm-5.3",}}')
    assert refused.value.message.startswith("refusing to write settings: invalid JSON")
    assert "--file" not in refused.value.hint and "nothing was written" in refused.value.hint.lower()
