"""The store the integrations' hooks and tools open by default, shared by their subpackages (which
import no one another: an import-linter contract)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mahavishnu.errors import wrong_type

if TYPE_CHECKING:
    from mahavishnu.memory.core.embedders.base import Embedder
    from mahavishnu.memory.core.store import MemoryStore

#: The embedders ``open_default`` loaded, by the settings that chose each and the store's model.
_EMBEDDERS: dict[tuple[str, str | None, str | None, str | None, str | None], Embedder] = {}


def check_opener(function: str, open_store: object) -> None:
    """Refused now unless callable: a hook logs what it cannot write, so a store passed in its
    place (``open_store=store``) lost every run quietly ("'MemoryStore' object is not callable")."""
    if not callable(open_store):
        raise wrong_type(
            function,
            "a function opening the store as open_store",
            open_store,
            hint="Pass open_store=MemoryStore.open (opened and closed at each call), or leave it out.",
        )


def open_default() -> MemoryStore:
    """The configured store, bound to the embedder an earlier call of this process loaded for it: a
    hook or tool opens the store anew at each run or call, and loading the embedder anew (an ONNX
    session, ~0.3 s on 2 cores) made a Prefect flow of 30 recorded tasks take 14 s instead of 1,
    and cost each Agno tool call 0.3 s."""
    from mahavishnu.memory.core.store import META_EMBEDDER, MemoryStore

    store = MemoryStore.open()
    try:
        chosen = store.settings
        wanted = (chosen.embedder, chosen.embedder_model, chosen.embedder_url, chosen.embedder_api_key)
        kept = _EMBEDDERS.get((*wanted, store.backend.get_meta(META_EMBEDDER)))
        if kept is not None:
            return MemoryStore(store.backend, chosen, kept)
        embedder = store.embedder  # bound now (checked against the store's), loaded at its first embed
        _EMBEDDERS[(*wanted, embedder.identity)] = embedder
        return store
    except BaseException:
        store.close()
        raise
