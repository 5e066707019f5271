"""``mahavishnu ui`` opens the browser on a 0600 page that loads the login URL, never on the URL
itself: the browser's command line is readable by every user of the machine (``ps``), and with the
URL in it any of them could log in."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mahavishnu.ui import server

URL = "http://127.0.0.1:8690/login?token=s3cret-t0ken&next=/memory"


def test_the_browser_is_given_a_private_page_not_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda address, *args, **kwargs: opened.append(address))
    server._open(URL)
    assert len(opened) == 1 and "s3cret-t0ken" not in opened[0]
    assert opened[0].startswith("file://")
    page = Path(opened[0].removeprefix("file://"))
    assert stat.S_IMODE(page.stat().st_mode) == 0o600 and page.stat().st_uid == os.getuid()
    assert (
        'content="0;url=http://127.0.0.1:8690/login?token=s3cret-t0ken&amp;next=/memory"' in page.read_text()
    )


def test_the_page_loads_the_dashboard_in_a_real_browser(browser: object, dashboard: object) -> None:
    from _dashboard import Dashboard, by_css, wait_for

    assert isinstance(dashboard, Dashboard)
    page = server._redirect_page(dashboard.login)
    browser.get(page.as_uri())  # type: ignore[attr-defined]
    wait_for(lambda: browser.current_url == dashboard.url + "/memory", "the login")  # type: ignore[attr-defined]
    assert by_css(browser, "header.top nav")


def test_a_dashboard_that_stops_removes_its_page_and_keeps_another_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page held the login URL, token included, after the dashboard stopped and the token
    with it; a page written for another dashboard still running stays."""
    monkeypatch.setattr("webbrowser.open", lambda address, *args, **kwargs: None)
    monkeypatch.setattr(server, "_serve", lambda sock, token, url, **kwargs: server._open(url))
    page = server.server_file().parent / "open.html"
    server.serve(port=0, open_browser=True, announce=lambda line: None)
    assert not page.exists()

    def open_another(sock: object, token: str, url: str, **kwargs: object) -> None:
        server._open(url)
        server._open(URL)  # `mahavishnu ui` run again, on the port of a dashboard still running

    monkeypatch.setattr(server, "_serve", open_another)
    server.serve(port=0, open_browser=True, announce=lambda line: None)
    assert "s3cret-t0ken" in page.read_text()
