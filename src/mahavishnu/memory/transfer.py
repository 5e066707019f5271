"""Export/import as JSONL: a header line, then one memory per line, exact to the bit.

Ids and times are kept; vectors travel as base64 of little-endian float32, so a round trip
(also embedded -> PostgreSQL -> embedded) reproduces them exactly. Export writes a temp file and
renames it, so a crash never leaves half a file under the target name.

    {"format": "mahavishnu-memories", "version": 1, "embedder": "local/...", "dimension": "384"}
    {"id": 1, "content": "...", ..., "embedding": "AAB/Pw..."}
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mahavishnu.errors import InvalidInputError, MahavishnuError, NotFoundError
from mahavishnu.memory.models import Memory, check_content, check_type

FORMAT = "mahavishnu-memories"
VERSION = 1
_BATCH = 500


@dataclass(frozen=True, slots=True)
class Header:
    embedder: str | None
    dimension: str | None
    max_id: int = 0


def write(path: Path, header: Header, memories: Iterable[Memory]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            head = {
                "format": FORMAT,
                "version": VERSION,
                "embedder": header.embedder,
                "dimension": header.dimension,
            }
            out.write(json.dumps(head) + "\n")
            for memory in memories:
                out.write(json.dumps(_line(memory), ensure_ascii=False) + "\n")
                count += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def _line(memory: Memory) -> dict[str, Any]:
    assert memory.embedding is not None
    vector = np.ascontiguousarray(memory.embedding, dtype="<f4").tobytes()
    return {**memory.to_dict(), "embedding": base64.b64encode(vector).decode("ascii")}


def read(path: Path) -> tuple[Header, Iterator[list[Memory]]]:
    """The header, and the memories in batches. Every line is checked before this returns."""
    if not path.is_file():
        raise NotFoundError(f"no such file: {path}")
    header = _header(path)
    max_id = 0
    for memory in _memories(path, header):  # check the whole file first: nothing is written if a line is bad
        max_id = max(max_id, memory.id)
    return Header(header.embedder, header.dimension, max_id), _batches(_memories(path, header))


def _header(path: Path) -> Header:
    with path.open(encoding="utf-8") as lines:
        first = lines.readline()
    try:
        head = json.loads(first)
    except ValueError:
        head = None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise InvalidInputError(
            f"{path} is not a Mahavishnu memory export", hint="Create one with `memory export`."
        )
    if head.get("version") != VERSION:
        raise InvalidInputError(
            f"{path} is export version {head.get('version')}; this Mahavishnu reads {VERSION}"
        )
    return Header(head.get("embedder"), None if head.get("dimension") is None else str(head["dimension"]))


def _memories(path: Path, header: Header) -> Iterator[Memory]:
    with path.open(encoding="utf-8") as lines:
        next(lines)
        for number, text in enumerate(lines, start=2):
            if text.strip():
                memory = _parse(text, f"{path}:{number}")
                if header.embedder is not None and memory.embedding_model != header.embedder:
                    raise InvalidInputError(
                        f"{path}:{number}: vector from {memory.embedding_model}, "
                        f"the file's header says {header.embedder}"
                    )
                yield memory


def _parse(text: str, where: str) -> Memory:
    try:
        data = json.loads(text)
        vector = np.frombuffer(base64.b64decode(data.pop("embedding"), validate=True), dtype="<f4")
        memory = Memory.from_dict(data, embedding=vector.astype(np.float32))
        check_type(memory.memory_type)
        check_content(memory.content, max_chars=10**9)
    except MahavishnuError as exc:
        raise InvalidInputError(f"{where}: {exc.message}") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInputError(f"{where}: not a valid memory line ({exc})") from exc
    if len(vector) != memory.embedding_dim:
        raise InvalidInputError(
            f"{where}: vector has {len(vector)} values, embedding_dim says {memory.embedding_dim}"
        )
    return memory


def _batches(memories: Iterator[Memory]) -> Iterator[list[Memory]]:
    batch: list[Memory] = []
    for memory in memories:
        batch.append(memory)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
