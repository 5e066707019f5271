"""What the HTTP embedders share: one JSON POST with errors that say what to do, and dimension checks.

Errors never carry the API key: it lives in a header only, and is masked out of anything a server
echoes back. URLs in messages have their passwords masked.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Sequence

import httpx
import numpy as np

from mahavishnu import wording
from mahavishnu.errors import DimensionMismatchError, EmbeddingError
from mahavishnu.json_types import JSONArray, JSONObject, JSONValue
from mahavishnu.masking import mask_url
from mahavishnu.memory.core.embedders.base import Embedder, Kind, Vectors, normalise

DEFAULT_TIMEOUT = 60.0  # seconds; a server's first request may load the model
CONNECT_TIMEOUT = 5.0
_MAX_SERVER_MESSAGE = 300


class _Secret:
    """A value that never shows in a repr, a ``vars()`` dump or a traceback's locals."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"


class HttpEmbedder(Embedder):
    """An embedder behind an HTTP API. Subclasses build the request and read the vectors out of the reply.

    ``dimension=None`` asks the server once, on first use, by embedding a probe text.
    """

    server_label = "embedding server"

    def __init__(
        self,
        url: str,
        model: str,
        dimension: int | None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        batch_size: int = 32,
    ) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self._dimension = dimension
        self.timeout = timeout
        self.batch_size = batch_size
        self._api_key = _Secret(api_key) if api_key else None
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:  # type: ignore[override]
        if self._dimension is None:
            self._dimension = int(self._request(["dimension probe"], "query").shape[1])
        return self._dimension

    @dimension.setter
    def dimension(self, value: int) -> None:
        self._dimension = value

    def __repr__(self) -> str:
        url = mask_url(self.url)
        return f"{type(self).__name__}(url={url!r}, model={self.model!r}, dimension={self._dimension})"

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """The full URL requests are POSTed to."""

    @abstractmethod
    def payload(self, texts: Sequence[str], kind: Kind) -> JSONObject:
        """The JSON body for one batch."""

    @abstractmethod
    def parse(self, body: JSONValue) -> JSONArray:
        """The list of vectors in a successful reply (raise EmbeddingError if it has none)."""

    def hint(self, status: int | None) -> str:
        """What to do when the server is unreachable (``None``) or answered with an error status."""
        return f"Check memory.embedder_url ({mask_url(self.url)}) and memory.embedder_model ({self.model})."

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        vectors = self._request(texts, kind)
        if vectors.shape[1] != self.dimension:
            raise DimensionMismatchError(
                f"the {self.server_label} at {mask_url(self.url)} returned {vectors.shape[1]}-dimensional "
                f"vectors for model {self.model}, expected {self.dimension}",
                hint=f"Check that memory.embedder_model ({self.model}) names the model the server runs; "
                "to change models, migrate the store with `mahavishnu memory reembed --embedder NAME`.",
            )
        return vectors

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _request(self, texts: Sequence[str], kind: Kind) -> Vectors:
        body = self._post(self.payload(texts, kind))
        rows = self.parse(body)
        if len(rows) != len(texts):
            said = f"{wording.count(len(rows), 'vector')} for {wording.count(len(texts), 'text')}"
            raise self._bad_reply(said)
        try:
            vectors = np.asarray(rows, dtype=np.float32)
        except (ValueError, TypeError):
            raise self._bad_reply("vectors of different lengths or non-numbers") from None
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise self._bad_reply(f"vectors of shape {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise self._bad_reply("non-finite numbers in the vectors")
        return normalise(vectors)

    def _post(self, payload: JSONObject) -> JSONValue:
        where = mask_url(self.url)
        try:
            response = self._http().post(self.endpoint, json=payload)
        except httpx.TimeoutException:
            raise EmbeddingError(
                f"the {self.server_label} at {where} did not answer within {self.timeout:g} s",
                hint="The server may be overloaded or still loading the model; try again, "
                "or raise the timeout.",
            ) from None
        except httpx.HTTPError as exc:
            raise EmbeddingError(
                f"cannot reach the {self.server_label} at {where}: "
                f"{self._redact(str(exc)) or type(exc).__name__}",
                hint=self.hint(None),
            ) from None
        if response.status_code >= 400:
            raise EmbeddingError(
                f"the {self.server_label} at {where} answered HTTP {response.status_code}: "
                f"{self._server_message(response)}",
                hint=self.hint(response.status_code),
            )
        try:
            body: JSONValue = response.json()
        except ValueError:
            raise self._bad_reply("a body that is not JSON") from None
        return body

    def _http(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT))
                    self._client = httpx.Client(timeout=timeout, headers=self._auth_headers())
        return self._client

    def _auth_headers(self) -> dict[str, str]:
        # httpx shows an Authorization header as [secure] in its reprs.
        return {"Authorization": f"Bearer {self._api_key.value}"} if self._api_key else {}

    def _server_message(self, response: httpx.Response) -> str:
        """The server's own words: Ollama's ``{"error": "..."}``, OpenAI's ``{"error": {"message": …}}``
        or the body's text."""
        body: JSONValue
        try:
            body = response.json()
        except ValueError:
            body = None
        message: JSONValue = None
        if isinstance(body, dict):
            error = body.get("error", body.get("detail", body.get("message")))
            message = error.get("message", error) if isinstance(error, dict) else error
        if not message:
            message = response.text.strip() or response.reason_phrase
        text = " ".join(str(message).split())
        if len(text) > _MAX_SERVER_MESSAGE:
            text = text[:_MAX_SERVER_MESSAGE] + "…"
        return self._redact(text)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key.value, "****") if self._api_key else text

    def _bad_reply(self, what: str) -> EmbeddingError:
        return EmbeddingError(
            f"the {self.server_label} at {mask_url(self.url)} sent an unexpected reply: {what}",
            hint=f"Check that {mask_url(self.endpoint)} serves embeddings for model {self.model}.",
        )
