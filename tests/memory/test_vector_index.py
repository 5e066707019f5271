"""VectorIndex: exact scans equal brute force, the HNSW path keeps recall, filters and removals hold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from mahavishnu.errors import DimensionMismatchError
from mahavishnu.memory.core import vector_index
from mahavishnu.memory.core.vector_index import VectorIndex

DIM = 48
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def clustered(n: int, *, seed: int = 0, centres: int = 40, noise: float = 0.7) -> tuple[I64, F32, F32]:
    """Unit vectors around Gaussian centres, ids 1..n, and 30 queries drawn near (not from) the data."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, DIM)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)

    def around(m: int) -> F32:
        x = c[rng.integers(0, centres, m)]
        x = x + rng.standard_normal((m, DIM)).astype(np.float32) * noise / DIM**0.5
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return np.arange(1, n + 1, dtype=np.int64), around(n), around(30)


def brute(ids: I64, vectors: F32, q: F32, k: int) -> list[int]:
    scores = vectors @ q
    order = np.argsort(-scores, kind="stable")[:k]
    return [int(i) for i in ids[order]]


def recall(got: list[tuple[int, float]], truth: list[int]) -> float:
    return len({i for i, _ in got} & set(truth)) / len(truth)


@pytest.fixture(scope="module")
def data() -> tuple[I64, F32, F32]:
    return clustered(3_000)


def test_exact_search_equals_brute_force(data: tuple[I64, F32, F32]) -> None:
    ids, vecs, queries = data
    index = VectorIndex(DIM)
    index.reserve(1_500)
    index.add(ids[:1_000], vecs[:1_000])
    index.add(ids[1_000:], vecs[1_000:])  # grows past the reservation
    for q in queries[:10]:
        hits = index.search(q, 10)
        assert [i for i, _ in hits] == brute(ids, vecs, q, 10)
        assert [s for _, s in hits] == pytest.approx(sorted((vecs @ q).tolist(), reverse=True)[:10], abs=1e-5)
    assert index.last_plan == "exact"
    assert len(index.search(queries[0], 5_000)) == 3_000


def test_vectors_are_normalised_and_scores_are_cosines() -> None:
    index = VectorIndex(3)
    index.add(np.array([7], dtype=np.int64), np.array([[3.0, 0.0, 4.0]], dtype=np.float32))
    [(hit, score)] = index.search(np.array([0.0, 0.0, 2.0], dtype=np.float32), 1)
    assert (hit, score) == (7, pytest.approx(0.8))


def test_graph_search_recall_on_clustered_vectors(data: tuple[I64, F32, F32]) -> None:
    ids, vecs, queries = data
    index = VectorIndex(DIM, ann_threshold=100)
    index.add(ids, vecs)
    assert index.build() >= 0 and index.ann_ready
    recalls = []
    for q in queries:
        hits = index.search(q, 10)
        assert index.last_plan == "ann" and len(hits) == 10
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        recalls.append(recall(hits, brute(ids, vecs, q, 10)))
    assert np.mean(recalls) >= 0.95


def test_search_above_threshold_answers_exactly_until_the_graph_is_built(data: tuple[I64, F32, F32]) -> None:
    ids, vecs, queries = data
    index = VectorIndex(DIM, ann_threshold=100)
    index.add(ids, vecs)
    assert [i for i, _ in index.search(queries[0], 10)] == brute(ids, vecs, queries[0], 10)
    assert index.last_plan == "exact (graph not built)"
    assert index.wait_for_build(timeout=30)
    index.search(queries[0], 10)
    assert index.last_plan == "ann"


def test_no_background_build_when_auto_build_is_off(data: tuple[I64, F32, F32]) -> None:
    ids, vecs, queries = data
    index = VectorIndex(DIM, ann_threshold=100, auto_build=False)
    index.add(ids, vecs)
    index.search(queries[0], 10)
    assert not index.building and not index.ann_ready


@pytest.mark.parametrize("threshold", [50_000, 100], ids=["exact-scan", "graph"])
def test_filtered_search_returns_min_k_allowed_rows(data: tuple[I64, F32, F32], threshold: int) -> None:
    ids, vecs, queries = data
    index = VectorIndex(DIM, ann_threshold=threshold)
    index.add(ids, vecs)
    if threshold == 100:
        index.build()
    rng = np.random.default_rng(1)
    graph_recalls = []
    for size in (3, 60, 150, 1_200):
        allowed = rng.choice(ids, size, replace=False)
        asked = np.concatenate([allowed, allowed[:5], [999_999, 0, -5]])  # repeats, unknown ids: fine
        for q, given in zip(queries[:6], [asked, np.sort(allowed)] * 3, strict=True):
            hits = index.search(q, 20, allowed=given)
            assert len(hits) == min(20, size)
            assert {i for i, _ in hits} <= set(allowed.tolist())
            mask = np.isin(ids, allowed)
            truth = brute(ids[mask], vecs[mask], q, 20)
            if size <= threshold:
                assert [i for i, _ in hits] == truth and index.last_plan == "exact filtered"
            else:
                assert index.last_plan == "ann filtered"
                graph_recalls.append(recall(hits, truth))
    assert np.mean(graph_recalls or [1.0]) >= 0.95
    assert index.search(queries[0], 20, allowed=np.array([], dtype=np.int64)) == []
    assert index.search(queries[0], 20, allowed=np.array([10**9], dtype=np.int64)) == []


@pytest.mark.parametrize("threshold", [50_000, 100], ids=["exact-scan", "graph"])
def test_removed_ids_never_come_back(data: tuple[I64, F32, F32], threshold: int) -> None:
    ids, vecs, queries = data
    index = VectorIndex(DIM, ann_threshold=threshold, auto_build=False)
    index.add(ids, vecs)
    if threshold == 100:
        index.build()
    removed = np.random.default_rng(2).choice(ids, 900, replace=False)
    index.remove(removed[:450])
    index.remove(np.concatenate([removed[450:], removed[:3], [123_456]]))  # repeats and unknowns ignored
    assert len(index) == 2_100 and 5_000 not in index and int(removed[0]) not in index
    keep = ~np.isin(ids, removed)
    for q in queries:
        hits = index.search(q, 20)
        assert not {i for i, _ in hits} & set(removed.tolist())
        if threshold == 50_000:
            assert [i for i, _ in hits] == brute(ids[keep], vecs[keep], q, 20)
        assert index.search(q, 20, allowed=removed) == []
        # the vectors of the removed rows, searched for, find only survivors
        assert not {i for i, _ in index.search(vecs[removed[0] - 1], 20)} & set(removed.tolist())


def test_re_add_after_remove_and_add_replaces(data: tuple[I64, F32, F32]) -> None:
    ids, vecs, _ = data
    index = VectorIndex(DIM, ann_threshold=100, auto_build=False)
    index.add(ids, vecs)
    index.build()
    fresh = clustered(2, seed=9)[1]
    index.remove(np.array([5, 6], dtype=np.int64))
    index.add(np.array([5], dtype=np.int64), fresh[:1])  # re-added after remove, with a new vector
    index.add(np.array([7], dtype=np.int64), fresh[1:])  # already present: replaced
    assert len(index) == 2_999
    for key, vec in ((5, fresh[0]), (7, fresh[1])):
        top, score = index.search(vec, 1)[0]
        assert (top, score) == (key, pytest.approx(1.0, abs=1e-5))
        assert index.search(vec, 1, allowed=np.array([key]))[0][0] == key
    assert 6 not in index


def test_changes_during_a_build_reach_the_graph(
    data: tuple[I64, F32, F32], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, vecs, _ = data
    monkeypatch.setattr(vector_index, "BUILD_CHUNK", 500)
    index = VectorIndex(DIM, ann_threshold=100, auto_build=False)
    index.add(ids, vecs)
    extra = clustered(3, seed=5)[1]

    def mutate(done: int, total: int) -> None:
        if done == 500:  # mid-build: rows both already inserted and still to come
            index.remove(np.array([10, 2_900], dtype=np.int64))
            index.add(np.array([10, 5_000, 5_001], dtype=np.int64), extra)

    index.build(progress=mutate)
    assert index.ann_ready and len(index) == 3_001
    for key, vec in ((10, extra[0]), (5_000, extra[1]), (5_001, extra[2])):
        assert index.search(vec, 1)[0][0] == key and index.last_plan == "ann"
    assert 2_900 not in {i for i, _ in index.search(vecs[2_899], 20)}


def test_sparse_ids_use_a_dict_map() -> None:
    ids = np.array([3, 10**12, 2**40 + 1], dtype=np.int64)
    vecs = np.eye(3, DIM, dtype=np.float32)
    index = VectorIndex(DIM)
    index.add(ids, vecs)
    index.remove(ids[:1])
    assert [i for i, _ in index.search(vecs[1], 3)] == [10**12, 2**40 + 1]
    assert index.search(vecs[2], 3, allowed=ids[2:])[0][0] == 2**40 + 1


def test_save_and_load_round_trip(data: tuple[I64, F32, F32], tmp_path: Path) -> None:
    ids, vecs, queries = data
    sidecar = tmp_path / "memory.db.ann"
    index = VectorIndex(DIM, ann_threshold=100, sidecar=sidecar)
    index.add(ids, vecs)
    index.build()
    index.remove(np.array([1, 2], dtype=np.int64))
    expected = [index.search(q, 10) for q in queries]
    index.save("seq:42")
    assert not index.needs_save

    # restored into an empty index: rows and graph, no rebuild
    restored = VectorIndex(DIM, ann_threshold=100, sidecar=sidecar, auto_build=False)
    assert restored.load("seq:42") and restored.ann_ready and len(restored) == 2_998
    assert [restored.search(q, 10) for q in queries] == expected and restored.last_plan == "ann"

    # restored onto an index filled from the database first: only the graph is read
    refilled = VectorIndex(DIM, ann_threshold=100, sidecar=sidecar, auto_build=False)
    refilled.add(ids[2:], vecs[2:])
    assert refilled.load("seq:42") and refilled.ann_ready
    assert [refilled.search(q, 10) for q in queries] == expected

    # a mismatch changes nothing
    assert not VectorIndex(DIM, sidecar=sidecar).load("seq:43")
    other_rows = VectorIndex(DIM, sidecar=sidecar)
    other_rows.add(ids[:2_998], vecs[:2_998])
    assert not other_rows.load("seq:42") and not other_rows.ann_ready
    assert not VectorIndex(DIM + 1, sidecar=sidecar).load("seq:42")
    assert not VectorIndex(DIM, sidecar=tmp_path / "absent").load("seq:42")
    assert not VectorIndex(DIM).load("seq:42")


def test_save_keeps_one_generation_of_files(data: tuple[I64, F32, F32], tmp_path: Path) -> None:
    ids, vecs, _ = data
    sidecar = tmp_path / "memory.db.ann"
    index = VectorIndex(DIM, sidecar=sidecar)
    index.add(ids[:100], vecs[:100])
    index.save("a")
    index.add(ids[100:200], vecs[100:200])
    index.save("b")
    manifest = json.loads(sidecar.read_text())
    assert manifest["fingerprint"] == "b" and manifest["count"] == 200 and manifest["files"]["graph"] is None
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {sidecar.name, manifest["files"]["ids"], manifest["files"]["vectors"]}
    assert not VectorIndex(DIM, sidecar=sidecar).load("a")


def test_graph_built_after_save_is_added_to_the_sidecar(data: tuple[I64, F32, F32], tmp_path: Path) -> None:
    ids, vecs, _ = data
    sidecar = tmp_path / "memory.db.ann"
    index = VectorIndex(DIM, ann_threshold=100, sidecar=sidecar)
    index.add(ids, vecs)
    index.save("fp")  # rows only: no graph yet
    assert json.loads(sidecar.read_text())["files"]["graph"] is None
    index.build()
    assert json.loads(sidecar.read_text())["files"]["graph"] is not None and not index.needs_save
    restored = VectorIndex(DIM, ann_threshold=100, sidecar=sidecar)
    assert restored.load("fp") and restored.ann_ready


def test_wrong_dimension_is_refused(data: tuple[I64, F32, F32]) -> None:
    index = VectorIndex(DIM)
    with pytest.raises(DimensionMismatchError):
        index.add(np.array([1], dtype=np.int64), np.ones((1, DIM + 1), dtype=np.float32))
    with pytest.raises(DimensionMismatchError):
        index.search(np.ones(DIM - 1, dtype=np.float32), 5)
    with pytest.raises(ValueError, match="same id twice"):
        index.add(np.array([1, 1], dtype=np.int64), np.ones((2, DIM), dtype=np.float32))
    with pytest.raises(ValueError, match="2 ids for 3 vectors"):
        index.add(np.array([1, 2], dtype=np.int64), np.ones((3, DIM), dtype=np.float32))
    assert len(index) == 0 and index.search(np.ones(DIM, dtype=np.float32), 5) == []


def test_close_stops_a_background_build(data: tuple[I64, F32, F32], monkeypatch: pytest.MonkeyPatch) -> None:
    ids, vecs, queries = data
    monkeypatch.setattr(vector_index, "BUILD_CHUNK", 100)
    index = VectorIndex(DIM, ann_threshold=100)
    index.add(ids, vecs)
    index.search(queries[0], 10)
    assert index.building
    index.close()
    assert not index.building
    index.auto_build = False
    assert [i for i, _ in index.search(queries[1], 10)][:1] == brute(ids, vecs, queries[1], 1)


def test_building_a_graph_before_any_embedding_does_not_crash_onnxruntime() -> None:
    """usearch loaded before onnxruntime used to kill the process (SIGSEGV) on `import onnxruntime`."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import numpy as np
        from mahavishnu.memory.core.vector_index import VectorIndex
        index = VectorIndex(8, ann_threshold=10)
        v = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
        index.add(np.arange(50, dtype=np.int64), v / np.linalg.norm(v, axis=1, keepdims=True))
        index.build()
        import onnxruntime
        print(len(index.search(v[0], 5)))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5"


def test_cosines_of_held_ids_are_exact_and_others_left_out(data: tuple[I64, F32, F32]) -> None:
    """What hybrid search reads for the text leg's hits the vector leg did not rank."""
    ids, vecs, queries = data
    index = VectorIndex(DIM, auto_build=False)
    index.add(ids, vecs)
    index.remove(np.array([7], dtype=np.int64))
    asked = np.array([3, 7, 2_999, 123_456], dtype=np.int64)

    got = index.cosines(queries[0] * 3.0, asked)  # an unnormalised query is scored as a unit one

    q = queries[0] / np.linalg.norm(queries[0])
    assert got == {
        3: pytest.approx(float(vecs[2] @ q), abs=1e-6),
        2_999: pytest.approx(float(vecs[2_998] @ q), abs=1e-6),
    }
    assert index.cosines(queries[0], np.array([], dtype=np.int64)) == {}
