"""LlamaIndex over the shared memory (``mahavishnu-cp[llamaindex]``): ``MahavishnuVectorStore`` keeps a
LlamaIndex index's nodes as ``rag`` memories of one collection (searchable with ``mahavishnu memory
query`` and ``memory search --type rag``), and ``MahavishnuEmbedding`` embeds with the store's own
model, so an app and the memory share one vector space. See ``vector_store.py``."""

from mahavishnu.integrations.llamaindex.vector_store import MahavishnuEmbedding, MahavishnuVectorStore

__all__ = ["MahavishnuEmbedding", "MahavishnuVectorStore"]
