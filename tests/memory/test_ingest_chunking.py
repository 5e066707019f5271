"""Structure-aware chunking: boundaries, sizes, overlap and exact line numbers."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from mahavishnu.memory.ingest.chunking import LANGUAGES, Chunk, chunk_text, language_for


def lines_of(text: str, chunk: Chunk) -> str:
    return "".join(text.splitlines(keepends=True)[chunk.start_line - 1 : chunk.end_line])


def method(name: str, body_lines: int = 8, indent: str = "") -> str:
    body = "".join(f"{indent}    step_{i} = compute({i}, '{name}')\n" for i in range(body_lines))
    return f"{indent}def {name}(self):\n{body}"


def test_python_splits_between_definitions_keeping_decorators() -> None:
    source = (
        "import os\n\n\n@cached\n@traced\n" + method("alpha") + "\n\n" + method("beta") + "\n\nclass C:\n"
    )
    source += "\n".join(method(f"m{i}", indent="    ") for i in range(3))

    chunks = chunk_text(source, "python", limit=400, overlap=0)

    starts = [c.text.splitlines()[0] for c in chunks]
    assert starts == ["import os", "def beta(self):", "class C:", "    def m1(self):", "    def m2(self):"]
    assert "@cached\n@traced\ndef alpha" in chunks[0].text
    assert all(len(c.text) <= 400 for c in chunks)


def test_brace_languages_split_at_top_level_declarations() -> None:
    funcs = [
        f"func F{i}() int {{\n" + "".join(f"\tx{j} := {j}\n" for j in range(25)) + "}\n" for i in range(4)
    ]
    source = "package main\n\n" + "\n".join(funcs)

    chunks = chunk_text(source, "go", limit=300, overlap=0)

    assert [c.text.lstrip("\n").split("\n")[0] for c in chunks[1:]] == [
        "func F1() int {",
        "func F2() int {",
        "func F3() int {",
    ]


def test_markdown_splits_at_headings_then_paragraphs() -> None:
    para = "A sentence about the topic that goes on for a while. " * 3
    source = f"# One\n\n{para}\n\n{para}\n\n# Two\n\n{para}\n"

    chunks = chunk_text(source, "markdown", limit=400, overlap=0)

    assert chunks[-1].text.startswith("# Two")
    assert all(len(c.text) <= 400 for c in chunks)


def test_a_very_long_line_is_cut_at_sentences_with_its_line_number() -> None:
    sentence = "This is one sentence of prose. "
    source = "title\n" + sentence * 100 + "\nend\n"

    chunks = chunk_text(source, "text", limit=200, overlap=0)

    middle = [c for c in chunks if c.start_line == 2]
    assert len(middle) > 10 and all(len(c.text) <= 200 for c in middle)
    assert all(c.text.rstrip().endswith(".") for c in middle[:-1])
    assert "".join(c.text for c in middle) == (sentence * 100 + "\n")


def test_a_long_one_line_file_is_measured_a_window_at_a_time() -> None:
    """A minified JSON file is one line: cutting it measures windows near the limit, not the rest
    of the line again for every piece (a 460 kB tokenizer.json took minutes that way)."""
    line = ", ".join(f'"word{i}": {{"id": {i}, "special": false}}' for i in range(4000))  # ~150 kB
    measured: list[int] = []

    def sizes(texts: Sequence[str]) -> list[int]:
        measured.extend(len(t) for t in texts)
        return [len(t) for t in texts]

    chunks = chunk_text("{" + line + "}\n", "json", limit=1000, overlap=0, sizes=sizes)
    assert "".join(c.text for c in chunks) == "{" + line + "}\n"
    assert all(len(c.text) <= 1000 for c in chunks) and len(chunks) >= len(line) // 1000
    assert sum(measured) < 40 * len(line)  # each piece costs a few windows of ~8x the limit


def test_overlap_repeats_context_only_where_a_block_is_cut() -> None:
    block = "".join(f"line number {i} of a long block\n" for i in range(30))
    functions = "\n\n".join(method(f"f{i}") for i in range(3))

    cut = chunk_text(block, "text", limit=300, overlap=80)
    clean = chunk_text(functions, "python", limit=300, overlap=80)

    assert all(b.start_line < a.end_line + 1 for a, b in itertools.pairwise(cut))
    assert all(b.start_line > a.end_line for a, b in itertools.pairwise(clean))


def test_empty_and_blank_files_have_no_chunks() -> None:
    assert chunk_text("", "python") == []
    assert chunk_text("\n  \n\n", "markdown") == []


def test_language_for_common_extensions() -> None:
    assert [language_for(p) for p in ("a.py", "B.TS", "c.rs", "README.md", "x.unknown", "Makefile")] == [
        "python",
        "typescript",
        "rust",
        "markdown",
        "text",
        "text",
    ]


LINE = st.one_of(
    st.sampled_from(["", "def f(x):", "    return x", "class A:", "}", "# Heading", "key: value", "@deco"]),
    st.text(
        st.characters(
            blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
        ),
        max_size=300,
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(LINE, max_size=60),
    language=st.sampled_from(sorted(set(LANGUAGES.values()))),
    limit=st.integers(64, 600),
)
def test_every_chunk_is_exactly_its_lines_and_the_file_is_covered(
    lines: list[str], language: str, limit: int
) -> None:
    text = "\n".join(lines)
    overlap = limit // 4

    chunks = chunk_text(text, language, limit, overlap)

    covered: set[int] = set()
    for chunk in chunks:
        assert chunk.text.strip()
        if chunk.start_line == chunk.end_line and len(lines_of(text, chunk)) > limit:
            assert chunk.text in lines_of(text, chunk) and len(chunk.text) <= limit  # a cut line
        else:
            assert chunk.text == lines_of(text, chunk)
            assert len(chunk.text) <= limit + overlap
        covered.update(range(chunk.start_line, chunk.end_line + 1))
    all_lines = text.splitlines()
    assert {i + 1 for i, line in enumerate(all_lines) if line.strip()} <= covered
