"""A file's outline (``outline.py``): what it holds, in Python and other languages, within the window."""

from __future__ import annotations

from mahavishnu.memory.ingest.chunking import char_sizes
from mahavishnu.memory.ingest.outline import file_outline, python_scopes, scope_at

PYTHON = '''"""Progress bars for long-running loops.

This second paragraph is left out.
"""

import time


class ProgressBar:
    """A bar that redraws itself.

    Details nobody needs in an outline.
    """

    def render(self) -> str:
        """Nested definitions are not listed."""
        return ""


def estimate_remaining(done: int, total: int) -> float:
    """Seconds left, from the average pace so far."""
    return 0.0


async def _poll():
    pass
'''


def test_a_python_outline_lists_the_module_doc_and_top_level_definitions_with_their_docs() -> None:
    outline = file_outline("click/_termui_impl.py", PYTHON, "python", 10_000, char_sizes)

    assert outline.splitlines() == [
        "click/_termui_impl.py (click termui impl py)",
        "Progress bars for long-running loops.",
        "ProgressBar (progress bar): A bar that redraws itself.",
        "estimate_remaining (estimate remaining): Seconds left, from the average pace so far.",
        "_poll (poll)",
    ]


def test_a_definitions_name_is_followed_by_its_words_when_they_read_otherwise() -> None:
    code = "class LRUCache:\n    pass\n\n\ndef _make_binop():\n    pass\n\n\ndef render():\n    pass\n"

    assert file_outline("pkg/utils.py", code, "python", 10_000, char_sizes).splitlines()[1:] == [
        "LRUCache (lru cache)",
        "_make_binop (make binop)",
        "render",
    ]


def test_a_lines_scope_is_the_definitions_it_lies_inside_innermost_last() -> None:
    scopes = python_scopes(PYTHON)
    lines = PYTHON.splitlines()
    render = lines.index("    def render(self) -> str:") + 1

    assert scope_at(scopes, render + 1) == "class ProgressBar > def render"  # inside the method
    assert scope_at(scopes, render) == "class ProgressBar"  # the method's own first line shows it
    assert scope_at(scopes, lines.index("class ProgressBar:") + 1) == ""
    assert scope_at(scopes, lines.index("import time") + 1) == ""
    assert python_scopes("def broken(:\n") == []


def test_an_outline_keeps_the_lines_that_fit_and_always_its_path() -> None:
    limit = len("pkg/mod.py (pkg mod py)\n") + len("Progress bars for long-running loops.\n")

    assert file_outline("pkg/mod.py", PYTHON, "python", limit, char_sizes).splitlines() == [
        "pkg/mod.py (pkg mod py)",
        "Progress bars for long-running loops.",
    ]
    assert file_outline("pkg/mod.py", PYTHON, "python", 1, char_sizes) == "pkg/mod.py (pkg mod py)"


def test_other_languages_list_their_declarations_and_headings_with_a_comment_next_to_them() -> None:
    script = (
        "#!/usr/bin/env node\n"
        "// Retry helpers for the HTTP client.\n"
        "// Second line of the header.\n"
        "\n"
        "// Waits longer after each failure.\n"
        "function backoff(attempt) {\n"
        "  return 2 ** attempt;\n"
        "}\n"
        "\n"
        "export class Client {\n"
        "}\n"
    )
    guide = "# Install\n\nRun pip.\n\n## Configure\n\nEdit the file.\n"

    assert file_outline("src/retry.js", script, "javascript", 10_000, char_sizes).splitlines() == [
        "src/retry.js (src retry js)",
        "Retry helpers for the HTTP client. Second line of the header.",
        "function backoff(attempt) { Waits longer after each failure.",
        "export class Client {",
    ]
    assert file_outline("README.md", guide, "markdown", 10_000, char_sizes).splitlines() == [
        "README.md (readme md)",
        "Run pip.",
        "# Install",
        "## Configure",
    ]


def test_python_that_does_not_parse_is_outlined_like_any_other_language() -> None:
    broken = "# Helpers.\n\ndef ok():\n    pass\n\ndef broken(:\n"

    assert file_outline("x.py", broken, "python", 10_000, char_sizes).splitlines() == [
        "x.py (x py)",
        "Helpers.",
        "def ok():",
        "def broken(:",
    ]
