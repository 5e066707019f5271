"""Both database backends refuse a vector holding NaN or infinity with one clear error (pgvector's
own names only a statement parameter), and write nothing of the batch."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mahavishnu.config import MemorySettings
from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.backends.sql import SqlBackend
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)


@pytest.fixture(params=["sqlite", "postgres"])
def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], SqlBackend]:
    if request.param == "sqlite":
        return lambda: SqliteBackend(tmp_path / "target.db")
    pytest.importorskip("psycopg")
    from mahavishnu.memory.core.backends.postgres import PostgresBackend

    dsn = request.getfixturevalue("pg_dsn")
    return lambda: PostgresBackend(dsn)


def export_with_a_bad_vector(tmp_path: Path, bad: float) -> Path:
    """An export of three memories whose second vector holds ``bad``."""
    path = tmp_path / "export.jsonl"
    with MemoryStore(SqliteBackend(tmp_path / "source.db"), SETTINGS, FakeEmbedder()) as source:
        source.store_many([{"content": f"note number {i}", "type": "note"} for i in range(3)])
        source.export(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    memory_lines = [i for i, line in enumerate(lines) if '"embedding"' in line]
    data = json.loads(lines[memory_lines[1]])
    vector = np.frombuffer(base64.b64decode(data["embedding"]), dtype="<f4").copy()
    vector[3] = bad
    data["embedding"] = base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    lines[memory_lines[1]] = json.dumps(data)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_importing_a_non_finite_vector_is_one_clear_error(
    open_backend: Callable[[], SqlBackend], tmp_path: Path, bad: float
) -> None:
    path = export_with_a_bad_vector(tmp_path, bad)

    with MemoryStore(open_backend(), SETTINGS, FakeEmbedder()) as target:
        with pytest.raises(InvalidInputError, match=r"export.jsonl:3: the vector has NaN or infinite values"):
            target.import_(path)
        assert target.stats()["count"] == 0  # the batch was rolled back


def test_staging_a_non_finite_vector_is_refused(open_backend: Callable[[], SqlBackend]) -> None:
    with MemoryStore(open_backend(), SETTINGS, FakeEmbedder()) as store:
        memory = store.store("a note to re-embed", "note")
        vectors = np.full((1, 64), np.nan, dtype=np.float32)

        with pytest.raises(InvalidInputError, match=f"memory #{memory.id} has a vector with NaN"):
            store.backend.stage_vectors([memory.id], vectors)
        assert store.backend.reembed_progress() == (0, 1)


def test_inserting_a_non_finite_vector_is_refused(open_backend: Callable[[], SqlBackend]) -> None:
    from mahavishnu.memory.core.models import utcnow

    with MemoryStore(open_backend(), SETTINGS, FakeEmbedder()) as store:
        memory = store.store("a first note", "note")
        vector = np.full(64, np.inf, dtype=np.float32)

        with pytest.raises(InvalidInputError, match="NaN or infinite"):
            store.backend.update(memory.id, {}, vector, model="m", now=utcnow())
        assert np.isfinite(store.backend.vectors([memory.id])[memory.id]).all()
