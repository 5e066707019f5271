"""A unified diff that stays fast on a long file with few changes.

difflib's matcher walks every line of both texts in Python: ~10 s for a 30 MB settings.json in which a
switch changes a few lines near the top (``env``) and near the end (``apiKeyHelper``). Here difflib
sees only windows around the changes: the lines the two texts share at their start and end are left
out, and a long middle is cut where a run of its lines (its middle third, found by ``str.find``) stands
in the other text too. Each window keeps the context lines difflib would show, and its hunks are
numbered as in the whole file; windows lie far enough apart that difflib would never join their hunks.
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import re
from collections.abc import Iterator

#: Unchanged lines shown around each change (difflib's default).
CONTEXT = 3
#: A window at least this many lines long is cut at a run of lines both texts have (a third of it:
#: far longer than the context on both sides of it).
_CUT_FROM = 2000
_HUNK = re.compile(r"@@ -(\d+)(.*) \+(\d+)(.*) @@\n?")

Window = tuple[int, int, int, int]  # before[lo:hi], after[lo:hi]


def unified_diff(before: list[str], after: list[str], *, fromfile: str, tofile: str) -> Iterator[str]:
    """``difflib.unified_diff(before, after, fromfile, tofile)``, difflib run window by window
    (lines with their line breaks, as ``splitlines(keepends=True)`` gives them)."""
    headers = True
    for a_lo, a_hi, b_lo, b_hi in _widened(
        before, after, _windows(before, after, (0, len(before), 0, len(after)))
    ):
        lines = difflib.unified_diff(before[a_lo:a_hi], after[b_lo:b_hi], fromfile, tofile, n=CONTEXT)
        for line in itertools.islice(lines, 0 if headers else 2, None):  # "---", "+++" once
            hunk = _HUNK.fullmatch(line)
            if hunk is None:
                yield line
                continue
            old_start, old_count, new_start, new_count = hunk.groups()
            yield f"@@ -{int(old_start) + a_lo}{old_count} +{int(new_start) + b_lo}{new_count} @@\n"
        headers = False


def _windows(before: list[str], after: list[str], window: Window) -> Iterator[Window]:
    """The smallest windows of ``window`` outside which the two texts have the same lines, in order."""
    a_lo, a_hi, b_lo, b_hi = window
    head, tail = _shared_ends(before[a_lo:a_hi], after[b_lo:b_hi])
    a_lo, b_lo, a_hi, b_hi = a_lo + head, b_lo + head, a_hi - tail, b_hi - tail
    if a_lo == a_hi and b_lo == b_hi:
        return
    found = _shared_run(before, after, (a_lo, a_hi, b_lo, b_hi)) if a_hi - a_lo >= _CUT_FROM else None
    if found is None:
        yield a_lo, a_hi, b_lo, b_hi
        return
    a_at, b_at, size = found
    yield from _windows(before, after, (a_lo, a_at, b_lo, b_at))
    yield from _windows(before, after, (a_at + size, a_hi, b_at + size, b_hi))


def _shared_ends(before: list[str], after: list[str]) -> tuple[int, int]:
    """How many lines the two share at their start, and then how many more at their end."""
    most = min(len(before), len(after))
    head = 0
    while head < most and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < most - head and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    return head, tail


def _shared_run(before: list[str], after: list[str], window: Window) -> tuple[int, int, int] | None:
    """The middle third of ``before``'s lines in ``window``, where ``after``'s lines in it have the
    same lines too: (where in ``before``, where in ``after``, how many lines); None if they do not."""
    a_lo, a_hi, b_lo, b_hi = window
    third = (a_hi - a_lo) // 3
    run = before[a_lo + third : a_hi - third]
    theirs = after[b_lo:b_hi]
    found = "".join(theirs).find("".join(run))
    if found < 0:
        return None
    starts = list(itertools.accumulate(map(len, theirs), initial=0))  # where each line starts
    line = bisect.bisect_left(starts, found)
    if theirs[line : line + len(run)] != run:  # found inside a line, or lines broken otherwise
        return None
    return a_lo + third, b_lo + line, len(run)


def _widened(before: list[str], after: list[str], windows: Iterator[Window]) -> Iterator[Window]:
    """Each window with the ``CONTEXT`` lines around it, as far as the texts go: the lines just
    before a window are shared by both texts, as many in each (the start of the files, or a run
    longer than ``CONTEXT``), and so are those after it."""
    for a_lo, a_hi, b_lo, b_hi in windows:
        back = min(CONTEXT, a_lo, b_lo)
        ahead = min(CONTEXT, len(before) - a_hi, len(after) - b_hi)
        yield a_lo - back, a_hi + ahead, b_lo - back, b_hi + ahead
