"""The dashboard served for real (uvicorn on 127.0.0.1, a port of its own) over the configured
store of the test's tmp home (fake embedder), and a headless Chromium driven by Selenium.

Without Chromium and its driver (Debian's ``chromium`` and ``chromium-driver``, installed by
``.ci/install-chromium.sh``) or without Selenium, the browser tests skip with the reason."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _dashboard import Dashboard, served
from starlette.testclient import TestClient

from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.ui.app import create_app
from mahavishnu.ui.memories import Library

#: Read at import: the autouse home fixture clears every MAHAVISHNU_ variable before a test runs.
SCREENSHOTS = os.environ.get("MAHAVISHNU_UI_SCREENSHOTS")


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    """The configured store (the one the dashboard and the CLI open), for setting up and checking."""
    with MemoryStore.open() as opened:
        yield opened


@pytest.fixture
def dashboard() -> Iterator[Dashboard]:
    with served() as running:
        yield running


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return "Chromium and its driver are not installed (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        print(f"\nbrowser tests skipped: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    profile = tmp_path_factory.mktemp("chromium-profile")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP refusals reach the console
    service = Service(executable_path=str(shutil.which("chromedriver")))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


#: Where the screenshots go by default: a folder of the repository CI keeps (gitignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


@pytest.fixture(scope="session")
def shots_folder() -> Path:
    """``MAHAVISHNU_UI_SCREENSHOTS`` when set, else ``test-artifacts/ui/`` at the repository's root;
    last run's PNGs removed first, so the folder holds this run's pages only."""
    folder = Path(SCREENSHOTS) if SCREENSHOTS else ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.fixture
def shots(shots_folder: Path) -> Path:
    """Where the tests keep each page's screenshot (one PNG per page, ``_dashboard.shot``)."""
    return shots_folder


@pytest.fixture
def client() -> Iterator[TestClient]:
    """The dashboard's app in process (Starlette's test client) over the configured store, logged in
    (a test file may have a ``client`` of its own)."""
    token = "t0ken-for-tests"
    with TestClient(create_app(Library(MemoryStore.open), token), base_url="http://127.0.0.1:8690") as c:
        assert c.get(f"/login?token={token}", follow_redirects=False).status_code == 303
        yield c
