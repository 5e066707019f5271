"""Ctrl-C during `memory import` says it was interrupted, what is kept, and that running it again is safe
(as `memory ingest` and `memory reembed` do)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli import memory as memory_cli
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder

runner = CliRunner()


def test_ctrl_c_during_import_says_what_is_kept_and_how_to_finish(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    export = tmp_path / "memories.jsonl"
    export.write_text("")

    def interrupted(self: object, path: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module.MemoryStore, "import_", interrupted)
    stopped = runner.invoke(memory_cli.app, ["import", str(export)])

    assert stopped.exit_code == 130
    said = " ".join(stopped.stderr.split())
    assert said.startswith("interrupted:") and "kept" in said
    assert f"mahavishnu memory import {export}" in said and "again" in said and "safe" in said
