"""What a local client can send the dashboard that is no request a browser makes: an id of
thousands of digits, an Origin that is no URL, a recall log with a line no hook wrote. Each is
answered as the nearest ordinary case (404, 403, the line skipped), never with a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop import recall_log
from mahavishnu.ui.app import create_app
from mahavishnu.ui.memories import Library

TOKEN = "t0ken-for-tests"
BEARER = {"authorization": f"Bearer {TOKEN}"}
#: Past Python's 4300-digit limit of int("..."): Starlette's int convertor raised on it.
HUGE = "9" * 4400


@pytest.fixture
def client(store: MemoryStore) -> Iterator[TestClient]:
    store.store("We use httpx", "decision", project="api")
    app = create_app(Library(MemoryStore.open), TOKEN)
    with TestClient(app, base_url="http://127.0.0.1:8690", raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/memory/{HUGE}"),
        *(("POST", f"/memory/{HUGE}/{action}") for action in ("edit", "delete", "quarantine", "trust")),
        ("POST", f"/insights/{HUGE}/share"),
        ("GET", "/memory/99999999999999999999"),  # past int64: no memory either
    ],
    ids=lambda value: value if len(value) < 40 else value.replace(HUGE, "9x4400"),
)
def test_an_id_of_too_many_digits_is_not_found(client: TestClient, method: str, path: str) -> None:
    answer = client.request(method, path, headers=BEARER, data={"projects": "web"}, follow_redirects=False)
    assert answer.status_code == 404, answer.text[:200]
    assert answer.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("path", "status", "said"),
    [
        ("/memory/abc", 404, "no page of the dashboard has this address"),
        ("/static/nothing.js", 404, "no page of the dashboard has this address"),
        ("/memory/1/delete", 405, "a button&#39;s (it changes something), not a page to open"),
    ],
)
def test_an_address_no_page_has_answers_the_error_page_with_the_menu(
    client: TestClient, path: str, status: int, said: str
) -> None:
    """A mistyped address, or a button's address opened (a form's, from the history): the dashboard's
    error page saying so, with its menu, where Starlette's bare "Not Found" text left the user stuck."""
    answer = client.get(path, headers=BEARER)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert said in answer.text and '<a href="/memory"' in answer.text
    assert answer.headers.get("allow") == ("POST" if status == 405 else None)
    assert answer.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("origin", ["http://[::1", "http://[", "http://[zz]", "http://[127.0.0.1]:x"])
def test_a_write_with_an_origin_that_is_no_url_is_refused_as_cross_site(
    client: TestClient, store: MemoryStore, origin: str
) -> None:
    headers = {**BEARER, "origin": origin}
    answer = client.post("/memory/1/delete", headers=headers, follow_redirects=False)
    assert answer.status_code == 403 and "another origin" in answer.text
    assert "content-security-policy" in answer.headers and answer.headers["x-frame-options"] == "DENY"
    assert store.get(1).content == "We use httpx"


#: Lines no hook writes: a time that is not a number of seconds datetime can show, a count past int.
DAMAGED = [
    '{"at": NaN, "tool": "claude", "ids": [1]}',
    '{"at": Infinity, "tool": "claude", "ids": [1]}',
    '{"at": 1e400, "tool": "claude", "ids": [1]}',
    '{"at": 1e20, "tool": "claude", "ids": [1]}',
    '{"at": -1e20, "tool": "claude", "ids": [1]}',
    '{"at": -1, "tool": "claude", "ids": [1]}',
    '{"at": 1700000000, "tool": "claude", "ids": [1], "tokens": 1e400}',
    '{"at": 1700000000, "tool": "claude", "ids": [1e400]}',
    '{"at": 1700000000, "tool": "claude", "ids": [1], "tokens": 1000000000000000000000000000000}',
    '{"at": 1700000000, "tool": "claude", "ids": [1], "tokens": -300}',
]


@pytest.mark.parametrize("line", DAMAGED)
def test_a_recall_log_line_no_hook_wrote_is_skipped_and_the_page_still_shows(
    client: TestClient, line: str
) -> None:
    recall_log.append("codex", "UserPromptSubmit", "api", None, [1], 12)
    with (recall_log.log_dir() / recall_log.LOG_NAME).open("a") as log:
        log.write(line + "\n")
    assert [e.tool for e in recall_log.read()] == ["codex"]
    page = client.get("/recall", headers=BEARER)
    assert page.status_code == 200, page.text[:200]
    assert "codex" in page.text and "We use httpx" in page.text


def test_a_recall_log_line_of_an_ordinary_time_is_kept() -> None:
    line = {"at": 1700000000.5, "tool": "claude", "event": "SessionStart", "ids": [3], "tokens": 7}
    entry = recall_log._parse(json.dumps(line))
    assert entry is not None and (entry.at, entry.ids, entry.tokens) == (1700000000.5, (3,), 7)


@pytest.mark.parametrize(
    "path",
    [
        "/memory?page=%C2%B2",
        "/memory/hits?page=%C2%B2",
        "/memory/forget?project=api&page=%C2%B2",
        "/usage?days=%C2%B2",
        "/recall?memory=%C2%B2",
        "/recall?memory=abc",
    ],
)
def test_a_number_in_a_digit_no_int_reads_is_taken_as_none_given(client: TestClient, path: str) -> None:
    """``"²".isdigit()`` is true, and ``int("²")`` raised: a 500 with a traceback."""
    answer = client.get(path, headers=BEARER)
    assert answer.status_code == 200, answer.text[:300]
    assert "for memory #" not in answer.text  # (it said "for memory #abc" and showed every entry)


def test_a_delete_sent_back_to_an_address_naming_path_is_done_and_said(
    client: TestClient, store: MemoryStore
) -> None:
    """A link to ``/recall?memory=1%26path%3Dx`` made the page's Delete post ``next`` with a ``path``
    query: the memory was deleted, then ``_back(path, **query)`` raised (a 500, the Undo lost)."""
    answer = client.post(
        "/memory/1/delete", headers=BEARER, data={"next": "/recall?memory=1&path=x"}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text[:300]
    assert "undo=" in answer.headers["location"] and "deleted" in answer.headers["location"]


def test_an_edit_post_that_leaves_fields_out_keeps_them(client: TestClient, store: MemoryStore) -> None:
    """A script's post with only the content wiped the tags, the project and the questions, and the
    page said "saved"."""
    asked = {"questions": ["which database does the ledger use?"]}
    kept = store.store("We chose PostgreSQL", "decision", tags=["db"], project="ledger", metadata=asked)
    answer = client.post(
        f"/memory/{kept.id}/edit",
        headers=BEARER,
        data={"content": "We chose PostgreSQL 16", "type": "decision"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and "saved" in answer.headers["location"]
    edited = store.get(kept.id)
    assert (edited.content, edited.tags, edited.project) == ("We chose PostgreSQL 16", ("db",), "ledger")
    assert edited.metadata["questions"] == ["which database does the ledger use?"]
    client.post(f"/memory/{kept.id}/edit", headers=BEARER, data={"tags": ""}, follow_redirects=False)
    assert store.get(kept.id).tags == () and store.get(kept.id).project == "ledger"  # an empty one empties


def test_a_multipart_edit_is_refused_and_the_memory_kept(client: TestClient, store: MemoryStore) -> None:
    """A multipart post (a script's ``curl -F content=@notes.txt``) reached the edit as an upload:
    the memory's text became ``UploadFile(filename='notes.txt', …)`` and the page said "saved"."""
    answer = client.post(
        "/memory/1/edit",
        headers=BEARER,
        data={"type": "note"},
        files={"content": ("notes.txt", b"We use httpx 0.28")},
        follow_redirects=False,
    )
    assert answer.status_code == 415 and "url-encoded" in answer.text
    assert store.get(1).content == "We use httpx"
