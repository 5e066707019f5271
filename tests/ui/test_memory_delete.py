"""A memory deleted from the dashboard is kept for the undo window, as a bulk forget is; a delete the
store refuses (a repository chunk) deletes nothing and leaves no undo file behind."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from mahavishnu.memory.core import sharing
from mahavishnu.memory.core.models import INGEST_SOURCE
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.ui.memories import trash_dir


def csrf_of(client: TestClient, memory_id: int) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/memory/{memory_id}").text)
    assert found is not None
    return found.group(1)


def test_a_deleted_memory_comes_back_with_its_id_from_the_flashs_undo(
    client: TestClient, store: MemoryStore
) -> None:
    kept = store.store("Invoices are sent on the 1st.", "decision", project="billing", tags=["money"])
    csrf = csrf_of(client, kept.id)
    answer = client.post(f"/memory/{kept.id}/delete", data={"csrf": csrf}, follow_redirects=False)
    undo = re.search(r"undo=([0-9a-f]{16})", answer.headers["location"])
    assert answer.status_code == 303 and undo is not None
    assert store.get_many([kept.id]) == {}
    assert 'id="undo"' in client.get(answer.headers["location"]).text

    client.post(f"/memory/undo/{undo.group(1)}", data={"csrf": csrf})
    back = store.get(kept.id)
    assert (back.content, back.project, back.tags) == (kept.content, "billing", ("money",))

    # its Undo again (a second tab, or the page Back shows from the browser's cache): said as it is,
    # not as a timeout ("can no longer be undone: Undo lasts 15 min", a minute after the delete)
    again = client.post(f"/memory/undo/{undo.group(1)}", data={"csrf": csrf})
    assert again.status_code == 404 and "undone already" in again.text


def test_undoing_the_delete_of_a_shared_insight_shares_it_again(
    client: TestClient, store: MemoryStore
) -> None:
    """The undo file held the memory alone: the insight came back seen by its project only."""
    insight = store.store("★ Insight: jitter on retries avoids thundering herds", "insight", project="api")
    sharing.add_shares(store, [insight.id], ["web", "worker"], "direct")
    csrf = csrf_of(client, insight.id)
    answer = client.post(f"/memory/{insight.id}/delete", data={"csrf": csrf}, follow_redirects=False)
    undo = re.search(r"undo=([0-9a-f]{16})", answer.headers["location"])
    assert undo is not None and sharing.insight_projects(store, [insight]) == [()]
    client.post(f"/memory/undo/{undo.group(1)}", data={"csrf": csrf})
    assert sharing.insight_projects(store, [store.get(insight.id)]) == [("web", "worker")]


def test_a_refused_delete_leaves_the_memory_and_no_undo_file(client: TestClient, store: MemoryStore) -> None:
    chunk = store.store("def main(): ...", "rag", repo_id="shop", source_system=INGEST_SOURCE)
    csrf = csrf_of(client, chunk.id)
    answer = client.post(f"/memory/{chunk.id}/delete", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 400 and 'id="error"' in answer.text
    assert store.get(chunk.id).content == "def main(): ..."
    assert list(trash_dir().glob("*.jsonl")) == []
