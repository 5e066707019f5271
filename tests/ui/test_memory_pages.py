"""The newest memories page by page (no search text): 50 a page, an Older link while older ones
follow, a Newer link back; every memory on exactly one page, filters kept, those read from each
memory (hidden quarantine) too. Before, the page showed the newest 50 and nothing led further."""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from mahavishnu.memory.core.store import MemoryStore


def walk(client: TestClient, address: str) -> list[list[int]]:
    """The memory ids of each page, following the Older links from ``address``."""
    pages: list[list[int]] = []
    while address:
        page = client.get(address).text
        pages.append([int(i) for i in re.findall(r'<li class="hit[^"]*" data-id="(\d+)"', page)])
        older = re.search(r'id="older" href="([^"]+)"', page)
        address = html.unescape(older.group(1)) if older else ""
        assert len(pages) < 10, "the Older links do not end"
    return pages


@pytest.mark.parametrize("quarantined", ["", "hide"])
def test_every_memory_is_on_one_page_newest_first(
    client: TestClient, store: MemoryStore, quarantined: str
) -> None:
    ids = [store.store(f"note number {n} on the build", "note", project="ci").id for n in range(120)]
    hidden = set(ids[::7])
    for memory_id in hidden:
        store.quarantine(memory_id)
    store.store("a memory of another project", "note", project="docs")
    expected = [i for i in reversed(ids) if not (quarantined and i in hidden)]

    pages = walk(client, f"/memory?project=ci&quarantined={quarantined}")
    assert [len(p) for p in pages] == [50, 50, len(expected) - 100]
    assert [i for p in pages for i in p] == expected

    second = client.get(f"/memory?project=ci&quarantined={quarantined}&page=2").text
    assert "memories 51–100, newest first" in second
    newer = re.search(r'id="newer" href="([^"]+)"', second)
    assert newer is not None and "page=" not in newer.group(1) and "project=ci" in newer.group(1)
    assert "no older memories" in client.get("/memory?project=ci&page=9").text


def test_the_dashboard_follows_a_reembed_in_another_process() -> None:
    """The dashboard kept the store it opened first: after a `memory reembed` elsewhere its
    searches embedded the query with the old model. Now it opens the store anew (``superseded``)."""
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.ui.memories import Library

    model = ["hashing-v1"]  # the embedder the store records (``MemoryStore.open`` follows it)
    library = Library(lambda: MemoryStore.open(embedder=FakeEmbedder(model=model[0])))
    with library.store() as first:
        first.store("Use WAL mode for sqlite", "decision")
    with MemoryStore.open(embedder=FakeEmbedder()) as elsewhere:
        elsewhere.reembed(FakeEmbedder(model="v2"))
    model[0] = "v2"
    with library.store() as store:
        assert store is not first and store.embedder.identity == "fake/v2"
        assert store.search("sqlite WAL", mode="vector")[0].memory.content == "Use WAL mode for sqlite"
        assert store.store("Ledger storage is PostgreSQL 15", "decision").embedding_model == "fake/v2"
    library.close()


HTMX = {"HX-Request": "true"}


def test_the_address_bar_follows_the_search_and_loading_it_shows_the_same_search(
    client: TestClient, store: MemoryStore
) -> None:
    """Search as you type names the search and its filters in the address (``HX-Replace-Url``),
    so a reload, Back to it or a shared link shows the same search; the default mode is left out
    (every address said ``mode=hybrid``, a cleared search box ``/memory?mode=hybrid``)."""
    store.store("We use httpx for every HTTP client call", "decision", project="api")
    typed = client.get("/memory/hits?q=httpx&mode=text&project=api&type=&since=", headers=HTMX)
    assert typed.headers["hx-replace-url"] == "/memory?q=httpx&mode=text&project=api"
    assert client.get("/memory/hits?q=httpx&mode=hybrid", headers=HTMX).headers["hx-replace-url"] == (
        "/memory?q=httpx"
    )
    assert (
        client.get("/memory/hits?q=&mode=hybrid&project=", headers=HTMX).headers["hx-replace-url"]
        == "/memory"
    )
    assert "hx-replace-url" not in client.get("/memory/hits?q=httpx").headers  # not htmx's: no address bar

    page = client.get(typed.headers["hx-replace-url"]).text
    assert 'id="q" value="httpx"' in page and '<option value="text" selected>' in page
    assert '<input name="project" value="api">' in page and '<details class="filters" open>' in page
    assert "1 hit · text" in page and "We use httpx" in page


@pytest.mark.parametrize("refused", ["type=bogus", "provenance=rumour"])
def test_a_refused_filter_keeps_the_search_and_the_other_filters_in_the_form(
    client: TestClient, store: MemoryStore, refused: str
) -> None:
    """The form came back blank beside the error: the search text typed was lost from the box (the
    address still had it). Now it keeps the search and the filters that were not refused, and offers
    no bulk forget (it would name fewer filters than were asked for)."""
    store.store("redis is the session cache", "decision", project="api")
    answer = client.get(f"/memory?q=redis&mode=text&project=api&{refused}")
    page = answer.text
    assert answer.status_code == 400  # it answered 200, as if the filter had been taken
    assert 'id="error"' in page and ("no memory type" in page or "no provenance" in page)
    assert 'id="q" value="redis"' in page and '<option value="text" selected>' in page
    assert '<input name="project" value="api">' in page and '<details class="filters" open>' in page
    assert 'id="forget-link"' not in page and "hits ·" not in page and "redis is the session" not in page


def test_search_as_you_type_with_a_refused_filter_answers_the_error_line_not_a_page(
    client: TestClient,
) -> None:
    """``/memory/hits?type=bogus`` from htmx answered the whole error page (menu and all), which
    htmx put inside the list of hits. Now it answers the list's fragment with the error line, and
    leaves the address bar as it was."""
    answer = client.get("/memory/hits?q=redis&type=bogus", headers=HTMX)
    assert answer.status_code == 400  # still swapped in: base.html's htmx-config swaps a 4xx
    assert 'id="error">no memory type &#39;bogus&#39;<' in answer.text
    assert "<nav" not in answer.text and "<html" not in answer.text.lower()
    assert "hx-replace-url" not in answer.headers
