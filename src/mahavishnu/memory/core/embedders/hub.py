"""Embedding models from the Hugging Face Hub, run by fastembed (ONNX Runtime, no torch):
``memory.embedder: fastembed`` with ``memory.embedder_model`` one of fastembed's text models
(``BAAI/bge-small-en-v1.5`` by default; an unknown name is refused with the list). Needs
``pip install 'mahavishnu[fastembed]'`` and, once, a machine that reaches the hub (or the mirror
``HF_ENDPOINT`` names); afterwards it runs offline.

The files are downloaded once into ``<data dir>/models/fastembed`` (the hub's cache layout) and
checked before every load against the hashes the hub published for them: the hub's client names
each cached file by its ETag, which is the file's SHA-256 for large (LFS) files and its git blob
SHA-1 for the others. A file that does not match (a download cut short, a file changed on disk, a
mirror serving other bytes) is refused before ONNX Runtime reads it, with the command that fetches
it again. A verified file is not hashed again while its size and modification time are those it
was verified with (``verified.json`` beside the cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mahavishnu.errors import ConfigError, EmbeddingError
from mahavishnu.memory.core.embedders.base import Embedder, Kind, Vectors, normalise
from mahavishnu.paths import make_dir

if TYPE_CHECKING:
    from fastembed import TextEmbedding
    from tokenizers import Tokenizer

DEFAULT_MODEL = "BAAI/bge-small-en-v1.5"
EXTRA = "pip install 'mahavishnu[fastembed]'"
_VERIFIED = "verified.json"
_WINDOW = re.compile(r"(\d+) input tokens truncation")
_CHUNK = 1 << 20


def cache_dir() -> Path:
    from mahavishnu.paths import data_dir

    return data_dir() / "models" / "fastembed"


class FastEmbedEmbedder(Embedder):
    """One of fastembed's text models, its files fetched from the hub once and hash-checked."""

    name = "fastembed"

    def __init__(self, model: str = DEFAULT_MODEL, cache: Path | None = None, threads: int | None = None):
        self.model = model
        self.cache = cache or cache_dir()
        self.threads = threads
        self._described: dict[str, Any] | None = None
        self._engine: TextEmbedding | None = None
        self._counter: Tokenizer | None = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:  # type: ignore[override]
        """Known from fastembed's list of models: nothing is downloaded to tell it."""
        return int(self._description()["dim"])

    @property
    def max_tokens(self) -> int:  # type: ignore[override]
        """The window fastembed's description names ("256 input tokens truncation"), special
        tokens excluded; 510 when it names none (fastembed's default of 512)."""
        found = _WINDOW.search(str(self._description().get("description") or ""))
        return (int(found.group(1)) if found else 512) - 2

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        engine = self._load()
        embed = engine.query_embed if kind == "query" else engine.passage_embed
        rows = list(embed(list(texts), batch_size=self.batch_size))
        return normalise(np.stack(rows))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Exact, with the model's own tokenizer (ingestion sizes chunks by it), once it is fetched."""
        if (counter := self._tokenizer()) is None:
            return super().count_tokens(texts)
        return [len(e.ids) for e in counter.encode_batch(list(texts), add_special_tokens=False)]

    def token_starts(self, text: str) -> list[int] | None:
        if (counter := self._tokenizer()) is None:
            return None
        return [start for start, _ in counter.encode(text, add_special_tokens=False).offsets]

    def _tokenizer(self) -> Tokenizer | None:
        """The model's own tokenizer (None: the model has no ``tokenizer.json``)."""
        if self._counter is None:
            tokenizer = Path(self._load().model._model_dir) / "tokenizer.json"  # type: ignore[attr-defined]
            if not tokenizer.is_file():
                return None
            from tokenizers import Tokenizer

            counter = Tokenizer.from_file(str(tokenizer))
            counter.no_truncation()
            counter.no_padding()
            self._counter = counter
        return self._counter

    def load(self) -> None:
        """Fetch (once) and check the model's files, and load it; raises EmbeddingError if it cannot."""
        self._load()

    def _description(self) -> dict[str, Any]:
        if self._described is None:
            models = {m["model"].lower(): m for m in _text_embedding().list_supported_models()}
            found = models.get(self.model.lower())
            if found is None:
                names = ", ".join(m["model"] for m in models.values())
                raise ConfigError(
                    f"memory.embedder_model {self.model!r} is not one of fastembed's text models",
                    hint=f"Use one of: {names}.",
                )
            self._described = found
        return self._described

    def _load(self) -> TextEmbedding:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._fetch_and_check()
        return self._engine

    def _fetch_and_check(self) -> TextEmbedding:
        self._description()
        make_dir(self.cache)
        text_embedding = _text_embedding()
        try:  # lazy: ONNX Runtime reads the files only once they are checked
            engine = text_embedding(
                self.model, str(self.cache), self.threads, lazy_load=True, local_files_only=True
            )
        except Exception:  # not cached yet (or cut short): fetched once, then read from the cache
            self._download(text_embedding)
            engine = text_embedding(
                self.model, str(self.cache), self.threads, lazy_load=True, local_files_only=True
            )
        folder = Path(engine.model._model_dir)  # type: ignore[attr-defined]
        verify_snapshot(folder, self.cache / _VERIFIED, self.model)
        try:
            engine.model.load_onnx_model()  # type: ignore[attr-defined]
        except Exception as exc:
            raise EmbeddingError(f"could not load the model {self.model}: {_first_line(exc)}") from None
        return engine

    def _download(self, text_embedding: type[TextEmbedding]) -> None:
        """One attempt (fastembed's default retries for ~40 s when the hub is unreachable)."""
        name = self.model.lower()
        for kind in text_embedding.EMBEDDINGS_REGISTRY:
            described = [d for d in kind._list_supported_models() if d.model.lower() == name]
            if described:
                break
        try:
            kind.download_model(described[0], str(self.cache), retries=1)
        except Exception as exc:  # the hub's client and fastembed raise many kinds
            raise EmbeddingError(
                f"could not fetch the model {self.model} from the hub: {_first_line(exc)}",
                hint="Run the command once on a machine that reaches huggingface.co (or set HF_ENDPOINT "
                f"to a mirror); the files are then kept in {self.cache}.",
            ) from None


def verify_snapshot(folder: Path, stamps: Path, model: str) -> None:
    """Check every file of a hub snapshot against the hash its cached name carries (see the module
    docstring); raises EmbeddingError naming the first that does not match."""
    known = _read_stamps(stamps)
    changed = False
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        blob = path.resolve()
        expected = blob.name
        state = blob.stat()
        if known.get(str(blob)) == [expected, state.st_size, state.st_mtime_ns]:
            continue
        actual = _hash_like(blob, expected)
        if actual != expected:
            raise EmbeddingError(
                f"the cached file {path.name} of {model} does not match the hash the hub "
                f"published for it ({expected[:12]}…, the file's is {actual[:12]}…); it was not loaded",
                hint=f"Delete {folder.parent.parent} and run the command again to fetch it anew.",
            )
        known[str(blob)] = [expected, state.st_size, state.st_mtime_ns]
        changed = True
    if changed:
        from mahavishnu.files.safe_write import write_private

        write_private(stamps, json.dumps(known), lock=False)


def _hash_like(blob: Path, expected: str) -> str:
    """The file's SHA-256 when ``expected`` is one (64 hex digits), else its git blob SHA-1."""
    if len(expected) == 64:
        digest = hashlib.sha256()
    elif len(expected) == 40:
        digest = hashlib.sha1(b"blob %d\0" % blob.stat().st_size)
    else:
        return "not a file the hub's client cached (no hash in its name)"
    with blob.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_stamps(stamps: Path) -> dict[str, list[Any]]:
    try:
        found = json.loads(stamps.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _text_embedding() -> type[TextEmbedding]:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        from fastembed import TextEmbedding
        from loguru import logger
    except ImportError:
        raise EmbeddingError(
            "memory.embedder fastembed needs the fastembed package, which is not installed",
            hint=f"Install it with `{EXTRA}`, or choose another embedder (memory.embedder: local).",
        ) from None
    logger.disable("fastembed")  # its retries log errors on stderr: the command says what failed, once
    return TextEmbedding


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
