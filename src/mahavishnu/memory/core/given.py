"""The store a public function of the memory API was given, checked before it is used: ``None``
or a store file's path raised ``'str' object has no attribute 'backend'`` from deep inside."""

from __future__ import annotations

from mahavishnu.errors import wrong_type

_HINT = "Open one with mahavishnu.MemoryStore.open() (a file: MemoryStore.open(MemorySettings(path=...)))."


def check_store(function: str, store: object) -> None:
    """Refuse ``store`` unless it reaches a backend as a ``MemoryStore`` does (``Backed``, not the
    class itself: the store imports ``sharing``, which checks its callers' store here). Imported
    here: ``backends.base`` loads numpy, which importing recall for a hook must not."""
    from mahavishnu.memory.core.backends.base import Backed

    if not isinstance(store, Backed):
        raise wrong_type(function, "a MemoryStore", store, hint=_HINT)
