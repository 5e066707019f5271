"""What the browser tests know of the dashboard they run against (``conftest.dashboard``), and how
they drive it (Selenium)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testkit.ports import served_in_thread

TIMEOUT = 10.0


@dataclass
class Dashboard:
    url: str  # http://127.0.0.1:PORT
    token: str

    @property
    def login(self) -> str:
        return f"{self.url}/login?token={self.token}"


@contextlib.contextmanager
def served(*, record: bool = True) -> Iterator[Dashboard]:
    """The dashboard on a free port of 127.0.0.1, with a token of its own (``record``: in
    ``ui/server.json``, as ``ui/server.py`` records itself)."""
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.ui.app import create_app
    from mahavishnu.ui.memories import Library
    from mahavishnu.ui.server import _remember, server_file

    token = "test-token-" + os.urandom(8).hex()
    with served_in_thread(create_app(Library(MemoryStore.open), token)) as port:
        if record:
            _remember(port, f"http://127.0.0.1:{port}/login?token={token}")
        try:
            yield Dashboard(f"http://127.0.0.1:{port}", token)
        finally:
            if record:
                server_file().unlink(missing_ok=True)


def wait_for(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            found = check()
        except Exception:  # an element replaced while it was read, not there yet…
            found = None
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def by_css(browser: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, selector)


def all_css(browser: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(browser.find_elements(By.CSS_SELECTOR, selector))


def log_in(browser: Any, dashboard: Dashboard, path: str = "/memory") -> None:
    browser.get(f"{dashboard.login}&next={path}")
    wait_for(lambda: browser.current_url == dashboard.url + path, f"the login to land on {path}")


def shot(browser: Any, shots: Path, name: str) -> None:
    browser.save_screenshot(str(shots / f"{name}.png"))
