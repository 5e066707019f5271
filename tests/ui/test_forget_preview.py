"""A forget by filter removes the memories its preview listed, or nothing (no browser): a memory
that came to match the filters after the preview is never forgotten unseen."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from mahavishnu.memory.core.store import MemoryStore


def previewed_form(client: TestClient, project: str) -> dict[str, str]:
    """The Forget button's form of the preview, as the browser would post it."""
    page = client.get(f"/memory/forget?project={project}").text
    form = page[page.index('id="forget"') : page.index("</form>", page.index('id="forget"'))]
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))


def test_a_memory_that_matches_only_since_the_preview_is_not_forgotten(
    client: TestClient, store: MemoryStore
) -> None:
    old = store.store("The scratch build cache lives in /tmp/build-cache.", "note", project="scratch")
    gone = store.store("Scratch builds run on the spare runner.", "note", project="scratch")
    form = previewed_form(client, "scratch")
    store.delete(gone.id)  # as many match as the preview showed, but not the same ones
    new = store.store("Scratch holds the release signing checklist now.", "decision", project="scratch")

    refused = client.post("/memory/forget", data=form, follow_redirects=False)
    assert refused.status_code == 400 and "changed since the preview" in refused.text
    assert {m.id for m in store.recent({"project": "scratch"})} == {old.id, new.id}

    done = client.post("/memory/forget", data=previewed_form(client, "scratch"), follow_redirects=False)
    assert done.status_code == 303 and "2+memories+forgotten" in done.headers["location"]
    assert store.recent({"project": "scratch"}) == []


def test_filters_that_match_nothing_offer_no_forget(client: TestClient, store: MemoryStore) -> None:
    """The list said "0 newest memories" and offered to forget everything its filters match."""
    store.store("The scratch build cache lives in /tmp/build-cache.", "note", project="scratch")
    assert 'id="forget-link"' in client.get("/memory/hits?project=scratch").text
    assert 'id="forget-link"' not in client.get("/memory/hits?project=nowhere").text
