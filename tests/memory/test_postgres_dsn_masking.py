"""A DSN's password never shows, not even the tail of one with an unencoded ``@`` (libpq ends the
password at its first ``@`` and takes the rest for the host); masking a URL keeps its other query
parameters."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.errors import BackendUnavailableError
from mahavishnu.masking import mask_tree, mask_url

TAIL = "TopSecretTail"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def at_dsn(port: int) -> str:
    return f"postgresql://postgres:hunter2@{TAIL}@127.0.0.1:{port}/db"


def test_a_password_is_masked_up_to_the_last_at_of_the_authority() -> None:
    assert mask_url(at_dsn(5432)) == "postgresql://postgres:****@127.0.0.1:5432/db"
    assert mask_url("postgresql://u:a@b:c@h/x and https://v:w@k/y") == (
        "postgresql://u:****@h/x and https://v:****@k/y"
    )


def test_a_password_query_parameter_is_masked_and_the_others_kept() -> None:
    masked = mask_url("postgresql://u@h/db?password=x&sslmode=disable")
    assert masked == "postgresql://u@h/db?password=****&sslmode=disable"
    assert mask_url("postgresql://u@h/db?sslmode=disable&password=x") == (
        "postgresql://u@h/db?sslmode=disable&password=****"
    )
    assert mask_url("host=h password='a b\\' c' sslmode=disable") == "host=h password=**** sslmode=disable"


def test_config_show_masks_the_whole_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", at_dsn(5432) + "?password=x&sslmode=disable")

    result = CliRunner().invoke(app, ["config", "show", "--json"])

    assert result.exit_code == 0, result.output
    shown = {s["key"]: s["value"] for s in json.loads(result.output)["settings"]}
    assert shown["memory.dsn"] == "postgresql://postgres:****@127.0.0.1:5432/db?password=****&sslmode=disable"
    assert mask_tree({"dsn": at_dsn(1)})["dsn"] == "postgresql://postgres:****@127.0.0.1:1/db"


def test_a_connection_error_hides_the_tail_and_suggests_percent_encoding() -> None:
    pytest.importorskip("psycopg")
    from mahavishnu.memory.core.backends.postgres import PostgresBackend, dsn_location

    port = free_port()
    with pytest.raises(BackendUnavailableError) as info:
        PostgresBackend(at_dsn(port))

    assert f"cannot use PostgreSQL at 127.0.0.1:{port}" in info.value.message
    assert TAIL not in info.value.message + info.value.hint
    assert "percent-encode" in info.value.hint and "%40" in info.value.hint
    assert TAIL not in dsn_location(at_dsn(port))


def test_the_cli_shows_neither_part_of_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__BACKEND", "postgres")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", at_dsn(free_port()))

    result = CliRunner().invoke(app, ["memory", "stats"])

    assert result.exit_code != 0 and "error: cannot use PostgreSQL at 127.0.0.1:" in result.output
    assert TAIL not in result.output and "hunter2" not in result.output
    assert "%40" in result.output


def test_an_ordinary_connection_error_keeps_its_usual_hint() -> None:
    pytest.importorskip("psycopg")
    from mahavishnu.memory.core.backends.postgres import PostgresBackend

    with pytest.raises(BackendUnavailableError) as info:
        PostgresBackend(f"postgresql://me:plain-pw@127.0.0.1:{free_port()}/db")
    assert "percent-encode" not in info.value.hint
