"""The diff a switch shows (text_diff): difflib's unified diff, run only on windows around the
changes, its hunks numbered as in the whole file (difflib took ~10 s on a 30 MB settings.json of
which a switch changes a few lines near its start and its end)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mahavishnu.files import text_diff
from mahavishnu.files.safe_write import Change

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def patched(before: str, diff: str) -> str:
    """``before`` with ``diff`` applied, checking that every context and removed line is where the
    hunk header says it is (a diff numbered wrong fails here)."""
    lines, out, at = before.splitlines(keepends=True), [], 0
    for hunk in re.split(r"(?m)^(?=@@ )", diff.split("\n", 2)[2] if diff else "")[1:]:
        header, *body = hunk.splitlines(keepends=True)
        found = HUNK.match(header)
        assert found is not None, header
        start, count = int(found.group(1)), int(found.group(2) or 1)
        start = start - 1 if count else start  # an empty range names the line before it
        assert start >= at
        out += lines[at:start]
        at = start
        for line in body:
            if line[0] in " -":
                assert lines[at].rstrip("\n") == line[1:].rstrip("\n"), (at, line)
                at += 1
            if line[0] in " +":
                out.append(line[1:])
    return "".join(out + lines[at:])


def diff(before: str, after: str) -> str:
    return Change(Path("/x/settings.json"), before, after).diff()


LINE = st.text(st.sampled_from('ab{}":, '), max_size=4).map(lambda text: text + "\n")


@hypothesis.settings(max_examples=500, deadline=None, database=None)
@hypothesis.given(before=st.lists(LINE, max_size=40), after=st.lists(LINE, max_size=40))
def test_the_diff_turns_the_old_text_into_the_new(before: list[str], after: list[str]) -> None:
    old, new = "".join(before), "".join(after)
    shown = diff(old, new)
    assert patched(old, shown) == new
    assert (shown == "") == (old == new)


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(
    size=st.integers(0, 60),
    start=st.integers(0, 60),
    removed=st.integers(0, 5),
    added=st.lists(st.integers(0, 10**6), max_size=5),
)
def test_one_changed_place_shows_as_difflib_shows_it(
    size: int, start: int, removed: int, added: list[int]
) -> None:
    """Distinct lines (a settings file's are, mostly), changed in one place: the same text as difflib's."""
    before = [f"line {i}\n" for i in range(size)]
    start = min(start, size)
    after = before[:start] + [f"new {n}\n" for n in added] + before[start + removed :]
    old, new = "".join(before), "".join(after)
    whole = "".join(
        difflib.unified_diff(before, after, "/x/settings.json (current)", "/x/settings.json (new)")
    )
    assert diff(old, new) == whole


@pytest.mark.parametrize(("old", "new"), [(20, 10), (10, 20), (20, 0), (7, 1)])
def test_a_run_of_equal_lines_made_shorter_or_longer(old: int, new: int) -> None:
    """The lines shared at the start and at the end are never counted twice."""
    before, after = "  {},\n" * old, "  {},\n" * new
    assert patched(before, diff(before, after)) == after


def test_a_change_far_down_a_long_file_is_numbered_in_the_whole_file() -> None:
    before = [f'  "key{i}": {i},\n' for i in range(100_000)]
    after = list(before)
    after[70_000] = '  "key70000": "changed",\n'
    shown = diff("".join(before), "".join(after))
    assert "@@ -69998,7 +69998,7 @@\n" in shown
    assert patched("".join(before), shown) == "".join(after)


def whole(before: list[str], after: list[str]) -> str:
    """difflib's diff of the whole texts."""
    return "".join(
        difflib.unified_diff(before, after, "/x/settings.json (current)", "/x/settings.json (new)")
    )


@hypothesis.settings(max_examples=60, deadline=None, database=None)
@hypothesis.given(
    size=st.integers(2000, 12_000),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=4),
)
def test_changes_far_apart_in_a_long_file_show_as_difflib_shows_them(
    size: int, edits: list[tuple[float, int, int]]
) -> None:
    """A switch edits a long settings file near its start and near its end: difflib sees only the
    windows around the changes, and the diff is the one difflib gives for the whole file (lines
    all distinct, so there is only one best diff)."""
    before = [f'    "line {i}": {i},\n' for i in range(size)]
    after = list(before)
    for number, (where, removed, added) in enumerate(sorted(edits, reverse=True)):
        start = int(where * len(after))
        after[start : start + removed] = [f'    "new {number}.{i}": true,\n' for i in range(added)]
    shown = diff("".join(before), "".join(after))
    assert shown == whole(before, after)
    assert patched("".join(before), shown) == "".join(after)


def test_a_switch_of_a_large_settings_file_shows_both_changed_places(monkeypatch: pytest.MonkeyPatch) -> None:
    """The top-level env and the apiKeyHelper appended after a large projects map: difflib is
    given only the lines around each (it took seconds on the whole file)."""
    windows: list[int] = []
    whole_diff = difflib.unified_diff

    def unified_diff(before: list[str], after: list[str], *args: Any, **kwargs: Any) -> Iterator[str]:
        windows.append(max(len(before), len(after)))
        return whole_diff(before, after, *args, **kwargs)

    monkeypatch.setattr(text_diff.difflib, "unified_diff", unified_diff)
    projects = [
        f'    "/home/me/p{i}": {{"history": [{{"display": "{"x" * 50}"}}]}},\n' for i in range(20_000)
    ]
    before = [
        "{\n",
        '  "env": {"A": "1"},\n',
        '  "projects": {\n',
        *projects,
        '    "/last": {}\n',
        "  }\n",
        "}\n",
    ]
    after = list(before)
    after[1] = '  "env": {"A": "1", "ANTHROPIC_BASE_URL": "https://x"},\n'
    after[-2:] = ["  },\n", '  "apiKeyHelper": "mahavishnu secrets get qwen"\n', "}\n"]
    shown = diff("".join(before), "".join(after))
    monkeypatch.undo()
    assert shown == whole(before, after)
    assert shown.count("\n@@ ") == 2
    assert windows == [5, 6]  # each change, with up to 3 lines around it


def test_lines_found_inside_another_line_are_not_taken_for_those_lines() -> None:
    """The run of lines searched for may stand in the other text from the middle of a line on."""
    before = [f"{i}\n" for i in range(3000)]
    after = ["changed\n", *before[1:1000], "x1000\n", *before[1001:2999], "changed\n"]
    assert "".join(after).find("".join(before[1000:2000])) > 0  # inside "x1000"
    shown = diff("".join(before), "".join(after))
    assert shown == whole(before, after)


def test_a_new_file_is_all_added() -> None:
    shown = Change(Path("/x/new.json"), None, "{\n}\n").diff()
    assert shown == "--- /dev/null\n+++ /x/new.json (new)\n@@ -0,0 +1,2 @@\n+{\n+}\n"
