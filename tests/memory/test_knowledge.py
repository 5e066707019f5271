"""``query_knowledge_base`` ranks files, not chunks (``knowledge.py``), on every backend."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _backends import Factory, open_store

from mahavishnu.config import IngestSettings
from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import Filters, Memory
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.ingest import knowledge
from mahavishnu.memory.ingest.knowledge import PER_FILE, _File, _file_scores, query_knowledge_base
from mahavishnu.memory.ingest.outline import OUTLINE_KEY
from mahavishnu.memory.ingest.pipeline import FILE_CHUNKS, ingest_repository


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def store(backend_factory: Factory) -> Iterator[MemoryStore]:
    """Every backend, with a fake embedder wide enough that unrelated words rarely share a bucket."""
    with open_store(backend_factory, FakeEmbedder(dimension=1024)) as opened:
        yield opened


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def make_repo(root: Path) -> Path:
    # Six functions about retries, each its own chunk (the chunker cuts at top-level definitions).
    retries = [
        f"def retry_{n}(request):\n    '''Retry the request with backoff, attempt {n}.'''\n"
        + "".join(f"    # filler line {n}.{k} about nothing in particular\n" for k in range(12))
        + "    return backoff(request)\n"
        for n in range(6)
    ]
    write(root, "net/retry.py", "\n\n".join(retries))
    write(
        root,
        "net/transport.py",
        "def send(request):\n    '''Send one request and retry once.'''\n    return 1\n",
    )
    write(root, "billing/invoice_totals.py", "def add(rows):\n    return sum(rows)\n")
    write(root, "reports/summary.py", 'def summary(rows):\n    """Print the totals."""\n    print(rows)\n')
    write(root, "docs/guide.md", "# Colours\n\nThe palette of the website.\n")
    return root


def ingest(store: MemoryStore, root: Path) -> None:
    ingest_repository(store, root, repo_id="repo", settings=IngestSettings(chunk_tokens=40, overlap_tokens=0))


def test_hits_are_the_best_chunks_of_the_best_files_a_few_per_file(store: MemoryStore, repo: Path) -> None:
    ingest(store, repo)

    hits = query_knowledge_base(store, "retry the request with backoff", repo_id="repo", limit=10)

    paths = [h.path for h in hits]
    assert paths[0] == "net/retry.py" and paths.count("net/retry.py") == PER_FILE
    assert paths == sorted(paths, key=paths.index)  # each file's hits together, files in rank order
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].score > 0.5 and all(0.0 < h.score < 1.0 for h in hits)  # real scores: none 0.000
    assert all(not h.text.startswith(h.path) for h in hits)  # chunks, not the outline, stand for a file


def test_a_file_found_by_its_outline_alone_comes_back_as_its_outline(store: MemoryStore, repo: Path) -> None:
    """Only the outline splits the path into words: the chunks hold ``invoice_totals`` as one word."""
    ingest(store, repo)

    hits = query_knowledge_base(store, "invoice totals", repo_id="repo", mode="vector")

    assert [h.path for h in hits][:1] == ["billing/invoice_totals.py"]
    assert hits[0].text.startswith("billing/invoice_totals.py (billing invoice totals py)")
    assert (hits[0].start_line, hits[0].end_line) == (1, 2)


@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
def test_nothing_relevant_means_no_hits(store: MemoryStore, repo: Path, mode: str) -> None:
    ingest(store, repo)

    assert query_knowledge_base(store, "orbital mechanics of comets", repo_id="repo", mode=mode) == []
    assert query_knowledge_base(store, "palette of the website", repo_id="repo", mode=mode)[0].path == (
        "docs/guide.md"
    )


def test_a_file_counts_by_how_far_each_piece_of_evidence_stands_above_the_other_files() -> None:
    """A's chunk is a little closer than B's, B's outline far closer than A's: with the outline
    counted B wins; with chunks alone (the old ranking) A does. Text is the tie-breaker it weighs."""
    files = {
        (None, "a.py"): _File(chunk=0.50, outline=0.30, text=2.0),
        (None, "b.py"): _File(chunk=0.45, outline=0.60, text=1.0),
        (None, "c.py"): _File(chunk=0.20, outline=0.20),  # found by vector only: the text leg's lowest
    }

    def ranking(weights: tuple[float, float, float, float]) -> list[str]:
        scores = _file_scores(files, weights)
        assert all(0.0 < score < 1.0 for score in scores.values())
        return [path for _, path in sorted(scores, key=lambda k: -scores[k])]

    assert ranking(knowledge.WEIGHTS["vector"]) == ["b.py", "a.py", "c.py"]
    assert ranking((1.0, 0.0, 0.0, 0.0)) == ["a.py", "b.py", "c.py"]
    assert ranking(knowledge.WEIGHTS["text"]) == ["a.py", "b.py", "c.py"]


def test_a_big_files_best_chunk_counts_less_than_a_small_files() -> None:
    """The best of 193 chunks is an optimistic estimate: a slightly closer chunk of a big file loses
    to a small file's, unless the sizes are unknown (a store ingested before they were counted)."""

    def ranking(big: int, small: int) -> list[str]:
        files = {
            (None, "core.py"): _File(chunk=0.50, outline=0.40, size=big),
            (None, "_utils.py"): _File(chunk=0.48, outline=0.40, size=small),
            (None, "other.py"): _File(chunk=0.20, outline=0.20, size=small),
        }
        scores = _file_scores(files, knowledge.WEIGHTS["hybrid"])
        return [path for _, path in sorted(scores, key=lambda k: -scores[k])]

    assert ranking(big=193, small=2) == ["_utils.py", "core.py", "other.py"]
    assert ranking(big=1, small=1) == ["core.py", "_utils.py", "other.py"]


def test_ingest_records_how_many_chunks_each_file_has(store: MemoryStore, repo: Path) -> None:
    ingest(store, repo)

    rows = store.backend.get([m for m, _ in store.backend.scan_metadata(Filters(types=("rag",)), ["path"])])
    chunks = Counter(str(m.metadata["path"]) for m in rows.values() if not m.metadata.get(OUTLINE_KEY))
    assert chunks["net/retry.py"] >= 6 and chunks["billing/invoice_totals.py"] == 1
    for memory in rows.values():
        assert memory.metadata[FILE_CHUNKS] == chunks[str(memory.metadata["path"])]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": " "}, "empty"),
        ({"query": "x", "mode": "fuzzy"}, "invalid search mode"),
        ({"query": "x", "limit": 0}, "limit"),
    ],
)
def test_bad_arguments_are_clear_errors(store: MemoryStore, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        query_knowledge_base(store, **kwargs)  # type: ignore[arg-type]


def test_a_repository_ingested_before_outlines_is_ranked_by_its_chunks(store: MemoryStore) -> None:
    """Chunks stored by an older release (no outline): the outline's evidence is simply absent."""
    files = [("a.py", "def retry(request): backoff and retry"), ("b.py", "def colour(): palette")]
    drafts = [
        {"content": f"{path}\n{text}", "type": "rag", "repo_id": "old", "metadata": {"path": path}}
        for path, text in files
    ]
    store.store_many(drafts)

    for mode in ("vector", "text", "hybrid"):
        hits = query_knowledge_base(store, "retry with backoff", repo_id="old", mode=mode)
        assert [h.path for h in hits] == ["a.py"]


def write_cache_library(root: Path) -> Path:
    """Two files with the same function, the best chunk for "how are loaded templates evicted from
    the least recently used cache?": in ``store/lru.py`` the question's other words are in its
    other functions' comments (chunks the outline does not show), in ``render.py`` they are not;
    three more files hold one of them each."""
    shared = "def lookup(entries, key):\n    # templates in the cache\n    return entries[key]\n"
    comments = ["evicted first", "the least recent one", "entries used", "loaded on demand"]
    write(
        root,
        "store/lru.py",
        "\n\n".join(
            [shared]
            + [
                f"def step_{n}(entries):\n    # {comment}\n"
                + "".join(f"    # filler line {n}.{k} about nothing in particular\n" for k in range(8))
                + "    return entries\n"
                for n, comment in enumerate(comments)
            ]
        ),
    )
    page = "".join(f"    # page line {k} about nothing in particular\n" for k in range(8))
    write(root, "render.py", f"{shared}\n\ndef render(page):\n{page}    return page.upper()\n")
    others = {"disk": "loaded from disk", "names": "names used everywhere", "clock": "recently"}
    for name, comment in others.items():
        write(root, f"{name}.py", f"def {name}():\n    # {comment}\n{page}    return None\n")
    return root


def test_a_file_holding_the_questions_words_across_its_chunks_outranks_the_best_single_chunk(
    store: MemoryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``words`` evidence: the share of the question's words a file's found chunks hold together
    (by their first letters: "recently" meets "recent"), each word weighted by its rarity among
    the candidate files. By their best chunks alone the files tie (render.py first by name)."""
    root = write_cache_library(tmp_path / "lib")
    ingest_repository(store, root, repo_id="lib", settings=IngestSettings(chunk_tokens=60, overlap_tokens=0))
    question = "how are loaded templates evicted from the least recently used cache?"

    def first(mode: str) -> str:
        return query_knowledge_base(store, question, repo_id="lib", mode=mode)[0].path

    assert first("text") == "store/lru.py"
    monkeypatch.setitem(knowledge.WEIGHTS, "text", (0.0, 0.0, 1.0, 0.0))  # without words evidence
    assert first("text") == "render.py"


def test_words_evidence_is_the_rarity_weighted_share_of_the_questions_word_prefixes() -> None:
    """Three candidate files: a word every file holds counts least; a word is its first letters
    (``PREFIX``), found inside identifiers too; words under ``MIN_WORD`` letters are dropped."""
    files = {(None, p): _File() for p in ("a.py", "b.py", "c.py")}
    texts = {
        1: ("a.py", "class TrustedHostMiddleware: rejects a request"),
        2: ("b.py", "def requests_allowed(): return hosts"),
        3: ("c.py", "a request"),
    }
    now = datetime.now(UTC)
    rows = {
        i: Memory(i, text, "rag", "", "", 0, now, now, metadata={"path": p}) for i, (p, text) in texts.items()
    }
    knowledge._note_words("is a request from an untrusted host rejected?", files, rows)

    shares = {path: f.words for (_, path), f in files.items()}
    # prefixes: reques (all three files), untrus (none), host (a, b), reject (a)
    rarity = {"reques": math.log(1 + 3 / 4), "untrus": math.log(1 + 3 / 1), "host": math.log(1 + 3 / 3),
              "reject": math.log(1 + 3 / 2)}  # fmt: skip
    total = sum(rarity.values())
    assert shares["a.py"] == pytest.approx((rarity["reques"] + rarity["host"] + rarity["reject"]) / total)
    assert shares["b.py"] == pytest.approx((rarity["reques"] + rarity["host"]) / total)
    assert shares["c.py"] == pytest.approx(rarity["reques"] / total)


@pytest.mark.parametrize(
    ("metadata", "location", "lines"),
    [
        ({"path": "src/app.py", "start_line": 3, "end_line": 9}, "src/app.py:3-9", (3, 9)),
        ({"path": "docs/guide.md"}, "docs/guide.md", (None, None)),  # a LlamaIndex node: no lines
        ({"path": "docs/guide.md", "start_line": 0, "end_line": 0}, "docs/guide.md", (None, None)),  # (older)
        ({"start_line": "3", "end_line": True}, "memory #7", (None, None)),  # neither path nor lines
    ],
)
def test_a_hit_without_lines_of_a_file_names_no_range(
    metadata: dict[str, object], location: str, lines: tuple[int | None, int | None]
) -> None:
    """A node a LlamaIndex pipeline stored was shown as ``path:0-0``."""
    now = datetime.now(UTC)
    hit = knowledge.KnowledgeHit.from_memory(
        Memory(7, "text", "rag", "", "", 0, now, now, metadata=metadata), 0.5
    )
    assert hit.location == location
    assert (hit.start_line, hit.end_line) == lines
    assert hit.to_dict()["location"] == location
