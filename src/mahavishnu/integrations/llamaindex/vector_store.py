"""A LlamaIndex vector store and embedding over Mahavishnu's memory store.

    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from mahavishnu.integrations.llamaindex import MahavishnuEmbedding, MahavishnuVectorStore

    store = MemoryStore.open()
    vectors = MahavishnuVectorStore(store, collection="handbook")
    index = VectorStoreIndex.from_documents(
        docs, storage_context=StorageContext.from_defaults(vector_store=vectors),
        embed_model=MahavishnuEmbedding(store),
    )
    index.as_retriever(similarity_top_k=3).retrieve("how do we deploy?")
    # later, or in another process: VectorStoreIndex.from_vector_store(vectors, embed_model=...)

Each node is one ``rag`` memory: its ``path`` (the file path or name, or the document id; with the
document id in brackets and the node id after it when they are not the path) on the first line and
its text after it as content (as ``memory ingest``'s chunks: the store keeps one memory per content,
so the same text in two documents, or twice in one, would otherwise be one memory, which deleting
either node deleted and reading either read the other), ``repo_id`` the collection, ``source_system``
``llamaindex``, tags ``llamaindex``, ``doc:<ref_doc_id>``, ``node:<node_id>`` (``id_tag``: a digest of
an id too long or odd for a tag), and in its metadata
the node itself (LlamaIndex's ``node_to_metadata_dict``) and the ``path`` for ``mahavishnu memory
query`` to show (no line range: a node has none). The memory store embeds the text with its own model (as
every memory is embedded, scrubbed of secrets first); ``MahavishnuEmbedding`` gives LlamaIndex the
same model for its queries, so a query vector is compared with vectors of its own space.

A query's node whose memory is quarantined (or whose text or metadata reads like an instruction to
an agent) has its text withheld, and its metadata kept from the prompt, as the MCP server's tools
withhold it: a retriever's nodes go into a prompt. ``get_nodes`` returns the stored text.

Metadata filters: ``doc_id``/``ref_doc_id`` equality and the scope fields (``project``…) are applied
inside the store's scan; any other filter (all of LlamaIndex's operators, AND/OR/NOT) over the node
metadata on the candidates, fetched deeper until ``top_k`` pass or the collection is exhausted.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, MetadataMode, TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import (
    build_metadata_filter_fn,
    metadata_dict_to_node,
    node_to_metadata_dict,
)
from pydantic import PrivateAttr

from mahavishnu.errors import DimensionMismatchError, InvalidInputError
from mahavishnu.memory.core.backends.base import SearchRequest
from mahavishnu.memory.core.given import check_store
from mahavishnu.memory.core.models import (
    Filters,
    Memory,
    MemoryType,
    SearchMode,
    check_name,
    project_or_none,
    scrub_memory,
)
from mahavishnu.memory.core.provenance import held_back, withheld
from mahavishnu.memory.core.store import MAX_LIMIT, MemoryStore, superseded
from mahavishnu.wording import a

if TYPE_CHECKING:
    from mahavishnu.memory.core.embedders.base import Embedder

SOURCE = "llamaindex"
RAG: MemoryType = "rag"
NODE_KEY = "llamaindex"  # where a memory's metadata keeps the node
PATH_LINE = "path_line"  # metadata: the content's first line is the path (not the node's text)
_MODES: dict[VectorStoreQueryMode, SearchMode] = {
    VectorStoreQueryMode.DEFAULT: "vector",
    VectorStoreQueryMode.HYBRID: "hybrid",
    VectorStoreQueryMode.TEXT_SEARCH: "text",
    VectorStoreQueryMode.SPARSE: "text",
}
_DOC_KEYS = ("doc_id", "ref_doc_id", "document_id")
_NODE_TAGS = ("node:", "node-sha256:")  # ``id_tag("node", ...)``


def followed(store: MemoryStore, given: MemoryStore) -> MemoryStore:
    """``store``, or the store of its settings opened anew once it is ``superseded`` (a ``memory
    reembed`` elsewhere moved it to another model, or its file was replaced), as the MCP server
    and the dashboard do. The store ``given`` stays its caller's to close; one opened here is
    closed when it is replaced in turn."""
    if not superseded(store):
        return store
    fresh = MemoryStore.open(store.settings)
    if store is not given:
        store.close()
    return fresh


class MahavishnuEmbedding(BaseEmbedding):
    """LlamaIndex's embedding interface over the memory store's embedder (its query/document kinds:
    nomic-style models get their task prefixes)."""

    _given: MemoryStore = PrivateAttr()
    _store: MemoryStore = PrivateAttr()

    def __init__(self, store: MemoryStore, **kwargs: Any) -> None:
        check_store("MahavishnuEmbedding", store)
        super().__init__(model_name=store.embedder.identity, **kwargs)
        self._given = self._store = store

    def _embedder(self) -> Embedder:
        self._store = followed(self._store, self._given)  # (the old model's queries found nothing)
        return self._store.embedder

    @classmethod
    def class_name(cls) -> str:
        return "MahavishnuEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return [float(x) for x in self._embedder().embed(query, kind="query")]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        vectors = self._embedder().embed_many(texts, kind="document")
        return [[float(x) for x in row] for row in vectors]


class MahavishnuVectorStore(BasePydanticVectorStore):
    """LlamaIndex's vector-store interface over a ``MemoryStore``: one collection of nodes."""

    stores_text: bool = True
    flat_metadata: bool = False
    collection: str = SOURCE
    project: str | None = None
    _given: MemoryStore = PrivateAttr()
    _store: MemoryStore = PrivateAttr()

    def __init__(
        self, store: MemoryStore, collection: str = SOURCE, project: str | None = None, **kwargs: Any
    ) -> None:
        check_store("MahavishnuVectorStore", store)
        if not isinstance(collection, str) or not collection.strip():
            raise InvalidInputError(
                "a LlamaIndex collection needs a name",
                hint='Pass collection="handbook", say, or leave it out.',
            )
        check_name("collection", collection)  # now, not when the first nodes are added
        super().__init__(**kwargs)
        self.collection, self.project = collection, project_or_none(project)
        self._given = self._store = store

    @classmethod
    def class_name(cls) -> str:
        return "MahavishnuVectorStore"

    @property
    def client(self) -> MemoryStore:
        self._follow()
        return self._store

    def _follow(self) -> None:
        """Called first by each method: the store given held the old model's vectors and embedded
        with it once moved, and its writes were refused (``followed``)."""
        self._store = followed(self._store, self._given)

    # -- writing --------------------------------------------------------------------------------
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store the nodes; a node added again replaces its earlier record, as LlamaIndex's own
        stores do (a node whose text changed was kept twice: ``get_nodes`` and queries gave both)."""
        self._follow()
        drafts = [self._draft(node) for node in nodes]
        stored = self._store.store_many(drafts)
        self._drop_earlier(nodes, stored)
        return [node.node_id for node in nodes]

    def _drop_earlier(self, nodes: Sequence[BaseNode], stored: Sequence[Memory]) -> None:
        """Delete the collection's other memories of each node's id; one that holds another node too
        (two nodes of one text shared a memory before each node's id was on its first line) only
        loses the tag. Found by the tag alone, the collection checked after: filtered by both in
        SQL, 2,000 nodes took 1.8 s to add instead of 0.5."""
        # Each node's tag to the memory now its record (a node given twice: its last text's).
        records = {id_tag("node", n.node_id): m.id for n, m in zip(nodes, stored, strict=True)}
        lost: dict[int, set[str]] = defaultdict(set)  # memory id -> the node tags it loses (all of them)
        for tag, record in records.items():
            for memory_id, _ in self._store.backend.scan_metadata(Filters(tags=(tag,)), []):
                if memory_id != record:
                    lost[memory_id].add(tag)
        alone: list[int] = []
        for memory in self._store.get_many(list(lost)).values():
            if memory.project != self.project or not self._filters().admits(memory):
                continue  # another collection's
            left = [t for t in memory.tags if t not in lost[memory.id]]
            if any(t.startswith(_NODE_TAGS) for t in left):
                self._store.update(memory.id, tags=left)
            else:
                alone.append(memory.id)
        if alone:
            self._store.backend.delete(alone)

    def _draft(self, node: BaseNode) -> dict[str, object]:
        text = node.get_content(metadata_mode=MetadataMode.NONE)
        if not text.strip():
            raise InvalidInputError(f"LlamaIndex node {node.node_id} has no text to store")
        saved = node_to_metadata_dict(node, remove_text=True, flat_metadata=self.flat_metadata)
        found = node.metadata.get("file_path") or node.metadata.get("file_name") or node.ref_doc_id
        path = " ".join(str(found or node.node_id).splitlines())
        tags = [SOURCE, id_tag("node", node.node_id)] + (
            [id_tag("doc", node.ref_doc_id)] if node.ref_doc_id else []
        )
        return {
            "content": f"{_first_line(path, node.ref_doc_id, node.node_id)}\n{text}",
            "type": RAG,
            "tags": tags,
            # no start_line/end_line: a node has no lines of a file (``memory ingest``'s chunks have)
            "metadata": {NODE_KEY: saved, "path": path, PATH_LINE: True},
            "project": self.project,
            "repo_id": self.collection,
            "source_system": SOURCE,
        }

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of one document."""
        self._follow()
        self._store.delete_where(self._filters(tags=(id_tag("doc", ref_doc_id),)))

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        self._follow()
        ids = [m.id for m in self._matching(node_ids, filters)]
        if ids:
            self._store.backend.delete(ids)

    def clear(self) -> None:
        """Delete the whole collection."""
        self._follow()
        self._store.delete_where(self._filters())

    # -- reading --------------------------------------------------------------------------------
    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        self._follow()
        return [_node(m) for m in self._matching(node_ids, filters)]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        self._follow()
        mode = _MODES.get(query.mode)
        if mode is None:
            raise InvalidInputError(
                f"query mode {query.mode.value!r} is not supported by the Mahavishnu vector store",
                hint="Use default (vector), hybrid or text_search.",
            )
        if mode != "vector" and not query.query_str:
            raise InvalidInputError(f"{a(query.mode.value)} query needs query_str")
        scoped, rest = self._pushed_down(query.filters)
        if query.doc_ids:
            rest = _and(
                rest, MetadataFilter(key="ref_doc_id", value=query.doc_ids, operator=FilterOperator.IN)
            )
        if query.node_ids:
            rest = _and(rest, MetadataFilter(key="id_", value=query.node_ids, operator=FilterOperator.IN))
        wanted = query.similarity_top_k
        if wanted < 1:  # LlamaIndex passes it on as given: -1 answered [] as though nothing matched
            raise ValueError(f"similarity_top_k must be 1 or more, not {wanted}")
        depth = wanted if rest is None else min(MAX_LIMIT, max(4 * wanted, 50))
        while True:
            found = self._search(query, mode, scoped, depth)
            kept = [(m, s) for m, s in found if _passes(m, rest)]
            if len(kept) >= wanted or len(found) < depth or depth >= MAX_LIMIT:
                break
            depth = min(MAX_LIMIT, depth * 4)
        kept = kept[:wanted]
        nodes = [_retrieved(m) for m, _ in kept]
        return VectorStoreQueryResult(
            nodes=nodes, similarities=[s for _, s in kept], ids=[n.node_id for n in nodes]
        )

    def _search(
        self, query: VectorStoreQuery, mode: SearchMode, filters: Filters, depth: int
    ) -> list[tuple[Memory, float]]:
        """(memory, score), best first: a given query vector is searched as it is (LlamaIndex made it
        with ``MahavishnuEmbedding``); text, or hybrid, goes through the store's own search."""
        if mode == "vector" and query.query_embedding is not None:
            vector = np.asarray(query.query_embedding, dtype=np.float32)
            dimension = self._store.embedder.dimension
            if vector.shape != (dimension,):
                raise DimensionMismatchError(
                    f"the query vector has {vector.size} dimensions, the memory store's {dimension}",
                    hint="Give the index embed_model=MahavishnuEmbedding(store).",
                )
            ranked = self._store.backend.search(SearchRequest("vector", filters, depth, vector=vector))
            rows = self._store.backend.get([r.id for r in ranked])
            return [(scrub_memory(rows[r.id]), r.score) for r in ranked if r.id in rows]
        assert query.query_str is not None
        hits = self._store.search(
            query.query_str, mode=mode, filters=filters, limit=depth, include_shared=False
        )
        return [(hit.memory, hit.score) for hit in hits]

    def _matching(self, node_ids: list[str] | None, filters: MetadataFilters | None) -> list[Memory]:
        """The collection's memories of ``node_ids`` (all when None) that pass ``filters``."""
        scoped, rest = self._pushed_down(filters)
        if node_ids is not None:
            found: dict[int, Memory] = {}
            for node_id in node_ids:
                for memory in self._all(replace(scoped, tags=(*scoped.tags, id_tag("node", node_id)))):
                    found[memory.id] = memory
            candidates = list(found.values())
        else:
            candidates = self._all(scoped)
        return [m for m in candidates if _passes(m, rest)]

    def _all(self, filters: Filters) -> list[Memory]:
        out: list[Memory] = []
        while batch := self._store.recent(filters, limit=MAX_LIMIT, offset=len(out), include_shared=False):
            out.extend(batch)
            if len(batch) < MAX_LIMIT:
                break
        return out

    def _filters(self, tags: tuple[str, ...] = ()) -> Filters:
        return Filters(
            types=(RAG,),
            project=self.project,
            repo_id=self.collection,
            source_system=SOURCE,
            tags=(SOURCE, *tags),
        )

    def _pushed_down(self, filters: MetadataFilters | None) -> tuple[Filters, MetadataFilters | None]:
        """The store's filters (the collection, and a document id asked for by equality under AND),
        and what is left to check on the node metadata."""
        if filters is None or not filters.filters:
            return self._filters(), None
        if filters.condition not in (None, "and"):
            return self._filters(), filters
        tags: list[str] = []
        rest: list[MetadataFilter | MetadataFilters] = []
        for item in filters.filters:
            if (
                isinstance(item, MetadataFilter)
                and item.key in _DOC_KEYS
                and item.operator == FilterOperator.EQ
                and isinstance(item.value, str)
            ):
                tags.append(id_tag("doc", item.value))
            else:
                rest.append(item)
        return self._filters(tuple(tags)), MetadataFilters(filters=rest) if rest else None


def id_tag(kind: str, value: str) -> str:
    """The tag naming a node or document id: ``kind:value``, or ``kind-sha256:<digest>`` when the id
    could not be a tag as it is (longer than a tag may be, a line break or other control character,
    or spaces around it, which tags lose), as LlamaIndex's ``filename_as_id`` gives deep paths. The
    digest's prefix is never an id's tag, so the two forms cannot meet."""
    plain = f"{kind}:{value}"
    if plain == plain.strip():
        try:
            check_name("tag", plain, slash=True)
        except InvalidInputError:
            pass
        else:
            return plain
    return f"{kind}-sha256:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _first_line(path: str, ref_doc_id: str | None, node_id: str) -> str:
    """The path, and the document's and the node's ids when the path is not them: two documents may
    share a path (a ``file_name``, the same file loaded twice), a document may hold the same text
    twice (a licence header, a repeated table row), and the same text under one first line would be
    one memory, which deleting either node deleted and ``get_nodes`` of either read as the other."""
    line = path
    if ref_doc_id is not None and ref_doc_id != path:
        line += f" [{' '.join(ref_doc_id.splitlines())}]"
    if node_id not in (path, ref_doc_id):
        line += f" node {' '.join(node_id.splitlines())}"
    return line


def _and(filters: MetadataFilters | None, item: MetadataFilter) -> MetadataFilters:
    return MetadataFilters(filters=[item] if filters is None else [filters, item])


def _node_metadata(memory: Memory) -> Mapping[str, Any]:
    saved = memory.metadata.get(NODE_KEY)
    return saved if isinstance(saved, Mapping) else {}


def _passes(memory: Memory, filters: MetadataFilters | None) -> bool:
    if filters is None:
        return True
    saved = dict(_node_metadata(memory))
    node = _node(memory)
    lookup = {**saved, **node.metadata, "id_": node.node_id, "ref_doc_id": node.ref_doc_id}
    return _matches(lookup, filters)


def _matches(lookup: Mapping[str, Any], filters: MetadataFilters) -> bool:
    """LlamaIndex's own test of each filter (``build_metadata_filter_fn``), nested ones combined
    here: it refuses them ("Nested MetadataFilters are not supported."), and a query's doc_ids
    and node_ids are nested beside the filters given (``_and``)."""
    results = (
        _matches(lookup, item) if isinstance(item, MetadataFilters) else _match(lookup, item)
        for item in filters.filters
    )
    if filters.condition == FilterCondition.OR:
        return any(results)
    if filters.condition == FilterCondition.NOT:
        return not any(results)
    return all(results)


def _match(lookup: Mapping[str, Any], item: MetadataFilter) -> bool:
    """One filter, by LlamaIndex's function; a value it cannot compare with the node's (``year >=
    "2023"`` on numbers, ``contains`` on a number) refused in one line, not its bare TypeError."""
    try:
        return build_metadata_filter_fn(lambda _key: lookup, MetadataFilters(filters=[item]))("")
    except TypeError as exc:
        found = type(lookup.get(item.key)).__name__
        raise InvalidInputError(
            f"the metadata filter on {item.key!r} ({item.operator.value} {item.value!r}) cannot be "
            f"tested on a node whose {item.key!r} is {a(found)}: {exc}",
            hint="Give the filter a value of the type the nodes' metadata holds (a number for numbers, "
            "text for text_match, a list for in, nin, any and all).",
        ) from exc


def _retrieved(memory: Memory) -> BaseNode:
    """The node as a query returns it, for a prompt: a quarantined memory's text (or one that reads
    like an instruction to an agent) withheld, as the MCP server and the Agno toolkit withhold it.
    A prompt reads the node's metadata too (``MetadataMode.LLM``: a scraped page's title), so it is
    judged with the text, and a withheld node's metadata is kept from the prompt but for why."""
    node = _node(memory)
    prompted = f"{memory.content}\n{node.get_metadata_str(MetadataMode.LLM)}"
    why = held_back(memory.tags, prompted, metadata=memory.metadata)
    if why is None:
        return node
    node.set_content(withheld(memory.id, why))
    node.excluded_llm_metadata_keys = list(node.metadata)
    node.metadata["quarantined"] = why
    return node


def _node(memory: Memory) -> BaseNode:
    """The node stored in ``memory`` (its text is the memory's after the path line, scrubbed of
    secrets as stored; a node stored before the path line was written has none)."""
    saved = _node_metadata(memory)
    text = memory.content.partition("\n")[2] if memory.metadata.get(PATH_LINE) else memory.content
    if "_node_content" not in saved:
        return TextNode(text=text, id_=f"memory-{memory.id}", metadata=dict(memory.metadata))
    return metadata_dict_to_node(dict(saved), text=text)
