"""What the browser tests know of the dashboard they run against (``conftest.dashboard``), and how
they drive it (Selenium)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 10.0


@dataclass
class Dashboard:
    url: str  # http://127.0.0.1:PORT
    token: str

    @property
    def login(self) -> str:
        return f"{self.url}/login?token={self.token}"


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
