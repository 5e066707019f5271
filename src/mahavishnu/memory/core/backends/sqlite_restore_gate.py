"""The gate between ``db restore`` and the embedded store's writers.

A restore copies the backup's pages into the live file with SQLite's backup API: one transaction,
but a connection that was open across it (and had not run a given statement before) can fail
afterwards with "no such table: memories". So a restore holds two lock files beside the store:

- ``.restore-intent``, which each writer takes shared for an instant on its way in: once a restore
  holds it, no new write transaction starts (else back-to-back writers would starve the restore);
- ``.restore-lock``, which each write transaction holds shared to its end: the restore waits for
  those under way, then copies, then bumps the generation number written in it, so a connection
  opened before the restore's end is opened again.

A writer waits for a restore in progress; one that would wait too long fails with an error saying
to run the command again, never a missing table. Locks die with their process: a killed restore
blocks no one.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from mahavishnu.errors import StoreError

#: How long a write waits for a restore to finish before it gives up (a restore copies ~100 MB/s).
WAIT_SECONDS = 120.0
_POLL_SECONDS = 0.01
_WIDTH = 20  # the generation's digits, padded: rewritten in place, never a partial number


def gate_paths(store: Path) -> tuple[Path, Path]:
    """(intent, gate) lock files of ``store``."""
    return store.with_name(store.name + ".restore-intent"), store.with_name(store.name + ".restore-lock")


def _open(path: Path, *, create: bool) -> int:
    flags = os.O_RDWR | os.O_CREAT if create else os.O_RDONLY
    return os.open(path, flags | os.O_CLOEXEC, 0o600)


class RestoreGate:
    """A store's lock files, open for as long as the store is."""

    def __init__(self, intent: int, gate: int, store: Path) -> None:
        self._intent, self._gate = intent, gate
        self._store = store

    @classmethod
    def open(cls, store: Path) -> RestoreGate | None:
        """None where there can be none (an in-memory store, a read-only folder without them):
        nothing to wait for then."""
        if str(store) == ":memory:":
            return None
        paths = gate_paths(store)
        for create in (True, False):
            with suppress(OSError):
                intent = _open(paths[0], create=create)
                try:
                    return cls(intent, _open(paths[1], create=create), store)
                except OSError:
                    os.close(intent)
        return None

    def generation(self) -> int:
        """How many restores this store has had (read anew each time: another process bumps it)."""
        return _generation(self._gate)

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Held around a write transaction: waits while a restore holds (or waits for) the gate."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not self._enter():
            if time.monotonic() > deadline:
                raise StoreError(
                    f"the memory store {self._store} is being restored (`mahavishnu db restore`); "
                    "nothing was written",
                    hint="Run the command again when the restore has finished.",
                )
            time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            _unlock(self._gate)

    def _enter(self) -> bool:
        """The gate taken shared, unless a restore holds either lock."""
        if not _try(self._intent, fcntl.LOCK_SH):
            return False
        try:
            return _try(self._gate, fcntl.LOCK_SH)
        finally:
            _unlock(self._intent)

    def close(self) -> None:
        for fd in (self._intent, self._gate):
            if fd >= 0:
                os.close(fd)
        self._intent = self._gate = -1


@contextmanager
def restoring(store: Path) -> Iterator[None]:
    """Held by ``db restore`` around its copy: new writes wait, those under way end first, and
    afterwards every connection opened before is opened again (the generation goes up, also when
    the copy failed)."""
    with ExitStack() as held:
        intent, gate = (_open(path, create=True) for path in gate_paths(store))
        held.callback(os.close, intent)
        held.callback(os.close, gate)
        fcntl.flock(intent, fcntl.LOCK_EX)  # no new write transaction from here
        fcntl.flock(gate, fcntl.LOCK_EX)  # those under way have ended
        try:
            yield
        finally:
            os.pwrite(gate, str(_generation(gate) + 1).rjust(_WIDTH).encode(), 0)


def _generation(fd: int) -> int:
    try:
        return int(os.pread(fd, _WIDTH, 0).strip() or 0)
    except (OSError, ValueError):
        return 0


def _try(fd: int, how: int) -> bool:
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return True  # a file system without flock: no gate
    return True


def _unlock(fd: int) -> None:
    with suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
