"""Loopback ports for the servers a test starts: a free one for a separate process, and an ASGI app
served on one in a thread of the test's own process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served_in_thread(app: Any, *, lifespan: Literal["auto", "on", "off"] = "auto") -> Iterator[int]:
    """``app`` under uvicorn on a free port of 127.0.0.1, in a daemon thread; yields the port once it
    serves (bound before the thread starts, so no other process can take it meanwhile)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn stopped before it served the app (its log says why)")
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start serving the app within 30 s")
            time.sleep(0.01)
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
