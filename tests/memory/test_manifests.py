"""What a project's manifest says it is (``manifests.manifest_description``): the suggestion
``memory describe`` prints for a project not described yet."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mahavishnu.memory.core.manifests import MAX_BYTES, Described, manifest_description


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        (
            "pyproject.toml",
            '[project]\nname = "ledgerd"\ndescription = " The payments ledger "\n',
            "The payments ledger",
        ),
        ("pyproject.toml", '[tool.poetry]\ndescription = "A poetry project"\n', "A poetry project"),
        ("package.json", json.dumps({"name": "atrium", "description": "Customer portal"}), "Customer portal"),
        ("Cargo.toml", '[package]\nname = "skiff"\ndescription = "Deploy CLI"\n', "Deploy CLI"),
    ],
)
def test_each_manifest_kind_says_what_the_project_is(tmp_path: Path, name: str, text: str, said: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    assert manifest_description(tmp_path) == Described(name, said)


def test_the_first_manifest_with_a_description_wins_and_a_broken_one_is_passed_over(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\nbroken", encoding="utf-8")
    (tmp_path / "package.json").write_text(json.dumps({"description": "  "}), encoding="utf-8")
    (tmp_path / "Cargo.toml").write_text('[package]\ndescription = "Deploy CLI"\n', encoding="utf-8")
    assert manifest_description(tmp_path) == Described("Cargo.toml", "Deploy CLI")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("package.json", b'["not", "an object"]'),
        ("package.json", json.dumps({"description": ["a", "list"]}).encode()),
        ("pyproject.toml", b"[project]\ndescription = 3\n"),
        ("pyproject.toml", b'project = "not a table"\n'),
        ("pyproject.toml", b"\xff\xfe not utf-8"),
        ("package.json", b'{"description": "huge"' + b" " * MAX_BYTES + b"}"),
    ],
)
def test_nothing_is_suggested_from_a_manifest_that_says_nothing_usable(
    tmp_path: Path, name: str, content: bytes
) -> None:
    (tmp_path / name).write_bytes(content)
    assert manifest_description(tmp_path) is None


def test_a_folder_that_is_gone_or_holds_a_folder_named_like_a_manifest(tmp_path: Path) -> None:
    assert manifest_description(tmp_path / "gone") is None
    (tmp_path / "package.json").mkdir()
    assert manifest_description(tmp_path) is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("package.json", "[" * 200_000 + "]" * 200_000),
        ("pyproject.toml", "x = " + "[" * 200_000 + "]" * 200_000),
    ],
    ids=["json", "toml"],
)
def test_a_manifest_nested_too_deeply_is_passed_over(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    (tmp_path / "Cargo.toml").write_text('[package]\ndescription = "Deploy CLI"\n')
    assert manifest_description(tmp_path) == Described("Cargo.toml", "Deploy CLI")


def test_a_manifest_that_says_it_is_small_is_read_no_further_than_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of /proc says its size is 0 and holds megabytes: read up to the cap, then passed over."""
    (tmp_path / "package.json").write_text(json.dumps({"description": "x" * (MAX_BYTES + 10)}))
    (tmp_path / "Cargo.toml").write_text('[package]\ndescription = "Deploy CLI"\n')
    real_stat = Path.stat

    def stat(self: Path, **kwargs: object) -> object:
        found = real_stat(self, **kwargs)
        return os.stat_result((*found[:6], 0, *found[7:])) if self.name == "package.json" else found

    monkeypatch.setattr(Path, "stat", stat)
    assert manifest_description(tmp_path) == Described("Cargo.toml", "Deploy CLI")
