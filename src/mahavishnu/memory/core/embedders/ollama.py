"""Ollama's native API: ``POST /api/embed`` ``{"model", "input": [...]}`` → ``{"embeddings": [[...]]}``.

nomic-embed-text was trained with task prefixes, and retrieves well only with them: stored text is
sent as ``search_document: …``, queries as ``search_query: …``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mahavishnu.json_types import JSONArray, JSONObject, JSONValue
from mahavishnu.memory.core.embedders._http import DEFAULT_TIMEOUT, HttpEmbedder
from mahavishnu.memory.core.embedders.base import Kind

DEFAULT_URL = "http://127.0.0.1:11434"  # also in embedders/__init__.py (which must not import httpx)
DEFAULT_MODEL = "nomic-embed-text"

NOMIC_PREFIXES: dict[Kind, str] = {"document": "search_document: ", "query": "search_query: "}


def default_prefixes(model: str) -> dict[Kind, str]:
    """Task prefixes a model needs: nomic-embed-text's, none for others."""
    name = model.rsplit("/", 1)[-1].lower()
    return dict(NOMIC_PREFIXES) if name.startswith("nomic-embed-text") else {}


class OllamaEmbedder(HttpEmbedder):
    name = "ollama"
    server_label = "Ollama server"

    def __init__(
        self,
        url: str = DEFAULT_URL,
        model: str = DEFAULT_MODEL,
        dimension: int | None = 768,
        *,
        prefixes: Mapping[Kind, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        batch_size: int = 32,
    ) -> None:
        super().__init__(url, model, dimension, timeout=timeout, batch_size=batch_size)
        self.prefixes: dict[Kind, str] = dict(prefixes) if prefixes is not None else default_prefixes(model)

    @property
    def endpoint(self) -> str:
        return f"{self.url}/api/embed"

    def payload(self, texts: Sequence[str], kind: Kind) -> JSONObject:
        prefix = self.prefixes.get(kind, "")
        return {"model": self.model, "input": [prefix + text for text in texts]}

    def parse(self, body: JSONValue) -> JSONArray:
        embeddings = body.get("embeddings") if isinstance(body, dict) else None
        if not isinstance(embeddings, list):
            raise self._bad_reply('no "embeddings" list')
        return embeddings

    def hint(self, status: int | None) -> str:
        if status is None:
            return f"Start Ollama with `ollama serve` and fetch the model with `ollama pull {self.model}`."
        if status == 404:
            return f"Fetch the model with `ollama pull {self.model}`."
        return f"Check the model with `ollama show {self.model}` and the server's log."
