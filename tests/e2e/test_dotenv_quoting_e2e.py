"""A key `switch-llm --inline-secret` writes into an assistant's ``.env`` reaches the provider as it
is, whichever way env_file writes it: Codex reads the file with the Rust ``dotenvy`` crate, Qwen Code
and Gemini CLI with the npm ``dotenv`` package (see tests/environments/test_env_file_quoting.py).
Each key below needs one way of writing for that reader; the real CLI sends it to a loopback mock."""

from __future__ import annotations

from pathlib import Path

import pytest
from _profiles import switch, write_profiles
from codex_cli import find_codex, run_codex
from gemini_cli import find_gemini, run_gemini, trust
from mock_llm import MockLLM
from qwen_cli import find_qwen, run_qwen

from mahavishnu.environments import env_file

pytestmark = pytest.mark.e2e

#: For dotenvy (Codex): the way each key is written, and the key.
CODEX_KEYS = [
    ("'sk-$HOME-#-\\-0123'", "sk-$HOME-#-\\-0123"),  # single quotes: no variable, no escape
    ('"sk-it\'s-\\$HOME-\\"q\\"-0123"', 'sk-it\'s-$HOME-"q"-0123'),  # double quotes, escapes
    ('"sk-ends-with\\\\"', "sk-ends-with\\"),  # (in single quotes dotenvy reads on past the quote)
]
#: For the npm dotenv package (Qwen Code, Gemini CLI).
NPM_KEYS = [
    ("'sk-a\"b\\c$d#e-0123'", 'sk-a"b\\c$d#e-0123'),  # single quotes
    ('"sk-it\'s-0123"', "sk-it's-0123"),  # double quotes
    ('`sk-it\'s-"x"-0123`', 'sk-it\'s-"x"-0123'),  # backticks
    ("sk-'`\"-\\-0123", "sk-'`\"-\\-0123"),  # bare: every kind of quote inside
    ("''sk-`\"-0123'", "'sk-`\"-0123"),  # the whole text, its outer quotes taken off
    ("sk-ends-with\\", "sk-ends-with\\"),  # bare: "\\'" within quotes reads as an escaped quote
]


def _lab(home: Path, mock: MockLLM, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    write_profiles(
        home,
        {
            "lab": {
                "secret": ["env:LAB_KEY"],
                "openai": {"base_url": f"{mock.base_url}/v1", "model": "lab-model", "wire_api": "responses"},
                "gemini": {"base_url": mock.base_url, "model": "lab-model"},
            }
        },
    )
    monkeypatch.setenv("LAB_KEY", key)


def _written(dotenv: Path, var: str) -> str:
    [line] = [line for line in dotenv.read_text().splitlines() if line.startswith(f"{var}=")]
    return line.removeprefix(f"{var}=")


#: How each of them is found and run (``run(home, prompt)``), the variable's name being LAB_KEY.
CLIS = {"codex": (find_codex, run_codex), "qwen": (find_qwen, run_qwen)}


@pytest.mark.parametrize(
    ("tool", "written", "key"),
    [*(("codex", w, k) for w, k in CODEX_KEYS), *(("qwen", w, k) for w, k in NPM_KEYS)],
)
def test_codex_and_qwen_code_get_the_key_as_it_is(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, tool: str, written: str, key: str
) -> None:
    find, run = CLIS[tool]
    if find() is None:
        pytest.skip(f"{tool} CLI not installed: run `bash .ci/install-e2e.sh`")
    with MockLLM(reply="ok") as mock:
        _lab(isolated_home, mock, monkeypatch, key)
        switch("lab", "--tool", tool, "--inline-secret")
        assert _written(isolated_home / f".{tool}" / ".env", "LAB_KEY") == written
        done = run(isolated_home, "hi")  # (LAB_KEY only in its .env)
        assert done.returncode == 0, done.stderr
        assert {r.api_key for r in mock.requests_to("/v1/responses")} == {key}


@pytest.mark.skipif(find_gemini() is None, reason="Gemini CLI not installed: run `bash .ci/install-e2e.sh`")
@pytest.mark.parametrize(("written", "key"), NPM_KEYS)
def test_gemini_cli_gets_the_key_as_it_is(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, written: str, key: str
) -> None:
    work = isolated_home / "work"
    work.mkdir()
    trust(isolated_home, work)
    with MockLLM(reply="ok") as mock:
        _lab(isolated_home, mock, monkeypatch, key)
        switch("lab", "--tool", "gemini", "--inline-secret")
        assert _written(isolated_home / ".gemini" / ".env", "GEMINI_API_KEY") == written
        done = run_gemini(isolated_home, "hi", cwd=work)
        assert done.returncode == 0, done.stderr
        [request] = mock.requests_to("/v1beta/models/lab-model:streamGenerateContent")
        assert request.api_key == key


def test_the_ways_are_env_file_s() -> None:
    """(The lists above, as env_file writes each key for its reader.)"""
    assert [env_file.written_as(key, "dotenvy") for _, key in CODEX_KEYS] == [w for w, _ in CODEX_KEYS]
    assert [env_file.written_as(key, "dotenv") for _, key in NPM_KEYS] == [w for w, _ in NPM_KEYS]
