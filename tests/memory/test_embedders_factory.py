"""get_embedder: memory settings to the right embedder, with defaults per kind."""

from __future__ import annotations

import pytest

from mahavishnu.config import MemorySettings
from mahavishnu.errors import ConfigError, SecretNotFoundError
from mahavishnu.memory.core.embedders import (
    LocalEmbedder,
    OllamaEmbedder,
    OpenAICompatibleEmbedder,
    get_embedder,
)
from mahavishnu.memory.core.embedders.openai import OpenAICompatibleEmbedder as Direct


def test_default_is_the_local_int8_model_in_int8_arithmetic() -> None:
    embedder = get_embedder(MemorySettings())
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.runtime == "onnx-q8"
    assert (embedder.identity, embedder.dimension) == ("local/all-MiniLM-L6-v2-int8-q8", 384)


@pytest.mark.parametrize(
    ("model", "runtime"),
    [
        ("all-MiniLM-L6-v2", "onnx-fp32"),
        ("onnx-fp32", "onnx-fp32"),
        ("numpy-fp32", "numpy-fp32"),
        ("all-minilm-l6-v2-int8", "onnx-int8"),
        ("onnx-int8", "onnx-int8"),
        ("all-MiniLM-L6-v2-int8-q8", "onnx-q8"),
        ("onnx-q8", "onnx-q8"),
    ],
)
def test_local_model_names_a_vector_space_or_a_runtime(model: str, runtime: str) -> None:
    embedder = get_embedder(MemorySettings(embedder_model=model))
    assert isinstance(embedder, LocalEmbedder) and embedder.runtime == runtime


def test_local_refuses_a_model_it_does_not_have() -> None:
    with pytest.raises(ConfigError, match="'bge-m3' is not a local model") as caught:
        get_embedder(MemorySettings(embedder_model="bge-m3"))
    assert "ollama or openai" in caught.value.hint


def test_ollama_defaults() -> None:
    embedder = get_embedder(MemorySettings(embedder="ollama"))
    assert isinstance(embedder, OllamaEmbedder)
    assert (embedder.url, embedder.model, embedder.dimension) == (
        "http://127.0.0.1:11434",
        "nomic-embed-text",
        768,
    )
    assert embedder.identity == "ollama/nomic-embed-text"
    assert embedder.prefixes == {"document": "search_document: ", "query": "search_query: "}


def test_ollama_known_model_with_tag_gets_its_dimension() -> None:
    embedder = get_embedder(MemorySettings(embedder="ollama", embedder_model="mxbai-embed-large:latest"))
    assert embedder.dimension == 1024
    assert isinstance(embedder, OllamaEmbedder) and embedder.prefixes == {}


def test_openai_defaults_to_openai_with_the_standard_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-000000000")
    embedder = get_embedder(MemorySettings(embedder="openai"))
    assert isinstance(embedder, OpenAICompatibleEmbedder)
    assert embedder.endpoint == "https://api.openai.com/v1/embeddings"
    assert (embedder.model, embedder.dimension) == ("text-embedding-3-small", 1536)
    assert embedder._auth_headers() == {"Authorization": "Bearer sk-from-env-000000000"}


def test_openai_key_from_the_environment_never_goes_to_another_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-000000000")
    settings = MemorySettings(
        embedder="openai", embedder_url="http://127.0.0.1:8080", embedder_model="qwen3-embed"
    )
    embedder = get_embedder(settings)
    assert isinstance(embedder, Direct)
    assert embedder._auth_headers() == {}


def test_openai_key_may_be_a_secret_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_EMBED_KEY", "sk-referenced-0000000")
    settings = MemorySettings(
        embedder="openai", embedder_url="http://127.0.0.1:1234/v1", embedder_api_key="env:MY_EMBED_KEY"
    )
    embedder = get_embedder(settings)
    assert isinstance(embedder, Direct)
    assert embedder._auth_headers() == {"Authorization": "Bearer sk-referenced-0000000"}
    with pytest.raises(SecretNotFoundError):
        get_embedder(settings.model_copy(update={"embedder_api_key": "env:UNSET_VARIABLE"}))


def test_openai_unknown_model_leaves_the_dimension_to_the_server() -> None:
    settings = MemorySettings(embedder="openai", embedder_url="http://127.0.0.1:1", embedder_model="my-model")
    embedder = get_embedder(settings)
    assert isinstance(embedder, Direct)
    assert embedder._dimension is None  # asked on first use (see test_embedders_http)


def test_every_public_name_resolves() -> None:
    import mahavishnu.memory.core.embedders as embedders

    for name in embedders.__all__:
        assert getattr(embedders, name) is not None, name
    with pytest.raises(AttributeError):
        _ = embedders.NoSuchEmbedder  # type: ignore[attr-defined]
