"""The lines a stock switch takes out of a TOML or dotenv file (``own_settings._taken_lines``): the
fingerprints recorded of a file's provider settings hash them, so they are the lines difflib's
``SequenceMatcher`` (autojunk off) leaves unmatched, to the line, whatever the files. The function
finds difflib's blocks without difflib's search (~3 s on a Codex config.toml of 4,000 projects);
``_difflib_taken_lines`` is the algorithm it replaced, kept here as the reference."""

from __future__ import annotations

import difflib

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mahavishnu.environments import own_settings


def _difflib_taken_lines(text: str, stock_text: str) -> list[str]:
    """The former ``own_settings._taken_lines``, as it was."""
    lines = text.splitlines()
    matcher = difflib.SequenceMatcher(None, lines, stock_text.splitlines(), autojunk=False)
    return [line for tag, i1, i2, *_ in matcher.get_opcodes() if tag != "equal" for line in lines[i1:i2]]


#: Few distinct lines, so that most lines occur many times in both texts: ties between equally long
#: matches (difflib takes the first in the file, then the first in the stock form) decide which lines
#: are taken, and a repeated line may be matched in one place or another.
_LINE = st.sampled_from(
    [
        "",
        'trust_level = "trusted"',
        'model = "gpt-5"',
        'model_provider = "mahavishnu-qwen"',
        "[model_providers.mahavishnu-qwen]",
        'base_url = "https://dashscope.example/v1"',
        "# my comment",
        "A",
        "B",
    ]
)
_LINES = st.lists(_LINE, max_size=40)
#: How the lines are joined: splitlines takes each of these as a line end.
_END = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def _edited(draw: st.DrawFn) -> tuple[str, str]:
    """A file, and a stock form of it made by a few edits: lines taken out, put in or replaced
    (what a stock switch does to the settings it owns), or another file altogether."""
    lines = draw(_LINES)
    if draw(st.integers(0, 9)) == 0:
        return draw(_text(lines)), draw(_text(draw(_LINES)))
    stock = list(lines)
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, len(stock)))
        end = draw(st.integers(start, min(len(stock), start + 6)))
        stock[start:end] = draw(st.lists(_LINE, max_size=4))
    return draw(_text(lines)), draw(_text(stock))


@st.composite
def _text(draw: st.DrawFn, lines: list[str]) -> str:
    end = draw(_END)
    return end.join(lines) + (end if draw(st.booleans()) else "")


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_edited())
@example(("A\nB\nX\nA\nB\nC\n", "A\nB\nC\n"))  # the longest match is not the common start
@example(("", "A\n"))
@example(("A\n", ""))
def test_the_lines_taken_are_difflibs(texts: tuple[str, str]) -> None:
    text, stock = texts
    assert own_settings._taken_lines(text, stock) == _difflib_taken_lines(text, stock)


@settings(max_examples=300, deadline=None)
@given(_LINES, _LINES)
def test_the_lines_taken_of_two_unrelated_files_are_difflibs(one: list[str], other: list[str]) -> None:
    text, stock = "\n".join(one), "\n".join(other)
    assert own_settings._taken_lines(text, stock) == _difflib_taken_lines(text, stock)


def _codex(projects: int, *, provider: bool) -> str:
    model = (
        'model = "qwen3-coder-plus"\nmodel_provider = "mahavishnu-qwen"' if provider else 'model = "gpt-5"'
    )
    head = model + '\napproval_policy = "on-request"\n'
    tables = "".join(f'\n[projects."/home/me/src/p{i}"]\ntrust_level = "trusted"\n' for i in range(projects))
    if provider:
        tables += '\n[model_providers.mahavishnu-qwen]\nname = "qwen"\nbase_url = "https://x.example/v1"\n'
    return head + tables


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 300), st.integers(0, 300), st.integers(0, 3))
def test_a_codex_file_of_many_projects_gives_difflibs_lines(projects: int, where: int, edits: int) -> None:
    """A switch's Codex config.toml and its stock form: the provider's lines at the top and at the
    end, and the user's own edits of the projects in between (the repeated ``trust_level`` lines)."""
    text = _codex(projects, provider=True).splitlines()
    stock = _codex(projects, provider=False).splitlines()
    for n in range(edits):
        at = min(len(stock), 3 + (where * (n + 1)) % (3 * projects + 1))
        stock[at:at] = ['trust_level = "untrusted"', ""]
    text_s, stock_s = "\n".join(text) + "\n", "\n".join(stock) + "\n"
    assert own_settings._taken_lines(text_s, stock_s) == _difflib_taken_lines(text_s, stock_s)


def test_a_large_codex_file_gives_difflibs_lines_quickly() -> None:
    """4,000 projects: the lines difflib leaves unmatched (the provider's), in well under difflib's
    seconds (not timed here: a loaded machine would make the test flaky)."""
    text, stock = _codex(4000, provider=True), _codex(4000, provider=False)
    assert own_settings._taken_lines(text, stock) == [
        'model = "qwen3-coder-plus"',
        'model_provider = "mahavishnu-qwen"',
        "",
        "[model_providers.mahavishnu-qwen]",
        'name = "qwen"',
        'base_url = "https://x.example/v1"',
    ]
