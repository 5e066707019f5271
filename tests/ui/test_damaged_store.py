"""Over a damaged memory store every page says so in one line (the error page, the navigation
around it) with its hint, as the CLI does: the recall log and the repositories answered a bare 500
and logged a traceback, the memory page said "no memories yet" under the error."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from mahavishnu.errors import StoreDamagedError
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.ui.app import create_app
from mahavishnu.ui.memories import Library

TOKEN = "t0ken-for-tests"


def damaged() -> MemoryStore:
    raise StoreDamagedError("the memory store memory.db is damaged (file is not a database)")


@pytest.mark.parametrize(
    "path",
    ["/memory", "/memory/1", "/recall", "/insights", "/conversations", "/repositories", "/repositories/x"],
)
def test_every_page_over_a_damaged_store_says_so_in_one_line(path: str) -> None:
    app = create_app(Library(damaged), TOKEN)
    with TestClient(app, base_url="http://127.0.0.1:8690", raise_server_exceptions=False) as client:
        answer = client.get(path, headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.status_code in (200, 400), answer.text
    assert "is damaged (file is not a database)" in answer.text
    assert "<nav>" in answer.text and "db check" in answer.text  # and its hint
    assert "no memories yet" not in answer.text
