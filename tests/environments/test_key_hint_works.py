"""The fix a refused switch gives for a key the assistant cannot read, typed as written, works: it
named a variable the profile's chain never reads (``GEMINI_API_KEY``, ``MAHAVISHNU_LAB_API_KEY``
for a profile of the user's own), so the same switch was refused again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _switch_helpers import write_profiles
from typer.testing import CliRunner

from mahavishnu.cli.main import app

KEY = "sk-test-lab-0123456789abcdef"
LAB = """  lab:
    openai: {base_url: "http://127.0.0.1:9911/v1", model: lab-model, wire_api: chat}
    gemini: {base_url: "http://127.0.0.1:9911", model: lab-model}
"""
runner = CliRunner()


def _hint(tool: str) -> str:
    refused = runner.invoke(app, ["ai", "switch-llm", "lab", "--tool", tool])
    assert refused.exit_code == 1, refused.output
    return " ".join(refused.output.split())


@pytest.mark.parametrize("tool", ["qwen", "gemini"])
def test_the_hint_for_a_key_kept_in_the_secrets_store_works_as_written(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    write_profiles(isolated_home, LAB)
    assert runner.invoke(app, ["secrets", "set", "lab"], input=KEY + "\n").exit_code == 0
    hint = _hint(tool)
    added = re.search(r"Add `(env:\w+)` to the `secret` list of profile 'lab'", hint)
    if added:  # Gemini CLI reads GEMINI_API_KEY alone: the profile must name it
        write_profiles(isolated_home, LAB + f"    secret: [{added.group(1)}]\n")
    [variable] = re.findall(r'`export (\w+)="\$\(mahavishnu secrets get lab\)"`', hint)
    monkeypatch.setenv(variable, KEY)
    done = runner.invoke(app, ["ai", "switch-llm", "lab", "--tool", tool])
    assert done.exit_code == 0, done.output
    assert KEY not in done.output
    written = (isolated_home / f".{tool}").rglob("*")
    assert not any(KEY in p.read_text() for p in written if p.is_file()), "the key went by reference"
