"""Opening the same store on every backend: the fake, SQLite and PostgreSQL + pgvector.

To add a backend: add its name to ``BACKENDS`` and a branch in ``backend_factory`` (conftest.py)
that returns a function opening *the same* database each time it is called (tests reopen stores).
"""

from __future__ import annotations

from collections.abc import Callable

from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.base import Backend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore

BACKENDS = ["fake", "sqlite", "postgres"]
Factory = Callable[[], Backend]


def open_store(factory: Factory, embedder: FakeEmbedder | None = None) -> MemoryStore:
    return MemoryStore(factory(), MemorySettings(max_content_chars=2_000), embedder or FakeEmbedder())
