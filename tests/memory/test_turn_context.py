"""A captured turn is embedded with the end of the turn said before it (``models.embedding_text``):
a reply means what it answers. Only its vector reads the previous turn; its text stays its own."""

from __future__ import annotations

from collections.abc import Sequence

from _backends import Factory, open_store

from mahavishnu.memory.core.embedders.base import Kind, Vectors
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import PREVIOUS_TURN, PREVIOUS_TURN_CHARS
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop.conversations import Turn, store_turns

QUESTION = "Did you finally go hiking on Mount Rainier?"
REPLY = "Yes, last Tuesday, with my sister."


class Recording(FakeEmbedder):
    """The fake embedder, keeping every document text it embedded."""

    def __init__(self, model: str = "hashing-v1") -> None:
        super().__init__(model=model)
        self.documents: list[str] = []

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        if kind == "document":
            self.documents += texts
        return super().embed_batch(texts, kind)


def said(*texts: str, session: str = "s1") -> list[Turn]:
    roles = ("user", "assistant")
    return [Turn("claude-code", session, roles[n % 2], t, project="p") for n, t in enumerate(texts)]


def vector_found(store: MemoryStore, query: str) -> list[str]:
    return [h.memory.content for h in store.search(query, mode="vector", filters={"project": "p"})]


def test_a_reply_is_found_by_the_words_of_the_question_it_answers(store: MemoryStore) -> None:
    store_turns(store, said(QUESTION, REPLY))
    assert REPLY in vector_found(store, "hiking Mount Rainier")


def test_only_the_vector_reads_the_previous_turn(store: MemoryStore) -> None:
    store_turns(store, said(QUESTION, REPLY))
    found = [h.memory.content for h in store.search("Rainier", mode="text", filters={"project": "p"})]
    assert found == [QUESTION]
    reply = next(h.memory for h in store.search("sister Tuesday", mode="text", filters={"project": "p"}))
    assert reply.content == REPLY
    assert reply.metadata[PREVIOUS_TURN] == QUESTION


def test_a_sessions_first_turn_has_no_previous_turn_and_sessions_do_not_mix(store: MemoryStore) -> None:
    store_turns(store, [*said(QUESTION), *said(REPLY, session="s2")])
    assert store.recent({"project": "p"}, limit=10) != []
    assert all(PREVIOUS_TURN not in m.metadata for m in store.recent({"project": "p"}, limit=10))
    assert REPLY not in vector_found(store, "hiking Mount Rainier")


def test_a_session_captured_piece_by_piece_reads_the_last_turn_stored_before(store: MemoryStore) -> None:
    store_turns(store, said(QUESTION))
    store_turns(store, [Turn("claude-code", "s1", "assistant", REPLY, project="p")])  # captured later
    reply = next(m for m in store.recent({"project": "p"}, limit=10) if m.content == REPLY)
    assert reply.metadata[PREVIOUS_TURN] == QUESTION


def test_only_the_end_of_a_long_previous_turn_is_kept(store: MemoryStore) -> None:
    long_reply = "word " * 200 + "Shall I add the retry to the upload client?"
    stored = store_turns(store, said("How should uploads fail?", long_reply, "yes, do that"))
    last = store.get(stored.memory_ids[-1])
    assert last.metadata[PREVIOUS_TURN] == long_reply[-PREVIOUS_TURN_CHARS:]
    assert last.metadata[PREVIOUS_TURN].endswith("retry to the upload client?")


def test_reembedding_a_store_keeps_each_turns_previous_turn(backend_factory: Factory) -> None:
    with open_store(backend_factory) as store:
        store_turns(store, said(QUESTION, REPLY))
        other = Recording(model="hashing-v2")
        store.reembed(other)
        assert f"{REPLY}\n{QUESTION}" in other.documents
        assert REPLY in vector_found(store, "hiking Mount Rainier")


def test_editing_a_turn_embeds_its_new_text_with_its_previous_turn(backend_factory: Factory) -> None:
    embedder = Recording()
    with open_store(backend_factory, embedder) as store:
        stored = store_turns(store, said(QUESTION, REPLY))
        store.update(stored.memory_ids[1], content="Yes, on Saturday.")
        assert embedder.documents[-1] == f"Yes, on Saturday.\n{QUESTION}"


def test_a_note_is_embedded_as_written(backend_factory: Factory) -> None:
    embedder = Recording()
    with open_store(backend_factory, embedder) as store:
        store.store("Ledger storage is PostgreSQL 15.", "decision", project="p")
        assert embedder.documents == ["Ledger storage is PostgreSQL 15."]
