"""Every OpenAI-compatible ``/v1/embeddings``: llama-server, LM Studio, vLLM, OpenAI itself.

``POST {url}/v1/embeddings`` ``{"model", "input": [...]}`` → ``{"data": [{"index", "embedding"}]}``.
``url`` may be the server root (``http://127.0.0.1:8080``), its ``/v1`` base
(``https://api.openai.com/v1``) or the full endpoint. The API key, if any, is sent as a bearer token
and never appears in errors, logs or ``repr``.
"""

from __future__ import annotations

from collections.abc import Sequence

from mahavishnu.json_types import JSONArray, JSONObject, JSONValue
from mahavishnu.memory.core.embedders._http import HttpEmbedder
from mahavishnu.memory.core.embedders.base import Kind


class OpenAICompatibleEmbedder(HttpEmbedder):
    name = "openai"
    server_label = "OpenAI-compatible server"

    @property
    def endpoint(self) -> str:
        if self.url.endswith("/embeddings"):
            return self.url
        if self.url.endswith("/v1"):
            return f"{self.url}/embeddings"
        return f"{self.url}/v1/embeddings"

    def payload(self, texts: Sequence[str], kind: Kind) -> JSONObject:
        return {"model": self.model, "input": [*texts]}

    def parse(self, body: JSONValue) -> JSONArray:
        data = body.get("data") if isinstance(body, dict) else None
        items = [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
        if not isinstance(data, list) or len(items) != len(data):
            raise self._bad_reply('no "data" list of embeddings')
        try:
            ordered = sorted(items, key=_index)
            return [item["embedding"] for item in ordered]
        except (KeyError, TypeError, ValueError):
            raise self._bad_reply('"data" items without "embedding" or "index"') from None

    def hint(self, status: int | None) -> str:
        if status is None:
            return (
                "Start the server (llama-server --embeddings, LM Studio, vLLM…) or fix memory.embedder_url."
            )
        if status in (401, 403):
            return "Check memory.embedder_api_key (or the secret it refers to)."
        if status == 404:
            return f"Check memory.embedder_url and that the server serves the model {self.model}."
        return super().hint(status)


def _index(item: JSONObject) -> int:
    """A data item's ``index`` (0 when it has none); TypeError or ValueError when it is no number."""
    index = item.get("index", 0)
    if isinstance(index, str | int | float):
        return int(index)
    raise TypeError(f"index {index!r} is not a number")
