"""Re-ingest on the Repositories page reads the path the store recorded, and the store is not
only the user's: a team member with SQL could record `~/.aws` as a repository's path, whose
`config` (profiles, regions, SSO addresses) is no secret file the walk leaves out. A click on
Re-ingest refuses the folders MCP tools may not read (keys, Mahavishnu's own files)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mahavishnu.memory.core.models import format_time, utcnow
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.ingest.pipeline import ingest_repository


def _csrf(client: TestClient) -> dict[str, str]:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/repositories").text)
    assert found, "no form token on the page"
    return {"csrf": found.group(1)}


def _record(store: MemoryStore, repo_id: str, path: Path) -> None:
    store.backend.add_ingestion(
        {
            "repo_id": repo_id,
            "repo_path": str(path),
            "status": "completed",
            "started_at": format_time(utcnow()),
        }
    )


@pytest.mark.parametrize("folder", [".aws", ".ssh", ".gnupg"])
def test_a_recorded_key_folder_is_not_re_ingested(
    client: TestClient, store: MemoryStore, isolated_home: Path, folder: str
) -> None:
    keys = isolated_home / folder
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "config").write_text("[profile prod]\nsso_start_url = https://corp.awsapps.com/start\n")
    _record(store, "planted", keys)

    answer = client.post("/repositories/planted/ingest", data=_csrf(client), follow_redirects=False)

    assert answer.status_code == 400, answer.text
    assert "holds keys" in answer.text
    assert store.recent({"repo_id": "planted"}) == []  # nothing of it read
    assert "corp.awsapps.com" not in str([m.content for m in store.recent(limit=50)])


def test_a_repository_elsewhere_is_still_re_ingested(
    client: TestClient, store: MemoryStore, isolated_home: Path
) -> None:
    repo = isolated_home / "src" / "shop"
    repo.mkdir(parents=True)
    (repo / "cart.py").write_text("def total(items):\n    return sum(items)\n")
    ingest_repository(store, repo)
    (repo / "tax.py").write_text("def vat(amount):\n    return amount * 0.2\n")

    answer = client.post("/repositories/shop/ingest", data=_csrf(client), follow_redirects=False)

    assert answer.status_code == 303, answer.text
    paths = {m.metadata["path"] for m in store.recent({"repo_id": "shop"}, limit=20)}
    assert paths == {"cart.py", "tax.py"}
