"""Defects found by using the dashboard as a person and as an attacker (no browser: Starlette's test
client, the pages read as a browser reads them).

* A save that changed only the tags rewrote the memory's text too: the page shows no control
  character or direction override and a browser drops a textarea's first newline, so the text came
  back without them (an ANSI colour left as ``[31m``, a leading newline lost, U+202E dropped).
* Saving the edit of a memory deleted meanwhile (another tab, the CLI, an agent) lost what was typed.
* Form controls named only by a placeholder, or not at all (the search mode), and rows of buttons
  all called "Delete" that a screen reader cannot tell apart.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from starlette.testclient import TestClient

from mahavishnu.memory.core.sharing import create_group
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop import recall_log

KEY = "sk-ant-api03-" + "R" * 93 + "-RRRRRR"


def _textarea(page: str, name: str) -> str:
    """A textarea's value as a browser parses it: entities decoded, one newline right after the
    start tag dropped (HTML's parsing rule for ``textarea`` and ``pre``)."""
    found = re.search(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found is not None
    value = html.unescape(found.group(1))
    return value[1:] if value.startswith("\n") else value


def _form(client: TestClient, memory_id: int) -> dict[str, str]:
    """The edit form as a browser posts it untouched (textarea lines with CRLF endings)."""
    page = client.get(f"/memory/{memory_id}").text
    form = page[page.index('id="edit"') : page.index("</form>", page.index('id="edit"'))]
    fields = {n: html.unescape(v) for n, v in re.findall(r'name="(\w+)" [^>]*value="([^"]*)"', form)}
    selected = re.search(r'<option value="(\w+)" selected>', form)
    assert selected is not None
    fields["type"] = selected.group(1)
    for name in ("content", "questions"):
        fields[name] = _textarea(form, name).replace("\n", "\r\n")
    return fields


@pytest.mark.parametrize(
    "text",
    [
        "\nA note that starts on its second line.",
        "Build output: \x1b[31mFAILED\x1b[0m on step 3\x07",
        "Attachment invoice\u202egpj.exe came from the vendor",
        "Page one\x0cpage two\r\nand a carriage return",
    ],
    ids=["leading-newline", "ansi-colour", "direction-override", "form-feed-and-crlf"],
)
def test_a_save_that_changes_only_the_tags_keeps_the_text_as_stored(
    client: TestClient, store: MemoryStore, text: str
) -> None:
    stored = store.store(text, "note", tags=["ops"])
    before = store.get(stored.id)
    answer = client.post(
        f"/memory/{stored.id}/edit",
        data={**_form(client, stored.id), "tags": "ops, build"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and "saved" in answer.headers["location"]
    after = store.get(stored.id)
    assert after.tags == ("ops", "build")
    assert after.content == before.content and after.content_hash == before.content_hash

    untouched = client.post(
        f"/memory/{stored.id}/edit", data=_form(client, stored.id), follow_redirects=False
    )
    assert "nothing+changed" in untouched.headers["location"]


def test_a_new_text_typed_over_hidden_characters_is_saved(client: TestClient, store: MemoryStore) -> None:
    stored = store.store("colour \x1b[31mred\x1b[0m", "note")
    client.post(f"/memory/{stored.id}/edit", data={**_form(client, stored.id), "content": "colour: red"})
    assert store.get(stored.id).content == "colour: red"


def test_saving_the_edit_of_a_memory_deleted_meanwhile_shows_what_was_typed(
    client: TestClient, store: MemoryStore
) -> None:
    stored = store.store("Deploys run on Tuesdays.", "decision")
    form = _form(client, stored.id)
    store.delete(stored.id)  # meanwhile: another tab, `memory delete`, an agent
    typed = f"Deploys run on Thursdays now; the deploy key is {KEY}"
    answer = client.post(f"/memory/{stored.id}/edit", data={**form, "content": typed})
    assert answer.status_code == 404
    assert f"memory #{stored.id} was deleted" in answer.text and "nothing was saved" in answer.text
    shown = _textarea(answer.text.replace('id="unsaved-content"', 'name="unsaved"'), "unsaved")
    assert shown.startswith("Deploys run on Thursdays now; the deploy key is [REDACTED")
    assert KEY not in answer.text  # scrubbed, as a saved memory would be


class _Controls(HTMLParser):
    """Each form control and button of a page, with the name a screen reader gives it: its
    ``aria-label``, else its ``<label>`` (around it or ``for`` its id), else a button's text."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[str] = []  # the text of each open <label>
        self.label_for: set[str] = set()
        self.controls: list[tuple[str, dict[str, str | None], bool]] = []
        self.buttons: list[str] = []
        self._button: tuple[str | None, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "label":
            self.labels.append("")
            if named.get("for"):
                self.label_for.add(str(named["for"]))
        elif tag in ("input", "select", "textarea") and named.get("type") != "hidden":
            self.controls.append((tag, named, bool(self.labels)))
        elif tag == "button":
            self._button = (named.get("aria-label"), [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self.labels:
            self.labels.pop()
        elif tag == "button" and self._button is not None:
            label, text = self._button
            self.buttons.append(label or " ".join("".join(text).split()))
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[1].append(data)

    def unnamed(self) -> list[str]:
        return [
            f"<{tag} name={attrs.get('name')!r}>"
            for tag, attrs, in_label in self.controls
            if not (in_label or attrs.get("aria-label") or attrs.get("id") in self.label_for)
        ]


def _read(client: TestClient, path: str) -> _Controls:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.text[:300])
    parsed = _Controls()
    parsed.feed(answer.text)
    return parsed


PAGES = [
    "/memory",
    "/memory?q=deploys",
    "/insights",
    "/recall",
    "/conversations",
    "/usage",
    "/health?probe=0",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_form_control_has_a_name_a_screen_reader_reads(
    client: TestClient, store: MemoryStore, path: str
) -> None:
    """A placeholder is no label (it goes when one types); the search mode had no name at all."""
    insight = store.store(
        "Deploys need the migrations run first, always, before the app starts.", "insight", project="api"
    )
    create_group(store, "backend", ["api"])
    recall_log.append("claude", "UserPromptSubmit", "api", "s1", [insight.id], 40)
    assert _read(client, path).unnamed() == []


def test_a_row_of_buttons_names_what_each_acts_on(client: TestClient, store: MemoryStore) -> None:
    """The recall log and the Insights page repeat Quarantine, Delete, Share… on every row: each
    says which memory or group it acts on."""
    first = store.store(
        "Deploys need the migrations run first, always, before the app starts.", "insight", project="api"
    )
    second = store.store(
        "The ledger is PostgreSQL 16 with logical replication to the reports box.", "insight", project="api"
    )
    create_group(store, "backend", ["api"])
    create_group(store, "frontend", ["web"])
    recall_log.append("claude", "UserPromptSubmit", "api", "s1", [first.id, second.id], 40)
    for path in ("/recall", "/insights"):
        buttons = _read(client, path).buttons
        repeated = sorted({b for b in buttons if buttons.count(b) > 1})
        assert repeated == [], (path, repeated)
    assert f"Delete memory #{first.id}" in _read(client, "/recall").buttons
    assert "Delete group backend" in _read(client, "/insights").buttons


def test_the_memory_page_has_a_heading(client: TestClient) -> None:
    assert re.search(r"<h1[^>]*>Memory</h1>", client.get("/memory").text)


def test_a_one_day_window_says_one_day(client: TestClient) -> None:
    page = client.get("/usage?days=1").text
    assert re.search(r'id="window">1 day to \d{4}-\d\d-\d\d<', page), page[:2000]


def test_a_forget_of_one_memory_says_one_memory(client: TestClient, store: MemoryStore) -> None:
    store.store("The only note of the billing project.", "note", project="billing")
    page = client.get("/memory/forget?project=billing").text
    assert re.search(r"<strong>1</strong> memory would be forgotten", page), page


def test_the_dashboard_serves_again_at_once_on_the_port_it_just_left() -> None:
    """A stopped dashboard's connections wait in TIME_WAIT on its port for a minute: `mahavishnu ui`
    run again at once said "cannot serve on 127.0.0.1:PORT: Address already in use". A port still
    listened on is refused as before."""
    import socket

    from mahavishnu.ui import server

    listening = server._bind(0)
    port = listening.getsockname()[1]
    with socket.create_connection((server.HOST, port)) as browser:
        served, _ = listening.accept()
        served.close()  # the server's side closes first: its end of the connection waits in TIME_WAIT
        browser.recv(1)
    listening.close()
    again = server._bind(port)
    try:
        with pytest.raises(OSError):
            server._bind(port).close()  # a second dashboard on a port that is listened on
    finally:
        again.close()


def test_the_recall_log_says_which_memories_were_edited_after_they_were_sent(
    client: TestClient, store: MemoryStore
) -> None:
    """The log keeps ids, and the page shows each memory as it is now: one edited since read as if
    that text had been sent. The times are the machine's, and the page says which zone."""
    import time

    edited = store.store("The ledger runs PostgreSQL 15.", "decision", project="api")
    kept = store.store("Deploys go out on Tuesdays.", "decision", project="api")
    recall_log.append("claude", "UserPromptSubmit", "api", "s1", [edited.id, kept.id], 40)
    time.sleep(0.01)
    store.update(edited.id, content="The ledger runs PostgreSQL 16.")
    page = client.get("/recall").text
    rows = {int(i): text for i, text in re.findall(r'<li data-id="(\d+)">(.*?)</li>', page, re.S)}
    assert "edited since" in rows[edited.id] and "edited since" not in rows[kept.id]
    assert re.search(r"<th>When \([^)]+\)</th>", page)
