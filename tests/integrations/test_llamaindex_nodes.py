"""The LlamaIndex vector store, with the real llama-index-core: a retriever asked for no nodes (a top k
under 1) is refused in one line, not answered with ``[]`` as though nothing matched; and a node's
memory records no line range, since a node has none (it recorded ``start_line`` 0, which ``memory
query`` showed as ``handbook backups:0-0``)."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_index.core", reason="the llamaindex extra (llama-index-core) is not installed")

from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

from mahavishnu.integrations.llamaindex import MahavishnuEmbedding, MahavishnuVectorStore
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


def build(store: MemoryStore) -> tuple[VectorStoreIndex, MahavishnuVectorStore]:
    vectors = MahavishnuVectorStore(store, collection="handbook")
    index = VectorStoreIndex.from_documents(
        [Document(text="Database backups run nightly at 02:00.", id_="backups", metadata={"team": "ops"})],
        storage_context=StorageContext.from_defaults(vector_store=vectors),
        embed_model=MahavishnuEmbedding(store),
    )
    return index, vectors


@pytest.mark.parametrize("top_k", [0, -1])
def test_a_top_k_under_one_is_refused_in_one_line(top_k: int) -> None:
    with MemoryStore.open() as store:
        index, vectors = build(store)
        with pytest.raises(ValueError, match=rf"^similarity_top_k must be 1 or more, not {top_k}$"):
            index.as_retriever(similarity_top_k=top_k).retrieve("backups")
        query = VectorStoreQuery(
            query_str="backups", similarity_top_k=top_k, mode=VectorStoreQueryMode.HYBRID
        )
        with pytest.raises(ValueError, match="similarity_top_k"):
            vectors.query(query)
        assert [n.node.ref_doc_id for n in index.as_retriever(similarity_top_k=1).retrieve("backups")] == [
            "backups"
        ]


def test_a_nodes_memory_records_no_line_range() -> None:
    with MemoryStore.open() as store:
        build(store)
        [memory] = store.recent({"type": "rag", "repo_id": "handbook"}, limit=10)
    assert memory.metadata["path"] == "backups"
    assert "start_line" not in memory.metadata and "end_line" not in memory.metadata
