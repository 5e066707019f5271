"""`secrets list` says which names cannot be read (the secrets file gone, damaged or readable by
others, no OS keyring) and why, never a value, and exits 1 as `secrets get` of those names does;
`--json` gives the same rows with their problem. A keyring is not read entry by entry (it may prompt)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mahavishnu import paths
from mahavishnu.cli.main import app
from mahavishnu.environments import secrets
from mahavishnu.environments.secrets import list_secrets, store_secret

runner = CliRunner()
VALUE = "sk-gem-0123456789abcdef"


def _listed(*options: str) -> tuple[int, Any, str]:
    result = runner.invoke(app, ["secrets", "list", "--json", *options])
    return result.exit_code, json.loads(result.stdout), result.stdout + result.stderr


def _file() -> Path:
    store_secret("gemini", VALUE, "file")
    return paths.secrets_file()


def test_readable_names_have_no_problem_and_exit_0() -> None:
    _file()
    code, rows, said = _listed()
    assert VALUE not in said
    assert (code, rows) == (0, [{"name": "gemini", "store": "file", "problem": None}])
    plain = runner.invoke(app, ["secrets", "list"])
    assert plain.exit_code == 0 and "cannot be read" not in plain.output and VALUE not in plain.output


def test_a_removed_secrets_file_is_said_for_each_name_it_held() -> None:
    _file().unlink()
    code, rows, _ = _listed()
    assert code == 1 and runner.invoke(app, ["secrets", "get", "gemini"]).exit_code == 1
    [row] = rows
    assert row["problem"].startswith(f"no longer in {paths.secrets_file()}. Store it again")
    assert "`mahavishnu secrets delete gemini --store file`" in row["problem"]
    plain = runner.invoke(app, ["secrets", "list"])
    assert plain.exit_code == 1
    assert "cannot be read" in plain.stdout
    assert plain.stderr.startswith("warning: gemini (file): no longer in") and plain.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda path: path.write_text(f'gemini = "{VALUE}\n'), "invalid TOML in"),
        (lambda path: os.chmod(path, 0o644), "is readable by other users (mode 644). Run `chmod 600"),
        (lambda path: path.write_bytes(b"\xff\xfe"), "is not UTF-8 text. Fix"),
    ],
)
def test_a_damaged_secrets_file_is_said_once_without_a_value(damage: Any, says: str) -> None:
    path = _file()
    store_secret("qwen", "sk-qwen-0123456789abcdef", "file")
    damage(path)
    code, rows, said = _listed()
    assert code == 1 and {row["name"] for row in rows} == {"gemini", "qwen"}
    assert all(says in row["problem"] for row in rows)
    plain = runner.invoke(app, ["secrets", "list"])
    assert plain.exit_code == 1 and plain.stderr.count("\n") == 1  # one problem, once
    assert plain.stderr.startswith("warning: gemini (file), qwen (file): ")
    assert "sk-" not in said + plain.output


def test_a_name_only_the_file_holds_is_listed() -> None:
    path = _file()
    path.write_text(path.read_text() + 'byhand = "sk-hand-0123456789"\n')
    assert {"name": "byhand", "store": "file", "problem": None} in list_secrets()


def test_keyring_names_without_a_keyring_cannot_be_read(monkeypatch: pytest.MonkeyPatch) -> None:
    store_secret("qwen", "sk-qwen-0123456789abcdef", "keyring")
    import keyring.core
    from keyring.backends import fail

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.core.set_keyring(fail.Keyring())
    code, rows, _ = _listed()
    assert code == 1 and rows[0]["problem"].startswith("no OS keyring on this machine. Use an env:VAR")


def test_a_keyrings_entries_are_not_read_to_list_them(monkeypatch: pytest.MonkeyPatch) -> None:
    store_secret("qwen", "sk-qwen-0123456789abcdef", "keyring")

    def prompts(*args: str) -> object:
        raise AssertionError(f"read the keyring: {args}")

    monkeypatch.setattr(secrets, "_keyring_call", prompts)
    assert list_secrets() == [{"name": "qwen", "store": "keyring", "problem": None}]


def test_deleting_a_name_its_store_lost_drops_it_from_the_list() -> None:
    _file().unlink()
    result = runner.invoke(app, ["secrets", "delete", "gemini"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "gemini was no longer in the file: dropped from `secrets list`\n"
    assert _listed()[:2] == (0, [])
    again = runner.invoke(app, ["secrets", "delete", "gemini"])
    assert again.exit_code == 1 and "no secret 'gemini'" in again.stderr
