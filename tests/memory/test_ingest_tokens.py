"""Ingestion with the local model's real tokenizer (and, for the stand-in vector, its weights):
every chunk fits the model's window, so its vector covers all of it, and chunks follow structure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from mahavishnu.config import IngestSettings, MemorySettings
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.embedders.local import MAX_TOKENS, LocalEmbedder
from mahavishnu.memory.core.models import Filters
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.ingest.chunking import chunk_text, language_for
from mahavishnu.memory.ingest.pipeline import file_chunks, ingest_repository, standin_vector

LOCAL = LocalEmbedder()


class RealTokens(FakeEmbedder):
    """Fake vectors, the local model's real window and token counts."""

    max_tokens = LOCAL.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return LOCAL.count_tokens(texts)


def method(name: str, lines: int) -> str:
    body = "".join(f"        total_{i} = self.compute_value({i}, name='{name}_{i}')\n" for i in range(lines))
    return f"    def {name}(self) -> int:\n{body}        return 0\n"


SOURCE = (
    '"""A module with long methods."""\n\nimport os\n\n\nclass Engine:\n'
    + "\n".join(method(f"run_{n}", 18) for n in range(6))
    + "\n\ndef helper(argument):\n    '''"
    + "A long docstring line that goes on and on about what the helper does. " * 40
    + "'''\n    return argument\n"
)
GUIDE = "".join(
    f"## Section {n}\n\n" + "Paragraph text that explains the section in plain words. " * 30 + "\n\n"
    for n in range(4)
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg/engine.py").write_text(SOURCE, encoding="utf-8")
    (root / "GUIDE.md").write_text(GUIDE, encoding="utf-8")
    return root


def test_every_stored_chunk_fits_the_model_window_so_its_vector_covers_all_of_it(
    repo: Path, tmp_path: Path
) -> None:
    with MemoryStore(SqliteBackend(tmp_path / "m.db"), MemorySettings(), RealTokens()) as store:
        ingest_repository(store, repo, repo_id="proj", settings=IngestSettings())
        stored = store.recent(Filters(types=("rag",)), limit=1000)
    chunks = [m for m in stored if not m.metadata.get("outline")]

    tokenizer = LOCAL.count_tokens([m.content for m in stored])
    assert max(tokenizer) <= MAX_TOKENS - 2  # [CLS] and [SEP] make the 256 the model reads: outlines too
    # packed while they fit, not cut small: more than half the window on average
    assert sum(LOCAL.count_tokens([m.content for m in chunks])) > 0.55 * len(chunks) * (MAX_TOKENS - 2)
    # The same files cut in 1,024 characters, as before, lose text past the window:
    old = [c.text for c in chunk_text(SOURCE, "python", 1024, 128)]
    assert max(LOCAL.count_tokens(old)) > MAX_TOKENS


def test_chunks_split_at_methods_sections_and_sentences(repo: Path) -> None:
    settings, embedder = IngestSettings(), RealTokens()

    code = file_chunks("pkg/engine.py", SOURCE, embedder, settings)
    guide = file_chunks("GUIDE.md", GUIDE, embedder, settings)

    firsts = [c.text.lstrip("\n").splitlines()[0] for c in code]
    methods = [f for f in firsts if f.startswith("    def ")]
    assert methods == [f"    def run_{n}(self) -> int:" for n in range(1, 6)]
    # run_0 does not fit with the class line: its rest follows, from the next line (no overlap by default)
    assert firsts[1:3] == ["class Engine:", "        total_10 = self.compute_value(10, name='run_0_10')"]
    assert code[2].start_line == code[1].end_line + 1
    docstring = [c for c in code if c.start_line == c.end_line == 135]  # the long line, cut in pieces
    assert len(docstring) > 1 and all(c.text.rstrip().endswith(".") for c in docstring[:-1])
    assert [c.text.strip().splitlines()[0] for c in guide if "## " in c.text] == [
        f"## Section {n}" for n in range(4)
    ]


@pytest.mark.slow
def test_the_stand_in_vector_is_unrelated_to_real_queries_and_chunks() -> None:
    """Until its vector is computed a chunk holds the stand-in: it must match no real text."""
    texts = [
        "how are retries configured?",
        "where is the progress bar drawn",
        "what did we decide about the database?",
        "0-dimensional biomaterials show inductive properties.",
        "When did Caroline go to the LGBTQ support group?",
        SOURCE[:600],
        GUIDE[:600],
        "def parse_args(argv):\n    parser = argparse.ArgumentParser()\n    return parser.parse_args(argv)",
    ]
    standin = standin_vector(LOCAL)

    cosines = np.concatenate(
        [LOCAL.embed_many(texts, kind="query") @ standin, LOCAL.embed_many(texts) @ standin]
    )

    assert cosines.max() < 0.15  # related texts score 0.35 and more (memory/core/relevance.py)


def test_long_lines_cut_by_the_tokenizer_s_token_starts_are_cut_as_when_measured_whole() -> None:
    """A 900 kB minified file took 9 s to cut when each candidate piece was measured whole; with
    the token starts its line is measured about once, and every file is cut as before."""
    package = Path(__file__).parents[2] / "src/mahavishnu"
    script = (package / "environments/pi_extension/mahavishnu-memory.js").read_text(encoding="utf-8")
    minified = "".join(
        line.strip() + ("" if line.rstrip().endswith((";", "{", "}")) else " ")
        for line in script.splitlines()
    )
    files = [("app.min.js", minified * 4 + "\n")]
    for name in ("memory/ingest/chunking.py", "memory/ingest/pipeline.py", "memory/ingest/knowledge.py"):
        files.append((name, (package / name).read_text(encoding="utf-8")))
    files.append(("GUIDE.md", GUIDE))
    measured: list[int] = []

    def sizes(texts: Sequence[str]) -> list[int]:
        measured.extend(len(t) for t in texts)
        return LOCAL.count_tokens(texts)

    for name, text in files:
        for limit in (60, 200):
            language = language_for(name)
            cut = chunk_text(text, language, limit, 0, LOCAL.count_tokens, LOCAL.token_starts)
            assert cut == chunk_text(text, language, limit, 0, LOCAL.count_tokens), (name, limit)

    chunk_text(files[0][1], "javascript", 200, 0, sizes, LOCAL.token_starts)
    assert sum(measured) < 3 * len(files[0][1])  # the line once, then a little of it per piece
