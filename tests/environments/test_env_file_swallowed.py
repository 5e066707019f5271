"""A line of the user's own ``.env`` that reads on into the lines a switch writes below it.

A reader joins lines while it takes a quote for open. Codex's (the dotenvy crate) takes the
apostrophe of ``NOTE=it's`` for an opening quote that never closes, and every line below it for part
of that value: Codex 0.169 said ``Missing environment variable: LAB_KEY`` after a switch that said
it wrote the key (tests/e2e/test_dotenv_swallowed_e2e.py). The npm dotenv package (Gemini CLI, Qwen
Code) reads ``A=`x\\``` on to the next line that ends in a backtick, one of ours; env_file's own
``_entries`` (how the next switch finds our lines to replace or remove them) ``A="x`` on to the
next double quote. So the switch reads the text it would write back with the model of the file's
reader (``dotenv_readers``) and with ``parse``: when a key it writes does not come back as written,
it refuses, naming the user's line, and writes nothing. ``NOTE='it's`` is no such line (dotenvy
reads ``its`` and closes the quote), nor, for the npm reader, ``NOTE=it's``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from _switch_helpers import write_file, write_profiles
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_env_file_quoting import BUNDLES, SPECIAL, RealParse, _bundled_dotenv
from typer.testing import CliRunner

from mahavishnu import paths
from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments import env_file
from mahavishnu.environments.assistants.base import dotenv_edit, dotenv_reader
from mahavishnu.environments.dotenv_readers import Reader, read_as
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files import safe_write

runner = CliRunner()
#: The variable each assistant's key goes under in its .env, and its reader.
VARS = {"codex": "LAB_KEY", "gemini": "GEMINI_API_KEY", "qwen": "LAB_KEY"}
READER: dict[str, Reader] = {"codex": "dotenvy", "gemini": "dotenv", "qwen": "dotenv"}
#: A user's own lines no reader takes ours into: a comment, a bare value, quoted values over lines.
OWN = "# mine\nFOO=1\nCERT=\"-----BEGIN\nMIIEvQ\n-----END\"\nNOTE='two\nlines'\n"


@pytest.fixture
def lab(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_profiles(
        isolated_home,
        "  lab:\n    label: Lab\n    secret: ['env:LAB_KEY']\n"
        "    openai: {base_url: 'http://127.0.0.1:9/v1', model: lab-m, wire_api: responses}\n"
        "    gemini: {base_url: 'http://127.0.0.1:9', model: lab-g}\n",
    )
    write_file(isolated_home / ".codex" / "config.toml", 'model = "gpt-5"\n')
    return isolated_home


def _dotenv(home: Path, tool: str, text: str, monkeypatch: pytest.MonkeyPatch, key: str) -> Path:
    """The tool's .env in ``home`` holding ``text`` (its line ends as they are), the key set."""
    monkeypatch.setenv("LAB_KEY", key)
    path = home / f".{tool}" / ".env"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text.encode())
    return path


# -- refused: the user's line named, nothing written ---------------------------------------------------

SWALLOWING = [
    # (tool, the user's file, the key, the line named, who reads on)
    ("codex", "FOO=1\nNOTE=it's\nBAR=2\n", "sk-lab-0123", 2, "the dotenvy crate (Codex's reader)"),
    ("codex", '# mine\r\nCERT="a\r\nb"\r\n\r\nNOTE=don\'t\r\n', "sk-lab-0123", 5, "the dotenvy crate"),
    ("codex", "NOTE='ends\\'\nBAR=2\n", "sk-lab-0123", 1, "the dotenvy crate"),
    ("gemini", "FOO=1\n\n\nA=`x\\`\n", "sk-'\"-0`", 4, "the npm dotenv package (Gemini CLI's"),
    ("qwen", "A=`x\\`\nFOO=1\n", "sk-'\"-0`", 1, "the npm dotenv package"),
    ("gemini", 'FOO=1\nA="x\n', 'sk-\'`"-0"', 2, "Mahavishnu takes"),
    ("qwen", "A='x\n", "sk-lab-0123", 1, "Mahavishnu takes"),  # (our marker's quote closes it)
]


@pytest.mark.parametrize(("tool", "text", "key", "line", "who"), SWALLOWING)
def test_a_user_line_that_reads_on_into_ours_is_refused_naming_it(
    lab: Path, monkeypatch: pytest.MonkeyPatch, tool: str, text: str, key: str, line: int, who: str
) -> None:
    dotenv = _dotenv(lab, tool, text, monkeypatch, key)
    before = _assistant_files(lab)

    with pytest.raises(InvalidConfigFileError) as refused:
        switch_llm("lab", load_settings(), tool=tool, inline_secret=True)

    message = refused.value.message
    assert message.startswith(f"refusing to write {dotenv}: {who}")
    assert f"opened on its line {line} " in message and f"close that quote on line {line} or" in message
    assert "\n" not in message and key not in f"{message} {refused.value.hint}"
    assert "nothing was written" in str(refused.value.hint)
    assert _assistant_files(lab) == before


def test_codex_s_file_is_read_as_dotenvy_reads_it_wherever_codex_home_is(
    lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_HOME", str(lab / "elsewhere"))
    write_file(lab / "elsewhere" / "config.toml", 'model = "gpt-5"\n')
    dotenv = write_file(lab / "elsewhere" / ".env", "NOTE=it's\n")
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123")

    with pytest.raises(
        InvalidConfigFileError, match=re.escape(f"refusing to write {dotenv}: the dotenvy crate")
    ):
        switch_llm("lab", load_settings(), tool="codex", inline_secret=True)

    assert dotenv_reader(dotenv) == "dotenvy"
    assert dotenv_reader(lab / ".codex" / ".env") == dotenv_reader(lab / ".qwen" / ".env") == "dotenv"


def _assistant_files(home: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in home.glob(".[cgq]*/**/*") if path.is_file()}


def test_the_command_exits_non_zero_and_so_does_its_dry_run(
    lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = _dotenv(lab, "codex", "FOO=1\nNOTE=it's\n", monkeypatch, "sk-lab-0123")

    for dry_run in ([], ["--dry-run"]):
        result = runner.invoke(
            app, ["ai", "switch-llm", "lab", "--tool", "codex", "--inline-secret", *dry_run]
        )
        assert result.exit_code != 0
        assert f"refusing to write {dotenv}" in " ".join(result.output.split())
    assert dotenv.read_text() == "FOO=1\nNOTE=it's\n"
    assert (lab / ".codex" / "config.toml").read_text() == 'model = "gpt-5"\n'


# -- written as before ----------------------------------------------------------------------------------

HARMLESS = [
    ("codex", OWN + "NOTE2='it's\n"),  # dotenvy: 'it' then s, closed
    ("codex", OWN + "NOTE2=it's\nB=x'\n"),  # its quote closes on the next line
    ("gemini", OWN + "NOTE2=it's\nA=`x\\`\n"),  # the npm reader: a bare value, a line each
    ("qwen", OWN + "NOTE2=it's\r\n"),
]


@pytest.mark.parametrize(("tool", "text"), HARMLESS)
@pytest.mark.parametrize("key", ["sk-lab-0123", 'sk-it\'s-"q"-0123'])
def test_a_user_file_no_reader_reads_on_from_is_written_as_before(
    lab: Path, monkeypatch: pytest.MonkeyPatch, tool: str, text: str, key: str
) -> None:
    dotenv = _dotenv(lab, tool, text, monkeypatch, key)

    switch_llm("lab", load_settings(), tool=tool, inline_secret=True)

    written = dotenv.read_bytes().decode()
    assert written.startswith(text)
    assert read_as(READER[tool], written)[VARS[tool]] == key
    assert env_file.parse(written)[VARS[tool]] == key and VARS[tool] in env_file.marked_keys(written)


# -- any user file: written only when its reader reads the keys back ---------------------------------------

#: What the values of a user's lines are made of here: quotes (escaped too), comments, line ends.
VALUE_PARTS = [*"'\"`\\# =x", "it's", "\\'", '\\"', "\\`", "$X", "\n"]
user_lines = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["A=", "B=", "export C=", " D = ", "# "]),
        st.lists(st.sampled_from(VALUE_PARTS), max_size=6).map("".join),
        st.sampled_from(["\n", "\r\n", "\r", ""]),
    ),
)
user_files = st.lists(user_lines, max_size=6).map("".join)
#: Keys: plain, with quotes; written bare, ending in a quote (the npm reader's way for one that holds
#: each kind); any text of the characters the readers treat apart.
keys = st.one_of(
    st.sampled_from(["sk-lab-0123", "sk-it's-0123", 'sk-"q"-0123', "sk-'\"-0`", "sk-'`-0\"", "sk-a\\"]),
    st.lists(st.sampled_from(SPECIAL)).map("".join),
)
many = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _switch_file(path: Path, text: str, key: str) -> str | InvalidConfigFileError:
    """What a switch writes into ``path`` holding ``text``, with ``key`` (and a base URL, as Gemini
    CLI's), or its refusal: ``safe_write.apply``'s steps without the write (the edit's transform, the
    file's line ends kept, the edit's validate); the unit tests above write the files."""
    values = {"LAB_KEY": key, "LAB_BASE_URL": "http://127.0.0.1:9"}
    edit = dotenv_edit(path, values, note="profile 'lab' (test)", secrets=())
    after = safe_write.keep_line_endings(text, edit.transform(text))
    try:
        edit.validate(after)
    except InvalidConfigFileError as refused:
        return refused
    return after


@many
@given(text=user_files, key=keys, reader=st.sampled_from(["dotenvy", "dotenv"]))
def test_whenever_a_switch_writes_its_reader_reads_the_keys_back(
    isolated_home: Path, text: str, key: str, reader: Reader
) -> None:
    assume(env_file.written_as(key, reader) is not None)
    path = paths.codex_home() / ".env" if reader == "dotenvy" else isolated_home / ".gemini" / ".env"

    after = _switch_file(path, text, key)

    if isinstance(after, InvalidConfigFileError):
        named = re.search(r"opened on its line (\d+) ", after.message)
        assert "\n" not in after.message
        assert named is None or int(named[1]) <= len(re.findall(r"\r\n|\r|\n", text)) + 1  # (the user's)
        return
    written = {"LAB_KEY": key, "LAB_BASE_URL": "http://127.0.0.1:9"}
    assert read_as(reader, after).items() >= written.items()
    assert env_file.parse(after).items() >= written.items()
    assert {"LAB_KEY", "LAB_BASE_URL"} <= set(env_file.marked_keys(after))
    assert "LAB_KEY" not in env_file.parse(env_file.update(after, {}))  # (the next switch takes it out)


@pytest.fixture(scope="module")
def real_npm_parse() -> Iterator[RealParse]:
    bundle = _bundled_dotenv(BUNDLES["gemini"])
    if bundle is None or shutil.which("node") is None:
        pytest.skip("Gemini CLI's bundle or node not installed: run `bash .ci/install-e2e.sh`")
    parse = RealParse(bundle)
    yield parse
    parse.process.kill()
    parse.process.wait()


@settings(many, max_examples=800)  # (what the npm reader reads on into is rarer: a quote ending a line)
@given(text=user_files, key=keys)
def test_whenever_a_switch_writes_gemini_s_file_the_real_npm_parse_reads_the_key_back(
    isolated_home: Path, real_npm_parse: RealParse, text: str, key: str
) -> None:
    assume(env_file.written_as(key, "dotenv") is not None)

    after = _switch_file(isolated_home / ".gemini" / ".env", text, key)

    if not isinstance(after, InvalidConfigFileError):
        assert real_npm_parse(after)["LAB_KEY"] == key
