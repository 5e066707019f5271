"""Serving the dashboard: a port on 127.0.0.1, a token made at start, the login URL printed (and
kept, 0600, in ``$MAHAVISHNU_HOME/ui/server.json`` so the service's URL can be found), the browser
opened on it.

A second ``mahavishnu ui`` on the port of a dashboard already running opens that one instead of
failing (as Jupyter does)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from mahavishnu import paths
from mahavishnu.errors import MahavishnuError
from mahavishnu.services.definitions import dashboard_file, dashboard_record, dashboard_running
from mahavishnu.ui.guard import IDLE_SECONDS, MOST_SECONDS

DEFAULT_PORT = 8690
HOST = "127.0.0.1"


def server_file() -> Path:
    return dashboard_file()


def login_url(port: int, token: str) -> str:
    return f"http://{HOST}:{port}/login?token={token}"


#: What ``mahavishnu ui`` says of its URL: the token is not used up by a login (``guard.py``).
TOKEN_NOTE = (
    "(any browser that opens this URL is logged in, until the dashboard stops: keep it to yourself; "
    f"a login lasts until unused for {IDLE_SECONDS // 3600} hours, {MOST_SECONDS // 86400} days at most, "
    "then this URL logs in again)"
)


def serve(*, port: int, open_browser: bool, announce: Callable[[str], None]) -> None:
    """Serve until interrupted."""
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        from mahavishnu.distribution import install_extra

        raise MahavishnuError(  # dependencies of the plain install: this one is incomplete
            f"the dashboard needs Starlette and Jinja2 ({exc.name} is not installed)",
            hint=install_extra("ui"),
        ) from exc
    try:
        sock = _bind(port)
    except OSError as exc:
        running = _running(port)
        if running is None:
            raise MahavishnuError(
                f"cannot serve on {HOST}:{port}: {exc.strerror or exc}",
                hint="Choose another port with --port.",
            ) from exc
        announce(f"The dashboard already runs on {HOST}:{port}: {running}")
        if open_browser:
            _open(running)
        return
    bound = sock.getsockname()[1]
    token = secrets.token_urlsafe(32)
    url = login_url(bound, token)
    with _exit_on_sigterm():
        try:
            _remember(bound, url)
            _serve(sock, token, url, open_browser=open_browser, announce=announce)
        finally:
            sock.close()
            _forget()
            _drop_redirect_page(token)


def _serve(
    sock: socket.socket, token: str, url: str, *, open_browser: bool, announce: Callable[[str], None]
) -> None:
    import uvicorn

    from mahavishnu.loopback import raise_open_files_limit
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.ui.app import create_app
    from mahavishnu.ui.memories import Library, sweep_trash

    raise_open_files_limit()
    sweep_trash()
    library = Library(MemoryStore.open)
    announce(f"Mahavishnu dashboard: {url}")
    announce(TOKEN_NOTE)
    if open_browser:
        threading.Timer(0.5, _open, args=(url,)).start()
    uvicorn.Server(uvicorn.Config(create_app(library, token), log_level="warning")).run(sockets=[sock])


@contextlib.contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """SIGTERM (a supervisor's stop, ``kill``) as an exit that runs the clean-up: uvicorn shuts down
    on it, then raises it again with the handler it found, and the default one killed the process
    before ``ui/server.json`` was removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _bind(port: int) -> socket.socket:
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on the connections of a socket that names it
    # (with proto 0, Nagle held each answer's body behind its headers for a delayed ACK: 40 ms)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # the connections of a dashboard just stopped wait in TIME_WAIT for a minute on its port:
        # without this, `mahavishnu ui` run again at once said the port was in use (a live
        # listener still is: on POSIX this option never lets two sockets listen on one port;
        # on Windows it would, hence not there)
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _remember(port: int, url: str) -> None:
    path = paths.make_dir(server_file().parent) / server_file().name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"pid": os.getpid(), "port": port, "url": url}, handle)


def _forget() -> None:
    """Remove ``ui/server.json`` if it is still this process's: a second dashboard, on another port,
    has written its own over it, and this one's exit must not take the running one's URL away."""
    record = dashboard_record()
    if record is not None and record.pid == os.getpid():
        with contextlib.suppress(OSError):
            server_file().unlink()


def _running(port: int) -> str | None:
    """The login URL of the dashboard this user runs on ``port``, if it is the one listening (its
    process alive and the one that wrote the record: ``dashboard_running``)."""
    running = dashboard_running()
    return running.url if running is not None and running.port == port else None


def _open(url: str) -> None:
    """Open the login ``url`` through a 0600 page that sends the browser on to it (as Jupyter does):
    given the URL itself, the browser's command line held the token, and any user of the machine
    can read a process's command line (``ps``, ``/proc/PID/cmdline``)."""
    import webbrowser

    with contextlib.suppress(Exception):  # no browser here: the printed URL is enough
        webbrowser.open(_redirect_page(url).as_uri())


def _redirect_page(url: str) -> Path:
    """``ui/open.html`` (0600, next to ``ui/server.json``, which holds the URL too): a page that
    loads ``url``, with a link to it where refresh is off."""
    from mahavishnu.files.safe_write import write_private
    from mahavishnu.ui.guard import refresh_page

    path = _redirect_page_file()
    paths.make_dir(path.parent)
    write_private(path, refresh_page(url, "Mahavishnu dashboard", "{link}", "Open the Mahavishnu dashboard"))
    return path


def _redirect_page_file() -> Path:
    return server_file().parent / "open.html"


def _drop_redirect_page(token: str) -> None:
    """Remove ``ui/open.html`` if it holds this dashboard's token, which stops working with it; a
    page written for another dashboard, still running on another port, stays."""
    path = _redirect_page_file()
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if token in path.read_text(encoding="utf-8"):
            path.unlink()
