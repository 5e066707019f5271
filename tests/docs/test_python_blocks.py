"""The Python examples of the documentation run as written, each in a fresh process and HOME, from the
checkout (the Agno example's model is the loopback mock LLM of tests/e2e/). What an example stored is
then found by the search the page shows next."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blocks import ROOT, Block, blocks, pages

#: the library each page's examples need (an optional extra)
NEEDS = {"llama_index": "llama_index.core", "prefect": "prefect", "agno": "agno"}


def python_blocks() -> list[Block]:
    return [b for page in pages() for b in blocks(page) if b.lang == "python"]


def _run(block: Block, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOME": str(home),
        "MAHAVISHNU_HOME": str(home / ".mahavishnu"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "MAHAVISHNU_DAEMON": "off",
    }
    return subprocess.run(
        [sys.executable, "-c", block.text], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
@pytest.mark.parametrize("block", python_blocks(), ids=lambda b: b.where)
def test_every_python_example_runs(block: Block, tmp_path: Path) -> None:
    for name, module in NEEDS.items():
        if f"from {name}" in block.text or f"import {name}" in block.text:
            pytest.importorskip(module)
    done = _run(block, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_the_agno_example_stores_the_conversation_against_the_mock(tmp_path: Path) -> None:
    pytest.importorskip("agno")
    [agno] = [b for b in python_blocks() if "from agno" in b.text]
    assert "MockLLM" in agno.text, "the Agno example must run without a key, against the loopback mock"
    assert _run(agno, tmp_path).returncode == 0
    found = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "memory", "search", "deploy key", "--type", "agent", "--json"],
        env={**os.environ, "HOME": str(tmp_path), "MAHAVISHNU_HOME": str(tmp_path / ".mahavishnu")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert found.returncode == 0, found.stderr
    assert "How do we rotate the deploy key?" in found.stdout
    assert "vault rotate deploy-key" in found.stdout
