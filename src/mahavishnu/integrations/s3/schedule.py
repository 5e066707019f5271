"""``db backup --every 6h --to s3://…``: a backup off the machine on an interval, the loop the
``mahavishnu-backup`` service runs (declared by the ``backup`` settings section).

One line per backup, or per failure (the error's message: it names the bucket and S3's error code,
never a credential), on stdout, which the supervisor appends to the service's log. A failed backup
is tried again after ``min(every, 15 min)``; the loop itself never gives up. On start, a backup under
a prefix is due ``every`` after the newest dated one there (a restart does not back up again at
once); SIGTERM or SIGINT ends it between backups, or after the one under way.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from mahavishnu.errors import MahavishnuError
from mahavishnu.integrations.s3 import backup as s3

if TYPE_CHECKING:
    from mahavishnu.config import MemorySettings

RETRY_SECONDS = 900.0


def run(
    settings: MemorySettings,
    url: str,
    every: float,
    *,
    keep: int | None = None,
    sse: str | None = None,
    say: Callable[[str], None],
    stop: threading.Event | None = None,
) -> None:
    """Back up to ``url`` every ``every`` seconds until ``stop`` is set (or SIGTERM/SIGINT)."""
    stop = stop or threading.Event()
    _stop_on_signals(stop)
    target = s3.S3Url.parse(url)
    s3.check_options(target, keep, sse)  # a mistake is an error now, not a log line every interval
    wait = _until_due(target, every)
    if wait > 0:
        say(f"{_stamp()} next backup to {target} at {_stamp(time.time() + wait)} (every {_every(every)})")
    while not stop.wait(wait):
        try:
            done = s3.backup_to_s3(settings, url, keep=keep, sse=sse)
        except Exception as exc:  # a service: log it (its message, or only its type) and go on
            why = f": {exc.message}" if isinstance(exc, MahavishnuError) else f" ({type(exc).__name__})"
            wait = min(every, RETRY_SECONDS)
            say(f"{_stamp()} backup to {target} failed{why}; trying again at {_stamp(time.time() + wait)}")
            continue
        wait = every
        removed = f", {len(done.removed)} older removed" if done.removed else ""
        said = f"({done.size} bytes, SHA-256 checked{removed})"
        say(
            f"{_stamp()} backed up {done.location} to {done.url} {said}; next at {_stamp(time.time() + wait)}"
        )
    say(f"{_stamp()} scheduled backups to {target} stopped")


def _until_due(target: s3.S3Url, every: float) -> float:
    """Seconds until a backup is due: ``every`` after the newest dated backup under a prefix; now
    for a single key, no backup yet, or when the store cannot be listed (the backup says why)."""
    if not target.is_prefix:
        return 0.0
    try:
        keys = s3.list_backups(target)
    except MahavishnuError:
        return 0.0
    if not keys:
        return 0.0
    taken = s3.taken(keys[-1][len(target.key) :]) or 0.0  # (listed: none dated in the future)
    return min(every, max(0.0, taken + every - time.time()))


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers belong to the main thread (tests run the loop in another)

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _stamp(when: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if when is None else when))


def _every(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
