"""``mahavishnu memory ingest | query | repos | forget-repo`` on the real embedded store, fake embedder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mahavishnu.cli import memory as memory_cli
from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.memory import store as store_module
from mahavishnu.memory.embedders.fake import FakeEmbedder

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "src").mkdir(parents=True)
    (root / "src/client.py").write_text(
        "def send(request, retries=3):\n    '''Retries are configured by the retries argument.'''\n"
        "    return transport(request, retries)\n\n\n"
        "def close():\n    pass\n"
    )
    (root / "README.md").write_text("# Shop\n\nA small shop.\n")
    (root / "image.png").write_bytes(b"\x89PNG\x00\x00")
    (root / ".gitignore").write_text("secret.py\n")
    (root / "secret.py").write_text("TOKEN = 'x'\n")
    return root


def memory(*args: str) -> Result:
    return runner.invoke(memory_cli.app, list(args))


def ok(*args: str) -> Any:
    result = memory(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout) if "--json" in args else result.stdout


def test_ingest_json_prints_only_the_run_summary(repo: Path) -> None:
    summary = ok("ingest", str(repo), "--json")

    assert summary["status"] == "completed" and summary["repo_id"] == "shop"
    assert (summary["files_seen"], summary["files_indexed"]) == (2, 2)
    assert summary["chunks_created"] >= 2 and summary["run_id"] == 1

    again = ok("ingest", str(repo), "--json")
    assert (again["files_unchanged"], again["chunks_created"]) == (2, 0)


def test_ingest_without_json_prints_a_summary_line(repo: Path) -> None:
    out = ok("ingest", str(repo), "--repo-id", "shop-main", "--exclude", "*.md")

    assert "shop-main: 1 files indexed" in out and "run #1" in out


def test_query_shows_locations_and_snippets_filtered_by_repo(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.md").write_text("Retries retries retries are configured everywhere here.\n")
    ok("ingest", str(repo), "--json")
    ok("ingest", str(other), "--json")

    hits = ok("query", "how are retries configured?", "--repo", "shop", "--limit", "1", "--json")
    assert [h["location"] for h in hits] == ["src/client.py:1-7"]
    assert hits[0]["repo_id"] == "shop" and "def send" in hits[0]["text"]

    out = ok("query", "how are retries configured?", "--repo", "shop", "--limit", "1")
    assert "src/client.py:1-7" in out and "def send(request, retries=3):" in out


def test_repos_and_forget_repo(repo: Path) -> None:
    summary = ok("ingest", str(repo), "--json")

    [listed] = ok("repos", "--json")
    assert (listed["repo_id"], listed["files"], listed["chunks"]) == ("shop", 2, summary["chunks_created"])
    assert listed["last_run"]["status"] == "completed"
    assert "shop" in ok("repos")

    assert ok("forget-repo", "shop", "--json") == {
        "repo_id": "shop",
        "chunks_deleted": summary["chunks_created"],
    }
    assert ok("repos", "--json") == []
    result = memory("forget-repo", "shop")
    assert result.exit_code != 0 and isinstance(result.exception, NotFoundError)


def test_query_of_an_unknown_repository_is_an_error_listing_the_known_ones(repo: Path) -> None:
    ok("ingest", str(repo), "--json")

    result = memory("query", "retries", "--repo", "shpo")

    assert isinstance(result.exception, NotFoundError)
    assert result.exception.message == "no ingested repository 'shpo'"
    assert "Known repositories: shop." in result.exception.hint


def test_memory_search_leaves_chunks_to_query_unless_asked_by_type(repo: Path) -> None:
    ok("ingest", str(repo), "--json")

    assert ok("search", "retries configured", "--json") == []
    chunks = ok("search", "retries configured", "--type", "rag", "--json")
    assert chunks and {h["memory"]["repo_id"] for h in chunks} == {"shop"}


def test_ingest_refuses_a_file_path(repo: Path) -> None:
    result = memory("ingest", str(repo / "README.md"))

    assert isinstance(result.exception, InvalidInputError)
    assert "is not a directory" in result.exception.message


def test_ingest_warns_about_undecodable_files(repo: Path) -> None:
    (repo / "legacy.py").write_bytes(b"# \x81\x8d\n")

    result = memory("ingest", str(repo))

    assert result.exit_code == 0
    assert "legacy.py: neither UTF-8 nor Windows-1252 text" in result.output


def test_include_replaces_the_extension_list(repo: Path) -> None:
    (repo / "Makefile").write_text("test:\n\tpytest -x\n")

    summary = ok("ingest", str(repo), "--include", "Makefile", "--include", "src/", "--json")

    assert (summary["files_seen"], summary["files_indexed"]) == (2, 2)
    [listed] = ok("repos", "--json")
    assert listed["files"] == 2
