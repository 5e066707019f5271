"""Deadlines for whole HTTP exchanges. httpx bounds each read only: a server that trickles its
status line, its headers or its body a little at a time holds the request for as long as it
trickles (a provider probe, ``run``'s "at most 5 s", took 50 s; a service's health check of 2 s held
``service start`` and the watcher as long)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any


@contextmanager
def hung_up_after(timeout: float) -> Iterator[Callable[[str, dict[str, Any]], None]]:
    """A trace hook (httpcore's ``trace`` extension: ``extensions={"trace": hook}``) that notes
    each connection's socket, shut down once ``timeout`` has passed. A request cut so is a
    ReadTimeout."""
    import httpx

    sockets: list[socket.socket] = []
    expired = threading.Event()

    def hang_up(sock: socket.socket) -> None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked read (a close would not)

    def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
            sock = info["return_value"].get_extra_info("socket")
            if isinstance(sock, socket.socket):
                sockets.append(sock)
                if expired.is_set():  # connected just as time ran out
                    hang_up(sock)

    def expire() -> None:
        expired.set()
        for sock in sockets:
            hang_up(sock)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        yield trace
    except httpx.HTTPError as exc:
        if expired.is_set():
            raise httpx.ReadTimeout("timed out") from exc
        raise
    finally:
        timer.cancel()
    if expired.is_set():  # a body without a length ends at the hang-up: cut, not whole
        raise httpx.ReadTimeout("timed out")
